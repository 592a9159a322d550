"""Where the trainer and the pass-rate filter get each row's media: the Lance cache, or a decode on the fly.

``data.media_source`` (EasyVideoR1's ``prefer_preprocessed`` / ``realtime_only`` semantics):

- ``cache`` (default): every medium is read from the cache by its digest; a missing one is an error naming
  the sample (the ``media_cache`` asset must have built it);
- ``prefer_cache``: read from the cache when the digest is there, else decode the source now;
- ``decode``: never read the cache; decode every source now.

A decode here is ``cache_store.decode.decode``, the very function the cache build runs in its workers, with
the spec the cache was built with (``MediaSource.spec``): the same frame sampling (``smart_nframes``,
indices, timestamps) and the same bicubic+antialias resize, so the frames are bit-identical to the cached
ones and ``video_grid_thw`` is the same in every mode. A row's media digest names that spec's key; a row
cached under other sampling settings is refused rather than decoded differently. The decode runs in the
calling process (the reader's fetch thread in the process that trains), with no timeout: a file that hangs decord hangs the reader, as
it would in EasyVideoR1's realtime mode; build the cache to get the killable, timed decode workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from cache_store.keys import MediaSpec
from cache_store.types import CachedMedia

MEDIA_SOURCES = ("cache", "prefer_cache", "decode")


@dataclass(frozen=True)
class MediaSource:
    """``mode`` is one of ``MEDIA_SOURCES``; ``spec``, the spec the cache is built with, is needed by the two
    modes that decode (``prefer_cache``, ``decode``)."""

    mode: str = "cache"
    spec: MediaSpec | None = None

    def __post_init__(self):
        if self.mode not in MEDIA_SOURCES:
            raise ValueError(f"data.media_source={self.mode!r}; allowed: {list(MEDIA_SOURCES)}")
        if self.mode != "cache" and self.spec is None:
            raise ValueError(
                f"data.media_source={self.mode} decodes media on the fly and needs the sampling settings the "
                "cache uses (a cache_store.MediaSpec: the media_cache asset's spec); none was given"
            )

    @property
    def reads_cache(self) -> bool:
        return self.mode != "decode"


FROM_CACHE = MediaSource()  # the default: every medium read from the cache


class MediaFetcher:
    """The media of prepared rows, from the cache under ``cache_root`` and/or decoded, as ``source`` says.
    Opens the cache only in the modes that read it (``decode`` runs with no cache at all)."""

    def __init__(self, cache_root: str | None, source: MediaSource = FROM_CACHE):
        self.source = source
        self.cache = None
        self.decoded = 0  # media decoded on the fly so far (prefer_cache: the cache misses)
        if source.reads_cache:
            from cache_store import MediaCache

            self.cache = MediaCache(cache_root)

    def fetch(self, sample_id: str, media: list[dict]) -> list[CachedMedia]:
        """The ``CachedMedia`` of one row's ``media`` entries (``{source, kind, digest}``), in order."""
        return self.fetch_rows([(sample_id, media)])[0]

    def fetch_rows(self, rows: list[tuple[str, list[dict]]]) -> list[list[CachedMedia]]:
        """``fetch`` of several ``(sample_id, media)`` rows with one cache read for all their media (the
        cache's threaded positioned reads), as the trainer's reader fetches a batch."""
        digests = [[m.get("digest") or self._digest(m) for m in media] for _, media in rows]
        found: dict[str, CachedMedia] = {}
        if self.cache is not None and any(digests):
            found = self.cache.get_found([d for ds in digests for d in ds])
        return [self._complete(sid, media, ds, found) for (sid, media), ds in zip(rows, digests, strict=True)]

    def _complete(
        self, sample_id: str, media: list[dict], digests: list[str], found: dict[str, CachedMedia]
    ) -> list[CachedMedia]:
        """One row's media from what the cache read ``found``, the rest decoded (or a KeyError in ``cache``)."""
        missing = [(m, d) for m, d in zip(media, digests) if d not in found]
        if missing and self.source.mode == "cache":
            names = ", ".join(f"{m['source']} ({d})" for m, d in missing[:5])
            raise KeyError(
                f"sample {sample_id}: media not in the cache {self.cache.entries_uri}: {names}; build the cache "
                "first (materialize media_cache, or `reelrl cache build`), or set data.media_source=prefer_cache "
                "to decode missing media on the fly"
            )
        for m, d in missing:
            found[d] = self._decode(sample_id, m, d)
        return [found[d] for d in digests]

    def _digest(self, m: dict) -> str:
        if self.source.spec is None:
            raise KeyError(
                f"media entry {m.get('source')!r} has no cache digest; the media_cache asset adds them (or set "
                "data.media_source=decode with the cache's spec)"
            )
        return self.source.spec.key_for(m["source"], m["kind"]).digest()

    def _decode(self, sample_id: str, m: dict, digest: str) -> CachedMedia:
        from cache_store.decode import decode

        media = decode(m["source"], m["kind"], self.source.spec)
        if media.digest != digest:
            raise ValueError(
                f"sample {sample_id}: {m['source']} has digest {digest} in the train rows but {media.digest} "
                f"under the given sampling settings {self.source.spec.to_dict()}: the rows were cached with "
                "other settings; pass the spec the cache was built with (the media_cache asset's)"
            )
        self.decoded += 1
        return media
