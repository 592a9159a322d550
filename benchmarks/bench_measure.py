"""Measurement helpers of the cache benchmark: timing medians, process-tree peak RSS, the ratio report.

Every ratio is computed from two numbers measured in the same run on the same machine, so a slow or loaded
machine moves both sides; the load average is recorded with each result because on a shared 2-core machine
the parallel-build ratio still depends on it.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import psutil


def loadavg() -> list[float]:
    """1, 5 and 15 minute load averages (rounded)."""
    return [round(x, 2) for x in os.getloadavg()]


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time in seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def tree_rss(proc: psutil.Process) -> int:
    """RSS of ``proc`` plus all its descendants, in bytes (shared pages are counted once per process)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            pass
    return total


class PeakRSS:
    """Samples ``tree_rss(pid)`` every ``interval`` seconds in a thread; ``peak`` is the highest sample."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.proc, self.interval = psutil.Process(pid), interval
        self.peak, self.samples = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, tree_rss(self.proc))
                self.samples += 1
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    """One ratio. ``op`` is ``>=`` (ratio must reach ``target``), ``~`` (within ``tolerance`` of it) or
    ``info`` (no target)."""

    name: str
    ratio: float
    target: float | None
    op: str
    detail: str
    raw: dict[str, Any] = field(default_factory=dict)
    load: list[float] = field(default_factory=loadavg)
    tolerance: float = 0.25

    @property
    def passed(self) -> bool | None:
        if self.op == ">=":
            return self.ratio >= self.target
        if self.op == "~":
            return abs(self.ratio - self.target) <= self.tolerance
        return None

    def target_text(self) -> str:
        if self.op == ">=":
            return f"target ≥ {self.target:g}×"
        if self.op == "~":
            return f"target ≈ {self.target:g}×, ±{self.tolerance:g}"
        return "info, no target"

    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]

    def line(self) -> str:
        return f"{self.name}: {self.ratio:.2f}× ({self.target_text()}) {self.verdict()} | {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


class Report:
    """Collects results, printing each as it is measured, and renders the final table."""

    def __init__(self, echo: Callable[[str], None] = print):
        self.results: list[Result] = []
        self.notes: list[str] = []
        self.echo = echo

    def add(self, result: Result) -> Result:
        self.results.append(result)
        self.echo(result.line())
        return result

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.echo(f"note: {text}")

    def table(self) -> str:
        rows = [("name", "ratio", "target", "result", "load 1m")]
        rows += [
            (r.name, f"{r.ratio:.2f}×", r.target_text(), r.verdict(), f"{r.load[0]:.2f}")
            for r in self.results
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"
