"""The ReelRL code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

import dagster as dg

from assets.cache import media_cache
from assets.datasets import filtered_train_set, rollout_pass_rates, source_dataset
from assets.evaluations import benchmark_eval
from assets.models import base_model
from assets.resources import MediaCacheResource, RayResource, WorkspaceResource
from assets.training_runs import sft_warm_start, training_run

ALL_ASSETS = [
    base_model,
    source_dataset,
    media_cache,
    sft_warm_start,
    rollout_pass_rates,
    filtered_train_set,
    training_run,
    benchmark_eval,
]

demo_job = dg.define_asset_job(
    "reelrl_demo",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    description="The whole graph: cache -> warm start -> pass-rate filter -> GRPO -> evaluation.",
)


def resources(home: str = "", cache_uri: str = "", ray_address: str = "") -> dict:
    return {
        "workspace": WorkspaceResource(root=home),
        "cache": MediaCacheResource(uri=cache_uri),
        "ray": RayResource(address=ray_address),
    }


defs = dg.Definitions(assets=ALL_ASSETS, jobs=[demo_job], resources=resources())
