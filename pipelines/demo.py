"""The embedded default run: configs (the demo's and the minimal end-to-end test's) and the in-process
sequence ``reelrl demo`` and the tests materialize: the training graph in one run, then one run per
checkpoint and per evaluation cell, then the report.

The assets' config defaults *are* the embedded default (tiny model, synthetic data, sizes for a 2-core
CPU machine), so "Materialize all" in the UI and ``reelrl demo`` run the same thing.
"""

import dagster as dg
from dagster._core.errors import (
    DagsterAssetCheckFailedError,
)  # not exported by dagster; raised by blocking checks

DEMO_OPS: dict = {}
DEMO_BENCHMARKS = ["reelrl_jsonl", "charades_sta"]

# The smallest run that still exercises every asset for real (used by the end-to-end tests).
MINIMAL_OPS = {
    "demo_dataset": {"config": {"n_train": 6, "n_test": 6}},
    "media_cache": {"config": {"workers": 1}},
    "sft_warm_start": {"config": {"steps": 2, "batch_size": 4}},
    "rollout_pass_rates": {"config": {"k": 2, "max_new_tokens": 12}},
    # a 2-step warm start solves (almost) nothing: keep every row so RL still has data
    "filtered_train_set": {"config": {"low": -1.0, "high": 2.0}},
    "training_run": {
        "config": {
            "trainer": {"total_steps": 2},
            "data": {"rollout_batch_size": 2},
            "worker": {"rollout": {"n": 2, "max_new_tokens": 12}},
        }
    },
}
MINIMAL_EVAL_OPS = {"checkpoint_eval": {"config": {"max_new_tokens": 12}}}


def run_config(ops: dict, log_level: str = "INFO") -> dict:
    return {"ops": ops, "loggers": {"console": {"config": {"log_level": log_level}}}}


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """``<asset>:<check>: <description>`` of every asset check that failed in the run."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    out = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            out.append(f"{name}: {evaluation.description or 'failed'}")
    return out


def materialize_all(
    instance: dg.DagsterInstance,
    resources: dict,
    ops: dict,
    eval_ops: dict | None = None,
    benchmarks: list[str] = DEMO_BENCHMARKS,
    log_level: str = "INFO",
    files: list | None = None,
) -> dict:
    """Training graph, then base / warm-start / trained checkpoints x ``benchmarks``, then the report.
    ``files`` (``assets.sources.DatasetFile``s) replaces the code location's dataset files (``$REELRL_DATASETS``).
    Returns every asset's output (cells keyed ``checkpoint_eval[<ckpt>|<bench>]``); raises RuntimeError on a
    failed run (for a failed blocking check, such as ``failed_media_rate``, with what the check found)."""
    from pipelines.definitions import ALL_ASSETS, ASSET_CHECKS, EVAL_ASSETS
    from pipelines.jobs import TRAINING_ASSETS, training_assets

    training = TRAINING_ASSETS if files is None else training_assets(files)
    everything = [*(ALL_ASSETS if files is None else [*training, *EVAL_ASSETS]), *ASSET_CHECKS]

    def run(selection, partition_key=None, config=None):
        try:
            result = dg.materialize(
                everything,
                selection=selection,
                partition_key=partition_key,
                resources=resources,
                run_config=run_config(config or {}, log_level),
                instance=instance,
            )
        except DagsterAssetCheckFailedError:  # its message names only the check: say what it found
            failed = "\n".join(failed_checks(instance, instance.get_runs(limit=1)[0].run_id))
            raise RuntimeError(
                f"materializing {selection} ({partition_key or 'unpartitioned'}) stopped at a blocking check:\n"
                f"{failed}"
            ) from None
        if not result.success:
            raise RuntimeError(f"materializing {selection} ({partition_key or 'unpartitioned'}) failed")
        return result

    keys = [k for a in training for k in a.keys]
    result = run(keys, config=ops)
    out = {k.to_user_string(): result.asset_value(k) for k in keys}
    names = list(
        dict.fromkeys(
            [
                out["base_model"]["checkpoint_name"],
                out["sft_warm_start"]["checkpoint_name"],
                out["training_run"]["checkpoint_name"],
            ]
        )
    )
    for name in names:
        out[f"checkpoint[{name}]"] = run(["checkpoint"], name).output_for_node("checkpoint")
        for bench in benchmarks:
            key = dg.MultiPartitionKey({"checkpoint": name, "benchmark": bench})
            cell = run(["checkpoint_eval"], key, eval_ops).output_for_node("checkpoint_eval")
            out[f"checkpoint_eval[{name}|{bench}]"] = cell
    run(["eval_report"])
    out["checkpoints"] = {"base": names[0], "warm_start": names[min(1, len(names) - 1)], "trained": names[-1]}
    return out
