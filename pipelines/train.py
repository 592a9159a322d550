"""``reelrl train``'s graph: the assets of a run config's dataset files, materialized in this process.

The same sequence as the demo (``pipelines.demo.materialize_all``): the training graph in one run (cache ->
pass-rate filter -> warm start -> RL -> checkpoints), then one run per (checkpoint, benchmark) evaluation cell,
then the report, all in the Dagster instance under ``<home>/dagster_home``, so the UI shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from assets.resources import BenchmarksResource
from pipelines.environment import resources
from pipelines.jobs import plan_files, plan_ops, training_assets
from pipelines.run_config import RunPlan


def plan_resources(plan: RunPlan, home: str, cache_uri: str = "", ray_address: str = "") -> dict:
    """The code location's resources with the run config's benchmarks."""
    out = resources(home=home, cache_uri=cache_uri, ray_address=ray_address)
    out["benchmarks"] = BenchmarksResource(
        annotations=plan.annotations, media_roots=plan.media_roots, auto=plan.benchmarks
    )
    return out


@dataclass
class RowReport:
    """Rows per dataset file that pass the load check, and every row that does not (all files together)."""

    rows: dict[str, int] = field(default_factory=dict)  # asset name -> valid rows
    invalid: list[str] = field(default_factory=list)  # "<file>:<line>: <what and the fix> [sample <id>]"
    skipped: list[str] = field(default_factory=list)  # media outside the media root (left out, as the asset)


def check_rows(plan: RunPlan) -> RowReport:
    """Every row of every file checked against its problem type, as its asset will (answer, options, media
    present), before anything expensive runs."""
    from training.data.samples import DatasetError, load_samples

    report = RowReport()
    for f in plan_files(plan):
        invalid: list = []
        try:
            samples = load_samples(
                f.path, f.media_root or None, skipped=report.skipped, skip_invalid=True, invalid=invalid
            )
        except DatasetError as err:  # the file itself (missing, not a dataset)
            report.invalid.append(str(err))
            continue
        report.rows[f.asset_name] = len(samples)
        report.invalid += [str(p) for p in invalid]
    return report


def materialize_plan(instance: dg.DagsterInstance, plan: RunPlan, resources: dict) -> dict:
    """Every asset's output, as ``materialize_all`` returns it; raises RuntimeError naming a failed run."""
    from pipelines.demo import materialize_all

    return materialize_all(
        instance,
        resources,
        plan_ops(plan),
        plan.eval_ops,
        benchmarks=plan.benchmarks,
        training=training_assets(plan_files(plan)),
    )
