"""Spatial-temporal video grounding (STVG) and object tracking: per-frame boxes keyed by frame time.

Answer schema (EasyVideoR1)::

    spatial-temporal grounding: {"time": [s, e], "boxes": {"<t>": [x1, y1, x2, y2], ...}}
    tracking:                   {"boxes": {"<t>": [x1, y1, x2, y2], ...}}

Frame keys are frame times; EasyVideoR1 writes integer seconds as strings. Keys are matched by
numeric value, so ``"3"``, ``"3.0"`` and ``" 3 "`` are one frame, while ``"2.5"`` is its own
frame; a key that is not a finite number is no frame.

Scores (``temporal_iou`` and ``box_iou`` from ``grounding``; ``K`` = frames in both answers)::

    stvg     = 0.5·tIoU + 0.5·mean_{t ∈ K} IoU(p_t, g_t)      (box part 0 when K is empty)
             = tIoU                                           when the ground truth has no boxes
    tracking = mean_{t ∈ G} IoU(p_t, g_t), a frame the prediction lacks scoring 0   (default)
             = mean_{t ∈ K} IoU(p_t, g_t)                     with frames="common" (EasyVideoR1)

Why tracking's default differs from EasyVideoR1: averaging over common frames only lets a model
that boxes one easy frame and skips the rest score 1; averaging over the ground truth's frames
makes every skipped frame cost its share.

Reading an answer: the texts of ``tags.candidates`` are scanned for ``{``; at each, the JSON
decoder (``raw_decode``) tries to read a value, and the first object in it (nested ones included)
holding a schema key wins. Code fences and text around the object do not matter; if none is found,
single quotes are turned into double quotes and the scan is repeated. At most ``_MAX_ATTEMPTS``
decodes are tried per text and a decoded value is skipped whole, so the cost stays linear.
Prediction boxes with swapped corners are reordered, malformed ones are dropped; ground-truth
boxes must be four finite numbers with x2 > x1 and y2 > y1, else ValueError.
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import tags
from .grounding import Box, box_iou, temporal_iou
from .registry import register_scorer

_MAX_ATTEMPTS = 64
_DECODER = json.JSONDecoder()


def _holder(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The first dict (breadth-first) in a decoded JSON value that has any of ``keys``."""
    queue, index = [value], 0
    while index < len(queue):
        item, index = queue[index], index + 1
        if isinstance(item, dict):
            if any(key in item for key in keys):
                return item
            queue.extend(item.values())
        elif isinstance(item, list):
            queue.extend(item)
    return None


