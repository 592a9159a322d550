"""Arrow schemas of the three Lance tables, the row <-> ``CachedMedia`` conversion, the file format.

Frames are stored as raw uint8 bytes in a ``large_binary`` column plus ``t, h, w, c`` shape columns: shapes
vary per row (fixed-shape tensor columns do not fit). A 10-minute video at 256 frames is hundreds of MB, hence
large_binary (64-bit offsets). The column uses Lance's blob encoding (``FRAMES_BLOB``): the bytes live out of
line in the data file and a scan returns ``{position, size}``, which ``blobs`` turns into one positioned read
per sample (a 47 MB sample: ~20 ms, as fast as ``np.fromfile``, vs 25-150 ms for any Lance read of the bytes).
Stores created before that keep inline frames and are read and written as before (``cache_store.legacy``).

File format. The entries table is written in Lance file format 2.0 (``ENTRIES_FILE_FORMAT``), the others in
the default. Measured on the benchmark store (17 samples, 247 MB of frames; pylance 14, page cache warm),
reading every sample once by digest, each in a fresh Lance session: format 2.2 took 397 ms, 2.1 397 ms, 2.0
123 ms (raw ``np.fromfile`` of the same bytes: 102 ms). 2.2 writes all rows of one ``merge_insert`` as one
page and reads a whole page to serve one value (136 ms for a 47 MB sample among 247 MB); a page of one value
becomes a "constant" page whose bytes live in the page metadata, which a session then caches (247 MB held
after one pass). 2.0 reads one value of a binary page through its offsets, and its session cache held 1 MB.
Stores created with another format keep it (reads and writes work; rebuild into a new root for the speed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from .keys import CacheKey, Fingerprint
from .types import CachedMedia

TIME = pa.timestamp("us", tz="UTC")
# Declaring digest the primary key makes Lance itself reject a concurrent insert of the same new key
# (without it, two builders inserting one new key both commit and the key gets two rows).
PRIMARY_KEY = {"lance-schema:unenforced-primary-key": "true"}
FRAMES_BLOB = {"lance-encoding:blob": "true"}  # see the module docstring and ``blobs``

ENTRIES_SCHEMA = pa.schema(
    [
        pa.field(
            "digest", pa.string(), nullable=False, metadata=PRIMARY_KEY
        ),  # CacheKey.digest(): lookup key
        pa.field("source", pa.string()),  # canonical source (absolute path or URI)
        pa.field("kind", pa.string()),  # "video" | "image"
        pa.field("fps", pa.float64()),  # key fields ...
        pa.field("max_frames", pa.int64()),
        pa.field("max_pixels", pa.int64()),
        pa.field("min_pixels", pa.int64()),  # ... validity fields (a mismatch makes the row stale)
        pa.field("min_frames", pa.int64()),
        pa.field("total_pixels", pa.int64()),  # null = qwen-vl-utils default
        pa.field("factor", pa.int64()),
        pa.field("preprocess_version", pa.string()),
        pa.field("source_size", pa.int64()),
        pa.field("source_mtime_ns", pa.int64()),
        pa.field("frames", pa.large_binary(), metadata=FRAMES_BLOB),  # uint8 (t, h, w, c), C order
        pa.field("t", pa.int64()),
        pa.field("h", pa.int64()),
        pa.field("w", pa.int64()),
        pa.field("c", pa.int64()),
        pa.field("source_fps", pa.float64()),  # VideoMetadata ...
        pa.field("total_frames", pa.int64()),
        pa.field("indices", pa.list_(pa.int64())),
        pa.field("timestamps", pa.list_(pa.float64())),
        pa.field("sample_fps", pa.float64()),
        pa.field("build_id", pa.string()),
        pa.field("created_at", TIME),
        # Added after the first release (legacy.ENTRIES_MIGRATION): hex SHA-256 of the source, null unless the
        # cache hashes content (MediaCache(content_hash=True)).
        pa.field("source_sha256", pa.string()),
    ]
)

# Every column a hit check needs, and none of the heavy ones.
VALIDITY_COLUMNS = [
    "digest",
    "kind",
    "min_pixels",
    "min_frames",
    "total_pixels",
    "factor",
    "preprocess_version",
    "source_size",
    "source_mtime_ns",
    "source_sha256",
]

FAILURES_SCHEMA = pa.schema(
    [
        pa.field("digest", pa.string(), nullable=False, metadata=PRIMARY_KEY),  # one current failure per key
        pa.field("source", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("error", pa.string()),  # exception class name, e.g. DecodeFailed, DecodeTimeout
        pa.field("message", pa.string()),  # names the file and the fix
        pa.field("time", TIME),
        pa.field("build_id", pa.string()),
    ]
)

# One row per event that changes entries: a build, or an invalidation (``kind``). Key lists make an
# entry's history answerable after old Lance versions are compacted away.
LINEAGE_SCHEMA = pa.schema(
    [
        pa.field("build_id", pa.string(), nullable=False),  # the event id (build or invalidation)
        pa.field("time", TIME),
        pa.field("entries_version", pa.int64()),  # entries Lance version after the event
        pa.field("spec_json", pa.string()),  # the resolved MediaSpec (null for an invalidation)
        pa.field("sources", pa.int64()),  # unique keys requested
        pa.field("hits", pa.int64()),
        pa.field("added", pa.int64()),
        pa.field("replaced", pa.int64()),
        pa.field("failed", pa.int64()),
        pa.field("removed", pa.int64()),  # build: stale rows deleted because their source now fails
        pa.field("seconds", pa.float64()),
        # Added after the first release (see legacy.LINEAGE_MIGRATION): null in rows written before it.
        pa.field("kind", pa.string()),  # "build" | "build_started" | "invalidate"; null = "build"
        pa.field("keys_added", pa.list_(pa.string())),  # digests new in this event
        pa.field("keys_replaced", pa.list_(pa.string())),  # digests rewritten (stale row rebuilt)
        pa.field("keys_removed", pa.list_(pa.string())),  # digests deleted (source broke / invalidated)
        pa.field("keys_failed", pa.list_(pa.string())),  # digests recorded in failures by this build
        pa.field("detail_json", pa.string()),  # invalidate: the selection (sources, digests, where)
    ]
)

ENTRIES_FILE_FORMAT = "2.0"  # see the module docstring


def media_to_row(
    media: CachedMedia,
    key: CacheKey,
    validity: Mapping[str, Any],
    fingerprint: Fingerprint,
    build_id: str,
    created_at: datetime,
) -> dict[str, Any]:
    """One entries row (a dict matching ``ENTRIES_SCHEMA``) for a decoded sample."""
    frames = np.ascontiguousarray(media.frames, dtype=np.uint8)
    if frames.ndim != 4:
        raise ValueError(f"{media.source}: frames must be (T, H, W, C), got shape {frames.shape}")
    t, h, w, c = frames.shape
    return {
        "digest": key.digest(),
        "source": key.source,
        "kind": media.kind,
        "fps": float(key.fps),
        "max_frames": int(key.max_frames),
        "max_pixels": int(key.max_pixels),
        **{
            name: validity[name]
            for name in ("min_pixels", "min_frames", "total_pixels", "factor", "preprocess_version")
        },
        "source_size": fingerprint.size,
        "source_mtime_ns": fingerprint.mtime_ns,
        "source_sha256": fingerprint.sha256,
        "frames": frames.tobytes(),
        "t": t,
        "h": h,
        "w": w,
        "c": c,
        "source_fps": float(media.source_fps),
        "total_frames": int(media.total_frames),
        "indices": [int(i) for i in media.indices],
        "timestamps": [float(x) for x in media.timestamps],
        "sample_fps": float(media.sample_fps),
        "build_id": build_id,
        "created_at": created_at,
    }


def row_to_media(row: Mapping[str, Any], copy: bool = True) -> CachedMedia:
    """Rebuild a ``CachedMedia`` from one entries row.

    Accepts what ``table.to_pylist()`` gives (bytes, lists) and what a Ray Data batch row gives (numpy
    scalars and arrays). ``copy=False`` returns a read-only view of the row's bytes (zero-copy; torch warns
    when wrapping a non-writable array, see ``training.models.processor``).
    """
    shape = tuple(int(row[k]) for k in ("t", "h", "w", "c"))
    if isinstance(row["frames"], Mapping):
        raise TypeError(
            f"row {row.get('digest')!r}: frames is a blob description {dict(row['frames'])}, not bytes; read "
            "rows with cache_store.blobs.rows_with_frames or samples with MediaCache.get_many"
        )
    frames = np.frombuffer(row["frames"], dtype=np.uint8)
    if frames.size != int(np.prod(shape)):
        raise ValueError(f"row {row.get('digest')!r}: {frames.size} frame bytes do not match shape {shape}")
    frames = frames.reshape(shape)
    if copy:
        frames = frames.copy()
    else:
        frames.flags.writeable = False  # a view of the reader's buffer: never written through
    return CachedMedia(
        digest=str(row["digest"]),
        source=str(row["source"]),
        kind=str(row["kind"]),
        frames=frames,
        source_fps=float(row["source_fps"]),
        total_frames=int(row["total_frames"]),
        indices=[int(i) for i in row["indices"]],
        timestamps=[float(x) for x in row["timestamps"]],
        sample_fps=float(row["sample_fps"]),
    )
