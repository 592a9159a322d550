"""Per-phase wall time of one RL step, logged as ``timing_s/<phase>`` (verl / EasyR1's ``timing_s/*``).

``PhaseTimer`` accumulates named phases: ``with timer.phase("gen"): ...`` adds the block's wall time to
``gen`` (a phase entered twice in a step, e.g. by dynamic sampling's refills, sums). ``metrics()`` gives
``{"timing_s/<phase>": seconds}`` for every phase that ran, plus ``timing_s/step``, the wall time since the
timer started plus any time ``add``-ed from outside it (the data wait, measured before the step began).

The trainer's phases, in step order (``STEP_PHASES``): ``data_wait`` (waiting for the batch from the data
stream), ``weight_sync`` (a rollout engine with its own weights takes the policy's), ``gen`` (rollout
generation), ``reward`` (scoring), ``old_log_prob`` and ``ref`` (the current and reference policies'
log-probs, no gradients), ``adv`` (advantages), ``update_actor`` (the loss passes and optimizer steps),
``save_checkpoint``. Phases are disjoint: nesting one inside another counts the inner time twice, so the
trainer never nests them. Pure: the clock is injectable, nothing here does I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PREFIX = "timing_s/"
STEP_PHASES = (
    "data_wait",
    "weight_sync",
    "gen",
    "reward",
    "old_log_prob",
    "ref",
    "adv",
    "update_actor",
    "save_checkpoint",
)


class PhaseTimer:
    """Wall time per named phase of one step; see the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.start = clock()
        self.seconds: dict[str, float] = {}
        self.outside = 0.0  # time added that passed before ``start`` (the data wait)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = self.clock()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + (self.clock() - t0)

    def add(self, name: str, seconds: float, before_start: bool = False) -> None:
        """Add ``seconds`` to phase ``name``; ``before_start``: they passed before the timer started (the
        step's total includes them)."""
        if seconds < 0:
            raise ValueError(f"phase {name}: negative time {seconds}")
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if before_start:
            self.outside += seconds

    def metrics(self) -> dict[str, float]:
        """``timing_s/<phase>`` for each phase that ran, and ``timing_s/step`` (total wall time)."""
        out = {PREFIX + name: s for name, s in self.seconds.items()}
        out[PREFIX + "step"] = self.clock() - self.start + self.outside
        return out


def phase_shares(metrics: dict[str, float]) -> dict[str, float]:
    """Each ``timing_s/<phase>`` of one step as a share of ``timing_s/step`` (0 when the step took no time)."""
    total = metrics.get(PREFIX + "step", 0.0)
    return {
        k.removeprefix(PREFIX): (v / total if total > 0 else 0.0)
        for k, v in metrics.items()
        if k.startswith(PREFIX) and k != PREFIX + "step"
    }
