"""Spatio-temporal video grounding (STVG): find when a described event happens and box its subject.

Annotation format: EasyVideoR1's unified JSON (``eval/data/valid_data/stvg.json``, the README's
ST-Align-Benchmark, HC-STVG/VidSTG-derived) only: ``{problem_id, problem, path, problem_type
"spatial-temporal grounding", solution}`` whose ``<answer>`` holds
``{"time": [s, e], "boxes": {"<second>": [x1, y1, x2, y2], ...}}`` with one box per integer second of
``[s, e]``. The official HC-STVG / VidSTG tube annotations (per-frame trajectories) are not read.

Scoring (the response's JSON is read by the reward library's reader in both modes: the first object
with ``time``/``boxes`` in the answer block, the text after ``</think>`` or the whole response):

- ``official``: the HC-STVG metrics (``evaluation.official.stvg``): per sample the vIoU (score), the
  tIoU; aggregates m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5 in percent, ``overall`` = m_vIoU. Integer
  seconds stand in for the official 5-fps frames (an approximation, see that module);
- ``robust``: the reward library's "spatial-temporal grounding" scorer, EasyVideoR1's
  ``0.5·tIoU + 0.5·mean box IoU over the seconds both answers box``; aggregates ``overall`` = its mean
  (EasyVideoR1's ``mean_acc``), ``mean_tiou`` and ``mean_box_iou``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import percent
from evaluation.adapters.loading import as_row_list, read_rows
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import BenchmarkAdapter, check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature, check_signature, is_unified, unified_row
from evaluation.official import stvg
from evaluation.records import BenchmarkRecord, check_unique_ids
from evaluation.scoring import robust_score
from training.rewards import resolve_problem_type
from training.rewards.tags import candidates
from training.rewards.tracking import find_object, parse_stvg_ground_truth, predicted_boxes, predicted_span

PROBLEM_TYPE = "spatial-temporal grounding"
_KEYS = ("time", "boxes")


def read_prediction(response: str) -> tuple[tuple[float, float] | None, dict[float, Any]]:
    """``(span or None, {second: box})`` of a response, read as the reward library reads it."""
    for text in candidates(response):
        found = find_object(text, _KEYS)
        if found is not None:
            return predicted_span(found.get("time")), predicted_boxes(found.get("boxes")) or {}
    return None, {}


@register_benchmark("stvg")
class STVG(BenchmarkAdapter):
    """STVG; prompts: the training library's spatial-temporal grounding template (JSON answer)."""

    unified_signature = UnifiedSignature(data_source="stvg")

    media_layout = MediaLayout(
        annotations="EasyVideoR1 unified `stvg.json`",
        media="`<path>`",
    )

    def load(self, annotation_path: str | Path, media_root: str | Path | None) -> list[BenchmarkRecord]:
        """Records from EasyVideoR1's unified JSON; relative video paths resolve against ``media_root``,
        else the file's folder. Every ground truth is parsed here, so a bad one fails at load."""
        path = Path(annotation_path)
        root = os.path.abspath(media_root if media_root is not None else path.parent)
        data = read_rows(path)
        if not is_unified(data):
            raise ValueError(
                f"{path}: not an EasyVideoR1 unified STVG file (a list of objects with problem, "
                "problem_id, solution); no other STVG format is read"
            )
        rows = as_row_list(data, path, "STVG")
        check_signature(rows, path, self.name, self.unified_signature)
        records = [self._record(row, i, path, root) for i, row in enumerate(rows)]
        try:
            check_unique_ids(records)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        return records

    def _record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        fields = unified_row(row, index, path, root)
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        if resolve_problem_type(fields["problem_type"]) != PROBLEM_TYPE:
            raise ValueError(f"{where}: problem_type {row.get('problem_type')!r} is not {PROBLEM_TYPE!r}")
        if not fields["media"]:
            raise ValueError(f"{where}: missing field 'path' (the video)")
        try:
            span, boxes = parse_stvg_ground_truth(fields["answer"])
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        return BenchmarkRecord(
            id=fields["id"],
            benchmark=self.name,
            problem=fields["problem"],
            problem_type=PROBLEM_TYPE,
            answer=fields["answer"],
            data_type=fields["data_type"],
            media=fields["media"],
            media_kind=fields["media_kind"],
            extra={"source_format": "easyvideor1", "span": list(span), "frames": len(boxes)},
        )

    # ------------------------------------------------------------------ scoring
    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust":
            return robust_score(record, response)
        gt_span, gt_boxes = parse_stvg_ground_truth(record.answer)
        span, boxes = read_prediction(response)
        if span is None:
            return {"score": 0.0, "tiou": 0.0, "viou": 0.0, "pred": None, "extraction_failed": True}
        value = stvg.viou(span, boxes, gt_span, gt_boxes)
        tiou = float(stvg.temporal_iou(span, gt_span))
        return {"score": value, "tiou": tiou, "viou": value, "pred": list(span), "extraction_failed": False}

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        scores = [float(s["score"]) for s in per_sample_scores]
        tious = [float(s.get("tiou", 0.0)) for s in per_sample_scores]
        out: dict[str, Any] = {"n": len(scores), "overall": percent(metrics.mean(scores))}
        if mode == "official":
            out["m_tIoU"] = percent(metrics.mean(tious))
            out["m_vIoU"] = out["overall"]
            for t in stvg.THRESHOLDS:
                out[f"vIoU@{t}"] = percent(stvg.recall(scores, t))
        else:
            out["mean_tiou"] = percent(metrics.mean(tious))
            out["mean_box_iou"] = percent(
                metrics.mean([float(s.get("box_iou", 0.0)) for s in per_sample_scores])
            )
        return out
