"""Periodic progress lines (done/total, rate, ETA) through the Dagster logger."""

import time


class Progress:
    def __init__(self, log, label: str, total: int, every_s: float = 5.0):
        self.log, self.label, self.total, self.every_s = log, label, max(total, 1), every_s
        self.t0 = self.last = time.perf_counter()

    def __call__(self, done: int, *_ignored) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        self.log.info(f"{self.label}: {done}/{self.total} ({rate:.2f}/s, ETA {eta:.0f}s)")
