"""Video-Holmes adapter: the EasyVideoR1 sample, the official json, evaluate.py's extraction, aggregates.

No official ``test_Video-Holmes.json`` sample ships here, so the official format tests build a small
file from the fields read by TencentARC/Video-Holmes ``evaluate.py`` ("video ID", "Question ID",
"Question Type", "Question", "Options" {A..F}, "Answer", "Explanation").
"""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official.video_holmes import holmes_choice

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "video_holmes"
OPTIONS = {
    "A": "A guilty conscience fears no accuser.",
    "B": "Kindness among strangers",
    "C": "The consequences of technology abuse",
    "D": "Urban life pressure",
    "E": "The impact of animals on humans",
    "F": "Misunderstandings lead to conflicts.",
}


def row(qid, qtype, answer, video="Rh418OWv4eE"):
    return {
        "video ID": video,
        "Question ID": qid,
        "Question Type": qtype,
        "Question": f"Question {qid}: which of the following is closest to the core theme of the video?",
        "Options": OPTIONS,
        "Answer": answer,
        "Explanation": "...",
    }


ROWS = [row("Rh418OWv4eE_1", "CTI", "A"), row("Rh418OWv4eE_2", "SR", "C"), row("x_1", "SR", "F", video="x")]


@pytest.fixture
def adapter():
    return get_adapter("video_holmes")


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLES / "easyvideor1_holmes.sample.json", tmp_path)
    assert len(recs) == 20
    assert [r.id for r in recs[:3]] == ["91", "225", "296"]
    assert "".join(r.answer for r in recs) == "ABBCCEADEEDDABFABFCF"
    assert len(recs[0].options) == 6 and recs[0].options[5] == "F. Misunderstandings lead to conflicts."
    assert recs[0].media == [str(tmp_path / "videos_cropped" / "Rh418OWv4eE.mp4")]


def test_official_json(adapter, tmp_path):
    recs = adapter.load(write(tmp_path / "test_Video-Holmes.json", ROWS), tmp_path / "videos")
    assert [r.id for r in recs] == ["Rh418OWv4eE_1", "Rh418OWv4eE_2", "x_1"]
    assert [r.answer for r in recs] == ["A", "C", "F"]
    assert recs[0].options[0] == "A. A guilty conscience fears no accuser."
    assert recs[0].categories == {"question_type": "CTI"}
    assert recs[2].media == [str(tmp_path / "videos" / "x.mp4")]
    # a file without Question IDs gets content ids, stable under reordering
    no_ids = [{k: v for k, v in r.items() if k != "Question ID"} for r in ROWS]
    ids = [r.id for r in adapter.load(write(tmp_path / "a.json", no_ids), tmp_path)]
    assert ids == [r.id for r in adapter.load(write(tmp_path / "b.json", no_ids[::-1]), tmp_path)][::-1]


@pytest.mark.parametrize(
    "response,letter",
    [
        ("<think>It is C.</think><answer>C</answer>", "C"),
        ("<answer>B</answer> then <answer>D</answer>", "D"),  # the last block
        ("Final Answer: C", "A"),  # "A" of "Answer" (no block: whole response)
        ("Based on the clues, D", "B"),  # "B" of "Based"
        ("<answer>option [E]</answer>", "E"),
        ("<answer>I pick F: the last</answer>", "F"),
        ("<answer>c</answer>", ""),  # capital letters only: "WRONG"
        ("no letters here", ""),
    ],
)
def test_holmes_choice(response, letter):
    assert holmes_choice(response) == letter


def test_aggregates(adapter, tmp_path):
    recs = adapter.load(write(tmp_path / "h.json", ROWS), tmp_path)
    responses = ["<answer>A</answer>", "<answer>C</answer>", "<answer>none</answer>"]
    scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(recs, responses)]
    assert [s["pred"] for s in scores] == ["A", "C", ""]
    agg = adapter.aggregate(recs, scores, "official")
    assert agg["overall"] == pytest.approx(200 / 3) and agg["n"] == 3
    assert agg["by_question_type"] == {"CTI": 100.0, "SR": 50.0}


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda r: r.pop("Question Type"), r"missing fields \['Question Type'\]"),
        (lambda r: r.update(Answer="G"), r"Answer 'G' is not one of the option letters"),
        (lambda r: r.update(Options=["a", "b"]), r"Options must be an object"),
    ],
)
def test_bad_records(adapter, tmp_path, mutate, match):
    rows = json.loads(json.dumps(ROWS))
    mutate(rows[2])
    with pytest.raises(ValueError, match=r"bad\.json: record 2 \(Question ID='x_1'\): " + match):
        adapter.load(write(tmp_path / "bad.json", rows), tmp_path)


def test_malformed_file(adapter, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{oops")
    with pytest.raises(ValueError, match=r"broken\.json"):
        adapter.load(path, tmp_path)


def test_a_letter_followed_by_a_colon_wins_over_a_bare_letter_earlier_in_the_alphabet():
    """The first pass looks for "X ", "X:" or "[X" (any one of them); only then any capital in order."""
    assert holmes_choice("Bob chose C: the red one") == "C"
    assert holmes_choice("Bob chose [C") == "C"
    assert holmes_choice("Bob chose C ") == "C"
    assert holmes_choice("Bob chose") == "B"


def test_an_answer_block_at_the_very_start_is_the_one_read():
    assert holmes_choice("<answer>C</answer> Not A: it moved") == "C"  # the whole text would give A
