"""LiveSports-3K QA adapter: both readers, EasyVideoR1 scoring, and the LiveCC aggregates (per q_type,
OCR questions, overall).

The EasyVideoR1 sample is 20 real rows of EasyVideoR1's ``livesports3k_qa.json``. No file of LiveCC's
own input (``sports3k-qa.jsonl``) was available: ``tests/data/livesports_qa_livecc.jsonl`` is built from
the fields showlab/livecc's ``evaluation/livesports3kqa/distributed_evaluate_livesports3kqa.py`` and
``evaluation/distributed_mcq_predictor.py`` read (video_id, question_id, q_type, OCR, question, options
as "A. text", answer letter, optional tos_key / video_start / video_end), filled with the first four
sample questions (bounds from their clip names); the question_id and tos_key values are made up.
"""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "livesports_qa"
    / "easyvideor1_livesports3k_qa.sample.json"
)
LIVECC = Path(__file__).resolve().parent / "data" / "livesports_qa_livecc.jsonl"


@pytest.fixture
def adapter():
    return get_adapter("livesports_qa")


def test_sample_records(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20
    first = recs[0]
    assert first.id == "1ybKCS__7cA_e5_q1" and first.answer == "C"
    assert first.options == [
        "A. Move his legs",
        "B. Push his car forward",
        "C. Bring gloves",
        "D. Push his car backwards",
    ]
    assert first.categories == {"q_type": "What", "ocr": "0"}
    assert first.media == [str(tmp_path / "1ybKCS__7cA_47.714_58.343.mp4")]
    assert recs[1].categories == {"q_type": "When", "ocr": "1"}
    q_types = [r.categories["q_type"] for r in recs]
    assert {t: q_types.count(t) for t in set(q_types)} == {"What": 7, "When": 7, "Who": 6}
    assert sum(r.categories["ocr"] == "1" for r in recs) == 6
    assert "".join(r.answer for r in recs) == "CDACDBDCCDDBBCACBBCC"


def test_official_scoring_and_aggregates(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)[:4]  # C/What/0, D/When/1, A/Who/0, C/When/0
    responses = ["Therefore, the final answer is: C", "<answer>D</answer>", "B", "(C) gloves he brings"]
    scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(recs, responses)]
    assert [s["pred"] for s in scores] == ["C", "D", "B", ""]
    agg = adapter.aggregate(recs, scores, "official")
    assert agg["overall"] == 50.0 and agg["n"] == 4 and agg["excluded"] == 0
    assert agg["by_q_type"] == {"What": 100.0, "When": 50.0, "Who": 0.0}
    assert agg["OCR"] == 100.0  # accuracy over the OCR questions only (one, right)
    no_ocr = adapter.aggregate([recs[0]], [scores[0]], "official")
    assert no_ocr["OCR"] is None


def test_robust_mode(adapter, tmp_path):
    rec = adapter.load(SAMPLE, tmp_path)[0]
    assert adapter.score_sample(rec, "<answer>C</answer>", "robust")["score"] == 1.0
    assert adapter.score_sample(rec, "<answer>A</answer>", "robust")["score"] == 0.0


def test_missing_field_names_file_and_record(adapter, tmp_path):
    rows = json.loads(SAMPLE.read_text())[:3]
    del rows[1]["solution"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"bad\.json: record 1 \(problem_id='1ybKCS__7cA_e7_q2'\): missing"):
        adapter.load(path, tmp_path)


def test_not_a_known_format(adapter, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps([{"question": "q"}]))
    with pytest.raises(ValueError, match=r"other\.json: neither an EasyVideoR1 unified file .* nor LiveCC"):
        adapter.load(path, tmp_path)


def _livecc_rows():
    return [json.loads(line) for line in LIVECC.read_text().splitlines()]


