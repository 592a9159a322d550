"""Evaluation assets: one cell per (checkpoint, benchmark), and the report across checkpoints."""

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import dagster as dg

import evaluation
from assets.checkpoint_labels import checkpoint_label, labelled
from assets.lineage import CODE_VERSION, cache_spec, consumed_cache
from assets.partitions import EVAL_CELLS
from assets.plots import embedded_png
from assets.resources import (
    BenchmarksResource,
    CheckpointsResource,
    EngineResource,
    MediaCacheResource,
    WorkspaceResource,
)
from demo_kit.synthetic import make_charades_standins
from evaluation.adapters.registry import get_adapter
from evaluation.compare import collect, comparison_plot, comparison_table
from evaluation.manifest import MANIFEST_FILE
from evaluation.media_spec import DEFAULT_MEDIA_FROM, MEDIA_FROM, resolve_media_spec
from training.engines.base import SamplingParams

CHARADES_SAMPLE = "charades_sta/charades_sta_test.sample.txt"
SAMPLES_DIR = Path(evaluation.__file__).parent / "samples"


def sample_benchmarks_dir() -> Path:
    """``$REELRL_SHARED_BENCHMARKS`` if set, else the real sample records shipped in ``evaluation/samples``."""
    env = os.environ.get("REELRL_SHARED_BENCHMARKS", "")
    return Path(env) if env else SAMPLES_DIR


def resolve_benchmark(
    name: str, benchmarks: BenchmarksResource, source_dataset: dict, workspace: WorkspaceResource
):
    """(annotation file, media root) of a benchmark: the resource's files, else the demo defaults."""
    if name in benchmarks.annotations:
        return benchmarks.annotations[name], benchmarks.media_roots.get(name)
    if name == "reelrl_jsonl":
        return source_dataset["val_file"], source_dataset.get("media_root")
    if name == "charades_sta":
        ann = sample_benchmarks_dir() / CHARADES_SAMPLE
        media = benchmarks.media_roots.get(name)
        if not media:
            media = str(workspace.path("benchmarks", "charades_sta", "videos"))
            make_charades_standins(ann, media)
        return str(ann), media
    raise dg.Failure(
        f"checkpoint_eval: no annotation file for benchmark {name!r}; set benchmarks.annotations.{name} "
        f"(and benchmarks.media_roots.{name}) on the `benchmarks` resource"
    )


class CheckpointEvalConfig(dg.Config):
    """Settings of one evaluation cell: where its frame settings start (``media_spec``: ``benchmark``, the
    benchmark's documented settings, the default of ``reelrl eval run`` too; or ``training``, the media cache's
    spec), then greedy decoding."""

    media_spec: Literal[MEDIA_FROM] = DEFAULT_MEDIA_FROM  # type: ignore[valid-type]
    max_new_tokens: int = 112
    batch_size: int = 8
    max_extraction_failure_rate: float = 100.0  # percent; the scores check fails above this


COUNT_METRICS = ("n", "excluded", "unanswered")


def scores_in_range(aggregates: dict) -> list[str]:
    """Metrics outside their range: counts (``n``, ``excluded``, ``unanswered``, ``n_*``) >= 0, every other
    aggregate (the extraction-failure rate included) a percentage in [0, 100]."""
    bad = []
    for mode, agg in aggregates.items():
        for metric, value in agg.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            hi = float("inf") if metric in COUNT_METRICS or metric.startswith("n_") else 100.0
            if not 0.0 <= value <= hi:  # NaN fails too
                bad.append(f"{mode}/{metric}={value}")
    return bad


