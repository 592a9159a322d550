"""Maintenance of a ``MediaCache``: which rows are stale, invalidating rows, compacting the tables.

* **stale**: a row is stale when ``lookup`` would refuse it now: its source is gone (``source_missing``),
  cannot be read (``source_unreadable``) or checked (``source_unverifiable``: a remote URI has no
  fingerprint yet), its ``(size, mtime_ns)`` changed (``source_changed``), or, when a spec is given, a
  validity field differs from that spec (``spec_mismatch``). Key fields are not compared: a row under
  other key fields is another key, not a stale one.
* **invalidate**: delete every row that matches *all* given selectors (sources, digests, ``where``
  field values), in one Lance delete (one new entries version), and append a lineage row of kind
  ``"invalidate"`` listing the removed digests. A later build simply re-adds them. Failures are kept.
* **compact**: ``optimize.compact_files()`` merges small fragments and drops deleted rows; then every
  version but the newest ``keep_versions``, the newest entries version a lineage row names (a reader
  pinned to the last build keeps working) and tagged versions is cleaned up with its unreferenced files.
  Run it when no build is writing (Lance would retry a conflicting commit, but a slow build's files
  are only safe from cleanup for 7 days).
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .keys import MediaSpec, canonical_source, is_digest, source_fingerprint
from .reads import in_filter

if TYPE_CHECKING:
    import lance

    from .storage import Storage

KEY_FIELDS = ("fps", "max_frames", "max_pixels")
VALIDITY_FIELDS = ("min_pixels", "min_frames", "total_pixels", "factor", "preprocess_version")
ROW_COLUMNS = ["digest", "source", "kind", *KEY_FIELDS, *VALIDITY_FIELDS]
CHECK_COLUMNS = [*ROW_COLUMNS, "source_size", "source_mtime_ns", "source_sha256", "build_id"]
# ``where`` fields of ``invalidate`` and the type each value is coerced to (None allowed for total_pixels).
WHERE_TYPES: dict[str, type] = {
    "kind": str,
    "fps": float,
    "max_frames": int,
    "max_pixels": int,
    "min_pixels": int,
    "min_frames": int,
    "total_pixels": int,
    "factor": int,
    "preprocess_version": str,
}


def _when(ns: int | None) -> str:
    return "?" if ns is None else datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


def check_row(
    row: dict[str, Any],
    spec: MediaSpec | None = None,
    fingerprints: dict[str, Any] | None = None,
    content_hash: bool = False,
) -> tuple[list[str], list[str]]:
    """``(reason codes, human details)`` why ``row`` is stale now; both empty when it is servable.

    ``fingerprints`` caches one fingerprint per source across rows (value: the fingerprint or the
    exception); ``content_hash`` hashes the source and compares hashes where the row has one.
    """
    source = row["source"]
    cache = fingerprints if fingerprints is not None else {}
    if source not in cache:
        try:
            cache[source] = source_fingerprint(source, content_hash)
        except (OSError, NotImplementedError) as exc:
            cache[source] = exc
    now = cache[source]
    codes, details = [], []
    if isinstance(now, FileNotFoundError):
        codes.append("source_missing")
        details.append(f"{source} no longer exists")
    elif isinstance(now, NotImplementedError):
        codes.append("source_unverifiable")
        details.append(f"{source}: remote sources have no fingerprint yet, so lookup never serves this row")
    elif isinstance(now, OSError):
        codes.append("source_unreadable")
        details.append(f"{source}: {now}")
    elif not now.matches(row["source_size"], row["source_mtime_ns"], row.get("source_sha256")):
        changes = []
        if now.size != row["source_size"]:
            changes.append(f"size {row['source_size']} -> {now.size} bytes")
        if now.sha256 is not None and row.get("source_sha256"):
            if now.sha256 != row["source_sha256"]:
                changes.append(f"sha256 {row['source_sha256'][:12]}… -> {now.sha256[:12]}…")
        elif now.mtime_ns != row["source_mtime_ns"]:
            changes.append(f"mtime {_when(row['source_mtime_ns'])} -> {_when(now.mtime_ns)}")
        codes.append("source_changed")
        details.append(f"{source} changed since it was cached: {', '.join(changes)}")
    if spec is not None and row["kind"] in ("video", "image"):
        expected = spec.validity(row["kind"])
        diffs = [f"{k} {row[k]!r} (spec {v!r})" for k, v in expected.items() if row[k] != v]
        if diffs:
            codes.append("spec_mismatch")
            details.append("validity fields differ from the spec: " + ", ".join(diffs))
    return codes, details


def stale(storage: Storage, spec: MediaSpec | None = None) -> list[dict[str, Any]]:
    """Every stale row (see module docstring) as ``{digest, source, kind, fps, max_frames, max_pixels,
    build_id, reasons, detail}``, sorted by source then digest. Reads no frame bytes; one ``stat`` per
    distinct source."""
    ds = storage.entries()
    fingerprints: dict[str, Any] = {}
    out = []
    for batch in ds.to_batches(columns=CHECK_COLUMNS):
        for row in batch.to_pylist():
            codes, details = check_row(row, spec, fingerprints, storage.content_hash)
            if codes:
                keep = ("digest", "source", "kind", *KEY_FIELDS, "build_id")
                out.append({**{k: row[k] for k in keep}, "reasons": codes, "detail": "; ".join(details)})
    return sorted(out, key=lambda r: (r["source"], r["digest"]))


@dataclass
class InvalidateReport:
    """Outcome of ``invalidate``. ``digests``/``sources``: what matched (and was removed unless
    ``dry_run``); ``unmatched_*``: selectors that matched no row; ``version``: entries version after."""

    invalidation_id: str
    removed: int
    digests: list[str]
    sources: list[str]
    unmatched_sources: list[str]
    unmatched_digests: list[str]
    version_before: int
    version: int
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sql_literal(value: Any) -> str:
    """A Lance/DataFusion SQL literal: strings single-quoted with quotes doubled, numbers by repr."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the column's type; refuses lossy or odd values (``2.5`` frames, ``True``, ``nan``)."""
    kind = WHERE_TYPES[name]
    try:
        if isinstance(value, bool) or (kind is not str and isinstance(value, str) and not value.strip()):
            raise ValueError
        typed = kind(value)
        if kind is int and isinstance(value, float) and typed != value:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"invalidate: where[{name!r}]={value!r} is not {kind.__name__} valued") from None
    if isinstance(typed, float) and not math.isfinite(typed):
        raise ValueError(f"invalidate: where[{name!r}] must be finite, got {value!r}")
    return typed


