"""MotionBench adapter: the EasyVideoR1 sample, the official meta format, official counting, aggregates.

No official ``video_info.meta.jsonl`` sample ships here, so the official format tests build a small file
from the schema read by THUDM/MotionBench ``motionbench/metrics/compute_accuracy.py`` and lmms-eval
``tasks/motionbench/utils.py`` (key, video_path, video_type, question_type, qa[uid, question with
"A. ..." option lines, answer, "NA" for the test split]).
"""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official.lvbench import motionbench_compute_accuracy, polish_answer

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "motionbench"

META = [
    {
        "key": "s7zg7CjPZ3kiJB2L",
        "video_path": "self-collected/s7zg7CjPZ3kiJB2L.mp4",
        "video_type": "self-collected",
        "question_type": "Motion Recognition",
        "qa": [
            {
                "uid": "s7zg7CjPZ3kiJB2L_1",
                "question": "Does the man change his head position?\nA. No\nB. Yes, to the right\n"
                "C. Yes, to the left\nD. Yes, upward",
                "answer": "C",
            },
            {"uid": "s7zg7CjPZ3kiJB2L_2", "question": "What does he hold?\nA. cup\nB. pen", "answer": "A"},
        ],
    },
    {
        "key": "ggqGrLl5uBMMNzW2",
        "video_path": "clip_7881.mp4",
        "video_type": "MedVid",
        "question_type": "Camera Motion",
        "qa": [
            {
                "uid": "ggqGrLl5uBMMNzW2",
                "question": "How does the camera move?\nA. pan\nB. zoom",
                "answer": "B",
            },
            {"uid": "ggqGrLl5uBMMNzW2_9", "question": "Hidden?\nA. x\nB. y", "answer": "NA"},
        ],
    },
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def adapter():
    return get_adapter("motionbench")


def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLES / "easyvideor1_motionbench.sample.json", tmp_path)
    assert len(recs) == 20
    assert [r.id for r in recs[:3]] == ["179", "312", "439"]
    assert "".join(r.answer for r in recs) == "CBACBDBACCDCBCDBDABB"
    assert recs[0].categories == {"question_type": "Motion Recognition"}
    assert recs[2].categories == {"question_type": "Camera Motion"}
    assert recs[0].media == [str(tmp_path / "self-collected" / "s7zg7CjPZ3kiJB2L.mp4")]
    counts = {}
    for r in recs:
        counts[r.categories["question_type"]] = counts.get(r.categories["question_type"], 0) + 1
    assert counts == {
        "Motion Recognition": 3,
        "Action Order": 4,
        "Camera Motion": 4,
        "Location-related Motion": 3,
        "Repetition Count": 3,
        "Motion-related Objects": 3,
    }


def test_official_meta_skips_hidden_answers(adapter, tmp_path):
    recs = adapter.load(write_jsonl(tmp_path / "video_info.meta.jsonl", META), tmp_path / "v")
    assert [r.id for r in recs] == ["s7zg7CjPZ3kiJB2L_1", "s7zg7CjPZ3kiJB2L_2", "ggqGrLl5uBMMNzW2"]
    first = recs[0]
    assert first.problem == "Does the man change his head position?"
    assert first.options == ["A. No", "B. Yes, to the right", "C. Yes, to the left", "D. Yes, upward"]
    assert first.answer == "C" and first.categories == {"question_type": "Motion Recognition"}
    assert first.media == [str(tmp_path / "v" / "self-collected" / "s7zg7CjPZ3kiJB2L.mp4")]
    assert first.extra["video_type"] == "self-collected"
    assert recs[2].categories == {"question_type": "Camera Motion"}


def test_only_hidden_answers_is_an_error(adapter, tmp_path):
    test_only = [dict(META[1], qa=[META[1]["qa"][1]])]
    with pytest.raises(ValueError, match=r"all 1 questions have the answer 'NA'"):
        adapter.load(write_jsonl(tmp_path / "test.jsonl", test_only), tmp_path)


def test_official_counting_quirks():
    answers = {"s7zg7CjPZ3kiJB2L_1": "C", "ggqGrLl5uBMMNzW2": "A", "ggqGrLl5uBMMNzW2_9": "B"}
    out = motionbench_compute_accuracy(META, answers)
    # uid _2 is unanswered (counted in total_qa_num, wrong); the answered "NA" item is skipped from
    # total_qa_num but counted in total_answered_num
    assert out["total_qa_num"] == 3 and out["total_answered_num"] == 3 and out["right_num"] == 1
    assert out["acc"] == pytest.approx(1 / 3) and out["answered_acc"] == pytest.approx(1 / 3)
    assert out["Motion Recognition"] == 1.0 and out["Camera Motion"] == 0.0


def test_aggregate_matches_official(adapter, tmp_path):
    recs = adapter.load(write_jsonl(tmp_path / "m.jsonl", META), tmp_path)
    responses = {
        "s7zg7CjPZ3kiJB2L_1": "C. left",
        "s7zg7CjPZ3kiJB2L_2": "(A)",
        "ggqGrLl5uBMMNzW2": "The answer is B",
    }
    scores = [adapter.score_sample(r, responses[r.id], "official") for r in recs]
    assert [s["pred"] for s in scores] == ["C", "A", "T"]
    agg = adapter.aggregate(recs, scores, "official")
    # the official run answers every question, the hidden test one too (which then leaves the counts)
    answers = {k: polish_answer(v) for k, v in responses.items()} | {"ggqGrLl5uBMMNzW2_9": "A"}
    official = motionbench_compute_accuracy(META, answers)
    assert agg["overall"] == agg["acc"] == agg["answered_acc"] == pytest.approx(100 * official["acc"])
    assert agg["overall"] == pytest.approx(200 / 3)
    assert agg["by_question_type"] == {"Camera Motion": 0.0, "Motion Recognition": 100.0}
    assert agg["n"] == 3


def test_missing_field_names_file_and_record(adapter, tmp_path):
    bad = json.loads(json.dumps(META))
    del bad[0]["question_type"]
    with pytest.raises(ValueError, match=r"bad\.jsonl: record 0 \(key='s7zg7CjPZ3kiJB2L'\): missing fields"):
        adapter.load(write_jsonl(tmp_path / "bad.jsonl", bad), tmp_path)
    bad = json.loads(json.dumps(META))
    del bad[1]["qa"][0]["answer"]
    with pytest.raises(
        ValueError, match=r"record 1 .*qa 0 \(uid='ggqGrLl5uBMMNzW2'\): missing fields \['answer'\]"
    ):
        adapter.load(write_jsonl(tmp_path / "bad2.jsonl", bad), tmp_path)


def test_malformed_file_names_file(adapter, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text("not json at all\n")
    with pytest.raises(ValueError, match=r"broken\.jsonl"):
        adapter.load(path, tmp_path)
