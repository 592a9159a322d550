"""Scoring a predictions file without a model: ``reelrl eval score``.

Predictions are JSON Lines ``{"id": ..., "response": ...}`` (other keys ignored; the last line of an id wins).
Every record is scored in each mode by its adapter; what cannot be scored is counted, never dropped silently:
``missing`` (a record with no prediction: left out of the aggregates, as an unfinished run), ``empty_response``
(scored: an empty answer is a wrong answer), ``unknown_predictions`` (ids that are not records of the
annotation file), ``scoring_failed[mode]`` (the scorer raised, e.g. a judged record without a judge) and
``extraction_failed[mode]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.benchmarks.registry import BenchmarkAdapter
from evaluation.metrics import mean
from evaluation.records import BenchmarkRecord, check_unique_ids
from evaluation.stages import score_many


def read_predictions(path: str | Path) -> dict[str, str]:
    """``{id: response}`` from a JSONL file; a line that is not ``{"id", "response"}`` raises naming the line."""
    path = Path(path)
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rid, response = row["id"], row["response"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f'{path}:{lineno}: expected {{"id": ..., "response": ...}} ({e!r})') from None
            out[str(rid)] = "" if response is None else str(response)
    return out


def aggregate_modes(
    adapter: BenchmarkAdapter,
    records: Mapping[str, Sequence[BenchmarkRecord]],
    scores: Mapping[str, Sequence[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Per mode: the adapter's aggregates plus ``extraction_failure_rate`` over the scored samples."""
    out = {}
    for mode in records:
        agg = dict(adapter.aggregate(records[mode], scores[mode], mode))
        agg["extraction_failure_rate"] = mean([float(bool(s.get("extraction_failed"))) for s in scores[mode]])
        out[mode] = agg
    return out


def score_predictions(
    adapter: BenchmarkAdapter,
    records: Sequence[BenchmarkRecord],
    predictions: Mapping[str, str],
    modes: Sequence[str],
) -> dict[str, Any]:
    """``{"aggregates": {mode: {...}}, "counts": {...}}`` for ``predictions`` of ``records``."""
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
    return {"aggregates": aggregate_modes(adapter, recs, scores), "counts": counts}
