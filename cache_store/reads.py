"""Reading entries rows by digest: digest filters, column reads, and samples as ``CachedMedia``.

Samples (``read_blob_rows``): one metadata query for all digests (descriptions ``{position, size}``, no
frame bytes), then ``READ_THREADS`` threads of positioned reads (``cache_store.blobs``). Each sample's
frames are a private buffer, so ``copy=True`` costs no copy; ``copy=False`` gives read-only frames.
Stores created before the blob layout keep inline frames and are read by ``cache_store.legacy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import lance

from .blobs import BlobFiles, read_frames
from .schema import row_to_media
from .types import CachedMedia

FILTER_CHUNK = 512  # digests per IN (...) filter
READ_THREADS = 4  # concurrent reads in get_many

T = TypeVar("T")
R = TypeVar("R")


def in_filter(digests: Iterable[str]) -> str:
    """``digest IN ('…', …)``. Digests are validated hex before they reach a filter, so quoting is safe."""
    return "digest IN (" + ",".join(f"'{d}'" for d in digests) + ")"


def chunks(items: Sequence[str], size: int = FILTER_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def select_rows(
    ds: lance.LanceDataset, digests: Sequence[str], columns: list[str]
) -> dict[str, dict[str, Any]]:
    """digest -> ``columns`` of the row, for the digests among ``digests`` that have a row in ``ds``."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(list(digests)):
        for row in ds.to_table(columns=columns, filter=in_filter(chunk)).to_pylist():
            out[row["digest"]] = row
    return out


def threaded(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """``[fn(item) for item in items]``, ``READ_THREADS`` at a time."""
    if len(items) < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(READ_THREADS, len(items)), thread_name_prefix="cache-read") as pool:
        return list(pool.map(fn, items))


def read_blob_rows(
    ds: lance.LanceDataset, digests: list[str], copy: bool, local_root: str | None
) -> dict[str, CachedMedia]:
    """digest -> sample for the digests that have a row, frames stored as blobs; ``local_root`` is the
    dataset's local folder (None for a remote store: Lance then reads the bytes)."""
    rows: list[dict[str, Any]] = []
    for chunk in chunks(digests):
        rows += ds.to_table(filter=in_filter(chunk), with_row_address=True).to_pylist()
    files = BlobFiles(ds, local_root)
    parts = [rows[i::READ_THREADS] for i in range(min(READ_THREADS, len(rows)))]
    out = {}
    for part, frames in zip(parts, threaded(lambda p: read_frames(ds, files, p), parts), strict=True):
        for row, data in zip(part, frames, strict=True):
            row["frames"] = b"" if data is None else data
            media = row_to_media(row, copy=False)
            if copy:
                try:
                    media.frames.flags.writeable = True  # our own buffer from a positioned read
                except ValueError:  # bytes from Lance (the fallback path) are immutable
                    media.frames = media.frames.copy()
            out[row["digest"]] = media
    return out
