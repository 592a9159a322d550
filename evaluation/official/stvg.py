"""HC-STVG / VidSTG spatio-temporal video grounding metrics (m_tIoU, m_vIoU, vIoU@R).

Reproduced from the evaluator the HC-STVG literature reports with (TubeDETR ``datasets/hcstvg_eval.py``
``HCSTVGGiouEvaluator``, reused by STCAT, CG-STVG and others):

- tIoU: 0 when the spans do not overlap (``min_end <= max_start``), else
  ``intersection / (gt_len + pred_len - intersection)``;
- vIoU = (sum over ground-truth frames inside the temporal **intersection** of the box IoU of the
  predicted and ground-truth box) / (number of frames inside the temporal **union**, at least 1);
- vIoU@R: the fraction of videos with vIoU **strictly** above R (0.3, 0.5); every metric is the mean
  over videos.

Approximation (documented, unavoidable with these annotations): the official frames are the video's
frames sampled at 5 fps with half-open frame spans; EasyVideoR1's STVG records key one box per
**integer second** inside the closed span ``[start, end]`` (``{"time": [s, e], "boxes": {"<t>": box}}``),
so here the frames are the integer seconds (plus any other ground-truth key): a frame t is in the
union when ``min_start <= t <= max_end`` and in the intersection when ``max_start <= t <= min_end``.
A ground-truth frame the prediction has no box for contributes IoU 0 (the official evaluator
requires a box on every frame). The numbers are therefore 1-fps versions of the official ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Box = tuple[float, float, float, float]
THRESHOLDS = (0.3, 0.5)


def temporal_iou(pred: Sequence[float], gt: Sequence[float]) -> float:
    """The official tIoU of two ``(start, end)`` spans.

    >>> temporal_iou((2, 6), (4, 8)), temporal_iou((0, 2), (2, 4))
    (0.3333333333333333, 0)
    """
    max_start, min_end = max(gt[0], pred[0]), min(gt[1], pred[1])
    if min_end <= max_start:
        return 0
    inter = min_end - max_start
    return inter / ((gt[1] - gt[0]) + (pred[1] - pred[0]) - inter)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Area IoU of two ``[x1, y1, x2, y2]`` boxes (0 for an empty union)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _frames(lo: float, hi: float, keys: Sequence[float]) -> set[float]:
    """The integer seconds in ``[lo, hi]`` plus the ground-truth keys in it."""
    seconds = {float(t) for t in range(math.ceil(lo), math.floor(hi) + 1)} if hi >= lo else set()
    return seconds | {k for k in keys if lo <= k <= hi}


def viou(
    pred_span: Sequence[float],
    pred_boxes: Mapping[float, Sequence[float]],
    gt_span: Sequence[float],
    gt_boxes: Mapping[float, Sequence[float]],
) -> float:
    """vIoU with seconds as frames (module docstring); keys are frame times in seconds.

    >>> viou((0, 2), {0.0: (0, 0, 2, 2), 1.0: (0, 0, 1, 1)}, (1, 3), {1.0: (0, 0, 2, 2), 2.0: (0, 0, 2, 2)})
    0.0625
    """
    keys = list(gt_boxes)
    union = _frames(min(gt_span[0], pred_span[0]), max(gt_span[1], pred_span[1]), keys)
    lo, hi = max(gt_span[0], pred_span[0]), min(gt_span[1], pred_span[1])
    total = sum(
        box_iou(pred_boxes[t], box) for t, box in gt_boxes.items() if lo <= t <= hi and t in pred_boxes
    )
    return total / max(len(union), 1)


def recall(vious: Sequence[float], threshold: float) -> float | None:
    """vIoU@R: fraction of videos with vIoU > ``threshold`` (strict, as the official ``viou > thresh``)."""
    return sum(1 for v in vious if v > threshold) / len(vious) if vious else None
