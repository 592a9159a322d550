"""Jobs: the demo graph, evaluation cells, and invalidating cache rows from the UI."""

import os

import dagster as dg

from assets.cache import cache_entries_fresh, failed_media_rate, media_cache
from assets.checkpoints import checkpoint
from assets.datasets import filtered_train_set, rollout_pass_rates
from assets.evaluations import checkpoint_eval, eval_report
from assets.lineage import cache_changed_event, cache_state, latest_cache_value
from assets.models import base_model
from assets.resources import MediaCacheResource, WorkspaceResource
from assets.sources import DatasetFile, dataset_files, dataset_files_of, source_assets
from assets.training_runs import sft_warm_start, training_run
from pipelines.run_config import RunPlan, load_run_config

EVAL_ASSETS = [checkpoint, checkpoint_eval, eval_report]  # partitioned: one (checkpoint, benchmark) cell per run
ASSET_CHECKS = [cache_entries_fresh, failed_media_rate]


def training_assets(files: list[DatasetFile]) -> list[dg.AssetsDefinition]:
    """The unpartitioned graph, dataset files to trained checkpoint: one run. Evaluation cells are
    partitioned (checkpoint x benchmark) and run one cell per run (the sensor, the schedule, `reelrl demo`)."""
    return [
        base_model,
        *source_assets(files),
        media_cache,
        sft_warm_start,
        rollout_pass_rates,
        filtered_train_set,
        training_run,
    ]


def plan_files(plan: RunPlan) -> list[DatasetFile]:
    doc = {"train": plan.train_files, "val": plan.val_files, "media_root": plan.media_root}
    return dataset_files_of(doc, plan.source)


def plan_ops(plan: RunPlan) -> dict:
    """Every training asset's config: the plan's, and each dataset file asset's ``skip_invalid``."""
    files = {f.asset_name: {"config": {"skip_invalid": plan.skip_invalid}} for f in plan_files(plan)}
    return {**files, **plan.ops}


def run_plan_from_env() -> RunPlan | None:
    """``$REELRL_RUN_CONFIG``: a run config (``reelrl train``'s) whose files and settings the code location
    serves; it and ``$REELRL_DATASETS`` are alternatives."""
    path = os.environ.get("REELRL_RUN_CONFIG", "")
    if path and os.environ.get("REELRL_DATASETS"):
        raise ValueError("set REELRL_RUN_CONFIG or REELRL_DATASETS, not both (a run config lists its files)")
    return load_run_config(path) if path else None


RUN_PLAN = run_plan_from_env()
if RUN_PLAN is not None:
    TRAINING_ASSETS = training_assets(plan_files(RUN_PLAN))
else:  # $REELRL_DATASETS: a YAML of train/val files, one asset each; unset: the embedded synthetic demo
    TRAINING_ASSETS = training_assets(dataset_files(os.environ.get("REELRL_DATASETS", "")))

demo_job = dg.define_asset_job(
    "reelrl_demo" if RUN_PLAN is None else "reelrl_train",
    selection=dg.AssetSelection.assets(*TRAINING_ASSETS),
    description="Data to trained checkpoint: cache -> warm start -> pass-rate filter -> GRPO. The "
    "checkpoints it saves become partitions of checkpoint_eval."
    + (
        "" if RUN_PLAN is None else f" Settings: the run config {RUN_PLAN.source} (the launchpad's defaults)."
    ),
    config=None if RUN_PLAN is None else {"ops": plan_ops(RUN_PLAN)},
)


class InvalidateConfig(dg.Config):
    """Which cache rows to drop: ``sources`` (media paths), ``digests``, and/or ``stale: true`` (every row the
    datasets use whose source changed or vanished). ``dry_run`` only reports what would go."""

    sources: list[str] = []
    digests: list[str] = []
    stale: bool = False
    dry_run: bool = False


@dg.op(
    description="Delete cache rows (one Lance version, one lineage row) and record media_cache's new "
    "data version, so downstream assets show as stale until they are materialized again."
)
def invalidate_cache_entries(
    context: dg.OpExecutionContext,
    config: InvalidateConfig,
    workspace: WorkspaceResource,
    cache: MediaCacheResource,
):
    store = cache.open(workspace)
    value, current = latest_cache_value(context.instance)
    digests = list(config.digests)
    if config.stale:
        if value is None:
            raise dg.Failure(
                "stale: true needs a materialized media_cache (it names the rows the datasets use)"
            )
        digests += [s["digest"] for s in cache_state(store, value).stale]
    if not (config.sources or digests or config.stale):
        raise dg.Failure("invalidate_cache: select rows with sources, digests or stale: true")
    removed, selectors = [], []
    if config.sources:
        selectors.append({"sources": config.sources})
    if digests:
        selectors.append({"digests": digests})
    for sel in selectors:  # invalidate() intersects its selectors; here they add up
        report = store.invalidate(**sel, dry_run=config.dry_run)
        removed += report.digests
        for s in report.unmatched_sources + report.unmatched_digests:
            context.log.warning(f"no cache row matched {s}")
    context.log.info(f"{'would remove' if config.dry_run else 'removed'} {len(removed)} rows: {removed[:20]}")
    if value is not None and not config.dry_run:
        state = cache_state(store, value)
        if state.fingerprint != current:
            yield cache_changed_event(
                state, f"invalidate_cache removed {len(removed)} rows", value, detected_by="invalidate_cache"
            )
    yield dg.Output(removed)


@dg.job(
    description="Invalidate cache rows from the launchpad (the CLI equivalent: `reelrl cache invalidate`)."
)
def invalidate_cache():
    invalidate_cache_entries()
