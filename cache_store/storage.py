"""The bottom of ``cache_store``: the three Lance tables under one root and every read and write of them.

Layout (each a Lance dataset, every write a new version)::

    <root>/entries.lance   one row per cache key (ENTRIES_SCHEMA), BTREE index on digest
    <root>/failures.lance  the current failure of every key that does not build (FAILURES_SCHEMA)
    <root>/lineage.lance   one row per build or invalidation: entries version after it, spec, counts and
                           the digests it added/replaced/removed/failed (LINEAGE_SCHEMA)

``Storage`` is what ``build``, ``admin``, ``describe``, ``state`` and ``conflicts`` take, and what
``store.MediaCache`` composes: open a table, which digests are present, their validity columns, read
samples, upsert and delete entries, record failures, append lineage, refresh the digest index. Writes
note the digests they touch in the journal of the build that is running (``journal``), so a build's
lineage row lists them. Tables written by an older ``cache_store`` are upgraded or read by ``legacy``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import lance
import pyarrow as pa

from .blobs import is_blob_field
from .conflicts import is_conflict, retry
from .journal import Journal, Journals
from .keys import is_digest, is_uri, local_path
from .legacy import (
    ENTRIES_MIGRATION,
    ENTRIES_SCHEMA_INLINE,
    LINEAGE_MIGRATION,
    needs_upgrade,
    read_inline_rows,
)
from .legacy import upgrade as upgrade_table
from .reads import chunks, in_filter, read_blob_rows, select_rows
from .schema import (
    ENTRIES_FILE_FORMAT,
    ENTRIES_SCHEMA,
    FAILURES_SCHEMA,
    LINEAGE_SCHEMA,
    VALIDITY_COLUMNS,
)
from .types import CachedMedia


class Storage:
    """The Lance tables of one cache root (see the module docstring).

    ``root``: a local directory (created) or a URI Lance opens with ``storage_options``. ``content_hash``:
    whether this store records and compares a SHA-256 of each source (``MediaCache``). Picklable (Ray tasks
    and actors pickle a ``MediaCache``): the copy starts a fresh Lance session and no running journals.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        storage_options: dict[str, str] | None = None,
        content_hash: bool = False,
    ):
        root = os.fspath(root)
        self.root = root.rstrip("/") if is_uri(root) else os.path.abspath(os.path.expanduser(root))
        if not is_uri(self.root):
            os.makedirs(self.root, exist_ok=True)
        self.storage_options = storage_options
        self.content_hash = content_hash
        self.journals = Journals()  # digests each running build writes, for its lineage row
        # One Lance session (metadata and index caches) for every open of these tables: a fresh open of the
        # latest version then costs ~0.3 ms instead of re-reading fragment metadata and the digest index
        # (measured on the benchmark store: a get of 47 MB took 28 ms with it, 92 ms without).
        self.session = lance.Session()
        self._ensure(
            self.entries_uri, ENTRIES_SCHEMA, ENTRIES_MIGRATION, index=True, file_format=ENTRIES_FILE_FORMAT
        )
        self.frames_blob = is_blob_field(self.open(self.entries_uri))  # False for pre-blob stores (legacy)
        self._ensure(self.failures_uri, FAILURES_SCHEMA)
        self._ensure(self.lineage_uri, LINEAGE_SCHEMA, LINEAGE_MIGRATION)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["session"]  # not picklable; a cache, so the copy starts a fresh one
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.session = lance.Session()

    # -- tables ---------------------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        """URI of the table file ``name`` under the root."""
        return f"{self.root}/{name}" if is_uri(self.root) else os.path.join(self.root, name)

    @property
    def entries_uri(self) -> str:
        return self.uri("entries.lance")

    @property
    def failures_uri(self) -> str:
        return self.uri("failures.lance")

    @property
    def lineage_uri(self) -> str:
        return self.uri("lineage.lance")

    def open(self, uri: str) -> lance.LanceDataset:
        """The latest version of the table at ``uri``, through this store's session."""
        return lance.dataset(uri, storage_options=self.storage_options, session=self.session)

    def entries(self) -> lance.LanceDataset:
        return self.open(self.entries_uri)

    def _ensure(
        self,
        uri: str,
        schema: pa.Schema,
        migrate: Sequence[str] = (),
        index: bool = False,
        file_format: str | None = None,
    ) -> None:
        """Open the table at ``uri``, creating it empty (``schema``, ``file_format``, a BTREE index on digest
        when ``index``) if absent, tolerating a concurrent creator; a table an older cache_store wrote is
        upgraded by ``legacy.upgrade`` (``migrate``: the columns it may add)."""
        try:
            ds = self.open(uri)
        except ValueError:  # not found: create it empty, tolerating a concurrent creator
            try:
                ds = lance.write_dataset(
                    schema.empty_table(),
                    uri,
                    schema=schema,
                    mode="create",
                    storage_options=self.storage_options,
                    data_storage_version=file_format,
                )
                if index:
                    ds.create_scalar_index("digest", index_type="BTREE")
            except OSError:
                ds = self.open(uri)
        if needs_upgrade(ds, schema):
            upgrade_table(ds, schema, migrate, lambda: self.open(uri))

    # -- reads ----------------------------------------------------------------------------------------
    def present(self, digests: Sequence[str]) -> set[str]:
        """The digests among ``digests`` that have an entries row (digest column only, through the index)."""
        ds = self.entries()
        out: set[str] = set()
        for chunk in chunks(list(digests)):
            out.update(ds.to_table(columns=["digest"], filter=in_filter(chunk)).column("digest").to_pylist())
        return out

    def validity_rows(self, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
        """digest -> validity columns for the digests that have a row (no frame bytes read)."""
        return select_rows(self.entries(), digests, VALIDITY_COLUMNS)

    def read(self, digests: Iterable[str], copy: bool) -> dict[str, CachedMedia]:
        """digest -> sample for the well-formed digests that have a row (``MediaCache.get_many``)."""
        good = [d for d in dict.fromkeys(digests) if is_digest(d)]
        ds = self.entries()
        if self.frames_blob:
            return read_blob_rows(ds, good, copy, local_path(self.entries_uri))
        return read_inline_rows(ds, good, copy)

    def failures(self) -> list[dict[str, Any]]:
        """Every row of the failures table."""
        return self.open(self.failures_uri).to_table().to_pylist()

    def lineage(self) -> list[dict[str, Any]]:
        """One row per build or invalidation, oldest first (see ``MediaCache.lineage``)."""
        rows = sorted(self.open(self.lineage_uri).to_table().to_pylist(), key=lambda r: r["time"])
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
        return int(self.entries().version)

    # -- writes ---------------------------------------------------------------------------------------
    def upsert(self, uri: str, table: pa.Table) -> None:
        """Insert or replace rows by digest in the table at ``uri`` (one ``merge_insert``, one version)."""
        ds = self.open(uri)
        ds.merge_insert("digest").when_matched_update_all().when_not_matched_insert_all().execute(table)

    def upsert_entries(self, rows: list[dict[str, Any]], journal: Journal | None = None) -> None:
        """Upsert entries rows in one ``merge_insert`` (retried on a commit conflict), then fold the new
        fragment into the digest index at once: ``merge_insert`` joins new rows against unindexed fragments
        by reading them whole, so without the refresh the n-th write of a build took ~30 ms x n (measured:
        15 ms for the 1st, 331 ms for the 11th 15 MB row; with it, ~43 ms each).
        ``journal``: the build's journal when called from its background writer thread."""
        journal = journal or self.journals.current()
        present = self.present([r["digest"] for r in rows]) if journal is not None else set()
        table = pa.Table.from_pylist(
            rows, schema=ENTRIES_SCHEMA if self.frames_blob else ENTRIES_SCHEMA_INLINE
        )
        retry(lambda: self.upsert(self.entries_uri, table))
        self.try_refresh_index()
        if journal is not None:
            for row in rows:
                (journal.replaced if row["digest"] in present else journal.added).append(row["digest"])

    def delete(self, uri: str, digests: Sequence[str]) -> int:
        """Delete the rows of ``digests`` from the table at ``uri``; returns how many Lance deleted."""
        ds = self.open(uri)
        removed = 0
        for chunk in chunks(list(digests)):
            # the count Lance reports, not rows-before minus rows-after (another builder may write between)
            removed += int(ds.delete(in_filter(chunk))["num_deleted_rows"])
        return removed

    def delete_entries(self, digests: Sequence[str]) -> int:
        """Delete entries rows, noting the ones that were there in the running build's journal."""
        if not digests:
            return 0
        journal = self.journals.current()
        if journal is not None:
            journal.removed.extend(sorted(self.present(digests)))
        return self.delete(self.entries_uri, digests)

    def record_failures(self, rows: list[dict[str, Any]], resolved: Sequence[str]) -> None:
        """Upsert this build's failures; drop earlier failures of keys that now built or hit."""
        journal = self.journals.current()
        if journal is not None:
            journal.failed.extend(r["digest"] for r in rows)
        if rows:
            self.upsert(self.failures_uri, pa.Table.from_pylist(rows, schema=FAILURES_SCHEMA))
        known = set(self.open(self.failures_uri).to_table(columns=["digest"]).column("digest").to_pylist())
        fixed = sorted(known.intersection(resolved))
        if fixed:
            self.delete(self.failures_uri, fixed)

    def refresh_index(self) -> None:
        """Fold fragments written since the last refresh into the digest BTREE index."""
        self.entries().optimize.optimize_indices()

    def try_refresh_index(self) -> None:
        """``refresh_index``, skipped when another writer's commit wins (its refresh or the next covers it)."""
        try:
            self.refresh_index()
        except Exception as exc:
            if not is_conflict(exc):
                raise

    def append_lineage(self, row: dict[str, Any]) -> None:
        """Append one lineage row. A build's row gets ``kind`` "build" and, unless the caller passed them,
        the key lists its write hooks gathered (sorted)."""
        journal = self.journals.current() if row.get("kind", "build") == "build" else None
        row = {"kind": "build", **(journal.key_lists() if journal is not None else {}), **row}
        lance.write_dataset(
            pa.Table.from_pylist([row], schema=LINEAGE_SCHEMA),
            self.lineage_uri,
            mode="append",
            storage_options=self.storage_options,
        )
