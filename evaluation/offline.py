"""Scoring a predictions file without a model: ``reelrl eval score``.

Predictions are JSON Lines ``{"id": ..., "response": ...}`` (other keys ignored), UTF-8; a line that is not
UTF-8 or not JSON raises naming the file and the line. An id on two lines is an error naming the id and both
lines, unless ``dedupe`` says which copy counts ("first" or "last"). Every record is scored in each mode by
its adapter; what cannot be scored is counted, never dropped silently: ``missing`` (a record with no
prediction), ``empty_response`` (scored: an empty answer is a wrong answer), ``unknown_predictions`` (ids
that are not records of the annotation file), ``scoring_failed[mode]`` (the scorer raised, e.g. a judged
record without a judge) and ``extraction_failed[mode]``.

A record with no prediction is refused unless ``partial=True``: the official scripts' denominator is every
record of the benchmark, and aggregates over the predicted records only would show an unfinished run as
a better one. With ``partial=True`` the aggregates cover the predicted records and the result says
``partial: true`` beside ``counts.missing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.adapters.registry import BenchmarkAdapter
from evaluation.inputs import json_lines, read_text
from evaluation.metrics import mean, percent
from evaluation.records import BenchmarkRecord, check_unique_ids
from evaluation.stages import score_many

DEDUPE = ("first", "last")


def read_predictions(path: str | Path, dedupe: str | None = None) -> dict[str, str]:
    """``{id: response}`` from a JSONL file. A line that is not ``{"id", "response"}`` raises naming the
    line; so does an id seen before, unless ``dedupe`` is "first" or "last" (the copy that counts)."""
    if dedupe not in (None, *DEDUPE):
        raise ValueError(f"dedupe must be one of {DEDUPE} or None, got {dedupe!r}")
    path = Path(path)
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, row in json_lines(read_text(path), path):
        try:
            rid, response = str(row["id"]), row["response"]
        except (KeyError, TypeError) as e:
            raise ValueError(f'{path}:{lineno}: expected {{"id": ..., "response": ...}} ({e!r})') from None
        if rid in first_line:
            if dedupe is None:
                raise ValueError(
                    f"{path}:{lineno}: prediction id {rid!r} again (first at {path}:{first_line[rid]}); "
                    "keep one line per id, or pass --dedupe first|last to say which copy counts"
                )
            if dedupe == "first":
                continue
        first_line.setdefault(rid, lineno)
        out[rid] = "" if response is None else str(response)
    return out


def aggregate_modes(
    adapter: BenchmarkAdapter,
    records: Mapping[str, Sequence[BenchmarkRecord]],
    scores: Mapping[str, Sequence[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Per mode: the adapter's aggregates plus ``extraction_failure_rate`` over the scored samples (percent,
    like every aggregate)."""
    out = {}
    for mode in records:
        agg = dict(adapter.aggregate(records[mode], scores[mode], mode))
        failed = [float(bool(s.get("extraction_failed"))) for s in scores[mode]]
        agg["extraction_failure_rate"] = percent(mean(failed))
        out[mode] = agg
    return out


def score_predictions(
    adapter: BenchmarkAdapter,
    records: Sequence[BenchmarkRecord],
    predictions: Mapping[str, str],
    modes: Sequence[str],
    *,
    partial: bool = False,
    source: str = "predictions",
) -> dict[str, Any]:
    """``{"partial": bool, "aggregates": {mode: {...}}, "counts": {...}}`` for ``predictions`` of ``records``.

    Records without a prediction raise ``ValueError`` (``source`` names the predictions in the message)
    unless ``partial``; then ``partial`` in the result is True when any record is missing."""
    check_unique_ids(records)
    ids = {r.id for r in records}
    counts: dict[str, Any] = {
        "total": len(records),
        "scored": 0,
        "missing": 0,
        "empty_response": 0,
        "unknown_predictions": len(set(predictions) - ids),
        "extraction_failed": {m: 0 for m in modes},
        "scoring_failed": {m: 0 for m in modes},
    }
    recs: dict[str, list[BenchmarkRecord]] = {m: [] for m in modes}
    scores: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    answered = [(r, predictions[r.id]) for r in records if r.id in predictions]
    counts["missing"] = len(records) - len(answered)
    if counts["missing"] and not partial:
        raise ValueError(_missing_message(adapter.name, records, predictions, counts, source))
    for (record, response), by_mode in zip(answered, score_many(adapter, answered, modes), strict=True):
        counts["scored"] += 1
        counts["empty_response"] += not response.strip()
        for mode, s in by_mode.items():
            if "error" in s:
                counts["scoring_failed"][mode] += 1
                continue
            counts["extraction_failed"][mode] += bool(s.get("extraction_failed"))
            recs[mode].append(record)
            scores[mode].append(s)
    return {
        "partial": counts["missing"] > 0,
        "aggregates": aggregate_modes(adapter, recs, scores),
        "counts": counts,
    }


def _missing_message(
    benchmark: str,
    records: Sequence[BenchmarkRecord],
    predictions: Mapping[str, str],
    counts: Mapping[str, Any],
    source: str,
) -> str:
    examples = [r.id for r in records if r.id not in predictions][:3]
    unknown = counts["unknown_predictions"]
    return (
        f"{source}: {counts['missing']} of {counts['total']} {benchmark} records have no prediction "
        f"(e.g. {', '.join(map(repr, examples))})"
        + (f"; {unknown} predictions have ids that are no record of the annotation file" if unknown else "")
        + ". Scores over the predicted records only would show an unfinished run as a complete one: "
        "predict every record, or pass --partial to score the predicted ones (the result says partial: true)"
    )
