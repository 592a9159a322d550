"""Automation: evaluate every new checkpoint (sensor), re-evaluate the newest ones (schedule), and notice
cache changes made outside Dagster (sensor). The first two are off by default: switch them on under
Automation in the UI.

"Nothing evaluated twice": a cell (checkpoint, benchmark) is requested only when it has no successful
materialization for the checkpoint's current revision; the sensor's cursor remembers the revisions it
has handled, and run keys ``<name>@<revision>/<benchmark>`` stop duplicate runs across ticks.
"""

import json

import dagster as dg

from assets.checkpoints import checkpoint
from assets.evaluations import checkpoint_eval
from assets.lineage import cache_changed_event, cache_state, latest_cache_value
from assets.partitions import CHECKPOINTS, cell_key
from assets.resources import BenchmarksResource, CheckpointsResource, MediaCacheResource, WorkspaceResource

CHECKPOINT_SENSOR_INTERVAL_S = 30


def materialized_revision(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str, field: str):
    """The checkpoint revision (metadata ``field``) the latest materialization of this partition recorded,
    None if it has none."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    mat = records[0].asset_materialization
    value = mat.metadata.get(field) if mat else None
    return getattr(value, "value", value)


def evaluated_revision(instance: dg.DagsterInstance, name: str, benchmark: str) -> str | None:
    """The model revision of the latest successful evaluation of this cell, None if it has none."""
    return materialized_revision(
        instance, checkpoint_eval.key, str(cell_key(name, benchmark)), "model_revision"
    )


def cell_requests(instance, infos, benchmarks: list[str], tag: str) -> list[dg.RunRequest]:
    """Runs for the cells of ``infos`` x ``benchmarks`` not yet evaluated at the checkpoint's revision."""
    out = []
    for info in infos:
        for bench in benchmarks:
            if evaluated_revision(instance, info.name, bench) == (info.revision or ""):
                continue
            out.append(
                dg.RunRequest(
                    run_key=f"{info.name}@{info.revision}/{bench}",
                    partition_key=cell_key(info.name, bench),
                    asset_selection=[checkpoint_eval.key],
                    tags={"reelrl/trigger": tag},
                )
            )
    return out


@dg.sensor(
    name="new_checkpoints",
    minimum_interval_seconds=CHECKPOINT_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
    asset_selection=[checkpoint, checkpoint_eval],
    description="Finds new complete checkpoints (ReelRL runs and checkpoints.watch_dirs / $REELRL_WATCH_DIRS), "
    "registers them as partitions, checks their weights and evaluates them on benchmarks.auto. "
    "Half-written or corrupt folders are skipped with the reason logged and looked at again next tick.",
)
def new_checkpoints(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    checkpoints: CheckpointsResource,
    benchmarks: BenchmarksResource,
) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    found, skipped = checkpoints.discover(workspace)
    for path, reason in skipped:
        context.log.info(f"skipped {path}: {reason}")
    new = [c for c in found if seen.get(c.name) != (c.revision or "")]
    if not new:
        return dg.SensorResult(skip_reason=f"no new checkpoint ({len(found)} known, {len(skipped)} skipped)")
    known = set(context.instance.get_dynamic_partitions(CHECKPOINTS.name))
    to_add = [c.name for c in new if c.name not in known]
    runs = [
        dg.RunRequest(
            run_key=f"{c.name}@{c.revision}/checkpoint",
            partition_key=c.name,
            asset_selection=[checkpoint.key],
            tags={"reelrl/trigger": "new_checkpoints"},
        )
        for c in new
        # not for one already recorded at this revision (`reelrl demo`, a backfill, a reset cursor)
        if materialized_revision(context.instance, checkpoint.key, c.name, "revision") != (c.revision or "")
    ]
    runs += cell_requests(context.instance, new, list(benchmarks.auto), "new_checkpoints")
    for c in new:
        context.log.info(f"new checkpoint {c.name} ({c.path}, revision {c.revision})")
        seen[c.name] = c.revision or ""
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[CHECKPOINTS.build_add_request(to_add)] if to_add else [],
        cursor=json.dumps(seen, sort_keys=True),
    )


reevaluation_job = dg.define_asset_job(
    "reevaluate_checkpoints",
    selection=[checkpoint_eval],
    partitions_def=checkpoint_eval.partitions_def,
    description="Evaluation cells, one run per (checkpoint, benchmark).",
)


@dg.schedule(
    name="reevaluate_latest",
    cron_schedule="0 3 * * *",
    job=reevaluation_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: the benchmarks.schedule_latest newest checkpoints on benchmarks.scheduled "
    "(default: benchmarks.auto); cells already evaluated at the checkpoint's revision are skipped.",
)
def reevaluate_latest(
    context: dg.ScheduleEvaluationContext,
    workspace: WorkspaceResource,
    checkpoints: CheckpointsResource,
    benchmarks: BenchmarksResource,
):
    found, _ = checkpoints.discover(workspace)
    latest = sorted(found, key=lambda c: c.mtime)[-max(benchmarks.schedule_latest, 0) :] if found else []
    names = [c.name for c in latest]
    known = set(context.instance.get_dynamic_partitions(CHECKPOINTS.name))
    if missing := [n for n in names if n not in known]:
        context.instance.add_dynamic_partitions(CHECKPOINTS.name, missing)
    runs = cell_requests(
        context.instance, latest, list(benchmarks.scheduled or benchmarks.auto), "reevaluate_latest"
    )
    if not runs:
        return dg.SkipReason(f"latest checkpoints {names} are evaluated on every scheduled benchmark")
    return runs


@dg.sensor(
    name="media_cache_changes",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the rows of the Lance cache that the datasets use; when they change outside a "
    "materialization (`reelrl cache invalidate`, an edited or deleted source video) it records a new "
    "data version of media_cache, so the UI marks every downstream asset stale.",
)
def media_cache_changes(
    context: dg.SensorEvaluationContext, workspace: WorkspaceResource, cache: MediaCacheResource
) -> dg.SensorResult:
    value, current = latest_cache_value(context.instance)
    if value is None:
        return dg.SensorResult(skip_reason="media_cache has not been materialized yet")
    state = cache_state(cache.open(workspace), value)
    if state.fingerprint == current:
        return dg.SensorResult(skip_reason=f"cache rows unchanged (data version {current})")
    reason = (
        f"{len(state.missing)} rows the datasets use were invalidated or deleted, {len(state.stale)} are stale "
        f"(source changed); materialize media_cache to rebuild them"
    )
    context.log.info(reason)
    return dg.SensorResult(
        asset_events=[cache_changed_event(state, reason, value, detected_by="media_cache_changes")]
    )
