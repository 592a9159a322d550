"""MINERVA adapter: the EasyVideoR1 sample, the official json, EasyVideoR1 scoring, aggregates.

No official ``minerva.json`` sample ships here, so the official format tests build a small file from the
fields documented in lmms-eval ``tasks/minerva/README.md`` / read by ``tasks/minerva/utils.py`` (key,
video_id, question, answer, answer_choice_0..4, answer_id, reasoning, "question type", split, category).
"""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "minerva"


def row(key, answer_id, qtype, split, category, video="-2ADJedUQv0"):
    choices = ["2 times.", "4 times.", "1 time.", "5 times.", "3 times."]
    out = {
        "key": key,
        "video_id": video,
        "question": "How many times does Coach Keatts wear a mask over his face?",
        "answer": choices[int(answer_id)],
        "answer_id": answer_id,
        "reasoning": "At 01:10 ... at 05:40 ...",
        "question type": qtype,
        "split": split,
        "category": category,
    }
    out.update({f"answer_choice_{i}": c for i, c in enumerate(choices)})
    return out


ROWS = [
    row("q1", 0, "Counting, Temporal Reasoning", "Sports", "Basketball"),
    row("q2", 4, "Counting", "Sports", "Basketball"),
    row("q3", "2", "Counting", "Short films", "Drama", video="abc"),
]


@pytest.fixture
def adapter():
    return get_adapter("minerva")


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLES / "easyvideor1_minerva.sample.json", tmp_path)
    assert len(recs) == 20
    assert [r.id for r in recs[:3]] == ["78", "203", "351"]
    assert "".join(r.answer for r in recs) == "ACCCBEBEADDBEBADADCE"
    assert recs[0].options == ["A. 2 times.", "B. 4 times.", "C. 1 time.", "D. 5 times.", "E. 3 times."]
    assert recs[0].media == [str(tmp_path / "-2ADJedUQv0.mp4")]
    assert recs[0].categories == {}


def test_official_json(adapter, tmp_path):
    recs = adapter.load(write(tmp_path / "minerva.json", ROWS), tmp_path / "videos")
    assert [r.id for r in recs] == ["q1", "q2", "q3"]
    assert [r.answer for r in recs] == ["A", "E", "C"]
    assert recs[0].options[4] == "E. 3 times."
    assert recs[0].categories == {
        "question_type": "Counting, Temporal Reasoning",
        "split": "Sports",
        "category": "Basketball",
    }
    assert recs[2].media == [str(tmp_path / "videos" / "abc.mp4")]
    # the newer lmms-eval key spelling is accepted too
    alt = [dict(ROWS[0])]
    alt[0]["question_type"] = alt[0].pop("question type")
    assert adapter.load(write(tmp_path / "alt.json", alt), tmp_path)[0].categories["question_type"] == (
        "Counting, Temporal Reasoning"
    )


@pytest.mark.parametrize(
    "response,score",
    [
        ("Therefore, the final answer is: A", 1.0),
        ("<answer>A</answer>", 1.0),
        ("The answer is a guess", 1.0),  # EasyVideoR1's case-insensitive "answer is X"
        ("(A)", 1.0),  # a short last line ending in a letter
        ("Based on the video, the answer is (A) as he wears it twice.", 0.0),  # no rule reads "(A)"
        ("E", 0.0),
    ],
)
def test_official_scoring_uses_easyvideor1(adapter, tmp_path, response, score):
    rec = adapter.load(write(tmp_path / "m.json", ROWS), tmp_path)[0]
    assert adapter.score_sample(rec, response, "official")["score"] == score


def test_aggregates(adapter, tmp_path):
    recs = adapter.load(write(tmp_path / "m.json", ROWS), tmp_path)
    scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(recs, ["A", "B", "nothing"])]
    assert [s["extraction_failed"] for s in scores] == [False, False, True]
    agg = adapter.aggregate(recs, scores, "official")
    assert agg["overall"] == pytest.approx(100 / 3) and agg["n"] == 3 and agg["excluded"] == 0
    assert agg["by_split"] == {"Short films": 0.0, "Sports": 50.0}
    assert agg["by_category"] == {"Basketball": 50.0, "Drama": 0.0}
    assert agg["by_question_type"] == {"Counting": 0.0, "Counting, Temporal Reasoning": 100.0}


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda r: r.pop("answer_choice_3"), r"record 1 \(key='q2'\): missing fields \['answer_choice_3'\]"),
        (lambda r: r.pop("question type"), r"record 1 \(key='q2'\): missing fields \['question type'\]"),
        (lambda r: r.update(answer_id=5), r"record 1 \(key='q2'\): answer_id must be 0-4, got 5"),
    ],
)
def test_bad_records(adapter, tmp_path, mutate, match):
    rows = json.loads(json.dumps(ROWS))
    mutate(rows[1])
    with pytest.raises(ValueError, match=r"bad\.json: " + match):
        adapter.load(write(tmp_path / "bad.json", rows), tmp_path)


def test_malformed_file(adapter, tmp_path):
    with pytest.raises(ValueError, match=r"m\.json: expected a list of MINERVA records"):
        adapter.load(write(tmp_path / "m.json", {"key": "q1"}), tmp_path)
    path = tmp_path / "broken.json"
    path.write_text("[{")
    with pytest.raises(ValueError, match=r"broken\.json"):
        adapter.load(path, tmp_path)
