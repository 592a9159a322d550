"""The state of the entries a consumer depends on, as one fingerprint (a data version for Dagster).

A dataset built on the cache uses a fixed set of digests. What it would read now is decided per digest:
the row is present and servable, present but stale (its source changed or is gone: see ``admin``), or
missing (invalidated or never built). ``entries_state`` folds that, with each row's ``build_id``, into
one fingerprint, so:

* rebuilding or invalidating a row the set uses, or editing one of its sources, changes the fingerprint;
* work on other rows (another dataset's media, benchmark videos) and rebuilds that hit leave it alone.

Reads only the digest/validity columns and stats each distinct source once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .admin import CHECK_COLUMNS, check_row
from .reads import select_rows

if TYPE_CHECKING:
    from .keys import MediaSpec
    from .storage import Storage


@dataclass
class EntriesState:
    """``fingerprint``: 16 hex over (digest, build_id, status) of every digest asked for, sorted;
    ``version``: the entries table's Lance version when read; ``stale``: rows lookup would refuse
    (``{digest, source, reasons, detail}``); ``missing``: digests with no row."""

    fingerprint: str
    version: int
    digests: int
    present: int
    stale: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def servable(self) -> int:
        return self.present - len(self.stale)


def entries_state(storage: Storage, digests: Iterable[str], spec: MediaSpec | None = None) -> EntriesState:
    """Fingerprint and health of the rows ``digests`` name (see module docstring)."""
    wanted = sorted(set(digests))
    ds = storage.entries()
    rows = select_rows(ds, wanted, CHECK_COLUMNS)
    fingerprints: dict[str, Any] = {}
    h = hashlib.sha256()
    stale, missing = [], []
    for digest in wanted:
        row = rows.get(digest)
        if row is None:
            missing.append(digest)
            status = "missing"
        else:
            codes, details = check_row(row, spec, fingerprints, storage.content_hash)
            status = f"{row['build_id']}:{','.join(codes) or 'ok'}"
            if codes:
                stale.append(
                    {
                        "digest": digest,
                        "source": row["source"],
                        "reasons": codes,
                        "detail": "; ".join(details),
                    }
                )
        h.update(f"{digest}:{status}\n".encode())
    return EntriesState(
        fingerprint=h.hexdigest()[:16],
        version=int(ds.version),
        digests=len(wanted),
        present=len(rows),
        stale=stale,
        missing=missing,
    )
