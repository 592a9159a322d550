"""A curve in one line of terminal text: ``▁▂▃▄▅▆▇█``, one character per point, scaled to the points' range."""

from __future__ import annotations

BARS = "▁▂▃▄▅▆▇█"


def moving_mean(values: list[float], window: int) -> list[float]:
    """The trailing mean over up to ``window`` points (fewer at the start), one value per point."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def sparkline(values: list[float], low: float | None = None, high: float | None = None) -> str:
    """One bar per value, ``▁`` at ``low`` and ``█`` at ``high`` (default: the values' min and max); a flat
    curve is all ``▄``; an empty one is empty."""
    if not values:
        return ""
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    if high <= low:
        return BARS[3] * len(values)
    top = len(BARS) - 1
    return "".join(BARS[max(0, min(top, round((v - low) / (high - low) * top)))] for v in values)
