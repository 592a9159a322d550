"""The ReelRL code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Resources read their settings from the environment, so the same Definitions serve a laptop and a cluster
(``REELRL_DATASETS``, a YAML of dataset files, decides the source assets: see ``assets.sources``):
``REELRL_HOME`` (artifacts), ``REELRL_CACHE_URI`` (Lance cache; any fsspec/object-store URI),
``REELRL_RAY_ADDRESS`` (empty: local Ray), ``REELRL_WATCH_DIRS`` (extra checkpoint folders),
``REELRL_BENCHMARKS`` (comma list evaluated for each new checkpoint), ``REELRL_BENCHMARK_FILES`` (a YAML
file: ``<benchmark>: {annotations: FILE, media_root: DIR}``), ``REELRL_ENGINE`` (hf | vllm), ``REELRL_VLLM_OPTIONS`` (vLLM engine arguments, ``KEY=VALUE,...``).
"""

import dagster as dg

from pipelines.automation import media_cache_changes, new_checkpoints, reevaluate_latest, reevaluation_job
from pipelines.environment import resources
from pipelines.jobs import ASSET_CHECKS, EVAL_ASSETS, TRAINING_ASSETS, demo_job, invalidate_cache

ALL_ASSETS = [*TRAINING_ASSETS, *EVAL_ASSETS]
__all__ = ["ALL_ASSETS", "ASSET_CHECKS", "defs", "resources"]  # what tests and tools import from here


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
