"""Pure aggregate metrics of benchmark scoring: no I/O, stdlib only.

Every function returns a fraction in [0, 1] and ``None`` for an empty input, because "no scored sample"
is not the same as a score of 0 and NaN is not valid JSON.

One scale per result: every aggregate a benchmark reports (headline, breakdowns, rates such as the
extraction-failure rate) is a percentage in [0, 100], as the official scripts print them; adapters turn
these fractions into percent with ``percent``. Counts (``n``, ``excluded`` ...) stay counts, and per-sample
values keep their own scale (the reward library's [0, 1], VideoMathQA's 0-10 judge step score).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def percent(x: float | None) -> float | None:
    """A fraction as a percentage; ``None`` stays ``None``.

    >>> percent(0.25)
    25.0
    """
    return None if x is None else 100.0 * x


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean; ``None`` when empty.

    >>> mean([1.0, 0.0, 0.5])
    0.5
    """
    return sum(values) / len(values) if len(values) else None


def accuracy(correct: Sequence[float]) -> float | None:
    """Micro accuracy: mean of per-sample scores in [0, 1] (booleans count as 0/1).

    >>> accuracy([True, False, True, True])
    0.75
    """
    return mean([float(c) for c in correct])


def category_means(values: Sequence[float], categories: Sequence[str]) -> dict[str, float]:
    """Mean of ``values`` per category label, keys sorted. ``values[i]`` belongs to ``categories[i]``.

    >>> category_means([1, 0, 1], ["short", "long", "short"])
    {'long': 0.0, 'short': 1.0}
    """
    if len(values) != len(categories):
        raise ValueError(f"{len(values)} values but {len(categories)} category labels")
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for v, c in zip(values, categories):
        sums[c] = sums.get(c, 0.0) + float(v)
        counts[c] = counts.get(c, 0) + 1
    return {c: sums[c] / counts[c] for c in sorted(sums)}


def macro_mean(per_category: Mapping[str, float]) -> float | None:
    """Unweighted mean over categories (MVBench task mean, MLVU M-avg, VSI-Bench task mean).

    >>> macro_mean({"a": 1.0, "b": 0.5})
    0.75
    """
    return mean(list(per_category.values()))


def interval_iou(pred: Sequence[float], gt: Sequence[float]) -> float:
    """1-D IoU of two intervals ``(start, end)`` with start <= end, as in TimeChat/lmms-eval ``iou``.

    intersection = max(min(e1, e2) - max(s1, s2), 0); the denominator is the hull
    max(e1, e2) - min(s1, s2), which equals the union whenever the intervals overlap (and the
    intersection is 0 when they do not). A zero-length hull (two identical points) gives 0.0 instead of
    the official script's ZeroDivisionError.

    >>> interval_iou((2.0, 6.0), (4.0, 8.0))
    0.3333333333333333
    """
    s1, e1 = pred
    s2, e2 = gt
    hull = max(e1, e2) - min(s1, s2)
    if hull <= 0:
        return 0.0
    return max(min(e1, e2) - max(s1, s2), 0.0) / hull


def recall_at_iou(ious: Sequence[float], threshold: float) -> float | None:
    """R@1 IoU>=m: fraction of samples whose (single) prediction reaches IoU ``threshold`` (inclusive).

    >>> recall_at_iou([0.2, 0.5, 0.7, 0.9], 0.5)
    0.75
    """
    return mean([1.0 if iou >= threshold else 0.0 for iou in ious])


def mean_iou(ious: Sequence[float]) -> float | None:
    """mIoU: mean IoU over all samples, unparsed predictions included as 0.

    >>> mean_iou([0.0, 0.5, 1.0])
    0.5
    """
    return mean(ious)
