"""LiveSports-3K QA adapter: the EasyVideoR1 sample (the format read), EasyVideoR1 scoring, and the
LiveCC aggregates (per q_type, OCR questions, overall)."""

import json
from pathlib import Path

import pytest

from evaluation.benchmarks import get_adapter

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "livesports_qa"
    / "easyvideor1_livesports3k_qa.sample.json"
)


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


def test_not_a_unified_file(adapter, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps([{"question": "q"}]))
    with pytest.raises(ValueError, match=r"other\.json: not an EasyVideoR1 unified file"):
        adapter.load(path, tmp_path)
