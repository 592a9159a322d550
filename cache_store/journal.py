"""Which digests a running ``MediaCache.build`` wrote: gathered for its lineage row.

``build.run_build`` writes through ``storage.Storage`` (``upsert_entries``, ``delete_entries``,
``record_failures``) and ends with ``append_lineage``; those writes note each digest in the journal of the
build that is running, so the lineage row can list the keys it added, replaced, removed and failed
without ``run_build`` having to pass them (keys lists passed explicitly win).

Which build is "running": the one the calling thread started; from a helper thread (a background
writer), the only build running on that ``MediaCache``; none when several are and the thread started
none of them (their lineage rows then miss those keys, never attribute them to the wrong build).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("added", "replaced", "removed", "failed")


@dataclass
class Journal:
    """Digests one build wrote, per action (``list.append`` is atomic, so helper threads may add)."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def key_lists(self) -> dict[str, list[str]]:
        """``{"keys_added": sorted unique digests, …}`` for the lineage row."""
        return {f"keys_{a}": sorted(set(getattr(self, a))) for a in ACTIONS}


class Journals:
    """The journals of the builds running on one ``MediaCache``; picklable (pickles as empty)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._active: list[Journal] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()

    @contextmanager
    def recording(self) -> Iterator[Journal]:
        """Make a fresh journal current for this thread (and visible to helper threads) while in use."""
        journal = self._local.journal = Journal()
        with self._lock:
            self._active.append(journal)
        try:
            yield journal
        finally:
            self._local.journal = None
            with self._lock:
                self._active.remove(journal)

    def current(self) -> Journal | None:
        """This thread's build journal, else the only one running, else None."""
        mine = getattr(self._local, "journal", None)
        if mine is not None:
            return mine
        with self._lock:
            return self._active[0] if len(self._active) == 1 else None
