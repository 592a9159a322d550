"""Stores written by older ``cache_store`` versions: how they are recognised, upgraded and read.

The current layout is ``schema`` (blob-encoded frames, digest the declared primary key, every column).
``storage.Storage`` calls in here only for a table that is not in it:

* **Missing metadata or columns** (``needs_upgrade`` / ``upgrade``), upgraded once when the store is opened:
  digest is declared the primary key on tables that predate the declaration, and the nullable columns
  added since (``ENTRIES_MIGRATION``, ``LINEAGE_MIGRATION``) are appended all-null. Both are metadata-only
  Lance schema changes (one new version each); a table reopened after them is current and costs nothing
  here. Any other missing column is an error that asks for a rebuild.
* **Inline frames** (entries tables created before the blob layout): the ``frames`` column holds the bytes
  themselves. Such a store is not rewritten (that would copy every frame); it is read with
  ``read_inline_rows`` and written with ``ENTRIES_SCHEMA_INLINE``, so old stores keep working as before.
  Rebuild into a new root to get the blob layout's faster reads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import lance
import numpy as np
import pyarrow as pa

from .reads import threaded
from .schema import ENTRIES_SCHEMA, row_to_media
from .types import CachedMedia

# Stores created before the blob layout: the same columns with inline frames.
ENTRIES_SCHEMA_INLINE = ENTRIES_SCHEMA.set(
    ENTRIES_SCHEMA.get_field_index("frames"), pa.field("frames", pa.large_binary())
)

# Nullable columns a table written by an older cache_store may lack. ``upgrade`` adds them as all-null
# columns when such a table is opened, so old stores stay readable and writable. Entries need no migration
# for ``video_grid_thw``: it is derived from (t, h, w) and the factor (``cache_store.describe``).
ENTRIES_MIGRATION = ("source_sha256",)
LINEAGE_MIGRATION = (
    "kind",
    "keys_added",
    "keys_replaced",
    "keys_removed",
    "keys_failed",
    "detail_json",
)


def _declares_primary_key(schema: pa.Schema) -> bool:
    return "digest" in schema.names and bool(schema.field("digest").metadata)


def needs_upgrade(ds: lance.LanceDataset, schema: pa.Schema) -> bool:
    """Whether the table ``ds`` predates ``schema``: a column or the primary-key declaration is missing."""
    if set(schema.names) - set(ds.schema.names):
        return True
    return _declares_primary_key(schema) and not ds.schema.field("digest").metadata


def upgrade(
    ds: lance.LanceDataset,
    schema: pa.Schema,
    migrate: Sequence[str],
    reopen: Callable[[], lance.LanceDataset],
) -> None:
    """Bring an old table up to ``schema``: declare the primary key, add the ``migrate`` columns it lacks;
    any other missing column raises ValueError asking for a rebuild. ``reopen`` opens the table again."""
    _mark_primary_key(ds, schema)
    missing = set(schema.names) - set(ds.schema.names)
    if missing and missing <= set(migrate):
        _add_null_columns(reopen, ds.uri, [schema.field(n) for n in schema.names if n in missing])
        return
    if missing:
        raise ValueError(
            f"{ds.uri} lacks columns {sorted(missing)}: it was written by an older cache_store; "
            "point MediaCache at a new root (or delete this one) and rebuild"
        )


def _mark_primary_key(ds: lance.LanceDataset, schema: pa.Schema) -> None:
    """Stores created before ``digest`` was declared the primary key get the declaration once."""
    if not _declares_primary_key(schema) or ds.schema.field("digest").metadata:
        return
    try:
        ds.update_field_metadata(
            {"digest": {k.decode(): v.decode() for k, v in schema.field("digest").metadata.items()}}
        )
    except (OSError, ValueError, RuntimeError) as exc:
        warnings.warn(f"{ds.uri}: could not declare digest the primary key ({exc})", stacklevel=4)


def _add_null_columns(reopen: Callable[[], lance.LanceDataset], uri: str, fields: list[pa.Field]) -> None:
    """Schema migration: append all-null ``fields`` (metadata only). A concurrent opener may win the
    commit (then the columns are there). A reader without write access still opens the store: reads
    treat the columns as null; only its writes would fail."""
    try:
        reopen().add_columns(fields)
    except (OSError, ValueError, RuntimeError) as exc:
        names = set(reopen().schema.names)
        if not all(f.name in names for f in fields):
            warnings.warn(
                f"{uri} predates columns {[f.name for f in fields]} and could not be migrated ({exc}); "
                "reads work, writes need it: open the cache once with write access",
                stacklevel=4,
            )


def read_inline_rows(ds: lance.LanceDataset, digests: list[str], copy: bool) -> dict[str, CachedMedia]:
    """digest -> sample for the digests that have a row, frames stored inline.

    Each digest is one indexed point read (``digest = '…'``), ``reads.READ_THREADS`` at a time (Lance
    releases the GIL); on the benchmark store 4 threads of point reads were 3x faster than one ``IN (…)``
    filter, because a filter read of inline frames materialises every matched value at once."""

    def read(digest: str) -> list[dict[str, Any]]:
        return table_rows(ds.to_table(filter=f"digest = '{digest}'"))

    return {row["digest"]: row_to_media(row, copy=copy) for rows in threaded(read, digests) for row in rows}


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Row dicts with ``frames`` as a zero-copy slice of the column's data buffer (``Scalar.as_buffer``
    copies: 24 ms for 47 MB)."""
    rows = table.drop_columns(["frames"]).to_pylist()
    frames = [value for chunk in table.column("frames").chunks for value in _binary_values(chunk)]
    for row, value in zip(rows, frames, strict=True):
        row["frames"] = value
    return rows


def _binary_values(chunk: pa.Array) -> list[pa.Buffer]:
    """The values of a (large_)binary array as slices of its data buffer, without copying."""
    _, offsets, data = chunk.buffers()
    dtype = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
    ends = np.frombuffer(offsets, dtype)[chunk.offset : chunk.offset + len(chunk) + 1]
    if data is None:  # every value empty
        return [pa.py_buffer(b"") for _ in range(len(chunk))]
    return [data.slice(int(a), int(b - a)) for a, b in pairwise(ends)]
