"""Pass-rate filtering of training prompts, offline (before training) and online (DAPO).

Both keep the prompts the policy sometimes solves and sometimes does not: a group whose k
rollouts are all right or all wrong has zero GRPO advantage for every row (s_i = μ_G), so it
costs rollout time and contributes no gradient.

  - Offline (EasyVideoR1 paper): roll the base model k times per sample, keep ``0 < pass < 1``
    (``group_pass_rates`` + ``partial_success_mask`` / ``select_partial_success``).
  - Online (DAPO dynamic sampling, EasyR1 ``online_filtering``): keep groups with
    ``low < mean accuracy < high`` (strict), refill, retry (``groups.dynamic_sample``).

Both apply the one rule ``keep_group`` (defined here, the bottom of the two).

Filter on ``accuracy``, not on ``overall``. ``overall`` adds the format reward (and bonuses):
with a 0.1-weighted format reward an all-wrong but well-formatted group averages 0.1 and passes
``0.01 < mean < 0.99`` although its accuracy is 0 everywhere (EasyR1's default
``filter_key=overall`` has exactly this problem). For DAPO's ±1 accuracy use (acc+1)/2 or a
success threshold of 1.0.

Pure functions: python / numpy in, numpy / dicts out, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np


def _validated(ids: Sequence[Hashable], accuracies: Sequence[float]) -> list[float]:
    accs = [float(a) for a in accuracies]
    if len(ids) != len(accs):
        raise ValueError(f"got {len(ids)} ids but {len(accs)} accuracies; pass one accuracy per rollout")
    for row, (sid, acc) in enumerate(zip(ids, accs)):
        if not math.isfinite(acc):
            raise ValueError(
                f"rollout {row} of sample {sid!r} has accuracy {acc}; a failed reward must be retried or "
                "recorded, not passed on as a non-finite score"
            )
    return accs


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_bounds(low: float, high: float) -> tuple[float, float]:
    """``(low, high)`` as floats; a ``ValueError`` unless both are finite and ``low < high``."""
    low, high = _finite(low, "low"), _finite(high, "high")
    if low >= high:
        raise ValueError(f"low {low} must be < high {high} (need low < high): no group could be kept")
    return low, high


def keep_group(mean_acc: float, low: float = 0.0, high: float = 1.0) -> bool:
    """``low < mean_acc < high`` (both strict): the one keep rule of the offline pass-rate filter (``mean_acc``
    a pass rate) and of DAPO / EasyR1 dynamic sampling (a group's mean accuracy).

    >>> keep_group(0.75), keep_group(1.0), keep_group(0.25, low=0.25)
    (True, False, False)
    """
    low, high = check_bounds(low, high)
    return low < _finite(mean_acc, "mean_acc") < high


def group_pass_rates(
    ids: Sequence[Hashable],
    accuracies: Sequence[float],
    success_threshold: float = 1.0,
    expected_k: int | None = None,
) -> dict[Hashable, float]:
    """Pass rate per sample id: ``successes / k`` over that id's rollouts.

    A rollout is a success when ``accuracy >= success_threshold``: 1.0 for binary tasks
    (multiple choice, numbers), lower for graded ones (e.g. 0.5 for temporal IoU). ``ids`` and
    ``accuracies`` are per rollout (same length); k is the number of rollouts of that id. With
    ``expected_k``, an id with a different count raises ``ValueError`` naming it (a lost or
    duplicated rollout would silently change its rate). Ids keep first-seen order.

    >>> group_pass_rates(["a", "a", "b", "b"], [1.0, 0.0, 0.6, 0.2], success_threshold=0.5)
    {'a': 0.5, 'b': 0.5}
    """
    ids = list(ids)
    accs = _validated(ids, accuracies)
    successes: dict[Hashable, int] = {}
    counts: dict[Hashable, int] = {}
    for sid, acc in zip(ids, accs):
        counts[sid] = counts.get(sid, 0) + 1
        successes[sid] = successes.get(sid, 0) + (acc >= success_threshold)
    if expected_k is not None:
        wrong = {sid: n for sid, n in counts.items() if n != expected_k}
        if wrong:
            shown = ", ".join(f"{sid!r}: {n}" for sid, n in list(wrong.items())[:5])
            raise ValueError(
                f"expected {expected_k} rollouts per sample; got {shown} (total {len(wrong)} ids)"
            )
    return {sid: successes[sid] / counts[sid] for sid in counts}


def partial_success_mask(
    pass_rates: Sequence[float] | np.ndarray, low: float = 0.0, high: float = 1.0
) -> np.ndarray:
    """Boolean mask [N]: ``keep_group(p, low, high)`` (``low < p < high``, strict) for each pass rate p.

    The defaults keep exactly the partially solved samples (0 < p < 1).
    """
    check_bounds(low, high)
    rates = np.asarray(pass_rates, dtype=np.float64)
    return np.array([keep_group(float(p), low, high) for p in rates.ravel()], dtype=bool).reshape(rates.shape)


def select_partial_success(
    ids: Sequence[Hashable],
    accuracies: Sequence[float],
    success_threshold: float = 1.0,
    low: float = 0.0,
    high: float = 1.0,
    expected_k: int | None = None,
) -> list[Hashable]:
    """Ids (first-seen order) whose pass rate satisfies ``low < p < high``: the offline filter."""
    rates = group_pass_rates(ids, accuracies, success_threshold, expected_k)
    keep = partial_success_mask(list(rates.values()), low, high)
    return [sid for sid, kept in zip(rates, keep) if kept]
