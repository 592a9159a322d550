"""Concurrent writers on one Lance store: retry commit conflicts, remove doubled keys.

Measured with pylance 14.0.2 (two processes upserting into one dataset with ``merge_insert("digest")``):

* Two upserts that touch the same existing rows conflict; Lance retries the loser internally
  (``conflict_retries``, default 10) and raises ``OSError("Too many concurrent writers…")`` when that runs out.
  ``optimize_indices`` does not retry: it raises ``OSError("Retryable commit conflict… Please retry")``.
* Two upserts that both *insert* the same new key do **not** conflict unless the key column carries the
  field metadata ``lance-schema:unenforced-primary-key``: both commit and the key has two rows (12 of 16
  keys doubled when two builders ran the same sources; with the metadata, none in 11 runs). Every reader keyed
  by digest then sees two rows.

So a build retries each write on a commit conflict (``retry``) and, after its writes, deletes doubled keys
(``dedupe``). Both are safe to run from several builders at once: the writes are idempotent and every
deduper keeps the same row.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

import pyarrow.compute as pc

if TYPE_CHECKING:
    import lance

RETRIES = 8  # attempts per write (on top of Lance's own retries inside merge_insert and delete)
_MARKERS = ("commit conflict", "concurrent writers", "concurrent transaction", "please retry")
_HEX = re.compile(r"^[0-9a-f]+$")  # digests and build ids are hex: safe to quote in a filter
T = TypeVar("T")


class Opens(Protocol):
    """What ``dedupe`` needs of a store (``storage.Storage``, which imports this module)."""

    def open(self, uri: str) -> lance.LanceDataset: ...


def is_conflict(exc: BaseException) -> bool:
    """True for a Lance commit conflict (another writer committed first), which a retry resolves."""
    return isinstance(exc, (OSError, RuntimeError, ValueError)) and any(
        marker in str(exc).lower() for marker in _MARKERS
    )


def retry(action: Callable[[], T], retries: int = RETRIES, sleep: Callable[[float], None] = time.sleep) -> T:
    """``action()``, run again after a commit conflict with jittered exponential backoff (50 ms to ~2 s).

    Only for idempotent writes (upsert by key, delete by key, index refresh): running one again after a
    conflict, or after an error that hid a successful commit, must change nothing. Other errors propagate.
    """
    for attempt in range(retries):
        try:
            return action()
        except Exception as exc:
            if attempt == retries - 1 or not is_conflict(exc):
                raise
            sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise ValueError(f"retries must be >= 1, got {retries}")


def dedupe(storage: Opens, uri: str, time_column: str) -> int:
    """Delete all but one row of every digest with several rows in the table at ``uri``; returns how many.

    The row kept is the newest by (``time_column``, ``build_id``): every deduper picks the same one, so two
    builders deduping at once delete the same rows. Reads the digest column, then only doubled keys' rows.
    """
    digests = storage.open(uri).to_table(columns=["digest"])
    counts = digests.group_by("digest").aggregate([("digest", "count")])
    doubled = counts.filter(pc.greater(counts["digest_count"], 1))["digest"].to_pylist()
    deleted = 0
    for digest in filter(_HEX.match, doubled):
        rows = storage.open(uri).to_table(columns=["build_id", time_column], filter=f"digest = '{digest}'")
        stamps = [t.timestamp() if t is not None else float("-inf") for t in rows[time_column].to_pylist()]
        builds = sorted(zip(stamps, (b or "" for b in rows["build_id"].to_pylist())))
        keep = builds[-1][1]
        for build_id in sorted({b for _, b in builds if b != keep and _HEX.match(b)}):
            where = f"digest = '{digest}' AND build_id = '{build_id}'"
            deleted += retry(lambda w=where: storage.open(uri).delete(w))["num_deleted_rows"]
    return deleted
