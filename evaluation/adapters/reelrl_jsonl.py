"""A held-out split in ReelRL / EasyR1 JSONL, evaluated like any benchmark.

The file is read by the training data loader (``training.data.samples.load_samples``), so a held-out
split means exactly what the train split means: same fields, same media resolution, same answer
conventions. There is no external official script: the reward library *is* the reference scorer,
so ``official`` and ``robust`` give the same numbers (both modes exist so every benchmark reports
the same shape). Aggregates, in percent like every benchmark's: ``overall`` and ``accuracy`` (micro accuracy,
the mean reward ``accuracy``), accuracy per problem type, and the mean reward ``overall`` and ``format``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cache_store.keys import canonical_source
from evaluation import metrics
from evaluation.adapters.loading import read_rows
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import (
    BenchmarkAdapter,
    check_mode,
    recognised_benchmarks,
    register_benchmark,
)
from evaluation.metrics import percent
from evaluation.records import BenchmarkRecord, check_unique_ids
from evaluation.scoring import robust_score
from training.data.samples import load_samples


@register_benchmark("reelrl_jsonl")
class ReelRLJsonl(BenchmarkAdapter):
    media_layout = MediaLayout(
        annotations="a ReelRL / EasyR1 JSONL (the training format)",
        media="each row's `videos` / `images` / `path`",
    )

    def load(self, annotation_path: str | Path, media_root: str | Path | None) -> list[BenchmarkRecord]:
        """Records from a ReelRL/EasyR1 file (JSONL, JSON list or Parquet) read by the training loader;
        relative media paths resolve against ``media_root``, else the file's folder. A registered
        benchmark's EasyVideoR1 file (its records have that benchmark's ``unified_signature``) is refused:
        the format is the training format, but its scores belong to that benchmark's adapter."""
        path = Path(annotation_path)
        if path.is_file():
            benchmarks = recognised_benchmarks(read_rows(path))
            if benchmarks:
                raise ValueError(
                    f"{path} is a {' / '.join(benchmarks)} annotation file, not a held-out split: evaluate it "
                    f"with --benchmark {benchmarks[0]} (its official scoring rules)"
                )
        records = []
        for sample in load_samples(annotation_path, media_root=media_root):
            media, kind = (sample.videos, "video") if sample.videos else (sample.images, "image")
            categories = {"problem_type": sample.problem_type}  # canonical: the loader resolved it
            if isinstance(sample.extra.get("data_source"), str):
                categories["data_source"] = sample.extra["data_source"]
            records.append(
                BenchmarkRecord(
                    id=sample.problem_id,
                    benchmark=self.name,
                    problem=sample.problem,
                    problem_type=sample.problem_type,
                    answer=sample.answer,
                    data_type=sample.data_type,
                    options=list(sample.options),
                    media=[canonical_source(m) for m in media],
                    media_kind=kind if media else "none",
                    categories=categories,
                    extra=dict(sample.extra),
                )
            )
        try:
            check_unique_ids(records)
        except ValueError as e:
            raise ValueError(f"{annotation_path}: {e} (set a unique problem_id per sample)") from None
        return records

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        return robust_score(record, response)

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        acc = [float(s["accuracy"]) for s in per_sample_scores]
        per_type = metrics.category_means(acc, [r.categories["problem_type"] for r in records])
        return {
            "n": len(acc),
            "overall": percent(metrics.accuracy(acc)),
            "accuracy": percent(metrics.accuracy(acc)),
            "per_problem_type": {k: percent(v) for k, v in per_type.items()},
            "mean_overall": percent(metrics.mean([float(s["overall"]) for s in per_sample_scores])),
            "mean_format": percent(metrics.mean([float(s["format"]) for s in per_sample_scores])),
        }
