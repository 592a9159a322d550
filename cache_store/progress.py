"""A ``progress(done, total)`` callback for ``MediaCache.build`` that prints rate and ETA lines.

``MediaCache.build`` calls ``progress`` once per unique key; printing every call would flood a terminal
on a large corpus, so lines are throttled to one per ``interval`` seconds, and the last item always prints.
The rate counts every finished key (hits too), so the ETA is the time left at the rate seen so far.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def duration(seconds: float) -> str:
    """``3725.4`` -> ``"1h02m05s"``, ``65`` -> ``"1m05s"``, ``4`` -> ``"4s"``."""
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Prints ``[label] done/total (pct)  rate items/s  elapsed E  ETA T`` to ``stream`` (stderr)."""

    def __init__(
        self,
        label: str = "cache build",
        stream: TextIO | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.stream, self.interval, self.clock = label, stream, interval, clock
        self.start = clock()
        self.last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done < total and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        eta = duration((total - done) / rate) if rate > 0 else "?"
        pct = 100.0 * done / total if total else 100.0
        print(
            f"[{self.label}] {done}/{total} ({pct:.1f}%)  {rate:.2f} items/s  "
            f"elapsed {duration(elapsed)}  ETA {eta}",
            file=self.stream or sys.stderr,
            flush=True,
        )
