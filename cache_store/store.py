"""``MediaCache``: decoded media in Lance tables under one root URI, the package's facade.

It composes the public layers below it: ``storage.Storage`` (the tables under the root and every read
and write of them; layout in its docstring), ``build.run_build`` (one build), ``admin`` (``stale``,
``invalidate``, ``compact``), ``describe`` (``history``, ``show``, ``dump_frames``) and ``state``.

Reads never serve a stale row through ``lookup``: the stored validity fields and source fingerprint must
match. ``get``/``get_many`` serve by digest without re-checking (the trainer reads digests that the build it
just ran produced). Ray Data reads ``entries_uri`` directly with ``ray.data.read_lance`` and rebuilds each
sample with ``row_to_media``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import admin, describe
from .build import BuildReport, is_valid, run_build
from .keys import MediaSpec, source_fingerprint
from .schema import row_to_media
from .state import EntriesState, entries_state
from .storage import Storage
from .types import CachedMedia

if TYPE_CHECKING:
    from .workers import DecodePool

__all__ = ["BuildReport", "MediaCache", "row_to_media"]


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
        self.storage = Storage(root, storage_options=storage_options, content_hash=content_hash)
        self.flush_bytes, self.flush_rows = flush_bytes, flush_rows

    # -- locations ------------------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return self.storage.root

    @property
    def storage_options(self) -> dict[str, str] | None:
        return self.storage.storage_options

    @property
    def content_hash(self) -> bool:
        return self.storage.content_hash

    @property
    def entries_uri(self) -> str:
        """URI of the entries dataset (``ray.data.read_lance(cache.entries_uri)``)."""
        return self.storage.entries_uri

    @property
    def failures_uri(self) -> str:
        return self.storage.failures_uri

    @property
    def lineage_uri(self) -> str:
        return self.storage.lineage_uri

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
        with self.storage.journals.recording():
            return run_build(
                self.storage, sources, spec, workers=workers, timeout_s=timeout_s, progress=progress,
                pool=pool, flush_bytes=self.flush_bytes, flush_rows=self.flush_rows,
            )  # fmt: skip

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, digest: str, copy: bool = False) -> CachedMedia:
        """The cached sample with this digest; KeyError naming the digest when absent. See ``get_many``."""
        return self.get_many([digest], copy=copy)[0]

    def get_many(self, digests: Sequence[str], copy: bool = False) -> list[CachedMedia]:
        """Samples in the order of ``digests`` (repeats allowed); KeyError naming any that are absent.

        Reads go through ``Storage.read``: threaded positioned reads of the blob file (``cache_store.reads``),
        or point reads on a store with inline frames (``cache_store.legacy``). ``frames`` are read-only
        arrays (no copy made); ``copy=True`` gives writable ones.
        """
        found = self.storage.read(digests, copy)
        missing = [d for d in dict.fromkeys(digests) if d not in found]
        if missing:
            raise KeyError(
                f"no cached media for digest(s) {missing[:5]}{' …' if len(missing) > 5 else ''} in "
                f"{self.entries_uri}; build the sources first (MediaCache.build)"
            )
        return [found[d] for d in digests]

    def get_found(self, digests: Sequence[str], copy: bool = False) -> dict[str, CachedMedia]:
        """The samples of ``digests`` that are in the cache, by digest; absent ones are left out (no error).
        For a reader that decodes what is missing (``data.media_source=prefer_cache``); reads as ``get_many``."""
        return self.storage.read(list(dict.fromkeys(digests)), copy)

    def scan(self, chunk: int = 16, copy: bool = False) -> Iterator[CachedMedia]:
        """Every entry once, in storage order, read ``chunk`` at a time through the same point reads as
        ``get_many`` (a plain sequential Lance scan of this table was 2x slower here). An entry deleted
        while the scan runs is skipped. For exporting or verifying a whole cache."""
        if chunk < 1:
            raise ValueError(f"scan: chunk must be >= 1, got {chunk}")
        digests = self.storage.entries().to_table(columns=["digest"]).column("digest").to_pylist()
        for start in range(0, len(digests), chunk):
            part = digests[start : start + chunk]
            found = self.storage.read(part, copy)
            yield from (found[d] for d in part if d in found)

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
        row = self.storage.validity_rows([key.digest()]).get(key.digest())
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
        return [r for r in self.storage.failures() if build_id is None or r["build_id"] == build_id]

    def lineage(self) -> list[dict[str, Any]]:
        """One row per build or invalidation, oldest first. ``kind`` is "build" or "invalidate"; the key lists
        are None in rows written before they were recorded. ``status`` is "complete", or "incomplete" for a
        build that recorded its start but not its end (killed, or still running): that row has the spec and
        the number of sources requested, no counts, and ``entries_version`` None; the rows it committed
        carry its ``build_id``."""
        return self.storage.lineage()

    def version(self) -> int:
        """Current Lance version of the entries dataset."""
        return self.storage.version()

    def stats(self) -> dict[str, int]:
        """``rows``, ``bytes`` (uint8 frame payload), ``failures`` (current) and the entries ``version``."""
        ds = self.storage.entries()
        shapes = ds.to_table(columns=["t", "h", "w", "c"])
        dims = (
            np.stack([shapes.column(c).to_numpy() for c in "thwc"]) if shapes.num_rows else np.zeros((4, 0))
        )
        payload = int(np.prod(dims, axis=0).sum())
        return {
            "rows": shapes.num_rows,
            "bytes": payload,
            "failures": self.storage.open(self.failures_uri).count_rows(),
            "version": int(ds.version),
        }

    # -- administration: entry points to cache_store.describe and cache_store.admin ------------------
    def history(self, digest_or_source: str | os.PathLike) -> list[dict[str, Any]]:
        """Lineage events (added/replaced/removed/failed) of a digest or of every key of a source."""
        return describe.history(self.storage, digest_or_source)

    def show(self, source_or_digest: str | os.PathLike, spec: MediaSpec | None = None) -> dict[str, Any]:
        """All metadata of one entry: key, validity, staleness now, shape, sampling, grids, history."""
        return describe.show(self.storage, source_or_digest, spec=spec)

    def dump_frames(self, source_or_digest: str | os.PathLike, path: str | os.PathLike) -> Path:
        """Save one entry's uint8 frames (T, H, W, 3) to ``path`` (``numpy.save``); returns the file."""
        return describe.dump_frames(self.storage, source_or_digest, path)

    def stale(self, spec: MediaSpec | None = None) -> list[dict[str, Any]]:
        """Rows ``lookup`` would refuse now (source changed/gone, or validity fields unlike ``spec``)."""
        return admin.stale(self.storage, spec=spec)

    def state(self, digests: Sequence[str], spec: MediaSpec | None = None) -> EntriesState:
        """Fingerprint and health (present/stale/missing) of the rows ``digests`` name: a consumer's data
        version of the cache. See ``cache_store.state``."""
        return entries_state(self.storage, digests, spec=spec)

    def invalidate(
        self,
        sources: Sequence[str | os.PathLike] | None = None,
        digests: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> admin.InvalidateReport:
        """Delete the rows matching every given selector: one Lance version, one lineage row."""
        return admin.invalidate(self.storage, sources=sources, digests=digests, where=where, dry_run=dry_run)

    def compact(self, keep_versions: int = 1) -> admin.CompactReport:
        """Compact every table; keep the newest ``keep_versions`` and the last version lineage names."""
        return admin.compact(self.storage, keep_versions=keep_versions)
