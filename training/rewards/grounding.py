"""Temporal grounding (1D IoU of time spans) and spatial grounding (IoU of boxes).

Predictions are searched in ``tags.candidates`` order (``<answer>`` content, text after
``</think>``, whole response), first match in a text wins. JSON is read with a regex rather than
``json.loads`` so that code fences, single quotes or text around the object do not matter:

- temporal: ``{"time": [s, e]}``, else text ``"s to e seconds"``, ``"s - e"``, ``"between s and e"``;
- spatial: ``{"boxes": [x1, y1, x2, y2]}`` (also ``[[…]]``, and Qwen's ``bbox_2d``/``bbox`` keys).

Reversed bounds in a prediction are swapped, non-finite numbers are no prediction. Ground truths
use the same forms (or a bare ``[s, e]`` / ``[x1, y1, x2, y2]`` list) and must be well ordered with
positive extent, else ValueError.
"""

from __future__ import annotations

import math
import re

from . import tags
from .registry import register_scorer

_NUM = r"([-+]?(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][-+]?\d++)?)"
_SEP = r"\s*+,\s*+"
_TIME_JSON = re.compile(r"""["']?time["']?\s*+:\s*+\[\s*+""" + _NUM + _SEP + _NUM + r"\s*+\]")
_TIME_TEXT = re.compile(
    r"(?<![\w.])" + _NUM + r"\s*+(?:seconds|second|secs|sec|s\b)?\s*+(?:to|-|–|—|~|and|until)\s*+" + _NUM
)
_BOX_NUMBERS = r"\[\s*+\[?\s*+" + _NUM + _SEP + _NUM + _SEP + _NUM + _SEP + _NUM + r"\s*+\]?\s*+\]"
_BOX_JSON = re.compile(r"""["']?(?:boxes|bbox_2d|bbox)["']?\s*+:\s*+""" + _BOX_NUMBERS)
_BARE_PAIR = re.compile(r"\[\s*+" + _NUM + _SEP + _NUM + r"\s*+\]")
_BARE_BOX = re.compile(_BOX_NUMBERS)


