"""Resumable benchmark runner: records -> (media -> generation -> scoring) per batch -> results.

- a record whose media is missing or undecodable is counted as ``media_failed`` with its reason and
  never waited on (the cache decodes in killable workers with a timeout);
- each batch's predictions are appended to ``predictions.jsonl`` (fsynced) as soon as it is scored,
  and a rerun with the same ``out_dir`` skips the ids already there (by id plus a record/prompt key,
  never by count), so a killed run resumes exactly the missing samples;
- ``manifest.json`` records every setting that moves scores, and a rerun with other settings in the
  same ``out_dir`` is refused; ``results.json`` holds the aggregates of each mode and the counts.

The stages (``evaluation.stages``) run overlapped in ``evaluation.pipeline``: decoding, generation and scoring
of different batches at once. ``run_benchmarks`` evaluates several benchmarks in one pipeline sharing the engine,
each with its own media settings; ``run_benchmark`` is the one-benchmark case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evaluation.adapters.registry import MODES, BenchmarkAdapter, check_mode, get_adapter
from evaluation.manifest import (
    MANIFEST_FILE,
    as_plain,
    build_manifest,
    check_compatible,
    record_coverage,
    write_json,
)
from evaluation.media_spec import ResolvedMediaSpec
from evaluation.offline import aggregate_modes
from evaluation.pipeline import Job, run_pipeline
from evaluation.predictions import PredictionLog
from evaluation.records import BenchmarkRecord, check_unique_ids, records_digest
from evaluation.stages import PromptedRecord, prepare_prompts, score_many, template_info
from training.engines.base import GenerationEngine, SamplingParams

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
#: Benchmark numbers use deterministic decoding unless sampling is passed explicitly.
GREEDY = SamplingParams(n=1, temperature=0.0, top_p=1.0, top_k=0, max_new_tokens=1024, seed=0)


@dataclass
class EvalResult:
    """Mirror of ``results.json``.

    aggregates[mode]: the adapter's official aggregates over the samples scored in that mode, plus
        ``extraction_failure_rate`` (percent of those samples with no extractable answer); every aggregate
        is in percent (``evaluation.metrics``).
    counts: over the records passed in, whichever run produced their predictions: ``total``,
        ``scored`` (a prediction exists), ``media_failed``, ``generation_failed``, ``empty_response``,
        ``extraction_failed[mode]``, ``scoring_failed[mode]`` and ``unknown_predictions`` (rows in the
        log for ids not among the records), ``missing`` (records with no prediction: media_failed +
        generation_failed). total == scored + missing.
    partial: True when some record has no prediction, so the aggregates cover only the scored ones; a
        rerun in the same ``out_dir`` that predicts them (a resumed run) is no longer partial and scores
        exactly like an uninterrupted run. Also written to ``manifest.json`` (``partial``, ``missing``).
    stage_seconds: busy seconds of the media, generate and score stages in this run (overlapping in time).
    """

    benchmark: str
    model_id: str
    out_dir: str
    modes: list[str]
    aggregates: dict[str, dict[str, Any]]
    counts: dict[str, Any]
    partial: bool = False
    media_failures: list[dict[str, str]] = field(default_factory=list)
    generation_failures: list[dict[str, str]] = field(default_factory=list)
    generated_this_run: int = 0
    resumed: int = 0
    elapsed_s: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_modes(mode: str) -> list[str]:
    """``"both"`` -> every mode; otherwise the one mode named (validated)."""
    return list(MODES) if mode == "both" else [check_mode(mode)]


@dataclass
class BenchmarkJob:
    """One benchmark of a run: its adapter (or name), records, output folder and media settings."""

    adapter: str | BenchmarkAdapter
    records: Sequence[BenchmarkRecord]
    out_dir: str | Path
    spec: Any
    annotation_path: str | Path | None = None
    #: where the spec came from (``evaluation.media_spec.ResolvedMediaSpec``), written in the manifest
    spec_source: ResolvedMediaSpec | None = None


def run_benchmark(
    engine: GenerationEngine,
    adapter_name: str | BenchmarkAdapter,
    records: Sequence[BenchmarkRecord],
    cache: Any,
    spec: Any,
    out_dir: str | Path,
    *,
    model_id: str,
    annotation_path: str | Path | None = None,
    spec_source: ResolvedMediaSpec | None = None,
    **options: Any,
) -> EvalResult:
    """Evaluate ``records`` of one benchmark; ``options`` as for ``run_benchmarks``."""
    job = BenchmarkJob(adapter_name, records, out_dir, spec, annotation_path, spec_source)
    return run_benchmarks(engine, [job], cache, model_id=model_id, **options)[0]


def run_benchmarks(
    engine: GenerationEngine,
    jobs: Sequence[BenchmarkJob],
    cache: Any,
    *,
    model_id: str,
    sampling: SamplingParams | None = None,
    batch_size: int = 8,
    mode: str = "both",
    progress: Callable[[dict[str, Any]], None] | None = None,
    media_workers: int = 1,
    media_timeout_s: float = 120.0,
    queue_size: int = 2,
    overlap: bool = True,
    model_revision: str | None = None,
) -> list[EvalResult]:
    """Evaluate every job with ``engine`` in one pipeline; see the module docstring for the guarantees.

    cache: a ``cache_store.MediaCache``; each job's ``spec`` is the ``MediaSpec`` its frames are sampled with.
    sampling: defaults to ``GREEDY``; one response per sample (``n`` must be 1).
    progress: called after every batch with ``{done, total, processed, pending, rate_per_s, eta_s,
        media_failed, generation_failed}`` (also logged at INFO).
    overlap: False runs the stages one after the other per batch (same results, the sequential baseline).
    model_revision: recorded in each manifest (e.g. a checkpoint's step or a content hash).
    """
    t0 = time.perf_counter()
    modes = resolve_modes(mode)
    sampling = sampling or GREEDY
    if sampling.n != 1:
        raise ValueError(f"evaluation scores one response per sample; got SamplingParams.n={sampling.n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    outs = [Path(j.out_dir).resolve() for j in jobs]
    if len(set(outs)) != len(outs):
        raise ValueError(f"two benchmarks of one run share an out_dir: {[str(o) for o in outs]}")
    engine_settings = getattr(engine, "settings", None)
    prepared = [_prepare(j, modes, sampling, model_id, model_revision, engine_settings) for j in jobs]
    pipeline_jobs = [p[0] for p in prepared]
    resumed = sum(p[2] for p in prepared)
    run_pipeline(
        engine,
        pipeline_jobs,
        cache,
        sampling,
        batch_size=batch_size,
        queue_size=queue_size,
        media_workers=media_workers,
        media_timeout_s=media_timeout_s,
        overlap=overlap,
        progress=progress,
        resumed=resumed,
    )
    elapsed = round(time.perf_counter() - t0, 3)
    results = []
    for job, items, n_resumed in prepared:
        result = summarize(job.adapter, items, job.plog, modes, model_id)
        result.media_failures, result.generation_failures = job.media_failures, job.generation_failures
        result.counts["media_failed"] = len(job.media_failures)
        result.counts["generation_failed"] = len(job.generation_failures)
        result.counts["missing"] = result.counts["total"] - result.counts["scored"]
        result.partial = result.counts["missing"] > 0
        record_coverage(job.plog.path.parent, partial=result.partial, missing=result.counts["missing"])
        result.generated_this_run, result.resumed = job.generated, n_resumed
        result.elapsed_s = elapsed
        result.stage_seconds = {k: round(v, 3) for k, v in job.stage_seconds.items()}
        write_json(job.plog.path.parent / RESULTS_FILE, as_plain(result.to_dict()))
        results.append(result)
    return results


def _prepare(
    job: BenchmarkJob,
    modes: list[str],
    sampling: SamplingParams,
    model_id: str,
    model_revision: str | None,
    engine_settings: dict[str, Any] | None = None,
) -> tuple[Job, list[PromptedRecord], int]:
    """Validate the records, write the manifest (refusing other settings in the same folder), open the
    prediction log and keep only the records without a valid prediction."""
    adapter = job.adapter if isinstance(job.adapter, BenchmarkAdapter) else get_adapter(job.adapter)
    records = list(job.records)
    check_unique_ids(records)
    foreign = [r.id for r in records if r.benchmark != adapter.name]
    if foreign:
        raise ValueError(f"records {foreign[:5]} belong to another benchmark than {adapter.name!r}")
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = prepare_prompts(adapter, records)
    template_path, template_hash = template_info(adapter)
    manifest = build_manifest(
        benchmark=adapter.name,
        model_id=model_id,
        model_revision=model_revision,
        engine=engine_settings,
        media_spec=job.spec,
        media_spec_source=job.spec_source.to_dict() if job.spec_source is not None else None,
        sampling=sampling,
        prompt_template=template_path,
        prompt_template_hash=template_hash,
        adapter_options=adapter_options(adapter),
        annotation_path=str(job.annotation_path) if job.annotation_path is not None else None,
        records_digest=records_digest(records),
        num_records=len(records),
        modes=modes,
    )
    check_compatible(out_dir, manifest)
    write_json(out_dir / MANIFEST_FILE, manifest)
    plog = PredictionLog(out_dir)
    pending = [it for it in items if not plog.done(it.record.id, it.key)]
    stale = sum(1 for it in pending if it.record.id in plog.rows)
    if stale:
        log.warning(
            "%d predictions in %s were made from another record or prompt; rerunning them", stale, out_dir
        )
    resumed = len(items) - len(pending)
    log.info(
        "%s: %d records, %d already predicted, %d to run", adapter.name, len(items), resumed, len(pending)
    )
    return Job(adapter, pending, job.spec, plog, modes), items, resumed


def adapter_options(adapter: BenchmarkAdapter) -> dict[str, Any]:
    """The adapter's public settings that move scores (prompt style ...), for the manifest. The template path
    is left out: it differs between checkouts, and the manifest holds the hash of what it renders."""
    return {
        k: v
        for k, v in sorted(vars(adapter).items())
        if not k.startswith("_") and k != "prompt_template" and isinstance(v, str | int | float | bool)
    }


def summarize(
    adapter: BenchmarkAdapter,
    items: Sequence[PromptedRecord],
    plog: PredictionLog,
    modes: Sequence[str],
    model_id: str,
) -> EvalResult:
    """Aggregates and counts over the valid rows of ``plog`` for ``items``.

    A row whose answer fields changed (``score_key``), that lacks a mode (an earlier run used
    ``mode="robust"``), holds a scorer error, or waited for a judge that is now configured
    (``judge_needed``) is rescored from its stored response; nothing is regenerated.
    """
    counts: dict[str, Any] = {
        "total": len(items),
        "scored": 0,
        "media_failed": 0,
        "generation_failed": 0,
        "empty_response": 0,
        "extraction_failed": {m: 0 for m in modes},
        "scoring_failed": {m: 0 for m in modes},
        "unknown_predictions": len(set(plog.rows) - {it.record.id for it in items}),
    }
    recs: dict[str, list[BenchmarkRecord]] = {m: [] for m in modes}
    scores: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    judge = getattr(adapter, "judge", None)
    valid: list[tuple[PromptedRecord, str, dict[str, Any]]] = []  # (item, response, usable stored scores)
    for it in items:
        row = plog.rows.get(it.record.id)
        if row is None or row.get("key") != it.key:
            continue
        counts["scored"] += 1
        response = row.get("response") or ""
        if not response.strip():
            counts["empty_response"] += 1
        stored = (row.get("scores") or {}) if row.get("score_key") == it.score_key else {}
        usable = {
            m: s
            for m, s in stored.items()
            if m in modes and "error" not in s and not (s.get("judge_needed") and judge is not None)
        }
        valid.append((it, response, usable))
    _rescore(adapter, valid, modes)
    for it, _, usable in valid:
        for m in modes:
            s = usable[m]
            if "error" in s:
                counts["scoring_failed"][m] += 1
                continue
            counts["extraction_failed"][m] += bool(s.get("extraction_failed"))
            recs[m].append(it.record)
            scores[m].append(s)
    aggregates = aggregate_modes(adapter, recs, scores)
    return EvalResult(
        benchmark=adapter.name,
        model_id=model_id,
        out_dir=str(plog.path.parent),
        modes=list(modes),
        aggregates=aggregates,
        counts=counts,
    )


def _rescore(
    adapter: BenchmarkAdapter, valid: list[tuple[PromptedRecord, str, dict[str, Any]]], modes: Sequence[str]
) -> None:
    """Fill in, in place, the modes each row has no usable stored score for (records missing the same modes
    are scored together: with a judge, concurrently)."""
    groups: dict[tuple[str, ...], list[tuple[PromptedRecord, str, dict[str, Any]]]] = {}
    for entry in valid:
        missing = tuple(m for m in modes if m not in entry[2])
        if missing:
            groups.setdefault(missing, []).append(entry)
    for missing, entries in groups.items():
        fresh = score_many(adapter, [(it.record, response) for it, response, _ in entries], missing)
        for (_, _, usable), new in zip(entries, fresh, strict=True):
            usable.update(new)
