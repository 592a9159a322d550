"""Robust scoring: the reward library's scorer for a record's problem type, as benchmarks use it.

The robust mode of every adapter goes through here, so evaluation and training agree on what a
correct answer is. ``extraction_failed`` means the library's own extractor for the family found no
answer in the response (``extract_choice``, ``extract_number``, ``extract_span``, ...). For a family
without a public extractor it falls back to: accuracy 0 and no candidate text (answer block, text
after ``</think>``, whole response) passes the family's format check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evaluation.records import BenchmarkRecord
from training.rewards import resolve_problem_type, score
from training.rewards.boolean import extract_polarity
from training.rewards.choice import extract_choice
from training.rewards.grounding import extract_box, extract_span
from training.rewards.numeric import extract_number
from training.rewards.registry import get_scorer
from training.rewards.tags import candidates

# canonical problem type -> "did the library's extractor find an answer?"
_EXTRACTORS: dict[str, Callable[[str, list[str] | None], bool]] = {
    "multiple choice": lambda r, opts: extract_choice(r, opts) is not None,
    "numerical": lambda r, opts: extract_number(r) is not None,
    "regression": lambda r, opts: extract_number(r) is not None,
    "temporal grounding": lambda r, opts: extract_span(r) is not None,
    "spatial grounding": lambda r, opts: extract_box(r) is not None,
    "boolean": lambda r, opts: extract_polarity(r) is not None,
}


def answer_found(response: str, problem_type: str, options: list[str] | None, data_type: str) -> bool:
    """True when the reward library can read an answer of ``problem_type`` from ``response``."""
    canonical = resolve_problem_type(problem_type)
    extractor = _EXTRACTORS.get(canonical)
    if extractor is not None:
        return extractor(response, options)
    scorer = get_scorer(canonical)
    return any(scorer.is_valid_answer(c, options=options, data_type=data_type) for c in candidates(response))


def robust_score(record: BenchmarkRecord, response: str) -> dict[str, Any]:
    """``{"score": accuracy, "extraction_failed": bool, "overall", "accuracy", "format", ...extras}``."""
    options = list(record.options) or None
    result: dict[str, Any] = dict(
        score(response, record.answer, record.problem_type, options=options, data_type=record.data_type)
    )
    result["score"] = result["accuracy"]
    found = result["accuracy"] > 0.0 or answer_found(response, record.problem_type, options, record.data_type)
    result["extraction_failed"] = not found
    return result
