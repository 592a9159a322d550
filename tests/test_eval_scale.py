"""One scale per result (issue 19, item 3): every aggregate of every benchmark is a percentage in [0, 100]
(counts aside), the extraction-failure rate and the held-out split's accuracy included, so 0.5 next to
50.0 can no longer mean the same thing. Real sample records of every benchmark (``evaluation/samples``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.evaluations import scores_in_range
from evaluation.adapters import get_adapter
from evaluation.offline import score_predictions

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples"
FILES = sorted(
    p
    for p in SAMPLES.glob("*/*")
    if p.suffix in (".json", ".txt") and p.name != "SOURCE.txt" and not p.name.startswith("scorer_fixture_")
)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_extraction_failure_rate_is_a_percentage(path, tmp_path):
    adapter = get_adapter(path.parent.name)
    records = adapter.load(path, tmp_path)
    result = score_predictions(adapter, records, {r.id: "" for r in records}, ["robust"])
    assert result["aggregates"]["robust"]["extraction_failure_rate"] == 100.0  # nothing to extract from ""


def test_held_out_split_aggregates_are_percentages(tmp_path):
    split = tmp_path / "val.jsonl"
    split.write_text(
        '{"problem_id": "a", "problem": "Is it red?", "problem_type": "boolean", "answer": "yes"}\n'
        '{"problem_id": "b", "problem": "How many?", "problem_type": "numerical", "answer": "3"}\n'
    )
    adapter = get_adapter("reelrl_jsonl")
    records = adapter.load(split, None)
    predictions = {"a": "<think>red</think><answer>yes</answer>", "b": "<answer>4</answer>"}
    agg = score_predictions(adapter, records, predictions, ["robust"])["aggregates"]["robust"]
    assert agg == {
        "n": 2,
        "overall": 50.0,
        "accuracy": 50.0,
        "per_problem_type": {"boolean": 100.0, "numerical": 0.0},
        "mean_overall": pytest.approx(55.0),  # (0.9·1 + 0.1·1 + 0.9·0 + 0.1·1) / 2 in percent
        "mean_format": 100.0,
        "extraction_failure_rate": 0.0,
    }
    assert scores_in_range({"robust": agg}) == []


def test_the_scores_check_reads_every_aggregate_as_a_percentage():
    assert scores_in_range({"official": {"n": 7, "overall": 42.0, "extraction_failure_rate": 30.0}}) == []
    assert scores_in_range({"official": {"overall": 101.0, "extraction_failure_rate": -1.0}}) == [
        "official/overall=101.0",
        "official/extraction_failure_rate=-1.0",
    ]
