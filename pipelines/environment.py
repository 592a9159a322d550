"""The code location's resources, configured from the environment (see ``pipelines.definitions``' module doc
for the variables) or from the run config the code location serves (``pipelines.jobs.RUN_PLAN``)."""

import os
from pathlib import Path

import yaml

from assets.resources import (
    BenchmarksResource,
    CheckpointsResource,
    EngineResource,
    MediaCacheResource,
    RayResource,
    WorkspaceResource,
)
from evaluation.adapters.registry import list_benchmarks
from pipelines.jobs import RUN_PLAN
from training.engines.vllm import parse_options


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
