"""``benchmark_eval``: the base model, the warm start and the RL checkpoint on held-out benchmarks."""

import hashlib
import os
from pathlib import Path

import dagster as dg

import evaluation
from assets.resources import MediaCacheResource, WorkspaceResource
from cache_store import MediaSpec
from evaluation.benchmarks.registry import get_adapter
from evaluation.manifest import model_revision
from evaluation.runner import run_benchmark
from reelrl.synthetic import make_charades_standins
from training.engines.base import SamplingParams
from training.engines.hf import HFEngine

CHARADES_SAMPLE = "charades_sta/charades_sta_test.sample.txt"
SAMPLES_DIR = Path(evaluation.__file__).parent / "samples"


def sample_benchmarks_dir() -> Path:
    """``$REELRL_SHARED_BENCHMARKS`` if set, else the real sample records shipped in ``evaluation/samples``."""
    env = os.environ.get("REELRL_SHARED_BENCHMARKS", "")
    return Path(env) if env else SAMPLES_DIR


class BenchmarkEvalConfig(dg.Config):
    """``annotations``/``media_roots`` map a benchmark name to its files; missing entries take the demo
    defaults: the held-out split for ``reelrl_jsonl`` and, for ``charades_sta``, the official-format
    sample records shipped in evaluation/samples with generated stand-in videos whose event spans the GT."""

    benchmarks: list[str] = ["reelrl_jsonl", "charades_sta"]
    annotations: dict[str, str] = {}
    media_roots: dict[str, str] = {}
    max_new_tokens: int = 112
    batch_size: int = 8


def _resolve(name: str, config: BenchmarkEvalConfig, source_dataset: dict, workspace: WorkspaceResource):
    if name in config.annotations:
        return config.annotations[name], config.media_roots.get(name)
    if name == "reelrl_jsonl":
        return source_dataset["val_file"], source_dataset.get("media_root")
    if name == "charades_sta":
        ann = sample_benchmarks_dir() / CHARADES_SAMPLE
        media = config.media_roots.get(name) or str(workspace.path("benchmarks", "charades_sta", "videos"))
        if not config.media_roots.get(name):
            make_charades_standins(ann, media)
        return str(ann), media
    raise ValueError(f"benchmark_eval: no annotation file for {name!r}; set annotations.{name}")


@dg.asset(
    group_name="evaluation",
    description="Greedy evaluation of base, warm-start and RL checkpoints; "
    "predictions appended per sample id (resumable), official and robust scores, run manifests.",
)
def benchmark_eval(
    context: dg.AssetExecutionContext,
    config: BenchmarkEvalConfig,
    base_model: dict,
    media_cache: dict,
    source_dataset: dict,
    sft_warm_start: dict,
    training_run: dict,
    workspace: WorkspaceResource,
    cache: MediaCacheResource,
) -> dict:
    spec = MediaSpec(**media_cache["spec"])
    store = cache.open(workspace)
    models = {
        "base": base_model["path"],
        "warm_start": sft_warm_start["checkpoint"],
        "trained": training_run["checkpoint"],
    }
    sampling = SamplingParams(n=1, temperature=0.0, max_new_tokens=config.max_new_tokens, seed=0)
    rows, skipped = [], []
    for bench in config.benchmarks:
        annotation, media_root = _resolve(bench, config, source_dataset, workspace)
        if annotation is None:
            skipped.append(bench)
            context.log.warning(f"{bench}: annotation file not found (set annotations.{bench}); skipped")
            continue
        records = get_adapter(bench).load(annotation, media_root)
        for label, path in models.items():
            engine = HFEngine.from_pretrained(path, batch_size=config.batch_size)
            revision = model_revision(path)  # a checkpoint rewritten at the same path is evaluated anew
            tag = hashlib.sha1(f"{Path(path).resolve()}@{revision}".encode()).hexdigest()[:10]
            out_dir = workspace.path("evals", f"{label}-{tag}", bench)
            res = run_benchmark(
                engine,
                bench,
                records,
                store,
                spec,
                out_dir,
                model_id=path,
                model_revision=revision,
                sampling=sampling,
                batch_size=config.batch_size,
                annotation_path=annotation,
            )
            engine.close()
            for mode, agg in res.aggregates.items():
                for metric, value in agg.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        rows.append(
                            {
                                "model": label,
                                "benchmark": bench,
                                "mode": mode,
                                "metric": metric,
                                "value": float(value),
                            }
                        )
            context.log.info(f"{bench} / {label}: {res.aggregates} counts={res.counts}")
    table = "| model | benchmark | mode | metric | value |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {r['model']} | {r['benchmark']} | {r['mode']} | {r['metric']} | {r['value']:.4f} |" for r in rows
    )
    context.add_output_metadata(
        {
            "scores": dg.MetadataValue.md(table),
            "skipped": ", ".join(skipped) or "none",
            "models": dg.MetadataValue.json(models),
        }
    )
    return {"scores": rows, "skipped": skipped, "models": models}
