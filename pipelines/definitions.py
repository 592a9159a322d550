"""The ReelRL code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Resources read their settings from the environment, so the same Definitions serve a laptop and a cluster
(``REELRL_DATASETS``, a YAML of dataset files, decides the source assets: see ``assets.sources``):
``REELRL_HOME`` (artifacts), ``REELRL_CACHE_URI`` (Lance cache; any fsspec/object-store URI),
``REELRL_RAY_ADDRESS`` (empty: local Ray), ``REELRL_WATCH_DIRS`` (extra checkpoint folders),
``REELRL_BENCHMARKS`` (comma list evaluated for each new checkpoint), ``REELRL_BENCHMARK_FILES`` (a YAML
file: ``<benchmark>: {annotations: FILE, media_root: DIR}``), ``REELRL_ENGINE`` (hf | vllm), ``REELRL_VLLM_OPTIONS`` (vLLM engine arguments, ``KEY=VALUE,...``).
"""

import os
from pathlib import Path

import dagster as dg
import yaml

from assets.cache import cache_entries_fresh, failed_media_rate
from assets.checkpoints import checkpoint
from assets.evaluations import checkpoint_eval, eval_report
from assets.resources import (
    BenchmarksResource,
    CheckpointsResource,
    EngineResource,
    MediaCacheResource,
    RayResource,
    WorkspaceResource,
)
from evaluation.adapters.registry import list_benchmarks
from pipelines.automation import media_cache_changes, new_checkpoints, reevaluate_latest, reevaluation_job
from pipelines.jobs import RUN_PLAN, TRAINING_ASSETS, demo_job, invalidate_cache
from training.engines.vllm import parse_options

EVAL_ASSETS = [checkpoint, checkpoint_eval, eval_report]
ALL_ASSETS = [*TRAINING_ASSETS, *EVAL_ASSETS]
ASSET_CHECKS = [cache_entries_fresh, failed_media_rate]


def resources(home: str = "", cache_uri: str = "", ray_address: str = "", watch_dirs: str = "") -> dict:
    env = os.environ.get
    auto = [b.strip() for b in env("REELRL_BENCHMARKS", "").split(",") if b.strip()]
    files = benchmark_files(env("REELRL_BENCHMARK_FILES", ""))
    if RUN_PLAN is not None:  # the run config's benchmarks, unless the environment names others
        auto = auto or RUN_PLAN.benchmarks
        files = {
            b: {"annotations": a, "media_root": RUN_PLAN.media_roots.get(b, "")}
            for b, a in RUN_PLAN.annotations.items()
        } | files
    vllm_options = [env("REELRL_VLLM_OPTIONS")] if env("REELRL_VLLM_OPTIONS") else []
    parse_options(vllm_options)  # a malformed item fails when the code loads, naming it
    return {
        "workspace": WorkspaceResource(root=home),
        "cache": MediaCacheResource(uri=cache_uri or env("REELRL_CACHE_URI", "")),
        "ray": RayResource(address=ray_address or env("REELRL_RAY_ADDRESS", "")),
        "checkpoints": CheckpointsResource(watch_dirs=watch_dirs),
        "benchmarks": BenchmarksResource(
            annotations={b: f["annotations"] for b, f in files.items()},
            media_roots={b: f["media_root"] for b, f in files.items() if f.get("media_root")},
            **({"auto": auto} if auto else {}),
        ),
        "engine": EngineResource(kind=env("REELRL_ENGINE", "hf"), vllm_options=vllm_options),
    }


def benchmark_files(path: str) -> dict:
    """``{benchmark: {annotations, media_root}}`` from a YAML file; a bad file fails when the code loads."""
    if not path:
        return {}
    doc = yaml.safe_load(Path(path).read_text()) or {}
    known = set(list_benchmarks())
    for name, entry in doc.items():
        if name not in known:
            raise ValueError(f"{path}: unknown benchmark {name!r}; known: {', '.join(sorted(known))}")
        if not isinstance(entry, dict) or "annotations" not in entry:
            raise ValueError(f"{path}: {name} needs `annotations: FILE` (and optionally `media_root: DIR`)")
    return doc


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[demo_job, reevaluation_job, invalidate_cache],
    sensors=[new_checkpoints, media_cache_changes],
    schedules=[reevaluate_latest],
    resources=resources(),
    # every step of a run in the run's own process: a step's start-up (imports, Ray, the model) is paid once
    # per run rather than once per asset, and a CPU machine is not oversubscribed by parallel steps
    executor=dg.in_process_executor,
)
