"""Video-MME adapter: the real EasyVideoR1 sample, the official parquet rows (built from the official fields
that sample keeps), the official results layout (built from BradyFU/Video-MME
``evaluation/output_test_template.json``), official extraction quirks and the excluded-unanswered aggregate."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.video_mme import CATEGORY_FIELDS, ROW_FIELDS
from evaluation.official.videomme import extract_characters_regex

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "video_mme"
    / "easyvideor1_videomme.sample.json"
)


@pytest.fixture
def adapter():
    return get_adapter("video_mme")


def _official_rows():
    """The official HF fields of the 20 real sample records (EasyVideoR1 keeps them verbatim)."""
    return [{k: r[k] for k in (*ROW_FIELDS, "url")} for r in json.loads(SAMPLE.read_text())]


def test_unified_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20 and len({r.id for r in recs}) == 20
    first, last = recs[0], recs[-1]
    assert first.id == "331-2" and first.answer == "A" and first.extra["problem_id"] == "992"
    assert first.options[1] == "B. $27 per share."
    assert first.categories == {
        "duration": "medium",
        "domain": "Knowledge",
        "sub_category": "Finance & Commerce",
        "task_type": "Object Reasoning",
    }
    assert first.media == [str(tmp_path / "videos" / "t6V9i8fFADI.mp4")]
    assert first.extra["videoID"] == "t6V9i8fFADI" and first.extra["source_format"] == "easyvideor1"
    assert last.id == "886-1" and last.answer == "D"
    assert last.categories["duration"] == "long" and last.categories["task_type"] == "OCR Problems"
    assert sum(r.categories["duration"] == "medium" for r in recs) == 8
    assert [r.answer for r in recs].count("A") == 6


def test_official_parquet_matches_unified(adapter, tmp_path):
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(_official_rows()), path)
    recs = adapter.load(path, tmp_path / "data")
    unified = adapter.load(SAMPLE, tmp_path)
    assert [r.id for r in recs] == [r.id for r in unified]
    assert [r.answer for r in recs] == [r.answer for r in unified]
    assert [r.options for r in recs] == [r.options for r in unified]
    assert [r.categories for r in recs] == [r.categories for r in unified]
    assert recs[0].media == [str(tmp_path / "data" / "t6V9i8fFADI.mp4")]
    assert recs[0].extra["url"] == "https://www.youtube.com/watch?v=t6V9i8fFADI"


# Two videos of BradyFU/Video-MME evaluation/output_test_template.json (responses kept as given there).
RESULTS = [
    {
        "video_id": "001",
        "duration_category": "short",
        "video_category": "Knowledge",
        "video_subcategory": "Humanity & History",
        "questions": [
            {"question_id": "001-1", "task_type": "Object Reasoning", "question": "Which is not correct?",
             "choices": ["A. Moina.", "B. Poppy.", "C. WW1.", "D. Flanders."], "answer": "A", "response": "D"},
            {"question_id": "001-2", "task_type": "Attribute Perception", "question": "What is she wearing?",
             "choices": ["A. Black shirts.", "B. Blue shirts.", "C. Red skirts.", "D. Brown hat."],
             "answer": "D", "response": "D"},
            {"question_id": "001-3", "task_type": "Action Reasoning", "question": "What did it do?",
             "choices": ["A. Employment.", "B. Health.", "C. Poppy.", "D. Houses."], "answer": "A",
             "response": "C"},
        ],
    },
    {
        "video_id": "005",
        "duration_category": "short",
        "video_category": "Knowledge",
        "video_subcategory": "Humanity & History",
        "questions": [
            {"question_id": "005-1", "task_type": "Counting Problem", "question": "How many were in the car?",
             "choices": ["A. Three.", "B. Two.", "C. One.", "D. Four."], "answer": "A", "response": "A."},
            {"question_id": "005-2", "task_type": "Action Reasoning", "question": "What set off the war?",
             "choices": ["A. Militarism.", "B. The assassination.", "C. Edward III.", "D. Blitzkrieg."],
             "answer": "B", "response": "B"},
            {"question_id": "005-3", "task_type": "Attribute Perception", "question": "Which is incorrect?",
             "choices": ["A. Black Hand.", "B. Left side.", "C. White hat.", "D. Black suit."], "answer": "C",
             "response": "A"},
        ],
    },
]  # fmt: skip


def test_official_results_layout_and_official_numbers(adapter, tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    recs = adapter.load(path, tmp_path)
    assert [r.id for r in recs] == ["001-1", "001-2", "001-3", "005-1", "005-2", "005-3"]
    assert recs[1].answer == "D" and recs[1].options[3] == "D. Brown hat."
    assert recs[0].categories == {
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "task_type": "Object Reasoning",
    }
    assert recs[0].media == [str(tmp_path / "001.mp4")]
    responses = [q["response"] for v in RESULTS for q in v["questions"]]
    scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(recs, responses)]
    agg = adapter.aggregate(recs, scores, "official")
    # eval_your_results.py: correct 001-2, 005-1, 005-2 of 6 answered
    assert agg["overall"] == pytest.approx(50.0) and agg["n"] == 6 and agg["excluded"] == 0
    assert agg["by_task_type"]["Action Reasoning"] == pytest.approx(50.0)
    assert agg["by_task_type"]["Attribute Perception"] == pytest.approx(50.0)
    assert agg["by_task_type"]["Counting Problem"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    "response,letter",
    [
        ("B", "B"),
        ("(C)", "C"),
        ("Answer: B", "A"),  # the A of "Answer"
        ("Based on the video, the answer is (C).", "B"),  # the B of "Based"
        ("The answer is (B).", "B"),
        ("The best answer is D", "D"),
        ("The correct answer is C.", "C"),
        ("The answer: D", "D"),  # "The answer" is deleted
        ("The best option is C", "C"),  # kept (missing comma): the first capital A-D is still C
        ("Best answer: D", "B"),  # kept (missing comma): the B of "Best"
        ("Best answer:Best option: D", "D"),  # the concatenated prefix is deleted
        ("The best option isThe correct option is A", "A"),
        ("d", ""),  # case-sensitive
        ("I cannot tell from these frames which one it is, sorry about that", ""),  # >10 words, no A-D
        ("", ""),
        ("Every option here looks plausible to me but I pick D in the end", "D"),
    ],
)
def test_official_extraction(adapter, response, letter):
    assert extract_characters_regex(response) == letter
    rec = adapter.load(SAMPLE, None)[0]  # answer A
    s = adapter.score_sample(rec, response, "official")
    assert s["pred"] == letter and s["extraction_failed"] == (letter == "")
    assert s["score"] == float(letter == "A")


def test_official_aggregate_excludes_unreadable(adapter):
    recs = adapter.load(SAMPLE, None)
    by_id = {r.id: r for r in recs}
    picked = [by_id[i] for i in ("331-2", "366-2", "378-1", "606-1", "639-1", "678-2")]
    # medium: A (right), "" (excluded), A (wrong: C); long: B (right), B (wrong: A), "" (excluded)
    responses = ["A", "no idea", "A", "B", "B", "not sure which of the four options is correct here, sorry"]
    scores = [adapter.score_sample(r, resp, "official") for r, resp in zip(picked, responses)]
    agg = adapter.aggregate(picked, scores, "official")
    assert agg["n"] == 4 and agg["excluded"] == 2
    assert agg["overall"] == pytest.approx(50.0)
    assert agg["by_duration"] == {"long": pytest.approx(50.0), "medium": pytest.approx(50.0)}
    assert agg["by_domain"] == {"Knowledge": pytest.approx(50.0)}
    assert set(agg) >= {f"by_{f}" for f in CATEGORY_FIELDS}
    robust = adapter.aggregate(
        picked, [adapter.score_sample(r, x, "robust") for r, x in zip(picked, responses)], "robust"
    )
    assert robust["n"] == 6 and robust["excluded"] == 0
    assert robust["overall"] == pytest.approx(100.0 * 2 / 6)


def test_robust_mode(adapter):
    rec = adapter.load(SAMPLE, None)[0]
    assert adapter.score_sample(rec, "<think>step</think><answer>A</answer>", "robust")["score"] == 1.0
    assert adapter.score_sample(rec, "<answer>C</answer>", "robust")["score"] == 0.0


def test_missing_field_names_file_and_record(adapter, tmp_path):
    rows = _official_rows()[:3]
    del rows[1]["task_type"]
    path = tmp_path / "videomme.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"videomme\.json: record 1 \(question_id='366-2'\).*task_type"):
        adapter.load(path, None)
    bad = json.loads(json.dumps(RESULTS))
    del bad[1]["questions"][2]["choices"]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"video 1 \(video_id='005'\), question 2 \(question_id='005-3'\)"):
        adapter.load(path, None)


def test_bad_answer_and_malformed_file(adapter, tmp_path):
    rows = _official_rows()[:2]
    rows[0]["answer"] = "F"
    path = tmp_path / "videomme.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"record 0 \(question_id='331-2'\).*'F' names none"):
        adapter.load(path, None)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"videomme\.json"):
        adapter.load(path, None)
    path.write_text(json.dumps({"video_id": "001"}))
    with pytest.raises(ValueError, match=r"videomme\.json: expected a list"):
        adapter.load(path, None)
