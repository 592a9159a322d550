"""The three stages of a benchmark run, kept apart so they can be overlapped later.

1. ``build_media`` (per chunk of records: cache lookup, or decode and fill the cache in worker
   processes) and ``load_media`` (per batch: read the frames);
2. ``generate_batch``: the engine call (accelerator bound);
3. ``score_response`` / ``score_many`` + ``prediction_row``: scoring in every mode (judge-graded records of a
   batch concurrently) and the row appended to the log.

``prepare_prompts`` renders every prompt up front (cheap) and gives each record two keys: ``key``
binds a response to what the model saw (prompt text and media file names; not the media folder, so
moving a dataset does not force regeneration) and ``score_key`` binds stored scores to the answer
fields they were computed from (a corrected answer is rescored, not regenerated).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cache_store.keys import canonical_source
from cache_store.types import CachedMedia
from evaluation.adapters.registry import BenchmarkAdapter
from evaluation.manifest import sha256_text
from evaluation.records import BenchmarkRecord
from training.engines.base import Completion, GenerationEngine, GenerationRequest, SamplingParams
from training.prompts import TEMPLATES_DIR, render_prompt, template_digest

log = logging.getLogger(__name__)


@dataclass
class PromptedRecord:
    record: BenchmarkRecord
    prompt: str
    key: str  # what the model saw: a response is reused only for the same key
    score_key: str  # what the scores depend on: stored scores are reused only for the same score_key


# ---------------------------------------------------------------- stage 1: media
def build_media(
    items: Sequence[PromptedRecord],
    cache: Any,
    spec: Any,
    *,
    workers: int = 1,
    timeout_s: float = 120.0,
    pool: Any = None,
) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """Make the media of ``items`` present in the cache (hits are cheap, misses are decoded in
    killable workers with ``timeout_s`` each), as one build. ``pool``: an open ``DecodePool`` for ``spec``
    whose workers outlive this call (the pipeline keeps one per spec for a whole run).

    Returns ``(digests, failures)``: record id -> cache digests in media order (empty for text-only
    records), and one ``{"id", "reason"}`` per record whose media is missing or undecodable.
    """
    digests: dict[str, list[str]] = {}
    failures: list[dict[str, str]] = []
    to_build: list[PromptedRecord] = []
    sources: dict[str, str] = {}  # canonical source -> kind, in first-seen order
    for item in items:
        rec = item.record
        media = rec.media_items()
        if not media:
            digests[rec.id] = []
            continue
        missing = [p for p, _ in media if not Path(p).is_file()]
        if missing:
            failures.append({"id": rec.id, "reason": f"media file not found: {missing[0]}"})
            continue
        to_build.append(item)
        for p, kind in media:
            sources.setdefault(canonical_source(p), kind)
    if not to_build:
        return digests, failures
    try:
        report = cache.build(list(sources.items()), spec, workers=workers, timeout_s=timeout_s, pool=pool)
    except Exception as e:  # per-source failures are recorded by the cache; this is an environment error
        log.exception("media cache build failed for %d sources", len(sources))
        failures += [
            {"id": it.record.id, "reason": f"cache build failed: {type(e).__name__}: {e}"} for it in to_build
        ]
        return digests, failures
    built = {canonical_source(s): d for s, d in report.digests.items()}
    failed = {canonical_source(f["source"]): f for f in report.failures if "source" in f}
    for item in to_build:
        keys = [canonical_source(p) for p, _ in item.record.media_items()]
        bad = next((k for k in keys if k not in built), None)
        if bad is None:
            digests[item.record.id] = [built[k] for k in keys]
            continue
        f = failed.get(bad, {})
        why = f"{f.get('error', 'not cached')}: {f.get('message', 'no cache entry after the build')}"
        failures.append({"id": item.record.id, "reason": f"media {bad}: {why}"})
    return digests, failures


def load_media(
    items: Sequence[PromptedRecord], digests: dict[str, list[str]], cache: Any
) -> tuple[list[tuple[PromptedRecord, list[CachedMedia]]], list[dict[str, str]]]:
    """Read the decoded media of ``items`` (those with digests) from the cache, one batch at a time so
    only a batch's frames are in memory. A read error fails that record only."""
    ready: list[tuple[PromptedRecord, list[CachedMedia]]] = []
    failures: list[dict[str, str]] = []
    for item in items:
        ds = digests.get(item.record.id)
        if ds is None:
            continue
        try:
            ready.append((item, list(cache.get_many(ds)) if ds else []))
        except Exception as e:  # one unreadable row fails its record, not the run
            log.exception("cache read failed for %s", item.record.id)
            failures.append({"id": item.record.id, "reason": f"cache read failed: {type(e).__name__}: {e}"})
    return ready, failures


