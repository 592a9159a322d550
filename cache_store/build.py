"""One cache build: classify every source as hit / miss / stale, decode what is needed, write, record.

Per unique key, in chunks of ``CHUNK`` sources (so memory does not grow with the corpus):

1. read the stored validity columns of the chunk's digests (no frame bytes);
2. fingerprint each source (``stat``, plus a SHA-256 when the cache hashes content): a row whose validity
   fields and fingerprint match (``Fingerprint.matches``) is a **hit**; no row is a miss (**built**), a
   mismatching row is stale (**replaced**);
3. decode misses and stale rows in killable workers (``workers.DecodePool``) and upsert the rows by digest
   from a writer thread (below), holding at most ``flush_bytes`` of decoded rows;
4. a source that fails (missing, empty, undecodable, timeout) is recorded in ``failures`` and never leaves a
   row in entries: a row it had from an earlier build is deleted (counted in ``removed``), because a row
   whose source is now broken cannot be checked and must not be served by digest.

A ``build_started`` lineage row is appended first and a ``build`` row with the counts and keys at the end
(even when every source was a hit); ``MediaCache.lineage`` folds the pair into one event, and shows a build
that never finished (killed, or still running) as ``status`` "incomplete".
Duplicate sources (the same key twice) are decoded once and counted once; every spelling of the path maps
to the digest in ``BuildReport.digests``. So ``hits + built + replaced + failed`` = unique keys requested.

**Writing.** Rows go to a background writer thread (``_Writer``), so decoding goes on while Lance writes; each
batch it writes is one ``merge_insert`` commit (a new version).

**Killed builds.** A build killed mid-way leaves the rows of its committed batches, whole, and nothing of the
rest (Lance commits a manifest atomically; data files of an
uncommitted write are never referenced). Rerunning the build finds those rows valid (hits) and decodes the
rest. The killed build keeps its ``build_started`` row (an incomplete event); its rows carry its ``build_id``.

**Concurrent builders.** Two builders on overlapping sources may race: every store write retries Lance commit
conflicts, and after its writes a build deletes keys that two concurrent inserts doubled, keeping the newest
build's row (``conflicts``: what Lance 14 does and why). An index refresh that keeps conflicting is skipped
with a warning: the index only speeds lookups, and unindexed fragments are still scanned.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from . import sampling
from .conflicts import dedupe, is_conflict, retry
from .keys import CacheKey, Fingerprint, MediaSpec, source_fingerprint
from .schema import media_to_row
from .types import CachedMedia
from .workers import DecodePool, Result, Task

if TYPE_CHECKING:
    from .storage import Storage

CHUNK = 256  # sources classified per validity query
ProgressFn = Callable[[int, int], None]


@dataclass
class BuildReport:
    """Outcome of ``MediaCache.build``. ``version`` is the entries Lance version after the build;
    ``digests`` maps every requested source string that succeeded (hit or built) to its digest."""

    build_id: str
    hits: int = 0
    built: int = 0
    replaced: int = 0
    failed: int = 0
    version: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    removed: int = 0
    seconds: float = 0.0


@dataclass
class _Item:
    key: CacheKey
    kind: str
    aliases: list[str]
    fingerprint: Fingerprint = field(default_factory=lambda: Fingerprint(0, 0))
    stale: bool = False

    @property
    def digest(self) -> str:
        return self.key.digest()


class _Writer:
    """Writes entry rows on a background thread while the decode workers go on.

    Rows are handed to the thread in batches of half ``flush_bytes`` of frames or ``flush_rows`` rows, one
    ``merge_insert`` each. Memory stays bounded: rows buffered here plus rows queued or being written never
    exceed ``flush_bytes`` (a big sample alone may); ``add`` waits for the thread otherwise. A write error
    surfaces at the next ``add`` or at ``flush``.
    """

    def __init__(self, storage: Storage, flush_bytes: int, flush_rows: int):
        self.storage, self.rows, self.bytes, self.wrote = storage, [], 0, False
        self.flush_bytes, self.flush_rows = flush_bytes, flush_rows
        self.journal = storage.journals.current()  # the thread's writes belong to this build
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cache-writer")
        self._pending: deque[tuple[Future, int]] = deque()

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.bytes += len(row["frames"])
        if self.bytes >= self.flush_bytes // 2 or len(self.rows) >= self.flush_rows:
            self._submit()

    def _submit(self) -> None:
        rows, size = self.rows, self.bytes
        self.rows, self.bytes = [], 0
        while self._pending and (
            self._pending[0][0].done() or sum(n for _, n in self._pending) + size > self.flush_bytes
        ):
            self._pending.popleft()[0].result()  # re-raises a write error
        self._pending.append((self._pool.submit(self.storage.upsert_entries, rows, self.journal), size))
        self.wrote = True

    def flush(self) -> None:
        """Write what is buffered and wait for every write; re-raises the first error."""
        if self.rows:
            self._submit()
        while self._pending:
            self._pending.popleft()[0].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _failure(
    digest: str, source: str, kind: str, error: str, message: str, build_id: str, now: datetime
) -> dict:
    return {
        "digest": digest,
        "source": source,
        "kind": kind,
        "error": error,
        "message": message,
        "time": now,
        "build_id": build_id,
    }


def _fingerprint_error(source: str, exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{source}: file not found; fix the path in the dataset or drop the sample"
    return f"{source}: {exc}"


def sample_problem(media: CachedMedia, spec: MediaSpec) -> str | None:
    """Why a decoded sample must not be stored (None when it is sound). A last guard before a row is written:
    frames uint8 (T, H, W, 3) with H and W multiples of the factor; for a video, T even, one index and one
    timestamp per frame, indices inside ``[0, total_frames)``, timestamps finite and increasing."""
    frames = media.frames
    if not (isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4):
        return f"frames must be uint8 (T, H, W, 3), got {getattr(frames, 'dtype', type(frames))}"
    t, h, w, c = frames.shape
    if min(t, h, w) < 1 or c != 3 or h % spec.factor or w % spec.factor:
        return (
            f"frames have shape {frames.shape}: need T >= 1, 3 channels, H and W multiples of {spec.factor}"
        )
    if media.kind != "video":
        return None
    stamps = [float(x) for x in media.timestamps]
    if t % sampling.FRAME_FACTOR or len(media.indices) != t or len(stamps) != t:
        return f"{t} frames, {len(media.indices)} indices and {len(stamps)} timestamps (need equal and even)"
    if not all(0 <= i < media.total_frames for i in media.indices):
        return f"indices {list(media.indices)} fall outside the {media.total_frames} frames of the source"
    if not all(math.isfinite(x) for x in stamps) or any(b <= a for a, b in pairwise(stamps)):
        return f"timestamps {stamps} are not finite and increasing"
    return None


def is_valid(row: dict[str, Any], kind: str, spec: MediaSpec, fingerprint: Fingerprint) -> bool:
    """True when a stored row may be served for ``spec``: same kind, validity fields and fingerprint."""
    expected = {**spec.validity(kind), "kind": kind}
    return all(row.get(name) == value for name, value in expected.items()) and fingerprint.matches(
        row.get("source_size"), row.get("source_mtime_ns"), row.get("source_sha256")
    )


def _unpack(entry: Any) -> tuple[str, Any]:
    """(path, kind) of one requested source; a malformed entry gets its repr as path and kind None."""
    if isinstance(entry, (tuple, list)) and len(entry) == 2:
        try:
            return os.fspath(entry[0]), entry[1]
        except TypeError:
            pass
    return repr(entry), None


class _Run:
    """The state of one build while it runs: the unique keys requested, the report it fills, what it
    resolved, failed and must remove, and the progress count (see ``run_build`` for ``progress``)."""

    def __init__(self, sources: Sequence[tuple[str, str]], spec: MediaSpec, progress: ProgressFn | None):
        self.now = datetime.now(UTC)
        self.report = BuildReport(build_id=uuid.uuid4().hex[:16])
        self.spec, self.progress = spec, progress
        self.items: dict[str, _Item] = {}
        self.failures: list[dict[str, Any]] = []
        self.removed: list[str] = []  # stale rows whose source now fails
        self.resolved: list[str] = []  # keys that hit or built: their earlier failures are cleared
        for entry in sources:
            self._request(entry)
        self.total = len(self.items) + len(self.failures)
        self.done = len(self.failures)  # malformed entries count as done from the start

    def _request(self, entry: Any) -> None:
        """Add one requested source: a new key, another spelling of a known key, or a malformed entry."""
        given, kind = _unpack(entry)
        try:
            if kind is None:
                raise ValueError(f"{given}: expected a (path, kind) pair with a str or os.PathLike path")
            key = self.spec.key_for(given, kind)
        except ValueError as exc:
            bad = hashlib.sha1(f"invalid|{given}|{kind}".encode()).hexdigest()[:16]
            self.failures.append(
                _failure(bad, given, str(kind), "ValueError", str(exc), self.report.build_id, self.now)
            )
            return
        item = self.items.setdefault(key.digest(), _Item(key, kind, []))
        item.aliases.append(given)

    def succeed(self, item: _Item) -> None:
        self.resolved.append(item.digest)
        for alias in item.aliases:
            self.report.digests[alias] = item.digest
        self._tick()

    def fail(self, item: _Item, error: str, message: str) -> None:
        self.failures.append(
            _failure(item.digest, item.key.source, item.kind, error, message, self.report.build_id, self.now)
        )
        if item.stale:
            self.removed.append(item.digest)
        self._tick()

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def _classify(storage: Storage, run: _Run, chunk: list[_Item]) -> list[Task]:
    """Resolve the hits and unreadable sources of ``chunk``; return decode tasks for the rest."""
    existing = storage.validity_rows([it.digest for it in chunk])
    tasks = []
    for item in chunk:
        row = existing.get(item.digest)
        item.stale = row is not None
        try:
            item.fingerprint = source_fingerprint(item.key.source, storage.content_hash)
        except (OSError, NotImplementedError) as exc:
            run.fail(item, type(exc).__name__, _fingerprint_error(item.key.source, exc))
            continue
        if row is not None and is_valid(row, item.kind, run.spec, item.fingerprint):
            run.report.hits += 1
            run.succeed(item)
            continue
        tasks.append(Task(item.digest, item.key.source, item.kind))
    return tasks


def _take_result(run: _Run, writer: _Writer, result: Result) -> None:
    """Record one decode result: a failure, an unusable sample (a failure too), or a row to write."""
    item = run.items[result.task.key]
    if result.media is None:
        run.fail(item, result.error or "MediaError", result.message or item.key.source)
        return
    problem = sample_problem(result.media, run.spec)
    if problem is not None:
        run.fail(item, "DecodeFailed", f"{item.key.source}: decoded to an unusable sample ({problem})")
        return
    validity = run.spec.validity(item.kind)
    writer.add(media_to_row(result.media, item.key, validity, item.fingerprint, run.report.build_id, run.now))
    if item.stale:
        run.report.replaced += 1
    else:
        run.report.built += 1
    run.succeed(item)


def _resolve_all(storage: Storage, run: _Run, decoder: DecodePool, writer: _Writer) -> None:
    """Classify the keys ``CHUNK`` at a time, decoding each chunk's misses and stale rows."""
    queue = list(run.items.values())
    for start in range(0, len(queue), CHUNK):
        tasks = _classify(storage, run, queue[start : start + CHUNK])
        for result in decoder.run(tasks):
            _take_result(run, writer, result)


