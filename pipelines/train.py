"""``reelrl train``'s graph: the assets of a run config's dataset files, materialized in this process.

The same sequence as the demo (``pipelines.demo.materialize_all``): the training graph in one run (cache ->
pass-rate filter -> warm start -> RL -> checkpoints), then one run per (checkpoint, benchmark) evaluation cell,
then the report, all in the Dagster instance under ``<home>/dagster_home``, so the UI shows them.
"""

from __future__ import annotations

import dagster as dg

from assets.resources import BenchmarksResource
from assets.sources import DatasetFile, dataset_files_of
from pipelines.run_config import RunPlan


def plan_files(plan: RunPlan) -> list[DatasetFile]:
    doc = {"train": plan.train_files, "val": plan.val_files, "media_root": plan.media_root}
    return dataset_files_of(doc, plan.source)


def plan_resources(plan: RunPlan, home: str, cache_uri: str = "", ray_address: str = "") -> dict:
    """The code location's resources with the run config's benchmarks."""
    from pipelines.definitions import resources

    out = resources(home=home, cache_uri=cache_uri, ray_address=ray_address)
    out["benchmarks"] = BenchmarksResource(
        annotations=plan.annotations, media_roots=plan.media_roots, auto=plan.benchmarks
    )
    return out


def launchpad_config(plan: RunPlan) -> dict:
    """The run config of the training job (``ops``), as the launchpad and ``dagster job execute`` take it."""
    return {"ops": plan.ops}


def materialize_plan(instance: dg.DagsterInstance, plan: RunPlan, resources: dict) -> dict:
    """Every asset's output, as ``materialize_all`` returns it; raises RuntimeError naming a failed run."""
    from pipelines.demo import materialize_all
    from pipelines.jobs import training_assets

    return materialize_all(
        instance,
        resources,
        plan.ops,
        plan.eval_ops,
        benchmarks=plan.benchmarks,
        training=training_assets(plan_files(plan)),
    )
