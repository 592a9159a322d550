"""One cache build: classify every source as hit / miss / stale, decode what is needed, write, record.

Per unique key, in chunks of ``CHUNK`` sources (so memory does not grow with the corpus):

1. read the stored validity columns of the chunk's digests (no frame bytes);
2. ``stat`` each source: a row whose validity fields and ``(size, mtime_ns)`` match is a **hit**;
   no row is a miss (**built**), a mismatching row is stale (**replaced**);
3. decode misses and stale rows in killable workers (``workers.DecodePool``) and upsert the rows by digest
   in batches of ``flush_rows`` rows or ``flush_bytes`` frame bytes;
4. a source that fails (missing, empty, undecodable, timeout) is recorded in ``failures`` and never leaves a
   row in entries: a row it had from an earlier build is deleted (counted in ``removed``), because a row
   whose source is now broken cannot be checked and must not be served by digest.

Then the digest index is refreshed and one lineage row is appended, even when every source was a hit.
Duplicate sources (the same key twice) are decoded once and counted once; every spelling of the path maps
to the digest in ``BuildReport.digests``. So ``hits + built + replaced + failed`` = unique keys requested.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .keys import CacheKey, MediaSpec, source_fingerprint
from .schema import media_to_row
from .workers import DecodePool, Task

if TYPE_CHECKING:
    from .store import MediaCache

CHUNK = 256  # sources classified per validity query


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
    fingerprint: tuple[int, int] = (0, 0)
    stale: bool = False

    @property
    def digest(self) -> str:
        return self.key.digest()


class _Writer:
    """Buffers entry rows and upserts them in bounded batches."""

    def __init__(self, cache: MediaCache):
        self.cache, self.rows, self.bytes, self.wrote = cache, [], 0, False

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.bytes += len(row["frames"])
        if len(self.rows) >= self.cache.flush_rows or self.bytes >= self.cache.flush_bytes:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.cache._upsert_entries(self.rows)
            self.rows, self.bytes, self.wrote = [], 0, True


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


def is_valid(row: dict[str, Any], kind: str, spec: MediaSpec, fingerprint: tuple[int, int]) -> bool:
    """True when a stored row may be served for ``spec``: same kind, validity fields and fingerprint."""
    expected = {
        **spec.validity(kind),
        "kind": kind,
        "source_size": fingerprint[0],
        "source_mtime_ns": fingerprint[1],
    }
    return all(row.get(name) == value for name, value in expected.items())


def run_build(
    cache: MediaCache,
    sources: Sequence[tuple[str, str]],
    spec: MediaSpec,
    workers: int = 1,
    timeout_s: float = 120,
    progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """See the module docstring. Bad items are recorded; only environment errors (no worker can start,
    the store cannot be written) raise."""
    started = time.monotonic()
    now = datetime.now(UTC)
    report = BuildReport(build_id=uuid.uuid4().hex[:16])
    items: dict[str, _Item] = {}
    failures: list[dict[str, Any]] = []
    for path, kind in sources:
        given = os.fspath(path)
        try:
            key = spec.key_for(given, kind)
        except ValueError as exc:
            bad = hashlib.sha1(f"invalid|{given}|{kind}".encode()).hexdigest()[:16]
            failures.append(_failure(bad, given, str(kind), "ValueError", str(exc), report.build_id, now))
            continue
        item = items.setdefault(key.digest(), _Item(key, kind, []))
        item.aliases.append(given)

    total, done = len(items) + len(failures), len(failures)
    removed: list[str] = []
    resolved: list[str] = []
    writer = _Writer(cache)

    def succeed(item: _Item) -> None:
        resolved.append(item.digest)
        for alias in item.aliases:
            report.digests[alias] = item.digest

    def fail(item: _Item, error: str, message: str) -> None:
        failures.append(
            _failure(item.digest, item.key.source, item.kind, error, message, report.build_id, now)
        )
        if item.stale:
            removed.append(item.digest)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with DecodePool(spec, workers=workers, timeout_s=timeout_s) as pool:
        queue = list(items.values())
        for start in range(0, len(queue), CHUNK):
            chunk = queue[start : start + CHUNK]
            existing = cache._validity_rows([it.digest for it in chunk])
            tasks = []
            for item in chunk:
                row = existing.get(item.digest)
                item.stale = row is not None
                try:
                    item.fingerprint = source_fingerprint(item.key.source)
                except (OSError, NotImplementedError) as exc:
                    fail(item, type(exc).__name__, _fingerprint_error(item.key.source, exc))
                    tick()
                    continue
                if row is not None and is_valid(row, item.kind, spec, item.fingerprint):
                    report.hits += 1
                    succeed(item)
                    tick()
                    continue
                tasks.append(Task(item.digest, item.key.source, item.kind))
            for result in pool.run(tasks):
                item = items[result.task.key]
                if result.media is None:
                    fail(item, result.error or "MediaError", result.message or item.key.source)
                else:
                    validity = spec.validity(item.kind)
                    writer.add(
                        media_to_row(result.media, item.key, validity, item.fingerprint, report.build_id, now)
                    )
                    if item.stale:
                        report.replaced += 1
                    else:
                        report.built += 1
                    succeed(item)
                tick()
    writer.flush()

    report.removed = cache._delete_entries(removed)
    cache._record_failures(failures, resolved)
    if writer.wrote or report.removed:
        cache._refresh_index()
    report.failed = len(failures)
    report.failures = [{k: f[k] for k in ("source", "digest", "kind", "error", "message")} for f in failures]
    report.version = cache.version()
    report.seconds = time.monotonic() - started
    cache._append_lineage(
        {
            "build_id": report.build_id,
            "time": now,
            "entries_version": report.version,
            "spec_json": json.dumps(spec.to_dict(), sort_keys=True),
            "sources": total,
            "hits": report.hits,
            "added": report.built,
            "replaced": report.replaced,
            "failed": report.failed,
            "removed": report.removed,
            "seconds": report.seconds,
        }
    )
    return report