def _settle(storage: Storage, run: _Run, wrote: bool) -> None:
    """After the rows are written: delete rows of stale keys that now fail, remove doubled keys, record
    failures (clearing resolved ones), fold new fragments into the digest index."""
    run.report.removed = retry(lambda: storage.delete_entries(run.removed))
    dedupe(storage, storage.entries_uri, "created_at")
    retry(lambda: storage.record_failures(run.failures, run.resolved))
    dedupe(storage, storage.failures_uri, "time")
    if wrote or run.report.removed:
        try:
            retry(storage.refresh_index)
        except Exception as exc:
            if not is_conflict(exc):
                raise
            warnings.warn(
                f"{storage.entries_uri}: digest index not refreshed ({exc}); the next build retries"
            )


def _lineage_row(run: _Run, spec_json: str, finished: bool) -> dict[str, Any]:
    """The ``build_started`` row (``finished`` False) or the final ``build`` row with the counts."""
    row = {"build_id": run.report.build_id, "time": run.now, "spec_json": spec_json, "sources": run.total}
    if not finished:
        return {**row, "kind": "build_started"}
    report = run.report
    return {
        **row,
        "entries_version": report.version,
        "hits": report.hits,
        "added": report.built,
        "replaced": report.replaced,
        "failed": report.failed,
        "removed": report.removed,
        "seconds": report.seconds,
    }