def _write_jsonl(tmp_path, rows, name="livecc.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_livecc_records_match_the_unified_sample(adapter, tmp_path):
    official = adapter.load(LIVECC, tmp_path / "videos")
    unified = adapter.load(SAMPLE, tmp_path / "clips")[:4]
    assert [r.id for r in official] == ["101", "102", "103", "104"]
    for o, u in zip(official, unified):
        assert (o.problem, o.options, o.answer) == (u.problem, u.options, u.answer)
        assert o.categories == u.categories
        assert (o.problem_type, o.data_type, o.media_kind) == (u.problem_type, u.data_type, u.media_kind)
        # the whole video (LiveCC's bounds kept) vs EasyVideoR1's pre-cut clip of the same span
        assert {k: o.extra[k] for k in ("video_id", "start", "end")} == {
            k: u.extra[k] for k in ("video_id", "start", "end")
        }
        assert o.extra["source_format"] == "livecc_jsonl" and u.extra["source_format"] == "easyvideor1"
    assert official[0].media == [str(tmp_path / "videos" / "sports3k" / "1ybKCS__7cA.mp4")]  # tos_key
    assert official[2].media == [str(tmp_path / "videos" / "6gyD-Mte2ZM.mp4")]  # <video_id>.mp4
    assert unified[0].media == [str(tmp_path / "clips" / "1ybKCS__7cA_47.714_58.343.mp4")]
    assert (official[1].extra["start"], official[1].extra["end"]) == (73.135, 84.547)
    assert official[1].extra["question_id"] == 102


def test_livecc_json_list_and_variants(adapter, tmp_path):
    rows = _livecc_rows()
    as_list = tmp_path / "livecc.json"
    as_list.write_text(json.dumps(rows))
    assert [r.to_dict() for r in adapter.load(as_list, tmp_path)] == [
        r.to_dict() for r in adapter.load(LIVECC, tmp_path)
    ]
    variant = [dict(r) for r in rows]
    variant[0]["OCR"] = "1"  # a digit string or a bool reads as the same flag
    variant[1]["OCR"] = False
    variant[2]["answer"] = "Tom."  # an option's text names its letter
    del variant[3]["video_start"], variant[3]["video_end"]
    variant[3].update(begin=40.264, end=66.016)  # the CC track's bound names
    recs = adapter.load(_write_jsonl(tmp_path, variant), tmp_path)
    assert [r.categories["ocr"] for r in recs[:2]] == ["1", "0"]
    assert recs[2].answer == "A"
    assert (recs[3].extra["start"], recs[3].extra["end"]) == (40.264, 66.016)


def test_livecc_ids_without_or_with_repeated_question_id(adapter, tmp_path):
    rows = _livecc_rows()
    del rows[0]["question_id"]
    rows[2]["question_id"] = rows[3]["question_id"] = "q1"  # not unique in the file
    recs = adapter.load(_write_jsonl(tmp_path, rows), tmp_path)
    assert recs[1].id == "102"
    content = [recs[0].id, recs[2].id, recs[3].id]
    assert all(len(i) == 12 for i in content) and len(set(content)) == 3
    assert recs[2].extra["question_id"] == "q1"
    again = adapter.load(_write_jsonl(tmp_path, rows[::-1], "rev.jsonl"), tmp_path)
    assert {r.id for r in again} == {r.id for r in recs}  # content ids do not depend on file order
    twice = adapter.load(_write_jsonl(tmp_path, [rows[0], rows[0]], "twice.jsonl"), tmp_path)
    assert twice[1].id == twice[0].id + "~2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("answer"), r"record 1 \(question_id=102\): missing fields \['answer'\] of LiveCC"),
        (lambda r: r.update(OCR=2), r"record 1 \(question_id=102\): OCR must be 0 or 1"),
        (lambda r: r.update(answer="E"), r"record 1 \(question_id=102\): answer 'E' names none"),
        (lambda r: r.update(video_end=70.0), r"record 1 \(question_id=102\): video_end 70.0 is not after"),
        (lambda r: r.update(options="A. x"), r"record 1 \(question_id=102\): options must be a list"),
    ],
)
def test_livecc_bad_row_names_file_and_record(adapter, tmp_path, change, message):
    rows = _livecc_rows()
    change(rows[1])
    with pytest.raises(ValueError, match=r"bad\.jsonl: " + message):
        adapter.load(_write_jsonl(tmp_path, rows, "bad.jsonl"), tmp_path)


def test_scoring_and_aggregates_equal_for_both_formats(adapter, tmp_path):
    responses = ["Therefore, the final answer is: C", "<answer>D</answer>", "B", "(C) gloves he brings"]
    results = []
    for recs in (adapter.load(SAMPLE, tmp_path)[:4], adapter.load(LIVECC, tmp_path)):
        scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(recs, responses)]
        robust = [adapter.score_sample(r, resp, "robust") for r, resp in zip(recs, responses)]
        results.append(
            (
                scores,
                adapter.aggregate(recs, scores, "official"),
                [s["score"] for s in robust],
                adapter.aggregate(recs, robust, "robust"),
            )
        )
    assert results[0] == results[1]
    agg = results[1][1]
    assert agg["overall"] == 50.0 and agg["by_q_type"] == {"What": 100.0, "When": 50.0, "Who": 0.0}
    assert agg["OCR"] == 100.0
