"""Creating and upgrading the Lance tables of a ``MediaCache``: create if absent (tolerating a concurrent
creator), declare the primary key on stores that predate it, add nullable columns added since (metadata-only
migrations). Everything else about the tables lives in ``schema``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import lance
import pyarrow as pa

if TYPE_CHECKING:
    from .store import MediaCache


def ensure_table(
    cache: MediaCache,
    uri: str,
    schema: pa.Schema,
    index: bool = False,
    migrate: Sequence[str] = (),
    file_format: str | None = None,
) -> None:
    """Open the Lance table at ``uri``, creating it empty (``schema``, ``file_format``, a BTREE index on
    digest when ``index``) if absent; declare digest the primary key on stores that predate it; add the
    ``migrate`` columns an older store lacks; any other missing column is an error asking for a rebuild."""
    try:
        ds = cache._open(uri)
    except ValueError:  # not found: create it empty, tolerating a concurrent creator
        try:
            ds = lance.write_dataset(
                schema.empty_table(),
                uri,
                schema=schema,
                mode="create",
                storage_options=cache.storage_options,
                data_storage_version=file_format,
            )
            if index:
                ds.create_scalar_index("digest", index_type="BTREE")
        except OSError:
            ds = cache._open(uri)
    _mark_primary_key(ds, schema)
    missing = set(schema.names) - set(ds.schema.names)
    if missing and missing <= set(migrate):
        _add_null_columns(cache, uri, [schema.field(n) for n in schema.names if n in missing])
        return
    if missing:
        raise ValueError(
            f"{uri} lacks columns {sorted(missing)}: it was written by an older cache_store; "
            "point MediaCache at a new root (or delete this one) and rebuild"
        )


def _mark_primary_key(ds: lance.LanceDataset, schema: pa.Schema) -> None:
    """Stores created before ``digest`` was declared the primary key get the declaration once."""
    if "digest" not in schema.names or not schema.field("digest").metadata:
        return
    if ds.schema.field("digest").metadata:
        return
    try:
        ds.update_field_metadata(
            {"digest": {k.decode(): v.decode() for k, v in schema.field("digest").metadata.items()}}
        )
    except (OSError, ValueError, RuntimeError) as exc:
        warnings.warn(f"{ds.uri}: could not declare digest the primary key ({exc})", stacklevel=3)


def _add_null_columns(cache: MediaCache, uri: str, fields: list[pa.Field]) -> None:
    """Schema migration: append all-null ``fields`` (metadata only). A concurrent opener may win the
    commit (then the columns are there). A reader without write access still opens the store: reads
    treat the columns as null; only its writes would fail."""
    try:
        cache._open(uri).add_columns(fields)
    except (OSError, ValueError, RuntimeError) as exc:
        names = set(cache._open(uri).schema.names)
        if not all(f.name in names for f in fields):
            warnings.warn(
                f"{uri} predates columns {[f.name for f in fields]} and could not be migrated ({exc}); "
                "reads work, writes need it: open the cache once with write access",
                stacklevel=3,
            )