def _decode_objects(text: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    pos, attempts = text.find("{"), 0
    while pos >= 0 and attempts < _MAX_ATTEMPTS:
        attempts += 1
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            pos = text.find("{", pos + 1)
            continue
        found = _holder(value, keys)
        if found is not None:
            return found
        pos = text.find("{", max(end, pos + 1))
    return None


def find_object(text: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (nested ones included) that has any of ``keys``: read as
    JSON first, then, if none is found, with every ' read as "."""
    found = _decode_objects(text, keys)
    if found is None and "'" in text:
        found = _decode_objects(text.replace("'", '"'), keys)
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _numbers(value: Any, count: int) -> tuple[float, ...] | None:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]  # [[x1, y1, x2, y2]]
    if not isinstance(value, list) or len(value) != count:
        return None
    numbers = tuple(_number(v) for v in value)
    return None if any(n is None for n in numbers) else numbers  # type: ignore[return-value]


def frame_key(key: Any) -> float | None:
    """A frame key's time in seconds (``"3"``, ``"3.0"`` and ``3`` are all 3.0), or None."""
    if isinstance(key, str):
        try:
            key = float(key.strip())
        except ValueError:
            return None
    return _number(key)


def _ordered(box: tuple[float, ...]) -> Box:
    x1, y1, x2, y2 = box
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def predicted_boxes(value: Any) -> dict[float, Box] | None:
    """``{time: box}`` of a prediction's ``boxes`` object (bad entries dropped); None if no object."""
    if not isinstance(value, dict):
        return None
    boxes = {}
    for key, raw in value.items():
        time, box = frame_key(key), _numbers(raw, 4)
        if time is not None and box is not None:
            boxes[time] = _ordered(box)
    return boxes


def predicted_span(value: Any) -> tuple[float, float] | None:
    span = _numbers(value, 2)
    return None if span is None else (min(span), max(span))


def _answer(response: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    for text in tags.candidates(response):
        found = find_object(text, keys)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------------ ground truth


def _truth_object(ground_truth: str, required: tuple[str, ...], what: str) -> dict[str, Any]:
    content = tags.answer_content(ground_truth)
    found = find_object(ground_truth if content is None else content, required)
    if found is None or not all(key in found for key in required):
        raise ValueError(f"{what} ground truth {ground_truth!r} holds no JSON object with keys {required}")
    return found


def _truth_boxes(value: Any, ground_truth: str, what: str) -> dict[float, Box]:
    items = value.items() if isinstance(value, dict) else None
    if items is None:
        raise ValueError(f"{what} ground truth {ground_truth!r}: 'boxes' must be an object of frame boxes")
    boxes: dict[float, Box] = {}
    for key, raw in items:
        time, box = frame_key(key), _numbers(raw, 4)
        if time is None or box is None or not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(
                f"{what} ground truth {ground_truth!r}: frame {key!r} needs a finite time key and a box "
                "[x1, y1, x2, y2] with x2 > x1 and y2 > y1"
            )
        if time in boxes:
            raise ValueError(f"{what} ground truth {ground_truth!r}: frame time {time:g} appears twice")
        boxes[time] = box  # type: ignore[assignment]
    return boxes


def parse_stvg_ground_truth(ground_truth: str) -> tuple[tuple[float, float], dict[float, Box]]:
    """``((start, end), {time: box})``; ValueError unless end > start and every box is well formed."""
    found = _truth_object(ground_truth, ("time", "boxes"), "spatial-temporal grounding")
    span = _numbers(found["time"], 2)
    if span is None or not span[1] > span[0]:
        raise ValueError(
            f"spatial-temporal grounding ground truth {ground_truth!r}: 'time' must be [s, e] with e > s"
        )
    return (span[0], span[1]), _truth_boxes(found["boxes"], ground_truth, "spatial-temporal grounding")


def parse_tracking_ground_truth(ground_truth: str) -> dict[float, Box]:
    """``{time: box}`` with at least one frame; ValueError otherwise."""
    found = _truth_object(ground_truth, ("boxes",), "tracking")
    boxes = _truth_boxes(found["boxes"], ground_truth, "tracking")
    if not boxes:
        raise ValueError(f"tracking ground truth {ground_truth!r} has no frames")
    return boxes


# ---------------------------------------------------------------------------------------- scorers


def _mean_common_iou(predicted: dict[float, Box], truth: dict[float, Box]) -> float:
    common = [t for t in truth if t in predicted]
    return sum(box_iou(predicted[t], truth[t]) for t in common) / len(common) if common else 0.0


def stvg_answer_is_valid(answer: str) -> bool:
    """Format check: an object with ``"time": [s, e]`` and a ``"boxes"`` object of 4-number boxes."""
    found = find_object(answer, ("time", "boxes"))
    return (
        found is not None
        and predicted_span(found.get("time")) is not None
        and _all_boxes_valid(found.get("boxes"))
    )


def tracking_answer_is_valid(answer: str) -> bool:
    """Format check: an object whose ``"boxes"`` maps frame times to 4-number boxes."""
    found = find_object(answer, ("boxes",))
    return found is not None and _all_boxes_valid(found["boxes"])


def _all_boxes_valid(value: Any) -> bool:
    boxes = predicted_boxes(value)
    return boxes is not None and len(boxes) == len(value)


@register_scorer(
    "spatial-temporal grounding",
    aliases=("spatial temporal grounding", "spatio-temporal grounding", "stvg", "st grounding"),
    answer_valid=stvg_answer_is_valid,
)
def spatial_temporal_grounding(response: str, ground_truth: str) -> dict[str, float]:
    """``{"accuracy", "tiou", "box_iou"}`` as defined in the module docstring (``box_iou``: the mean
    over common frames, 0 when there are none).

    >>> spatial_temporal_grounding('{"time": [0, 4], "boxes": {"1": [0, 0, 2, 2], "9": [0, 0, 1, 1]}}',
    ...                            '{"time": [0, 8], "boxes": {"1.0": [0, 0, 2, 1], "2": [0, 0, 1, 1]}}')
    {'accuracy': 0.5, 'tiou': 0.5, 'box_iou': 0.5}
    """
    span, truth = parse_stvg_ground_truth(ground_truth)
    found = _answer(response, ("time", "boxes")) or {}
    predicted_time = predicted_span(found.get("time"))
    tiou = 0.0 if predicted_time is None else temporal_iou(predicted_time, span)
    mean_iou = _mean_common_iou(predicted_boxes(found.get("boxes")) or {}, truth)
    accuracy = tiou if not truth else 0.5 * tiou + 0.5 * mean_iou
    return {"accuracy": accuracy, "tiou": tiou, "box_iou": mean_iou}


@register_scorer(
    "tracking",
    aliases=("object tracking", "video tracking", "single object tracking"),
    answer_valid=tracking_answer_is_valid,
)
def tracking(response: str, ground_truth: str, frames: str = "ground_truth") -> float:
    """Mean box IoU over the ground truth's frames (``frames="ground_truth"``, missing frames 0) or
    over the frames both answers have (``frames="common"``, EasyVideoR1); see the module docstring.

    >>> tracking('{"boxes": {"0": [0, 0, 2, 2]}}', '{"boxes": {"0": [0, 0, 2, 2], "1": [0, 0, 2, 2]}}')
    0.5
    """
    if frames not in ("ground_truth", "common"):
        raise ValueError(f"tracking frames must be 'ground_truth' or 'common', got {frames!r}")
    truth = parse_tracking_ground_truth(ground_truth)
    found = _answer(response, ("boxes",))
    predicted = (predicted_boxes(found["boxes"]) if found else None) or {}
    if frames == "common":
        return _mean_common_iou(predicted, truth)
    return sum(box_iou(predicted[t], b) for t, b in truth.items() if t in predicted) / len(truth)