# ---------------------------------------------------------------- stage 2: generation
def generate_batch(
    engine: GenerationEngine,
    ready: Sequence[tuple[PromptedRecord, list[CachedMedia]]],
    sampling: SamplingParams,
) -> tuple[list[tuple[PromptedRecord, Completion]], list[dict[str, str]]]:
    """One ``engine.generate`` call for the batch; if it raises, retry one request at a time so a
    single bad request is reported as ``{"id", "reason"}`` instead of failing the batch."""
    requests = _requests(ready)
    if not requests:
        return [], []
    return _finish(engine, ready, requests, sampling, lambda: engine.generate(requests, sampling))


def submit_batch(
    engine: Any,
    ready: Sequence[tuple[PromptedRecord, list[CachedMedia]]],
    sampling: SamplingParams,
) -> Callable[[], tuple[list[tuple[PromptedRecord, Completion]], list[dict[str, str]]]]:
    """Hand the batch to an engine that generates asynchronously (``engine.submit(requests, sampling)`` returns
    a ``concurrent.futures.Future`` of what ``generate`` returns) and return a function that waits for it and
    gives what ``generate_batch`` would, with the same isolation of a failing request."""
    requests = _requests(ready)
    if not requests:
        return lambda: ([], [])
    future = engine.submit(requests, sampling)
    return lambda: _finish(engine, ready, requests, sampling, future.result)


def _requests(ready: Sequence[tuple[PromptedRecord, list[CachedMedia]]]) -> list[GenerationRequest]:
    return [GenerationRequest(request_id=it.record.id, prompt=it.prompt, media=m) for it, m in ready]


def _finish(engine, ready, requests, sampling, outputs: Callable[[], Any]):
    """The batch's completions from ``outputs()``; if it raises or returns a result of the wrong shape, the
    requests are retried one at a time (``_isolate``)."""
    try:
        outs = outputs()
        _check_outputs(outs, len(requests))
    except Exception as e:  # isolate the bad request(s) below instead of losing the batch
        log.exception("generation failed for a batch of %d", len(requests))
        return _isolate(engine, ready, requests, sampling, e)
    return [(it, out[0]) for (it, _), out in zip(ready, outs)], []


def _isolate(engine, ready, requests, sampling, error: Exception):
    """The batch call failed with ``error``: retry one request at a time; only the failing ones are lost."""
    if len(requests) == 1:
        return [], [{"id": ready[0][0].record.id, "reason": f"{type(error).__name__}: {error}"}]
    done: list[tuple[PromptedRecord, Completion]] = []
    failures: list[dict[str, str]] = []
    for (it, _), req in zip(ready, requests):
        try:
            out = engine.generate([req], sampling)
            _check_outputs(out, 1)
            done.append((it, out[0][0]))
        except Exception as e:  # this request alone fails: it is reported, the others go on
            log.exception("generation failed for %s", it.record.id)
            failures.append({"id": it.record.id, "reason": f"{type(e).__name__}: {e}"})
    return done, failures


