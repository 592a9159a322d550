"""LVBench adapter: the EasyVideoR1 sample, the official meta format, polish_answer, aggregates.

No official ``video_info.meta.jsonl`` sample ships here (HF THUDM/LVBench is gated), so the official
format tests build a small file from the schema read by THUDM/LVBench
``lvbench/metrics/compute_accuracy.py`` (key, qa[uid, question with "(A) ..." option lines, answer,
question_type list, time_reference]).
"""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.loading import split_inline_options
from evaluation.official.lvbench import lvbench_compute_accuracy, polish_answer

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "lvbench"

META = [
    {
        "key": "2sriHX3PbXw",
        "type": "documentary",
        "qa": [
            {
                "uid": 92,
                "question": "What is the image of the government?\n(A) Irresponsible and stingy\n"
                "(B) Accountable but poor\n(C) Friendly but unorganized\n(D) Wealthy and responsible",
                "answer": "A",
                "question_type": ["entity recognition", "reasoning"],
                "time_reference": "00:15-00:19",
            },
            {
                "uid": 93,
                "question": "When does the man\nenter the room?\n(A) At the start\n(B) In the middle\n"
                "of the video\n(C) At the end\n(D) Never",
                "answer": "B",
                "question_type": ["temporal grounding"],
                "time_reference": "",
            },
        ],
    },
    {
        "key": "abcdefghijk",
        "video_path": "videos/00000/00000001.mp4",
        "qa": [
            {
                "uid": 7,
                "question": "Which animal appears?\n(A) cat\n(B) dog\n(C) bird\n(D) fish",
                "answer": "C",
                "question_type": ["reasoning"],
            }
        ],
    },
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def adapter():
    return get_adapter("lvbench")


def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLES / "easyvideor1_lvbench.sample.json", tmp_path)
    assert len(recs) == 20
    assert [r.id for r in recs[:4]] == ["92", "108", "136", "194"]
    assert "".join(r.answer for r in recs) == "ADBCBCDADBBCAACDBADC"
    first = recs[0]
    assert first.problem == "What is the image of the government?"
    assert first.options[0] == "A. Irresponsible and stingy" and len(first.options) == 4
    assert first.media == [str(tmp_path / "videos" / "2sriHX3PbXw.mp4")]
    assert first.categories == {}  # EasyVideoR1 drops question_type


def test_official_meta(adapter, tmp_path):
    recs = adapter.load(write_jsonl(tmp_path / "video_info.meta.jsonl", META), tmp_path / "v")
    assert [r.id for r in recs] == ["92", "93", "7"]
    r92, r93, r7 = recs
    assert r92.problem == "What is the image of the government?"
    assert r92.options == [
        "A. Irresponsible and stingy",
        "B. Accountable but poor",
        "C. Friendly but unorganized",
        "D. Wealthy and responsible",
    ]
    assert r92.answer == "A" and r92.categories == {"question_type": "entity recognition|reasoning"}
    assert r92.media == [str(tmp_path / "v" / "2sriHX3PbXw.mp4")]
    assert r92.extra["time_reference"] == "00:15-00:19"
    assert r93.problem == "When does the man\nenter the room?"
    assert r93.options[1] == "B. In the middle of the video"  # continuation line joined
    assert r7.media == [str(tmp_path / "v" / "videos" / "00000" / "00000001.mp4")]


@pytest.mark.parametrize(
    "response,letter",
    [
        ("B", "B"),
        ("(B) a dog", "B"),
        ("B. a dog", "B"),
        ("The answer is (C)", "C"),
        ("The answer is C", "T"),
        ("Answer:\nB", "A"),  # only spaces split
        ("b", "b"),
        ("  D)  ", "D"),
        ("", ""),
        ("(", ""),
    ],
)
def test_polish_answer(response, letter):
    assert polish_answer(response) == letter


