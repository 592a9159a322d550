"""``reelrl demo``: materialize the whole graph in-process on the embedded default and summarise it."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from reelrl.interrupt import interrupted

DAGSTER_YAML = """# written by `reelrl demo`: no onboarding modal, no telemetry
nux:
  enabled: false
telemetry:
  enabled: false
"""


def prepare_dagster_home(home: str | Path) -> Path:
    """A persistent instance under the ReelRL workspace, so `dagster dev` shows the demo's runs:
    ``$DAGSTER_HOME`` when set, else ``<home>/dagster_home``."""
    dh = Path(os.environ.get("DAGSTER_HOME") or Path(home) / "dagster_home").resolve()
    dh.mkdir(parents=True, exist_ok=True)
    if not (dh / "dagster.yaml").exists():
        (dh / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dh)
    return dh


RUNNER_ENV = "REELRL_DEMO_RUNNER"  # set in the child process that runs the graph: the parent's pid


def demo_command(home: str | Path, minimal: bool, ray_address: str) -> int:
    """``reelrl demo``: the graph runs in a child process with a process group of its own, so a terminal's
    Ctrl-C reaches only this process, which hands it to the child's main process alone. Dagster stops the run
    there and records it as failed; the helpers it and Ray started (log tails and their watchers, Ray's
    processes, decode workers) are stopped by their owners instead of each printing a traceback."""
    if os.environ.get(RUNNER_ENV, "").isdigit():
        return _run_child(home, minimal, ray_address)
    argv = [sys.executable, "-m", "reelrl.cli", "demo", "--home", str(home), "--ray-address", ray_address]
    child = subprocess.Popen(
        [*argv, *(["--minimal"] if minimal else [])],
        env={**os.environ, RUNNER_ENV: str(os.getpid())},
        start_new_session=True,
    )
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            os.kill(child.pid, signal.SIGINT)


def _stop_when_orphaned() -> None:
    """Stop the run as on Ctrl-C if `reelrl demo` dies without handing one over (killed, or its terminal
    closed): the runner has a session of its own, so nothing else would stop it."""
    parent = int(os.environ[RUNNER_ENV])  # not getppid() now: the parent may be gone already

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _run_child(home: str | Path, minimal: bool, ray_address: str) -> int:
    import dagster as dg

    _stop_when_orphaned()
    try:
        run_demo(home=home, minimal=minimal, ray_address=ray_address)
    except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
        where = _stopped_at(dg.DagsterInstance.get()) if os.environ.get("DAGSTER_HOME") else "start-up"
    else:
        return 0
    # what the interrupted step left open (a Ray Data iterator) is closed now, while Ray is still up, not at
    # interpreter exit after Ray's shutdown, where it logs an error with a traceback
    gc.collect()
    return interrupted(
        f"during {where}; re-run `reelrl demo` to go on: what finished is reused (model, demo data, cached "
        "media), the warm start and training resume from their last checkpoints, evaluation from its saved "
        "predictions"
    )


def _stopped_at(instance) -> str:
    """The step(s) the newest run had started and not finished, its partition and run id."""
    import dagster as dg

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


def run_demo(home: str | Path = ".reelrl", minimal: bool = False, ray_address: str = "") -> dict:
    import dagster as dg

    from pipelines.definitions import resources
    from pipelines.demo import DEMO_OPS, MINIMAL_EVAL_OPS, MINIMAL_OPS, materialize_all

    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    dagster_home = prepare_dagster_home(home)
    t0 = time.perf_counter()
    try:
        outputs = materialize_all(
            dg.DagsterInstance.get(),
            resources(home=str(home), ray_address=ray_address),
            MINIMAL_OPS if minimal else DEMO_OPS,
            MINIMAL_EVAL_OPS if minimal else None,
        )
    except RuntimeError as exc:
        raise SystemExit(f"demo run failed ({exc}); see the log above") from exc
    summary = summarize(outputs, home, dagster_home, time.perf_counter() - t0)
    print(summary)
    return outputs


HEADLINE = {"reelrl_jsonl": "accuracy", "charades_sta": "mIoU"}


def summarize(out: dict, home: Path, dagster_home: Path, elapsed: float) -> str:
    cache, filt, run = out["media_cache"], out["filtered_train_set"], out["training_run"]
    lines = ["", "=" * 72, f"ReelRL demo finished in {elapsed / 60:.1f} min", "=" * 72]
    lines.append(
        f"media cache   : {cache['hits']} hits, {cache['built']} misses decoded, {cache['failed']} failed "
        f"(Lance version {cache['version']}, data version {cache['data_version']}) at {cache['uri']}"
    )
    lines.append(f"filter        : kept {filt['kept']}, dropped {filt['dropped']} (0 < pass rate < 1)")
    rewards = [h["reward/overall"] for h in run["history"]]
    lines.append(f"reward / step : {' '.join(f'{r:.2f}' for r in rewards)}")
    if len(rewards) >= 20:
        first, last = sum(rewards[:10]) / 10, sum(rewards[-10:]) / 10
        lines.append(f"                mean of the first 10 steps {first:.3f}, of the last 10 {last:.3f}")
    lines.append("scores in percent (robust mode; official mode in the UI, eval_report and results.json):")
    cells = {k: v for k, v in out.items() if k.startswith("checkpoint_eval[")}
    for bench, metric in HEADLINE.items():
        vals = []
        for label, name in out["checkpoints"].items():
            cell = cells.get(f"checkpoint_eval[{name}|{bench}]")
            value = cell and cell["aggregates"].get("robust", {}).get(metric)
            if isinstance(value, (int, float)):
                vals.append(f"{label} {value:.1f}")
        if vals:
            lines.append(f"  {bench:14s} {metric:9s} " + "  ".join(vals))
    lines.append("checkpoints   : " + ", ".join(f"{k}={v}" for k, v in out["checkpoints"].items()))
    lines.append(f"checkpoint    : {run['checkpoint']}")
    lines.append(f"artifacts     : {home}  (models/, data/, cache/, runs/, evals/, reports/)")
    lines.append(
        f"open the UI   : make ui   (= DAGSTER_HOME={dagster_home} .venv/bin/dagster dev -w workspace.yaml"
    )
    lines.append(
        "                -h 127.0.0.1 -p 3000), then http://127.0.0.1:3000 -> Assets (the runs are under Runs)"
    )
    return "\n".join(lines)