def _where_clauses(where: dict[str, Any]) -> list[str]:
    clauses = []
    for name, value in where.items():
        if name not in WHERE_TYPES:
            raise ValueError(
                f"invalidate: cannot select on {name!r}; use sources, digests or where keys from "
                f"{sorted(WHERE_TYPES)}"
            )
        if value is None:
            if name != "total_pixels":
                raise ValueError(f"invalidate: where[{name!r}] must not be None (only total_pixels may be)")
            clauses.append(f"{name} IS NULL")
            continue
        clauses.append(f"{name} = {sql_literal(_coerce(name, value))}")
    return clauses


def _selection_filter(sources: list[str], digests: list[str], where: dict[str, Any]) -> str:
    """The Lance filter matching every given selector; ValueError for none or a malformed one."""
    if not (sources or digests or where):
        raise ValueError(
            "invalidate needs at least one selector: sources, digests or where (e.g. {'fps': 2.0}); "
            "to drop the whole cache, delete its root folder"
        )
    bad = [d for d in digests if not is_digest(d)]
    if bad:
        raise ValueError(f"invalidate: {bad[:5]} are not cache digests (16 lowercase hex digits)")
    clauses = _where_clauses(where)
    if sources:
        clauses.append("source IN (" + ",".join(sql_literal(s) for s in dict.fromkeys(sources)) + ")")
    if digests:
        clauses.append(in_filter(digests))
    return " AND ".join(clauses)


def _invalidation_row(report: InvalidateReport, detail_json: str, seconds: float) -> dict[str, Any]:
    """The lineage row of an invalidation that removed ``report.digests``."""
    return {
        "build_id": report.invalidation_id,
        "kind": "invalidate",
        "time": datetime.now(UTC),
        "entries_version": report.version,
        "spec_json": None,
        "sources": len(report.sources),
        "hits": 0,
        "added": 0,
        "replaced": 0,
        "failed": 0,
        "removed": report.removed,
        "seconds": seconds,
        "keys_added": [],
        "keys_replaced": [],
        "keys_removed": report.digests,
        "keys_failed": [],
        "detail_json": detail_json,
    }