def test_official_scoring(adapter, tmp_path):
    rec = adapter.load(write_jsonl(tmp_path / "m.jsonl", META), tmp_path)[0]  # answer A
    assert adapter.score_sample(rec, "(A) Irresponsible", "official")["score"] == 1.0
    assert adapter.score_sample(rec, "The answer is A", "official") == {
        "score": 0.0,
        "pred": "T",
        "extraction_failed": False,
    }
    assert adapter.score_sample(rec, "a", "official")["score"] == 0.0  # case-sensitive
    assert adapter.score_sample(rec, "", "official")["extraction_failed"] is True
    assert adapter.score_sample(rec, "The answer is A", "robust")["score"] == 1.0


def test_aggregate_matches_official_compute_accuracy(adapter, tmp_path):
    recs = adapter.load(write_jsonl(tmp_path / "m.jsonl", META), tmp_path)
    responses = {"92": "(A)", "93": "C", "7": ""}  # right, wrong, unreadable (counted wrong)
    scores = [adapter.score_sample(r, responses[r.id], "official") for r in recs]
    agg = adapter.aggregate(recs, scores, "official")
    answers = {uid: polish_answer(text) for uid, text in responses.items()}
    official = lvbench_compute_accuracy(META, answers)
    assert agg["overall"] == pytest.approx(100 * official["acc"]) == pytest.approx(100 / 3)
    assert agg["n"] == 3 and agg["excluded"] == 0
    # 92 counts in both of its types; reasoning = {92 right, 7 wrong}
    assert agg["by_question_type"] == {
        "entity recognition": 100.0,
        "reasoning": 50.0,
        "temporal grounding": 0.0,
    }
    assert {k: 100 * v for k, v in official.items() if k != "acc"} == agg["by_question_type"]


def test_official_compute_accuracy_leaves_out_missing_uids():
    out = lvbench_compute_accuracy(META, {"92": "A", "93": "B"})  # uid 7 never answered
    assert out == {"entity recognition": 1.0, "reasoning": 1.0, "temporal grounding": 1.0, "acc": 1.0}
    assert lvbench_compute_accuracy(META, {})["acc"] is None


def test_missing_field_names_file_and_record(adapter, tmp_path):
    bad = json.loads(json.dumps(META))
    del bad[1]["qa"][0]["question_type"]
    path = write_jsonl(tmp_path / "bad.jsonl", bad)
    with pytest.raises(
        ValueError, match=r"bad\.jsonl: record 1 \(key='abcdefghijk'\), qa 0 \(uid=7\).*question_type"
    ):
        adapter.load(path, tmp_path)
    no_qa = write_jsonl(tmp_path / "noqa.jsonl", [{"key": "x"}])
    with pytest.raises(ValueError, match=r"noqa\.jsonl: record 0 \(key='x'\): missing fields \['qa'\]"):
        adapter.load(no_qa, tmp_path)


def test_bad_options_and_answer(adapter, tmp_path):
    rows = [{"key": "k", "qa": [{"uid": 1, "question": "Q? no options", "answer": "A", "question_type": []}]}]
    with pytest.raises(ValueError, match=r"uid=1.*options inline"):
        adapter.load(write_jsonl(tmp_path / "a.jsonl", rows), tmp_path)
    rows[0]["qa"][0]["question"] = "Q?\n(A) x\n(B) y"
    rows[0]["qa"][0]["answer"] = "E"
    with pytest.raises(ValueError, match=r"answer 'E' is not one of the option letters"):
        adapter.load(write_jsonl(tmp_path / "b.jsonl", rows), tmp_path)


def test_malformed_file_names_file(adapter, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"key": "a", "qa": []}\n{not json\n')
    with pytest.raises(ValueError, match=r"broken\.jsonl:2"):
        adapter.load(path, tmp_path)


def test_split_inline_options_formats():
    stem, options = split_inline_options("Which?\nA. one\nB) two\nC: three", "where")
    assert stem == "Which?" and options == ["A. one", "B. two", "C. three"]
    with pytest.raises(ValueError, match="found AC"):
        split_inline_options("Q\n(A) x\n(C) y", "where")