def _check_outputs(outs: Any, n: int) -> None:
    if len(outs) != n or any(len(o) < 1 for o in outs):
        raise RuntimeError(f"engine returned {len(outs)} results for {n} requests (or an empty one)")


# ---------------------------------------------------------------- stage 3: scoring + persistence
def score_response(
    adapter: BenchmarkAdapter, record: BenchmarkRecord, response: str, modes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Scores per mode. A scorer exception becomes ``{"error": ...}`` (excluded from aggregates and
    counted), never a score of 0, and the response stays on disk so a fixed scorer can rescore it."""
    scores: dict[str, dict[str, Any]] = {}
    for mode in modes:
        try:
            scores[mode] = adapter.score_sample(record, response, mode)
        except Exception as e:
            log.exception("scoring %s in %s mode failed", record.id, mode)
            scores[mode] = {"error": f"{type(e).__name__}: {e}"}
    return scores


#: records scored at once when the adapter grades with a judge whose config does not say (``max_concurrency``)
JUDGE_CONCURRENCY = 8


def score_many(
    adapter: BenchmarkAdapter, pairs: Sequence[tuple[BenchmarkRecord, str]], modes: Sequence[str]
) -> list[dict[str, dict[str, Any]]]:
    """``score_response`` of each ``(record, response)``, in order. With a judge on the adapter, records are
    scored in threads (at most the judge's ``max_concurrency``), so a batch's judge requests are in flight
    together instead of one after another; the judge client is thread-safe and caches by request, and the
    scores do not depend on the order they finish in. Without a judge scoring is local CPU work: in order."""
    judge = getattr(adapter, "judge", None)
    workers = min(len(pairs), _judge_concurrency(judge)) if judge is not None else 1
    if workers <= 1:
        return [score_response(adapter, rec, response, modes) for rec, response in pairs]
    with ThreadPoolExecutor(workers, thread_name_prefix="eval-score") as pool:
        return list(pool.map(lambda pair: score_response(adapter, pair[0], pair[1], modes), pairs))


def _judge_concurrency(judge: Any) -> int:
    config = getattr(judge, "config", None)
    return max(1, int(getattr(config, "max_concurrency", JUDGE_CONCURRENCY)))


def prediction_row(item: PromptedRecord, completion: Completion, scores: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item.record.id,
        "key": item.key,
        "score_key": item.score_key,
        "response": completion.text,
        "finish_reason": completion.finish_reason,
        "num_tokens": len(completion.token_ids),
        "scores": scores,
    }


def template_info(adapter: BenchmarkAdapter) -> tuple[str, str]:
    """(template path, sha256 of every template file the renderer may read): the adapter's override (a file
    or a folder of ``<type>.jinja``) or the built-in per-type templates (``prompts.template_digest``)."""
    path = Path(adapter.prompt_template) if adapter.prompt_template is not None else TEMPLATES_DIR
    return str(path), template_digest(adapter.prompt_template)


def prepare_prompts(adapter: BenchmarkAdapter, records: Sequence[BenchmarkRecord]) -> list[PromptedRecord]:
    """Render every record's prompt; a template error names the record (it is a setup error, raised
    before any generation)."""
    out = []
    for rec in records:
        try:
            prompt = render_prompt(adapter.prompt_fields(rec), adapter.prompt_template)
        except Exception as e:
            raise ValueError(f"record {rec.id}: prompt rendering failed: {e}") from e
        shown = [prompt, rec.media_kind, [os.path.basename(m) for m in rec.media]]
        if rec.images_after:  # only then, so keys (and resumed runs) of every other record stay as they were
            shown.append([os.path.basename(m) for m in rec.images_after])
        seen = json.dumps(shown, ensure_ascii=False)
        graded = json.dumps(
            [rec.answer, rec.problem_type, rec.options, rec.data_type, rec.extra],
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        out.append(PromptedRecord(rec, prompt, sha256_text(seen)[:16], sha256_text(graded)[:16]))
    return out
