"""The evaluation pipeline: media -> generation -> scoring, overlapped in three threads with bounded queues.

::

    IO thread           batches of records: cache lookup, or decode (in ``media_workers`` killable processes)
       │                and fill the cache, then read the frames            ─► queue (≤ queue_size batches)
    generation thread   one ``engine.generate`` per batch, or ``engine.submit``  ─► queue (≤ queue_size batches)
    scoring thread      (waits for a submitted batch) every mode's score, one fsynced append per batch

While the engine generates batch k, the IO thread decodes batches k+1.. and the scoring thread writes k-1, so
neither decoding nor scoring ever waits for a batch boundary of the others; the queues bound the frames held in
memory to about ``2·queue_size + 2`` batches. Batches are formed in record order, one benchmark after the
other, whatever finishes first: the same records always meet the engine in the same batches, so greedy results
do not depend on timing. Several benchmarks share one engine and one pipeline; each has its own media settings
(``Job.spec``), adapter and prediction log.

An asynchronous engine (one with ``submit(requests, sampling) -> Future``, e.g. ``VLLMAsyncEngine`` over vLLM's
``AsyncLLM``) is handed each batch without waiting, so it holds the requests of up to ``queue_size + 2`` batches
at once and fills its running batch across batch boundaries (continuous batching); the scoring thread waits for
each batch in order. There the engine, not the pipeline, decides which requests run together, so greedy outputs
can differ at the level of numerical noise between runs, as in any vLLM serving. Other engines are called
synchronously, one batch at a time.

A record whose media is missing or undecodable, or whose generation fails, is recorded in its job and never
waited on. An exception outside those per-record failures (a broken engine, a full disk) stops all three
threads and is raised to the caller; what was appended until then stays and a rerun resumes from it.
``overlap=False`` runs the same stages one after the other per batch: the sequential baseline of
``benchmarks/eval_bench.py``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cache_store.workers import DecodePool
from evaluation.adapters.registry import BenchmarkAdapter
from evaluation.predictions import PredictionLog
from evaluation.stages import (
    PromptedRecord,
    build_media,
    generate_batch,
    load_media,
    prediction_row,
    score_many,
    submit_batch,
)
from training.engines.base import GenerationEngine, SamplingParams

log = logging.getLogger(__name__)

_POLL_S = 0.1
_END = object()


@dataclass
class Job:
    """One benchmark's share of a run: what to generate (``items``, already filtered to those without a valid
    prediction), how its media are sampled (``spec``) and where predictions go (``plog``)."""

    adapter: BenchmarkAdapter
    items: list[PromptedRecord]
    spec: Any
    plog: PredictionLog
    modes: list[str]
    media_failures: list[dict[str, str]] = field(default_factory=list)
    generation_failures: list[dict[str, str]] = field(default_factory=list)
    generated: int = 0
    #: busy seconds of each stage for this job (they overlap in time when ``overlap`` is on)
    stage_seconds: dict[str, float] = field(
        default_factory=lambda: {"media": 0.0, "generate": 0.0, "score": 0.0}
    )


@dataclass
class Batch:
    job: Job
    ready: list[tuple[PromptedRecord, list]]  # (item, media) of the records whose media loaded
    size: int  # records in the batch, failed ones included (for progress)
    done: list = field(default_factory=list)  # (item, completion) after generation
    #: with an asynchronous engine: waits for the batch's completions (``stages.submit_batch``), and when
    #: the batch was handed over
    pending: Callable[[], tuple[list, list]] | None = None
    submitted_at: float = 0.0


class _Stopped(Exception):
    """Another stage failed; this one stops quietly (the first error is raised to the caller)."""


class _Progress:
    def __init__(self, total: int, report: Callable[[dict[str, Any]], None] | None, resumed: int):
        self.t0, self.total, self.report, self.resumed = time.perf_counter(), total, report, resumed
        self.processed = 0

    def add(self, n: int, jobs: Sequence[Job]) -> None:
        self.processed += n
        elapsed = time.perf_counter() - self.t0
        rate = self.processed / elapsed if elapsed > 0 else 0.0
        left = self.total - self.processed
        info = {
            "done": self.resumed + self.processed,
            "total": self.resumed + self.total,
            "processed": self.processed,
            "pending": left,
            "rate_per_s": round(rate, 3),
            "eta_s": round(left / rate, 1) if rate > 0 else None,
            "media_failed": sum(len(j.media_failures) for j in jobs),
            "generation_failed": sum(len(j.generation_failures) for j in jobs),
        }
        log.info(
            "eval %d/%d (%.2f samples/s, eta %ss, media_failed %d, generation_failed %d)",
            info["done"], info["total"], rate, info["eta_s"], info["media_failed"], info["generation_failed"],
        )  # fmt: skip
        if self.report is not None:
            self.report(info)


def _batches(jobs: Sequence[Job], batch_size: int) -> Iterator[tuple[Job, list[PromptedRecord]]]:
    for job in jobs:
        for b0 in range(0, len(job.items), batch_size):
            yield job, job.items[b0 : b0 + batch_size]


class _DecodePools:
    """One decode pool per media spec for a whole run, so decode workers start once, not once per batch
    (their processes start at the first miss and stop at ``close``)."""

    def __init__(self, workers: int, timeout_s: float):
        self.workers, self.timeout_s = workers, timeout_s
        self._pools: dict[Any, DecodePool] = {}

    def get(self, spec: Any) -> DecodePool:
        if spec not in self._pools:
            self._pools[spec] = DecodePool(spec, workers=self.workers, timeout_s=self.timeout_s)
        return self._pools[spec]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _media(job: Job, items: list[PromptedRecord], cache: Any, pools: _DecodePools) -> Batch:
    """Stage 1 for one batch: make its media present in the cache and read the frames."""
    t0 = time.perf_counter()
    digests, failed = build_media(
        items, cache, job.spec, workers=pools.workers, timeout_s=pools.timeout_s, pool=pools.get(job.spec)
    )
    ready, unreadable = load_media(items, digests, cache)
    for f in failed + unreadable:
        log.warning("%s: media failed for %s: %s", job.adapter.name, f["id"], f["reason"])
    job.media_failures += failed + unreadable
    job.stage_seconds["media"] += time.perf_counter() - t0
    return Batch(job, ready, len(items))


def _generate(batch: Batch, engine: GenerationEngine, sampling: SamplingParams) -> Batch:
    """Stage 2: one engine call; a failing request is isolated and recorded, the rest go on."""
    t0 = time.perf_counter()
    done, failed = generate_batch(engine, batch.ready, sampling)
    return _generated(batch, done, failed, t0)


def _submit(batch: Batch, engine: Any, sampling: SamplingParams) -> Batch:
    """Stage 2 with an asynchronous engine (one with ``submit``): hand the batch over and go on, so the engine
    holds the requests of the next batches while it finishes this one (no stall at a batch boundary)."""
    batch.submitted_at = time.perf_counter()
    batch.pending = submit_batch(engine, batch.ready, sampling)
    return batch


def _collect(batch: Batch) -> Batch:
    """Wait for a submitted batch; its generate seconds run from hand-over to completion (they overlap the
    next batches' in the engine)."""
    done, failed = batch.pending()
    batch.pending = None
    return _generated(batch, done, failed, batch.submitted_at)


def _generated(batch: Batch, done: list, failed: list[dict[str, str]], t0: float) -> Batch:
    batch.done = done
    for f in failed:
        log.warning("%s: generation failed for %s: %s", batch.job.adapter.name, f["id"], f["reason"])
    batch.job.generation_failures += failed
    batch.job.stage_seconds["generate"] += time.perf_counter() - t0
    return batch


def _score(batch: Batch) -> None:
    """Stage 3: score every mode and append the batch's rows (flushed and fsynced) to its log."""
    job, t0 = batch.job, time.perf_counter()
    scores = score_many(job.adapter, [(it.record, c.text) for it, c in batch.done], job.modes)
    rows = [prediction_row(it, c, s) for (it, c), s in zip(batch.done, scores, strict=True)]
    job.generated += job.plog.append(rows)
    job.stage_seconds["score"] += time.perf_counter() - t0


def run_pipeline(
    engine: GenerationEngine,
    jobs: Sequence[Job],
    cache: Any,
    sampling: SamplingParams,
    *,
    batch_size: int = 8,
    queue_size: int = 2,
    media_workers: int = 1,
    media_timeout_s: float = 120.0,
    overlap: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    resumed: int = 0,
) -> None:
    """Run every job's pending items through the three stages (module docstring). Per-record failures land in
    the jobs; predictions in their logs. ``progress`` gets ``{done, total, processed, pending, rate_per_s,
    eta_s, media_failed, generation_failed}`` after each batch."""
    if batch_size < 1 or queue_size < 1:
        raise ValueError(f"batch_size and queue_size must be >= 1, got {batch_size} and {queue_size}")
    meter = _Progress(sum(len(j.items) for j in jobs), progress, resumed)
    pools = _DecodePools(media_workers, media_timeout_s)
    try:
        if overlap:
            _run_overlapped(engine, jobs, _batches(jobs, batch_size), cache, pools, sampling, queue_size, meter)
        else:
            for job, items in _batches(jobs, batch_size):
                _score(_generate(_media(job, items, cache, pools), engine, sampling))
                meter.add(len(items), jobs)
    finally:
        pools.close()


def _run_overlapped(
    engine: GenerationEngine,
    jobs: Sequence[Job],
    batches: Iterator[tuple[Job, list[PromptedRecord]]],
    cache: Any,
    pools: _DecodePools,
    sampling: SamplingParams,
    queue_size: int,
    meter: _Progress,
) -> None:
    """The three stages in three threads with bounded queues (module docstring)."""

    to_generate: queue.Queue = queue.Queue(maxsize=queue_size)
    to_score: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    errors: list[BaseException] = []

    def put(q: queue.Queue, item: object) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        raise _Stopped

    def get(q: queue.Queue) -> Any:
        while not stop.is_set():
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        raise _Stopped

    def io_stage() -> None:
        for job, items in batches:
            put(to_generate, _media(job, items, cache, pools))
        put(to_generate, _END)

    stage_two = _submit if callable(getattr(engine, "submit", None)) else _generate

    def generation_stage() -> None:
        while (batch := get(to_generate)) is not _END:
            put(to_score, stage_two(batch, engine, sampling))
        put(to_score, _END)

    def scoring_stage() -> None:
        while (batch := get(to_score)) is not _END:
            _score(_collect(batch) if batch.pending is not None else batch)
            meter.add(batch.size, jobs)

    def guarded(stage: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                stage()
            except _Stopped:
                pass
            except BaseException as e:  # noqa: BLE001  (the first failure stops every stage; re-raised by the caller)
                errors.append(e)
                stop.set()

        return run

    threads = [
        threading.Thread(target=guarded(stage), name=f"eval-{stage.__name__}", daemon=True)
        for stage in (io_stage, generation_stage, scoring_stage)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=_POLL_S)
    except BaseException:  # Ctrl-C: stop the stages; appended predictions stay for the resume
        stop.set()
        for t in threads:
            t.join(timeout=30)
        raise
    if errors:
        raise errors[0]