def _floats(match: re.Match[str] | None) -> tuple[float, ...] | None:
    if match is None:
        return None
    try:
        values = tuple(float(v) for v in match.groups())
    except (ValueError, OverflowError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _first(patterns: tuple[re.Pattern[str], ...], response: str) -> tuple[float, ...] | None:
    for text in tags.candidates(response):
        for pattern in patterns:
            values = _floats(pattern.search(text))
            if values is not None:
                return values
    return None


def _ground_truth(ground_truth: str, patterns: tuple[re.Pattern[str], ...], what: str) -> tuple[float, ...]:
    text = tags.answer_content(ground_truth)
    text = ground_truth if text is None else text
    for pattern in patterns:
        values = _floats(pattern.search(text))
        if values is not None:
            return values
    raise ValueError(
        f"{what} ground truth {ground_truth!r} holds no finite {what} in a form this scorer reads"
    )


# ---------------------------------------------------------------------------------------- temporal


def extract_span(response: str) -> tuple[float, float] | None:
    """The predicted ``(start, end)`` in seconds with start <= end, or None."""
    values = _first((_TIME_JSON, _TIME_TEXT), response)
    return None if values is None else (min(values), max(values))


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """``|a ∩ b| / (max(ends) − min(starts))``: the union is the hull of both spans (EasyVideoR1,
    Charades-STA), so disjoint spans score 0 however far apart; a hull of length <= 1e-12 scores 0.

    >>> temporal_iou((0, 10), (5, 15)), temporal_iou((0, 2), (4, 6))
    (0.3333333333333333, 0.0)
    """
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    if not hull > 1e-12 or not math.isfinite(hull):
        return 0.0
    return min(1.0, inter / hull)


def parse_span_ground_truth(ground_truth: str) -> tuple[float, float]:
    start, end = _ground_truth(ground_truth, (_TIME_JSON, _BARE_PAIR, _TIME_TEXT), "time span")
    if not end > start:
        raise ValueError(f"time span ground truth {ground_truth!r} must have end > start")
    return start, end


def span_answer_is_valid(answer: str) -> bool:
    """Format check: the answer holds ``{"time": [s, e]}`` with two finite numbers."""
    return _floats(_TIME_JSON.search(answer)) is not None


@register_scorer("temporal grounding", aliases=("tvg", "moment retrieval"), answer_valid=span_answer_is_valid)
def temporal_grounding(response: str, ground_truth: str) -> float:
    """``temporal_iou`` of the predicted and true spans; 0 when no span is found.

    >>> temporal_grounding('<answer>{"time": [15, 5]}</answer>', '{"time": [0, 10]}')
    0.3333333333333333
    """
    truth = parse_span_ground_truth(ground_truth)
    span = extract_span(response)
    return 0.0 if span is None else temporal_iou(span, truth)


# ----------------------------------------------------------------------------------------- spatial

Box = tuple[float, float, float, float]


def extract_box(response: str) -> Box | None:
    """The predicted ``(x1, y1, x2, y2)`` with x1 <= x2 and y1 <= y2 (corners swapped if needed)."""
    values = _first((_BOX_JSON,), response)
    if values is None:
        return None
    x1, y1, x2, y2 = values
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def box_iou(a: Box, b: Box) -> float:
    """Area of intersection over area of union of two ordered boxes; 0 when the union is empty.

    >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    if not union > 0 or not math.isfinite(union):
        return 0.0
    return min(1.0, inter / union)


def parse_box_ground_truth(ground_truth: str) -> Box:
    x1, y1, x2, y2 = _ground_truth(ground_truth, (_BOX_JSON, _BARE_BOX), "box")
    if not (x2 > x1 and y2 > y1):
        raise ValueError(
            f"box ground truth {ground_truth!r} must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1"
        )
    return x1, y1, x2, y2


def box_answer_is_valid(answer: str) -> bool:
    """Format check: the answer holds ``{"boxes": [x1, y1, x2, y2]}`` with four finite numbers."""
    return _floats(_BOX_JSON.search(answer)) is not None


@register_scorer("spatial grounding", aliases=("visual grounding", "rec"), answer_valid=box_answer_is_valid)
def spatial_grounding(
    response: str,
    ground_truth: str,
    coords: str = "pixel",
    image_width: float | None = None,
    image_height: float | None = None,
) -> float:
    """``box_iou`` of the predicted and true boxes; 0 when no box is found.

    ``coords`` is the prediction's coordinate system: ``"pixel"`` (Qwen2/2.5-VL, the default) or
    ``"norm1000"`` (Qwen3-VL: 0-1000 relative to the image), which is mapped to pixels with
    ``x·image_width/1000`` and ``y·image_height/1000``. The ground truth is in pixels. (When both
    are in the same system no conversion is needed: IoU is unchanged by scaling both boxes.)

    >>> spatial_grounding('<answer>{"boxes": [0, 0, 500, 500]}</answer>', '[0, 0, 100, 50]',
    ...                   coords="norm1000", image_width=200, image_height=100)
    1.0
    """
    if coords not in ("pixel", "norm1000"):
        raise ValueError(f"spatial grounding coords must be 'pixel' or 'norm1000', got {coords!r}")
    if coords == "norm1000" and not all(
        isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (image_width, image_height)
    ):
        raise ValueError(
            "coords='norm1000' needs positive image_width and image_height, "
            f"got {image_width!r}, {image_height!r}"
        )
    truth = parse_box_ground_truth(ground_truth)
    box = extract_box(response)
    if box is None:
        return 0.0
    if coords == "norm1000":
        sx, sy = image_width / 1000.0, image_height / 1000.0
        box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    return box_iou(box, truth)
