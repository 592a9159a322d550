"""The embedded default run: configs (the demo's and the minimal end-to-end test's) and the in-process
sequence ``reelrl demo`` and the tests materialize: the training graph in one run, then one run per
checkpoint and per evaluation cell, then the report; and, for the CLI that runs it, the persistent instance
it runs on and where a run stopped by Ctrl-C stood.

The assets' config defaults *are* the embedded default (tiny model, synthetic data, sizes for a 2-core
CPU machine), so "Materialize all" in the UI and ``reelrl demo`` run the same thing.
"""

import dagster as dg

DEMO_OPS: dict = {}
DEMO_BENCHMARKS = ["reelrl_jsonl", "charades_sta"]

# The smallest run that still exercises every asset for real (used by the end-to-end tests).
MINIMAL_OPS = {
    "demo_dataset": {"config": {"n_train": 6, "n_val": 6}},
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
# The demo's cells evaluate on the frames the tiny model was trained on (the media cache's spec), chosen here
# explicitly: a cell's default (the same as `reelrl eval run`'s) is the benchmark's documented settings.
DEMO_EVAL_OPS = {"checkpoint_eval": {"config": {"media_spec": "training"}}}
MINIMAL_EVAL_OPS = {"checkpoint_eval": {"config": {"media_spec": "training", "max_new_tokens": 12}}}


def run_config(ops: dict, log_level: str = "INFO") -> dict:
    return {"ops": ops, "loggers": {"console": {"config": {"log_level": log_level}}}}


def failed_steps(result) -> str:
    """``step: error`` for each step of a run that failed, from its events."""
    out = []
    for event in result.all_events:
        if event.is_step_failure:
            err = event.step_failure_data.error
            cause = err.cause or err
            # the user's exception as raised (all of it: a data check lists every bad row), not its traceback
            out.append(f"{event.step_key}: {(cause.message or cause.cls_name).strip()}")
    return "\n".join(out) or "see the log above"


INTERRUPTS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}
# what a run stopped by Ctrl-C raises in the process that materializes it
INTERRUPTIONS = (KeyboardInterrupt, dg.DagsterExecutionInterruptedError)


def home_instance() -> dg.DagsterInstance:
    """The persistent instance under ``$DAGSTER_HOME`` (which ``reelrl``'s ``prepare_dagster_home`` sets), where
    ``reelrl demo`` and ``reelrl train`` record their runs so that ``dagster dev`` shows them."""
    return dg.DagsterInstance.get()


def stopped_at(instance: dg.DagsterInstance) -> str:
    """The step(s) the newest run had started and not finished, its partition and run id."""
    runs = instance.get_runs(limit=1)
    if not runs:
        return "start-up (no run had started)"
    run = runs[0]
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    started, finished = [], set()
    for record in instance.get_records_for_run(run.run_id, of_type=kinds).records:
        event = record.event_log_entry.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_START:
            started.append(event.step_key)
        else:
            finished.add(event.step_key)
    running = [k for k in started if k not in finished]
    if not started:  # the run had just begun: name what it materializes
        running = sorted(k.to_user_string() for k in run.asset_selection or []) or ["the start of a run"]
    steps = ", ".join(running) or "a pause between steps"
    partition = run.tags.get("dagster/partition")
    return f"{steps}{f' [{partition}]' if partition else ''} (run {run.run_id[:8]})"


def was_interrupted(result) -> bool:
    """Whether a step of the run failed because the run was interrupted (Ctrl-C): with ``raise_on_error``
    off, Dagster reports that as a step failure."""
    for event in result.all_events:
        if event.is_step_failure:
            err = event.step_failure_data.error
            if {err.cls_name, err.cause and err.cause.cls_name} & INTERRUPTS:
                return True
    return False


def failed_checks(result) -> list[str]:
    """``<asset>:<check>: <description>`` of every blocking asset check that failed in the run (its step's
    error names only the check; the description says what it found, e.g. each undecodable file)."""
    return [
        f"{e.asset_key.to_user_string()}:{e.check_name}: {e.description or 'failed'}"
        for e in result.get_asset_check_evaluations()
        if e.blocking and not e.passed
    ]


def materialize_all(
    instance: dg.DagsterInstance,
    resources: dict,
    ops: dict,
    eval_ops: dict | None = None,
    benchmarks: list[str] = DEMO_BENCHMARKS,
    log_level: str = "INFO",
    training: list[dg.AssetsDefinition] | None = None,
) -> dict:
    """Training graph, then base / warm-start / trained checkpoints x ``benchmarks``, then the report.
    ``training``: the training assets (default: the code location's, from ``$REELRL_DATASETS``; ``reelrl
    train`` passes those of its run config). Returns every asset's output (cells keyed
    ``checkpoint_eval[<ckpt>|<bench>]``); raises RuntimeError on a failed run (for a failed blocking check, such
    as ``failed_media_rate``, with what the check found)."""
    from pipelines.jobs import ASSET_CHECKS, EVAL_ASSETS, TRAINING_ASSETS

    training = training or TRAINING_ASSETS
    everything = [*training, *EVAL_ASSETS, *ASSET_CHECKS]

    def run(selection, partition_key=None, config=None):
        result = dg.materialize(
            everything,
            selection=selection,
            partition_key=partition_key,
            resources=resources,
            run_config=run_config(config or {}, log_level),
            instance=instance,
            raise_on_error=False,  # the failed step is in the log once; the caller gets one line
        )
        if not result.success and was_interrupted(result):
            raise dg.DagsterExecutionInterruptedError()  # the caller says where the run stood (exit 130)
        what = "the training graph" if len(selection) > 1 else selection[0]
        what += f" [{partition_key}]" if partition_key else ""
        if not result.success and (checks := failed_checks(result)):
            raise RuntimeError(f"{what} stopped at a blocking check:\n" + "\n".join(checks))
        if not result.success:
            raise RuntimeError(f"{what} failed at {failed_steps(result)}")
        return result

    keys = [k for a in training for k in a.keys]
    result = run(keys, config=ops)
    out = {k.to_user_string(): result.asset_value(k) for k in keys}
    # the checkpoints each label names (the warm start is the base model when it made no step)
    labelled = {
        "base": out["base_model"]["checkpoint_name"],
        "warm_start": out["sft_warm_start"]["checkpoint_name"],
        "trained": out["training_run"]["checkpoint_name"],
    }
    names = list(dict.fromkeys(labelled.values()))
    for name in names:
        out[f"checkpoint[{name}]"] = run(["checkpoint"], name).output_for_node("checkpoint")
        for bench in benchmarks:
            key = dg.MultiPartitionKey({"checkpoint": name, "benchmark": bench})
            cell = run(["checkpoint_eval"], key, eval_ops).output_for_node("checkpoint_eval")
            out[f"checkpoint_eval[{name}|{bench}]"] = cell
    if benchmarks:
        run(["eval_report"])
    out["checkpoints"] = labelled
    # what a person calls them (the partition keys above are unique but unreadable)
    out["checkpoint_labels"] = {
        "base": "base",
        "warm_start": "warm start",
        "trained": f"step {out['training_run']['steps']}",
    }
    return out