def run_build(
    storage: Storage,
    sources: Sequence[tuple[str, str]],
    spec: MediaSpec,
    workers: int = 1,
    timeout_s: float = 120,
    progress: ProgressFn | None = None,
    pool: DecodePool | None = None,
    flush_bytes: int = 256 << 20,
    flush_rows: int = 256,
) -> BuildReport:
    """See the module docstring. Bad items are recorded; only environment errors (no worker can start,
    the store cannot be written) raise. ``flush_bytes`` / ``flush_rows``: see ``_Writer``.

    ``pool``: an open ``DecodePool`` for ``spec`` to decode in (left open; ``workers`` and ``timeout_s`` are
    then the pool's), so a caller building many small batches starts its workers once; by default the build
    starts its own and stops them at the end.

    ``progress(done, total)``, if given, is called in the calling thread each time one unique key is
    resolved: a hit (at classification, a chunk of ``CHUNK`` keys at a time), a decoded sample (as the
    workers finish, in completion order) or a failure. ``total`` is the number of unique keys requested
    plus the malformed entries (which count as done from the start, so the first call may exceed 1);
    ``done`` rises by one per call and the last call has ``done == total``. A resolved sample can still
    sit in the write buffer: it is committed at the next flush. For rate and ETA, time the calls:
    ``rate = (done - done0) / (t - t0)``, ``eta = (total - done) / rate``; hits resolve in bursts, so a
    rate over the last few seconds tracks decoding speed better than one from the start.
    """
    started = time.monotonic()
    run = _Run(sources, spec, progress)
    if pool is not None and pool.spec != spec:
        raise ValueError(f"the decode pool samples with {pool.spec}, not with the build's spec {spec}")
    spec_json = json.dumps(spec.to_dict(), sort_keys=True)
    storage.append_lineage(_lineage_row(run, spec_json, finished=False))
    writer = _Writer(storage, flush_bytes, flush_rows)
    try:
        with nullcontext(pool) if pool is not None else DecodePool(spec, workers, timeout_s) as decoder:
            _resolve_all(storage, run, decoder, writer)
        writer.flush()
    finally:
        writer.close()
    _settle(storage, run, writer.wrote)
    report = run.report
    report.failed = len(run.failures)
    report.failures = [
        {k: f[k] for k in ("source", "digest", "kind", "error", "message")} for f in run.failures
    ]
    report.version = storage.version()
    report.seconds = time.monotonic() - started
    storage.append_lineage(_lineage_row(run, spec_json, finished=True))
    return report
