"""The ReelRL code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Resources read their settings from the environment, so the same Definitions serve a laptop and a cluster:
``REELRL_HOME`` (artifacts), ``REELRL_CACHE_URI`` (Lance cache; any fsspec/object-store URI),
``REELRL_RAY_ADDRESS`` (empty: local Ray), ``REELRL_WATCH_DIRS`` (extra checkpoint folders),
``REELRL_BENCHMARKS`` (comma list evaluated for each new checkpoint), ``REELRL_ENGINE`` (hf | vllm).
"""

import os

import dagster as dg

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
from pipelines.automation import media_cache_changes, new_checkpoints, reevaluate_latest, reevaluation_job
from pipelines.jobs import TRAINING_ASSETS, demo_job, invalidate_cache

EVAL_ASSETS = [checkpoint, checkpoint_eval, eval_report]
ALL_ASSETS = [*TRAINING_ASSETS, *EVAL_ASSETS]
ASSET_CHECKS = [cache_entries_fresh, failed_media_rate]


def resources(home: str = "", cache_uri: str = "", ray_address: str = "", watch_dirs: str = "") -> dict:
    env = os.environ.get
    auto = [b.strip() for b in env("REELRL_BENCHMARKS", "").split(",") if b.strip()]
    return {
        "workspace": WorkspaceResource(root=home),
        "cache": MediaCacheResource(uri=cache_uri or env("REELRL_CACHE_URI", "")),
        "ray": RayResource(address=ray_address or env("REELRL_RAY_ADDRESS", "")),
        "checkpoints": CheckpointsResource(watch_dirs=watch_dirs),
        "benchmarks": BenchmarksResource(**({"auto": auto} if auto else {})),
        "engine": EngineResource(kind=env("REELRL_ENGINE", "hf")),
    }


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[demo_job, reevaluation_job, invalidate_cache],
    sensors=[new_checkpoints, media_cache_changes],
    schedules=[reevaluate_latest],
    resources=resources(),
)
