"""VideoMathQA adapter: the real EasyVideoR1 sample, lmms-eval's letter extraction, MCQ/MBin aggregates."""

import doctest
import json
from pathlib import Path

import pytest

from evaluation.benchmarks import get_adapter
from evaluation.official import videomathqa
from evaluation.official.videomathqa import extract_letter

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "videomathqa"
    / "easyvideor1_videomathqa.sample.json"
)


@pytest.fixture
def adapter():
    return get_adapter("videomathqa")


def test_sample_records(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20 and len({r.id for r in recs}) == 20
    by_id = {r.id: r for r in recs}
    first = recs[0]
    assert first.id == "1859cf22-4d87-469a-bffd-e960a4339050-180" and first.answer == "C"
    assert first.options[2] == "C. 90" and len(first.options) == 5
    assert first.categories == {"subset": "mcq", "category": "Chart", "length": "long"}
    assert first.media == [str(tmp_path / "videos" / "1859cf22-4d87-469a-bffd-e960a4339050.mp4")]
    assert json.loads(first.extra["steps"])["6"].startswith("In 1999, Indias gray bubble")
    # the MCQ and an MBin item of the same question share problem_id: the MBin id adds its mbinary_id
    mcq = by_id["a96e6b05-ffce-43f4-9539-ceb9db714cc4-398"]
    mbin = by_id["a96e6b05-ffce-43f4-9539-ceb9db714cc4-398/mbin-3983"]
    assert (mcq.answer, mcq.options[3]) == ("D", "D. 38%")
    assert mbin.options == ["A. 78%", "B. 38%"] and mbin.answer == "B"
    assert mbin.categories == {"subset": "mbin", "category": "Statistics", "length": "medium"}
    assert (
        mbin.extra["question_id"] == mcq.extra["question_id"] == mcq.id and mbin.extra["mbinary_id"] == 3983
    )
    assert sum(r.categories["subset"] == "mbin" for r in recs) == 10


@pytest.mark.parametrize(
    "response, letter",
    [
        ("The best answer is: C", "C"),
        ("C", "C"),
        ("Answer: B", "A"),  # the A of "Answer"
        ("Best answer: C", "B"),  # "Best answer:" alone is no prefix: the B of "Best"
        ("The best option isThe correct option is B", "B"),  # the concatenated prefix is deleted
        ("(D) 38%", "D"),
        ("c", ""),  # case-sensitive
        ("the probability is thirty eight percent of the whole shaded region here ok", ""),
        ("Explanation: the area halves, so the answer is (A)", "E"),
        ("", ""),
    ],
)
def test_official_extraction(response, letter):
    assert extract_letter(response) == letter


def test_official_and_robust_scores(adapter, tmp_path):
    rec = adapter.load(SAMPLE, tmp_path)[0]  # answer C
    assert adapter.score_sample(rec, "The best answer is C.", "official") == {
        "score": 1.0,
        "pred": "C",
        "extraction_failed": False,
    }
    miss = adapter.score_sample(rec, "no idea", "official")
    assert miss["score"] == 0.0 and miss["extraction_failed"]
    assert adapter.score_sample(rec, "<think>90</think><answer>C</answer>", "robust")["score"] == 1.0


def _row(pid, category, length, options, answer, mbinary_id=None):
    row = {
        "problem_id": pid,
        "problem": f"question {pid}",
        "problem_type": "multiple choice",
        "options": options,
        "solution": f"<answer>{answer}</answer>",
        "path": f"./videos/{pid}.mp4",
        "category": category,
        "length": length,
    }
    if mbinary_id is not None:
        row["mbinary_id"] = mbinary_id
    return row


FIVE = ["A. 1", "B. 2", "C. 3", "D. 4", "E. 5"]


def test_aggregates(adapter, tmp_path):
    rows = [
        _row("q1", "Chart", "short", FIVE, "A"),
        _row("q2", "Chart", "long", FIVE, "B"),
        _row("q3", "Puzzle", "long", FIVE, "C"),
        _row("q1", "Chart", "short", ["A. 1", "B. 2"], "A", 11),
        _row("q1", "Chart", "short", ["A. 1", "B. 3"], "A", 12),
        _row("q2", "Chart", "long", ["A. 2", "B. 1"], "A", 21),
        _row("q2", "Chart", "long", ["A. 5", "B. 2"], "B", 22),
        _row("q3", "Puzzle", "long", ["A. 3", "B. 4"], "A", 31),
    ]
    (tmp_path / "v.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    recs = adapter.load(tmp_path / "v.jsonl", tmp_path)
    # MCQ: q1 right, q2 wrong, q3 right; MBin: q1 both right, q2 one wrong, q3 right
    answers = ["A", "A", "C", "A", "A", "A", "A", "A"]
    scores = [adapter.score_sample(r, a, "official") for r, a in zip(recs, answers)]
    out = adapter.aggregate(recs, scores, "official")
    assert out["n"] == 8 and out["n_mcq"] == 3 and out["n_mbin_items"] == 5 and out["n_mbin_questions"] == 3
    assert out["mcq_accuracy"] == pytest.approx(200 / 3)
    assert out["mcq_by_category"] == {"Chart": 50.0, "Puzzle": 100.0}
    assert out["mcq_by_length"] == {"long": 50.0, "short": 100.0}
    assert out["mbin_accuracy"] == pytest.approx(200 / 3)
    assert out["mbin_by_category"] == {"Chart": 50.0, "Puzzle": 100.0}
    assert out["mbin_by_length"] == {"long": 50.0, "short": 100.0}
    assert out["easyvideor1_mean"] == pytest.approx(100 * 6 / 8)
    assert out["overall"] == out["mcq_accuracy"]
    mbin_only = adapter.aggregate(recs[3:], scores[3:], "official")
    assert mbin_only["overall"] == mbin_only["mbin_accuracy"] and mbin_only["mcq_accuracy"] is None


def test_bad_input(adapter, tmp_path):
    row = _row("q1", "Chart", "short", FIVE, "A")
    del row["length"]
    (tmp_path / "a.json").write_text(json.dumps([row]))
    with pytest.raises(ValueError, match=r"a\.json: record 0 \(problem_id='q1'\).*'length'"):
        adapter.load(tmp_path / "a.json", None)
    (tmp_path / "b.json").write_text(json.dumps([_row("q1", "Chart", "short", FIVE, "A", 7)]))
    with pytest.raises(ValueError, match=r"b\.json: record 0 .*needs 2 options"):
        adapter.load(tmp_path / "b.json", None)
    (tmp_path / "c.json").write_text('[{"problem_id": 1,')
    with pytest.raises(ValueError, match=r"c\.json"):
        adapter.load(tmp_path / "c.json", None)


def test_docstring_examples():
    result = doctest.testmod(videomathqa)
    assert result.failed == 0 and result.attempted >= 1
