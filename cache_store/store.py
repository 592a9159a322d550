"""``MediaCache``: decoded media in Lance tables under one root URI.

Layout (each a Lance dataset, every write a new version)::

    <root>/entries.lance   one row per cache key (ENTRIES_SCHEMA), BTREE index on digest
    <root>/failures.lance  the current failure of every key that does not build (FAILURES_SCHEMA)
    <root>/lineage.lance   one row per build or invalidation: entries version after it, spec, counts and
                           the digests it added/replaced/removed/failed (LINEAGE_SCHEMA)

Reads never serve a stale row through ``lookup``: the stored validity fields and source fingerprint must
match. ``get``/``get_many`` serve by digest without re-checking (the trainer reads digests that the build it
just ran produced). Ray Data reads ``entries_uri`` directly with ``ray.data.read_lance`` and rebuilds each
sample with ``row_to_media``.

Administration (``history``, ``stale``, ``invalidate``, ``compact``, ``show``, ``dump_frames``) lives in
``cache_store.admin`` and ``cache_store.describe``; the methods here are thin entry points to them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lance
import numpy as np
import pyarrow as pa

from .blobs import is_blob_field
from .build import BuildReport, is_valid, run_build
from .conflicts import is_conflict, retry
from .journal import Journal, Journals
from .keys import MediaSpec, local_path, source_fingerprint
from .reads import chunks, in_filter, read_blob_rows, read_inline_rows
from .schema import (
    ENTRIES_FILE_FORMAT,
    ENTRIES_MIGRATION,
    ENTRIES_SCHEMA,
    ENTRIES_SCHEMA_INLINE,
    FAILURES_SCHEMA,
    LINEAGE_MIGRATION,
    LINEAGE_SCHEMA,
    VALIDITY_COLUMNS,
    row_to_media,
)
from .tables import ensure_table
from .types import CachedMedia

if TYPE_CHECKING:
    from .admin import CompactReport, InvalidateReport
    from .workers import DecodePool

__all__ = ["BuildReport", "MediaCache", "row_to_media"]

_DIGEST = re.compile(r"^[0-9a-f]{16}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_in_filter, _chunks = in_filter, chunks


class MediaCache:
    """Decode-once media cache over Lance.

    ``root`` is a local directory (created) or a URI Lance opens with ``storage_options`` (``file://``,
    ``s3://``, ``gs://``, ``az://``). Not ``memory://``: every open of it sees a fresh, empty store.
    ``flush_rows`` / ``flush_bytes`` bound the decoded rows a build holds before it upserts them.
    ``content_hash``: builds store a SHA-256 of each source and validity checks (build, lookup, stale) compare
    it instead of the mtime (``keys.Fingerprint.matches``): a touched but unchanged file stays a hit, a file
    rewritten with the same size and mtime is stale. Costs one full read of each source per check.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        storage_options: dict[str, str] | None = None,
        flush_bytes: int = 256 << 20,
        flush_rows: int = 256,
        content_hash: bool = False,
    ):
        root = os.fspath(root)
        self.root = root.rstrip("/") if _SCHEME.match(root) else os.path.abspath(os.path.expanduser(root))
        if not _SCHEME.match(self.root):
            os.makedirs(self.root, exist_ok=True)
        self.storage_options = storage_options
        self.flush_bytes, self.flush_rows = flush_bytes, flush_rows
        self.content_hash = content_hash
        self._journals = Journals()  # digests each running build writes, for its lineage row
        # One Lance session (metadata and index caches) for every open of these tables: a fresh open of the
        # latest version then costs ~0.3 ms instead of re-reading fragment metadata and the digest index
        # (measured on the benchmark store: a get of 47 MB took 28 ms with it, 92 ms without).
        self._session = lance.Session()
        ensure_table(
            self, self.entries_uri, ENTRIES_SCHEMA, index=True, migrate=ENTRIES_MIGRATION,
            file_format=ENTRIES_FILE_FORMAT,
        )  # fmt: skip
        self._frames_blob = is_blob_field(self._open(self.entries_uri))  # False for pre-blob stores
        ensure_table(self, self.failures_uri, FAILURES_SCHEMA)
        ensure_table(self, self.lineage_uri, LINEAGE_SCHEMA, migrate=LINEAGE_MIGRATION)

    def __getstate__(self) -> dict[str, Any]:  # Ray tasks and actors pickle a MediaCache
        state = self.__dict__.copy()
        del state["_session"]  # not picklable; a cache, so the copy starts a fresh one
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._session = lance.Session()

    # -- locations ------------------------------------------------------------------------------------
    def _uri(self, name: str) -> str:
        return f"{self.root}/{name}" if _SCHEME.match(self.root) else os.path.join(self.root, name)

    @property
    def entries_uri(self) -> str:
        """URI of the entries dataset (``ray.data.read_lance(cache.entries_uri)``)."""
        return self._uri("entries.lance")

    @property
    def failures_uri(self) -> str:
        return self._uri("failures.lance")

    @property
    def lineage_uri(self) -> str:
        return self._uri("lineage.lance")

    def _open(self, uri: str) -> lance.LanceDataset:
        return lance.dataset(uri, storage_options=self.storage_options, session=self._session)

    # -- build ----------------------------------------------------------------------------------------
    def build(
        self,
        sources: Sequence[tuple[str, str]],
        spec: MediaSpec,
        workers: int = 1,
        timeout_s: float = 120,
        progress: Callable[[int, int], None] | None = None,
        pool: DecodePool | None = None,
    ) -> BuildReport:
        """Make every ``(path, kind)`` (kind ``"video"`` | ``"image"``) present and valid under ``spec``.

        Hits (row present, validity fields and source ``(size, mtime_ns)`` match) are not decoded; misses
        are built and stale rows replaced by idempotent upserts on digest; a failing source lands in
        ``failures()`` with its reason and leaves no entries row (an older row of it is deleted). Decoding
        runs in ``workers`` killable processes, ``timeout_s`` per item. ``progress(done, total)`` is called
        once per unique key. One lineage row per call, listing the digests added, replaced, removed and
        failed. ``pool``: an open ``cache_store.workers.DecodePool`` for ``spec`` to reuse across builds (its
        workers and timeout apply). Details: ``cache_store.build``.
        """
        with self._journals.recording():
            return run_build(
                self, sources, spec, workers=workers, timeout_s=timeout_s, progress=progress, pool=pool
            )

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, digest: str, copy: bool = False) -> CachedMedia:
        """The cached sample with this digest; KeyError naming the digest when absent. See ``get_many``."""
        return self.get_many([digest], copy=copy)[0]

    def get_many(self, digests: Sequence[str], copy: bool = False) -> list[CachedMedia]:
        """Samples in the order of ``digests`` (repeats allowed); KeyError naming any that are absent.

        Reads go through ``cache_store.reads`` (threaded; positioned reads of the blob file on stores with
        the blob layout). ``frames`` are read-only arrays (no copy made); ``copy=True`` gives writable ones.
        """
        found = self._read(digests, copy)
        missing = [d for d in dict.fromkeys(digests) if d not in found]
        if missing:
            raise KeyError(
                f"no cached media for digest(s) {missing[:5]}{' …' if len(missing) > 5 else ''} in "
                f"{self.entries_uri}; build the sources first (MediaCache.build)"
            )
        return [found[d] for d in digests]

    def _read(self, digests: Iterable[str], copy: bool) -> dict[str, CachedMedia]:
        """digest -> sample for the well-formed digests that have a row (see ``get_many``)."""
        good = [d for d in dict.fromkeys(digests) if isinstance(d, str) and _DIGEST.match(d)]
        ds = self._open(self.entries_uri)
        if self._frames_blob:
            return read_blob_rows(ds, good, copy, local_path(self.entries_uri))
        return read_inline_rows(ds, good, copy)

    def scan(self, chunk: int = 16, copy: bool = False) -> Iterator[CachedMedia]:
        """Every entry once, in storage order, read ``chunk`` at a time through the same point reads as
        ``get_many`` (a plain sequential Lance scan of this table was 2x slower here). An entry deleted
        while the scan runs is skipped. For exporting or verifying a whole cache."""
        if chunk < 1:
            raise ValueError(f"scan: chunk must be >= 1, got {chunk}")
        digests = self._open(self.entries_uri).to_table(columns=["digest"]).column("digest").to_pylist()
        for start in range(0, len(digests), chunk):
            part = digests[start : start + chunk]
            found = self._read(part, copy)
            yield from (found[d] for d in part if d in found)

    def _validity_rows(self, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
        """digest -> validity columns for the digests that have a row (no frame bytes read)."""
        ds = self._open(self.entries_uri)
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(digests)):
            for row in ds.to_table(columns=VALIDITY_COLUMNS, filter=_in_filter(chunk)).to_pylist():
                out[row["digest"]] = row
        return out

    def lookup(self, source: str | os.PathLike, kind: str, spec: MediaSpec) -> CachedMedia | None:
        """The sample for ``source`` under ``spec`` if present and valid, else None.

        Stale (None) when the source's fingerprint (size and mtime, or content hash: see ``content_hash``),
        or any validity field (min_pixels, min_frames, total_pixels, factor, preprocess_version) differs
        from the stored row, or the source is gone.
        """
        key = spec.key_for(source, kind)
        try:
            fingerprint = source_fingerprint(key.source, self.content_hash)
        except (OSError, NotImplementedError):
            return None
        row = self._validity_rows([key.digest()]).get(key.digest())
        if row is None or not is_valid(row, kind, spec, fingerprint):
            return None
        try:
            return self.get(key.digest())
        except KeyError:  # deleted between the two reads
            return None

    def failures(self, build_id: str | None = None) -> list[dict[str, Any]]:
        """Current failures: the latest failure of each key, kept until that key builds (then deleted).

        Rows: digest, source, kind, error (exception class), message (names the file and the fix), time,
        build_id. ``build_id`` restricts them to one build.
        """
        ds = self._open(self.failures_uri)
        rows = ds.to_table().to_pylist()
        return [r for r in rows if build_id is None or r["build_id"] == build_id]

    def lineage(self) -> list[dict[str, Any]]:
        """One row per build or invalidation, oldest first. ``kind`` is "build" or "invalidate"; the key lists
        are None in rows written before they were recorded. ``status`` is "complete", or "incomplete" for a
        build that recorded its start but not its end (killed, or still running): that row has the spec and
        the number of sources requested, no counts, and ``entries_version`` None; the rows it committed
        carry its ``build_id``."""
        rows = sorted(self._open(self.lineage_uri).to_table().to_pylist(), key=lambda r: r["time"])
        finished = {r["build_id"] for r in rows if r.get("kind") != "build_started"}
        events = []
        for row in rows:
            started = row.get("kind") == "build_started"
            if started and row["build_id"] in finished:
                continue
            row["kind"] = "build" if started else row.get("kind") or "build"
            row["status"] = "incomplete" if started else "complete"
            events.append(row)
        return events

    def version(self) -> int:
        """Current Lance version of the entries dataset."""
        return int(self._open(self.entries_uri).version)

    def stats(self) -> dict[str, int]:
        """``rows``, ``bytes`` (uint8 frame payload), ``failures`` (current) and the entries ``version``."""
        ds = self._open(self.entries_uri)
        shapes = ds.to_table(columns=["t", "h", "w", "c"])
        dims = (
            np.stack([shapes.column(c).to_numpy() for c in "thwc"]) if shapes.num_rows else np.zeros((4, 0))
        )
        payload = int(np.prod(dims, axis=0).sum())
        return {
            "rows": shapes.num_rows,
            "bytes": payload,
            "failures": self._open(self.failures_uri).count_rows(),
            "version": int(ds.version),
        }

    # -- administration: entry points to cache_store.describe and cache_store.admin ------------------
    def history(self, digest_or_source: str | os.PathLike) -> list[dict[str, Any]]:
        """Lineage events (added/replaced/removed/failed) of a digest or of every key of a source."""
        from .describe import history

        return history(self, digest_or_source)

    def show(self, source_or_digest: str | os.PathLike, spec: MediaSpec | None = None) -> dict[str, Any]:
        """All metadata of one entry: key, validity, staleness now, shape, sampling, grids, history."""
        from .describe import show

        return show(self, source_or_digest, spec=spec)

    def dump_frames(self, source_or_digest: str | os.PathLike, path: str | os.PathLike) -> Path:
        """Save one entry's uint8 frames (T, H, W, 3) to ``path`` (``numpy.save``); returns the file."""
        from .describe import dump_frames

        return dump_frames(self, source_or_digest, path)

    def stale(self, spec: MediaSpec | None = None) -> list[dict[str, Any]]:
        """Rows ``lookup`` would refuse now (source changed/gone, or validity fields unlike ``spec``)."""
        from .admin import stale

        return stale(self, spec=spec)

    def state(self, digests: Sequence[str], spec: MediaSpec | None = None):
        """Fingerprint and health (present/stale/missing) of the rows ``digests`` name: a consumer's data
        version of the cache. See ``cache_store.state``."""
        from .state import entries_state

        return entries_state(self, digests, spec=spec)

    def invalidate(
        self,
        sources: Sequence[str | os.PathLike] | None = None,
        digests: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> InvalidateReport:
        """Delete the rows matching every given selector: one Lance version, one lineage row."""
        from .admin import invalidate

        return invalidate(self, sources=sources, digests=digests, where=where, dry_run=dry_run)

    def compact(self, keep_versions: int = 1) -> CompactReport:
        """Compact every table; keep the newest ``keep_versions`` and the last version lineage names."""
        from .admin import compact

        return compact(self, keep_versions=keep_versions)

    # -- writes (called by build.run_build) -----------------------------------------------------------
    def _present(self, digests: Sequence[str]) -> set[str]:
        """The digests among ``digests`` that have an entries row (digest column only, through the index)."""
        ds = self._open(self.entries_uri)
        out: set[str] = set()
        for chunk in _chunks(list(digests)):
            out.update(ds.to_table(columns=["digest"], filter=_in_filter(chunk)).column("digest").to_pylist())
        return out

    def _upsert(self, uri: str, table: pa.Table) -> None:
        ds = self._open(uri)
        ds.merge_insert("digest").when_matched_update_all().when_not_matched_insert_all().execute(table)

    def _upsert_entries(self, rows: list[dict[str, Any]], journal: Journal | None = None) -> None:
        """Upsert entries rows in one ``merge_insert`` (retried on a commit conflict), then fold the new
        fragment into the digest index at once: ``merge_insert`` joins new rows against unindexed fragments
        by reading them whole, so without the refresh the n-th write of a build took ~30 ms x n (measured:
        15 ms for the 1st, 331 ms for the 11th 15 MB row; with it, ~43 ms each).
        ``journal``: the build's journal when called from its background writer thread."""
        journal = journal or self._journals.current()
        present = self._present([r["digest"] for r in rows]) if journal is not None else set()
        table = pa.Table.from_pylist(rows, schema=ENTRIES_SCHEMA if self._frames_blob else ENTRIES_SCHEMA_INLINE)
        retry(lambda: self._upsert(self.entries_uri, table))
        self._try_refresh_index()
        if journal is not None:
            for row in rows:
                (journal.replaced if row["digest"] in present else journal.added).append(row["digest"])

    def _delete(self, uri: str, digests: Sequence[str]) -> int:
        ds = self._open(uri)
        removed = 0
        for chunk in _chunks(list(digests)):
            # the count Lance reports, not rows-before minus rows-after (another builder may write between)
            removed += int(ds.delete(_in_filter(chunk))["num_deleted_rows"])
        return removed

    def _delete_entries(self, digests: Sequence[str]) -> int:
        if not digests:
            return 0
        journal = self._journals.current()
        if journal is not None:
            journal.removed.extend(sorted(self._present(digests)))
        return self._delete(self.entries_uri, digests)

    def _record_failures(self, rows: list[dict[str, Any]], resolved: Sequence[str]) -> None:
        """Upsert this build's failures; drop earlier failures of keys that now built or hit."""
        journal = self._journals.current()
        if journal is not None:
            journal.failed.extend(r["digest"] for r in rows)
        if rows:
            self._upsert(self.failures_uri, pa.Table.from_pylist(rows, schema=FAILURES_SCHEMA))
        known = set(self._open(self.failures_uri).to_table(columns=["digest"]).column("digest").to_pylist())
        fixed = sorted(known.intersection(resolved))
        if fixed:
            self._delete(self.failures_uri, fixed)

    def _refresh_index(self) -> None:
        """Fold fragments written since the last refresh into the digest BTREE index."""
        self._open(self.entries_uri).optimize.optimize_indices()

    def _try_refresh_index(self) -> None:
        """``_refresh_index``, skipped when another writer's commit wins (its refresh or the next covers it)."""
        try:
            self._refresh_index()
        except Exception as exc:
            if not is_conflict(exc):
                raise

    def _append_lineage(self, row: dict[str, Any]) -> None:
        """Append one lineage row. A build's row gets ``kind`` "build" and, unless the caller passed them,
        the key lists its write hooks gathered (sorted)."""
        journal = self._journals.current() if row.get("kind", "build") == "build" else None
        row = {"kind": "build", **(journal.key_lists() if journal is not None else {}), **row}
        lance.write_dataset(
            pa.Table.from_pylist([row], schema=LINEAGE_SCHEMA),
            self.lineage_uri,
            mode="append",
            storage_options=self.storage_options,
        )
