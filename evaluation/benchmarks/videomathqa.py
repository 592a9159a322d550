"""VideoMathQA: mathematical reasoning over videos, five-way MCQ plus multi-binary (MBin) questions.

Annotation format: EasyVideoR1's unified ``videomathqa.jsonl`` (2100 rows = 420 five-option MCQ + 1680
two-option MBin items): the unified fields plus ``video_id``, ``category`` (Geometry Angle, Chart, ...),
``length`` (short/medium/long), ``steps`` (annotated CoT steps, a JSON string) and, for MBin items,
``mbinary_id``. An MCQ row and the MBin rows of the same question share ``problem_id``, so record ids
are ``problem_id`` for the MCQ and ``problem_id/mbin-<mbinary_id>`` for each MBin item. The official
HF release (MBZUAI/VideoMathQA, read by lmms-eval) is not in the stores here, so only this format is read.

Official mode: lmms-eval's ``extract_characters_regex`` (first capital A-E, see
``evaluation.official.videomathqa``), unreadable counted wrong. Aggregates (percent), as
``videomathqa_mcq_aggregate_results`` / ``videomathqa_multi_binary_aggregate_results`` print them: MCQ
accuracy, MBin accuracy (a question counts when all its binary items are correct), each per category and
per video length; ``overall`` is the MCQ accuracy (the MBin one when a file has no MCQ);
``easyvideor1_mean`` is EasyVideoR1's number, the mean over all rows. The optional CoT step score
(judge 0-10 against ``steps``) is not implemented.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.benchmarks.choice import ChoiceAdapter, percent
from evaluation.benchmarks.registry import check_mode, register_benchmark
from evaluation.official.videomathqa import extract_letter
from evaluation.records import BenchmarkRecord

REQUIRED = ("category", "length")


@register_benchmark("videomathqa")
class VideoMathQA(ChoiceAdapter):
    official_unanswered = "wrong"

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        missing = [k for k in REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
        if missing:
            raise ValueError(f"{where}: missing fields {missing} (VideoMathQA category and video length)")
        binary = row.get("mbinary_id")
        if binary is not None:
            if len(record.options) != 2:
                raise ValueError(f"{where}: an MBin item (mbinary_id={binary!r}) needs 2 options")
            record.id = f"{record.id}/mbin-{binary}"
        record.categories = {
            "subset": "mbin" if binary is not None else "mcq",
            "category": row["category"].strip(),
            "length": row["length"].strip(),
        }
        record.extra.update(
            question_id=str(row["problem_id"]),
            video_id=str(row.get("video_id", "")),
            steps=row.get("steps"),
            **({"mbinary_id": binary} if binary is not None else {}),
        )
        return record

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_letter(response)

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        values = [float(s["score"]) for s in per_sample_scores]
        mcq = [(r, v) for r, v in zip(records, values) if r.categories.get("subset") != "mbin"]
        groups: dict[str, list[tuple[BenchmarkRecord, float]]] = defaultdict(list)
        for r, v in zip(records, values):
            if r.categories.get("subset") == "mbin":
                groups[r.extra["question_id"]].append((r, v))
        # one MBin question: correct only when every binary item is; its metadata from the first item
        mbin = [(items[0][0], float(all(v == 1.0 for _, v in items))) for items in groups.values()]
        out: dict[str, Any] = {
            "n": len(values),
            "n_mcq": len(mcq),
            "n_mbin_items": len(values) - len(mcq),
            "n_mbin_questions": len(mbin),
            "easyvideor1_mean": percent(metrics.accuracy(values)),
        }
        for name, pairs in (("mcq", mcq), ("mbin", mbin)):
            scores = [v for _, v in pairs]
            out[f"{name}_accuracy"] = percent(metrics.accuracy(scores))
            for field in ("category", "length"):
                labels = [r.categories[field] for r, _ in pairs]
                means = metrics.category_means(scores, labels)
                out[f"{name}_by_{field}"] = {k: percent(v) for k, v in means.items()}
        out["overall"] = out["mcq_accuracy"] if mcq else out["mbin_accuracy"]
        return out