def invalidate(
    storage: Storage,
    sources: Sequence[str | os.PathLike] | None = None,
    digests: Sequence[str] | None = None,
    where: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> InvalidateReport:
    """Delete the entries rows matching every given selector (see module docstring).

    ``sources`` are canonicalised like build inputs (``clip.mp4`` == its absolute path); ``where`` maps
    fields in ``WHERE_TYPES`` to values (e.g. ``{"fps": 2, "max_frames": 16}``). With nothing matched,
    or ``dry_run``, nothing is written. Raises ValueError for no selector or a malformed one.
    """
    sources = [canonical_source(s) for s in sources or []]
    digests = list(dict.fromkeys(digests or []))
    where = dict(where or {})
    selection = _selection_filter(sources, digests, where)
    started = time.monotonic()
    ds = storage.entries()
    matched = ds.to_table(columns=["digest", "source"], filter=selection).to_pylist()
    hit_digests = sorted({r["digest"] for r in matched})
    hit_sources = sorted({r["source"] for r in matched})
    report = InvalidateReport(
        invalidation_id=uuid.uuid4().hex[:16],
        removed=0,
        digests=hit_digests,
        sources=hit_sources,
        unmatched_sources=sorted(set(sources) - set(hit_sources)),
        unmatched_digests=sorted(set(digests) - set(hit_digests)),
        version_before=int(ds.version),
        version=int(ds.version),
        dry_run=dry_run,
    )
    if dry_run or not hit_digests:
        return report
    ds.delete(in_filter(hit_digests))  # one statement: one version, atomic
    ds = storage.entries()
    report.removed = len(hit_digests) - len(storage.present(hit_digests))
    report.version = int(ds.version)
    detail = json.dumps({"sources": sources, "digests": digests, "where": where}, sort_keys=True)
    storage.append_lineage(_invalidation_row(report, detail, time.monotonic() - started))
    return report


@dataclass
class TableCompaction:
    """One table before and after ``compact``. Bytes are every file under the table (all versions)."""

    table: str
    fragments_before: int
    fragments_after: int
    versions_before: int
    versions_after: int
    bytes_before: int | None
    bytes_after: int | None
    versions_removed: list[int] = field(default_factory=list)


@dataclass
class CompactReport:
    """Outcome of ``compact``; ``protected_version``: the newest entries version a lineage row names."""

    keep_versions: int
    protected_version: int | None
    tables: list[TableCompaction]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _disk_bytes(uri: str) -> int | None:
    """Total size of the files under ``uri`` (pyarrow filesystems: local, file://, s3://, gs://, …)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except (OSError, ValueError, pa.ArrowException):  # unknown scheme, no credentials: report no size
        return None
    return sum(i.size for i in infos if i.type == pafs.FileType.File)


def _state(ds: lance.LanceDataset) -> tuple[int, list[int]]:
    return len(ds.get_fragments()), [int(v["version"]) for v in ds.versions()]


def compact(storage: Storage, keep_versions: int = 1) -> CompactReport:
    """Compact and clean up entries, failures and lineage (see module docstring); data is unchanged."""
    if isinstance(keep_versions, bool) or not isinstance(keep_versions, int) or keep_versions < 1:
        raise ValueError(f"compact: keep_versions must be an int >= 1, got {keep_versions!r}")
    # Versions only grow, so the newest version a lineage row names is the latest event's, even when a
    # long build that started first committed last.
    named = [r["entries_version"] for r in storage.lineage() if r["entries_version"] is not None]
    protected = max(named) if named else None
    report = CompactReport(keep_versions=keep_versions, protected_version=protected, tables=[])
    for name, uri in (
        ("entries", storage.entries_uri),
        ("failures", storage.failures_uri),
        ("lineage", storage.lineage_uri),
    ):
        ds = storage.open(uri)
        fragments, versions = _state(ds)
        entry = TableCompaction(name, fragments, 0, len(versions), 0, _disk_bytes(uri), None)
        metrics = ds.optimize.compact_files()
        if name == "entries" and metrics.fragments_removed:
            storage.refresh_index()  # fold the rewritten fragments into the digest index
        ds = storage.open(uri)
        _, versions = _state(ds)
        keep = set(versions[-keep_versions:]) | {int(t["version"]) for t in ds.tags.list().values()}
        if name == "entries" and protected is not None:
            keep.add(int(protected))
        entry.versions_removed = [v for v in versions if v not in keep]
        if entry.versions_removed:
            ds.cleanup_old_versions(versions=entry.versions_removed)
        entry.fragments_after, after = _state(storage.open(uri))
        entry.versions_after, entry.bytes_after = len(after), _disk_bytes(uri)
        report.tables.append(entry)
    return report
