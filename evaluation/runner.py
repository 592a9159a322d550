"""Resumable benchmark runner: records -> (media -> generation -> scoring) per batch -> results.

- a record whose media is missing or undecodable is counted as ``media_failed`` with its reason and
  never waited on (the cache decodes in killable workers with a timeout);
- each batch's predictions are appended to ``predictions.jsonl`` (fsynced) as soon as it is scored,
  and a rerun with the same ``out_dir`` skips the ids already there (by id plus a record/prompt key,
  never by count), so a killed run resumes exactly the missing samples;
- ``manifest.json`` records every setting that moves scores, and a rerun with other settings in the
  same ``out_dir`` is refused; ``results.json`` holds the aggregates of each mode and the counts.

The stages run one after the other per batch here; they live in ``evaluation.stages`` as separate
functions so the asynchronous runner can overlap them without changing what is computed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evaluation.benchmarks.registry import MODES, BenchmarkAdapter, check_mode, get_adapter
from evaluation.manifest import MANIFEST_FILE, as_plain, build_manifest, check_compatible, write_json
from evaluation.metrics import mean
from evaluation.predictions import PredictionLog
from evaluation.records import BenchmarkRecord, check_unique_ids, records_digest
from evaluation.stages import (
    PromptedRecord,
    build_media,
    generate_batch,
    load_media,
    prediction_row,
    prepare_prompts,
    score_response,
    template_info,
)
from training.engines.base import GenerationEngine, SamplingParams

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
#: Benchmark numbers use deterministic decoding unless sampling is passed explicitly.
GREEDY = SamplingParams(n=1, temperature=0.0, top_p=1.0, top_k=0, max_new_tokens=1024, seed=0)


@dataclass
class EvalResult:
    """Mirror of ``results.json``.

    aggregates[mode]: the adapter's official aggregates over the samples scored in that mode, plus
        ``extraction_failure_rate`` (fraction of those samples with no extractable answer).
    counts: over the records passed in, whichever run produced their predictions: ``total``,
        ``scored`` (a prediction exists), ``media_failed``, ``generation_failed``, ``empty_response``,
        ``extraction_failed[mode]``, ``scoring_failed[mode]`` and ``unknown_predictions`` (rows in the
        log for ids not among the records). total == scored + media_failed + generation_failed.
    """

    benchmark: str
    model_id: str
    out_dir: str
    modes: list[str]
    aggregates: dict[str, dict[str, Any]]
    counts: dict[str, Any]
    media_failures: list[dict[str, str]] = field(default_factory=list)
    generation_failures: list[dict[str, str]] = field(default_factory=list)
    generated_this_run: int = 0
    resumed: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_modes(mode: str) -> list[str]:
    """``"both"`` -> every mode; otherwise the one mode named (validated)."""
    return list(MODES) if mode == "both" else [check_mode(mode)]


def run_benchmark(
    engine: GenerationEngine,
    adapter_name: str | BenchmarkAdapter,
    records: Sequence[BenchmarkRecord],
    cache: Any,
    spec: Any,
    out_dir: str | Path,
    *,
    model_id: str,
    sampling: SamplingParams | None = None,
    batch_size: int = 8,
    mode: str = "both",
    progress: Callable[[dict[str, Any]], None] | None = None,
    annotation_path: str | Path | None = None,
    media_workers: int = 1,
    media_timeout_s: float = 120.0,
    media_chunk: int = 64,
) -> EvalResult:
    """Evaluate ``records`` with ``engine``; see the module docstring for the guarantees.

    cache/spec: a ``cache_store.MediaCache`` and the ``MediaSpec`` the frames are sampled with.
    sampling: defaults to ``GREEDY``; one response per sample (``n`` must be 1).
    media_chunk: records whose media are built in one cache build (worker start-up is paid per build);
        frames are still read per batch, so memory holds one batch of frames.
    progress: called after every batch with ``{done, total, processed, pending, rate_per_s, eta_s,
        media_failed, generation_failed}`` (also logged at INFO).
    """
    t0 = time.perf_counter()
    adapter = adapter_name if isinstance(adapter_name, BenchmarkAdapter) else get_adapter(adapter_name)
    modes = resolve_modes(mode)
    sampling = sampling or GREEDY
    if sampling.n != 1:
        raise ValueError(f"evaluation scores one response per sample; got SamplingParams.n={sampling.n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    records = list(records)
    check_unique_ids(records)
    foreign = [r.id for r in records if r.benchmark != adapter.name]
    if foreign:
        raise ValueError(f"records {foreign[:5]} belong to another benchmark than {adapter.name!r}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = prepare_prompts(adapter, records)
    template_path, template_hash = template_info(adapter)
    manifest = build_manifest(
        benchmark=adapter.name,
        model_id=model_id,
        media_spec=spec,
        sampling=sampling,
        prompt_template=template_path,
        prompt_template_hash=template_hash,
        annotation_path=str(annotation_path) if annotation_path is not None else None,
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

    media_failures: list[dict[str, str]] = []
    gen_failures: list[dict[str, str]] = []
    generated = processed = 0
    chunk_size = max(media_chunk, batch_size)
    for c0 in range(0, len(pending), chunk_size):
        chunk = pending[c0 : c0 + chunk_size]
        digests, m_fail = build_media(chunk, cache, spec, workers=media_workers, timeout_s=media_timeout_s)
        _log_failures(adapter.name, "media", m_fail)
        media_failures += m_fail
        for b0 in range(0, len(chunk), batch_size):
            batch = chunk[b0 : b0 + batch_size]
            ready, r_fail = load_media(batch, digests, cache)
            done, g_fail = generate_batch(engine, ready, sampling)
            rows = [
                prediction_row(it, c, score_response(adapter, it.record, c.text, modes)) for it, c in done
            ]
            generated += plog.append(rows)
            _log_failures(adapter.name, "media", r_fail)
            _log_failures(adapter.name, "generation", g_fail)
            media_failures += r_fail
            gen_failures += g_fail
            processed += len(batch)
            _report(progress, t0, processed, len(pending), resumed, len(items), media_failures, gen_failures)

    result = summarize(adapter, items, plog, modes, model_id)
    result.media_failures, result.generation_failures = media_failures, gen_failures
    result.counts["media_failed"], result.counts["generation_failed"] = len(media_failures), len(gen_failures)
    result.generated_this_run, result.resumed = generated, resumed
    result.elapsed_s = round(time.perf_counter() - t0, 3)
    write_json(out_dir / RESULTS_FILE, as_plain(result.to_dict()))
    return result


def summarize(
    adapter: BenchmarkAdapter,
    items: Sequence[PromptedRecord],
    plog: PredictionLog,
    modes: Sequence[str],
    model_id: str,
) -> EvalResult:
    """Aggregates and counts over the valid rows of ``plog`` for ``items``.

    A row whose answer fields changed (``score_key``), that lacks a mode (an earlier run used
    ``mode="robust"``) or holds a scorer error is rescored from its stored response; nothing is
    regenerated.
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
    for it in items:
        row = plog.rows.get(it.record.id)
        if row is None or row.get("key") != it.key:
            continue
        counts["scored"] += 1
        response = row.get("response") or ""
        if not response.strip():
            counts["empty_response"] += 1
        stored = (row.get("scores") or {}) if row.get("score_key") == it.score_key else {}
        for m in modes:
            s = stored.get(m)
            if s is None or "error" in s:
                s = score_response(adapter, it.record, response, [m])[m]
            if "error" in s:
                counts["scoring_failed"][m] += 1
                continue
            counts["extraction_failed"][m] += bool(s.get("extraction_failed"))
            recs[m].append(it.record)
            scores[m].append(s)
    aggregates = {}
    for m in modes:
        agg = dict(adapter.aggregate(recs[m], scores[m], m))
        agg["extraction_failure_rate"] = mean([float(bool(s.get("extraction_failed"))) for s in scores[m]])
        aggregates[m] = agg
    return EvalResult(
        benchmark=adapter.name,
        model_id=model_id,
        out_dir=str(plog.path.parent),
        modes=list(modes),
        aggregates=aggregates,
        counts=counts,
    )


def _log_failures(benchmark: str, stage: str, failures: list[dict[str, str]]) -> None:
    for f in failures:
        log.warning("%s: %s failed for %s: %s", benchmark, stage, f["id"], f["reason"])


def _report(
    progress: Callable[[dict[str, Any]], None] | None,
    t0: float,
    processed: int,
    pending: int,
    resumed: int,
    total: int,
    media_failures: list,
    gen_failures: list,
) -> None:
    elapsed = time.perf_counter() - t0
    rate = processed / elapsed if elapsed > 0 else 0.0
    eta = (pending - processed) / rate if rate > 0 else None
    info = {
        "done": resumed + processed,
        "total": total,
        "processed": processed,
        "pending": pending - processed,
        "rate_per_s": round(rate, 3),
        "eta_s": round(eta, 1) if eta is not None else None,
        "media_failed": len(media_failures),
        "generation_failed": len(gen_failures),
    }
    log.info(
        "eval %d/%d (%.2f samples/s, eta %ss, media_failed %d)",
        info["done"],
        total,
        rate,
        info["eta_s"],
        info["media_failed"],
    )
    if progress is not None:
        progress(info)