@dg.asset(
    partitions_def=EVAL_CELLS,
    group_name="evaluation",
    code_version=CODE_VERSION,
    deps=["checkpoint"],
    description="One benchmark on one checkpoint: greedy generation from cached frames, official and "
    "robust scores, predictions appended per sample id (a re-run resumes), run manifest.",
    check_specs=[
        dg.AssetCheckSpec(
            "scores_in_range",
            asset="checkpoint_eval",
            description="aggregates (the extraction-failure rate included) are percentages in [0, 100]",
        )
    ],
)
def checkpoint_eval(
    context: dg.AssetExecutionContext,
    config: CheckpointEvalConfig,
    media_cache: dict,
    source_dataset: dict,
    workspace: WorkspaceResource,
    cache: MediaCacheResource,
    checkpoints: CheckpointsResource,
    benchmarks: BenchmarksResource,
    engine: EngineResource,
):
    from evaluation.runner import run_benchmark

    keys = context.partition_key.keys_by_dimension
    info = checkpoints.find(keys["checkpoint"], workspace)
    label = checkpoint_label(info.path, workspace.dir())
    bench = keys["benchmark"]
    annotation, media_root = resolve_benchmark(bench, benchmarks, source_dataset, workspace)
    records = get_adapter(bench).load(annotation, media_root)
    media = resolve_media_spec(
        "evaluation",
        info.model_type,
        benchmark=bench,
        media_from=config.media_spec,
        training_spec=cache_spec(media_cache),
    )
    context.log.info(f"{bench}: media spec {media.source}")
    store = cache.open(workspace)
    # one folder per media spec: a cell evaluated on other frames is another run, never mixed into this one
    spec_tag = hashlib.sha1(json.dumps(media.spec.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    out_dir = workspace.path("evals", info.name, info.revision or "norev", bench, f"media-{spec_tag}")
    gen = engine.load(info.path)
    try:
        res = run_benchmark(
            gen,
            bench,
            records,
            store,
            media.spec,
            out_dir,
            model_id=info.path,
            model_revision=info.revision,
            sampling=SamplingParams(n=1, temperature=0.0, max_new_tokens=config.max_new_tokens, seed=0),
            batch_size=config.batch_size,
            annotation_path=annotation,
            spec_source=media,
        )
    finally:
        gen.close()
    context.log.info(f"{bench} on {info.name}: {res.aggregates} counts={res.counts}")
    headline = {mode: agg.get("overall") for mode, agg in res.aggregates.items()}
    manifest = Path(out_dir, MANIFEST_FILE)
    yield dg.Output(
        {"checkpoint": info.name, "benchmark": bench, "out_dir": str(out_dir), "aggregates": res.aggregates},
        metadata={
            "checkpoint": info.name,
            **({"label": label} if label else {}),
            "model_revision": info.revision or "",
            "benchmark": bench,
            **{f"{mode}_overall": v for mode, v in headline.items() if isinstance(v, (int, float))},
            "aggregates": dg.MetadataValue.json(res.aggregates),
            "counts": dg.MetadataValue.json(res.counts),
            "media_spec": dg.MetadataValue.json(media.spec.to_dict()),
            "media_spec_source": media.source,
            "manifest": dg.MetadataValue.json(json.loads(manifest.read_text()) if manifest.exists() else {}),
            "out_dir": dg.MetadataValue.path(str(out_dir)),
            **consumed_cache(media_cache),
        },
    )
    bad = scores_in_range(res.aggregates)
    rates = [agg.get("extraction_failure_rate", 0.0) for agg in res.aggregates.values()]
    too_many = [r for r in rates if r > config.max_extraction_failure_rate]
    yield dg.AssetCheckResult(
        check_name="scores_in_range",
        passed=not bad and not too_many and res.counts.get("scored", 0) > 0,
        metadata={
            "out_of_range": ", ".join(bad) or "none",
            "scored": res.counts.get("scored", 0),
            "total": res.counts.get("total", 0),
            "max_extraction_failure_rate": max(rates, default=0.0),
        },
    )


@dg.asset(
    group_name="evaluation",
    code_version=CODE_VERSION,
    deps=["checkpoint_eval"],
    description="Every evaluated checkpoint x benchmark: headline scores as a table and a bar chart, "
    "read from the evaluation folders (one row per checkpoint revision and settings, named by its label and "
    "partition key, e.g. 'step 50 (<key>)').",
)
def eval_report(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
    root = workspace.dir("evals")
    rows = collect([root])
    home = workspace.dir()
    # label rows by checkpoint: "step 50 (<partition key>)", from evals/<key>/<revision>/<bench>/media-<spec>
    for r in rows:
        name = Path(r["out_dir"]).relative_to(root).parts[0]
        r["model"] = labelled(name, r["model"] and checkpoint_label(r["model"], home))
    metadata: dict = {"cells": len({r["out_dir"] for r in rows})}
    for mode in ("official", "robust"):
        if any(r["mode"] == mode for r in rows):
            metadata[f"{mode}_scores"] = dg.MetadataValue.md(comparison_table(rows, mode))
    if any(r["mode"] == "official" for r in rows):
        plot = comparison_plot(rows, workspace.path("reports", "comparison.png"))
        metadata["plot"] = embedded_png(plot, "headline score per benchmark and checkpoint (official)")
    context.log.info(f"report over {metadata['cells']} evaluation cells")
    return dg.MaterializeResult(metadata=metadata)
