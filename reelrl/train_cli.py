"""``reelrl train --config run.yaml``: your dataset files and settings to a trained, evaluated checkpoint.

The run config (``pipelines.run_config``) is checked whole before anything runs; ``--dry-run`` prints what
it resolved to and what will be built. The graph then runs in this machine's Dagster instance under
``--home``, one process (``reelrl.runner``): Ctrl-C stops it with one line and exit status 130, and running
the same command again reuses what finished.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

from reelrl.runner import in_runner, launch, prepare_dagster_home, run_graph

EXIT_CONFIG = 2
RESOLVED = "run_config.resolved.yaml"  # written under --home: the run config as run, loadable as one


def add_train_parser(sub) -> None:
    t = sub.add_parser(
        "train",
        help="train and evaluate from a run config (EasyR1-shaped YAML: data, algorithm, worker, trainer, …)",
        description="Materialize the graph a run config describes: tensor cache -> pass-rate filter -> "
        "optional SFT warm start -> RL -> checkpoints -> evaluation. Exit status: 0 done, 1 a step failed, "
        "2 a bad run config (every problem listed), 130 interrupted.",
    )
    t.add_argument("--config", required=True, help="the run config YAML (see recipes/)")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_steps=20")
    t.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and the plan; run nothing"
    )
    t.add_argument(
        "--home",
        default="",
        help="artifact folder and Dagster instance (default: <REELRL_HOME or .reelrl>/experiments/<name>)",
    )
    t.add_argument(
        "--cache-uri",
        default="",
        help="the Lance media cache (default: $REELRL_CACHE_URI, else <REELRL_HOME or .reelrl>/cache, "
        "shared by every experiment)",
    )
    t.add_argument("--ray-address", default="", help="Ray cluster address (default: local Ray)")
    t.set_defaults(func=train_command)


def _paths(args, plan) -> tuple[Path, str]:
    base = Path(os.environ.get("REELRL_HOME") or ".reelrl")
    home = Path(args.home or base / "experiments" / plan.experiment_name).resolve()
    cache = args.cache_uri or os.environ.get("REELRL_CACHE_URI") or str((base / "cache").resolve())
    return home, cache


def train_command(args) -> int:
    from pipelines.run_config import load_run_config
    from training.config import ConfigError

    try:
        plan = load_run_config(args.config, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    home, cache = _paths(args, plan)
    if args.dry_run:
        print(describe(plan, home, cache))
        return 0
    if not in_runner():
        for note in plan.ignored:
            print(f"note: {note}", file=sys.stderr)
        if problem := row_problems(plan):
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_CONFIG
        argv = ["train", "--config", args.config, "--home", str(home), "--cache-uri", cache]
        return launch([*argv, "--ray-address", args.ray_address, *args.overrides])
    return run_graph(
        lambda: run_plan(plan, home, cache, args.ray_address), rerun="run the same `reelrl train` command"
    )


def row_problems(plan) -> str:
    """Every invalid row of every dataset file in one message, or "" (with ``data.skip_invalid`` they are
    dropped by the file assets, which list them)."""
    from pipelines.train import check_rows

    if plan.skip_invalid:
        return ""
    report = check_rows(plan)
    if not report.invalid:
        return ""
    return (
        f"{len(report.invalid)} invalid dataset row(s); fix each, or set data.skip_invalid=true to drop them:\n"
        + "\n".join(f"  {p}" for p in report.invalid)
    )


def run_plan(plan, home: Path, cache: str, ray_address: str = "") -> dict:
    from pipelines.demo import home_instance
    from pipelines.train import materialize_plan, plan_resources

    home.mkdir(parents=True, exist_ok=True)
    dagster_home = prepare_dagster_home(home)
    (home / RESOLVED).write_text(resolved_yaml(plan))
    t0 = time.perf_counter()
    try:
        out = materialize_plan(home_instance(), plan, plan_resources(plan, str(home), cache, ray_address))
    except RuntimeError as exc:
        raise SystemExit(f"reelrl train: {exc}; see the log above") from exc
    print(summarize(out, plan, home, dagster_home, time.perf_counter() - t0))
    return out


def resolved_yaml(plan) -> str:
    return yaml.safe_dump(plan.resolved, sort_keys=False, default_flow_style=False)


def describe(plan, home: Path, cache: str) -> str:
    """``--dry-run``: the resolved config, then what the run will build and where."""
    from pipelines.train import check_rows, plan_files

    files = plan_files(plan)
    rows = check_rows(plan)
    sft = plan.ops["sft_warm_start"]["config"]["steps"]
    filt = plan.ops["filtered_train_set"]["config"]
    lines = [f"# {plan.source}, resolved (every key, with the value that will be used)", resolved_yaml(plan)]
    lines.append("# plan")
    lines.append(
        "datasets      : "
        + ", ".join(
            f"{f.asset_name} <- {f.path} ({rows.rows.get(f.asset_name, 0)} valid rows)" for f in files
        )
    )
    for problem in rows.invalid:
        lines.append(
            f"invalid row   : {problem}" + (" (dropped: data.skip_invalid)" if plan.skip_invalid else "")
        )
    for skipped in rows.skipped:
        lines.append(f"skipped row   : {skipped}")
    lines.append(f"media cache   : {cache}")
    lines.append(
        "filter        : "
        + (
            f"{filt['low']:g} < pass rate < {filt['high']:g}"
            if plan.filter_enabled
            else "off (every row kept)"
        )
    )
    lines.append(f"warm start    : {f'{sft} SFT steps' if sft else 'none (RL starts from the base model)'}")
    rl = plan.rl
    lines.append(
        f"RL            : {rl.algorithm.adv_estimator} / {rl.worker.actor.loss_type}, "
        f"{rl.trainer.total_steps} steps x {rl.data.rollout_batch_size} prompts x n={rl.worker.rollout.n}"
        f"{f', {plan.num_workers} workers' if plan.num_workers > 1 else ''}"
    )
    lines.append(
        "evaluation    : "
        + (
            ", ".join(plan.benchmarks)
            + f" on the base{', warm-start' if sft else ''} and trained checkpoints"
            if plan.benchmarks
            else "none"
        )
    )
    lines.append(f"artifacts     : {home}")
    for note in plan.ignored:
        lines.append(f"note          : {note}")
    return "\n".join(lines)


def summarize(out: dict, plan, home: Path, dagster_home: Path, elapsed: float) -> str:
    from reelrl.demo import filter_line, ui_lines

    cache, filt, run = out["media_cache"], out["filtered_train_set"], out["training_run"]
    lines = [
        "",
        "=" * 72,
        f"reelrl train {plan.experiment_name}: finished in {elapsed / 60:.1f} min",
        "=" * 72,
    ]
    lines.append(
        f"media cache   : {cache['hits']} hits, {cache['built']} decoded, {cache['failed']} failed at {cache['uri']}"
    )
    lines.append(f"filter        : {filter_line(filt)}")
    rewards = [h["reward/overall"] for h in run["history"]]
    if rewards:
        k = max(1, min(10, len(rewards) // 2))
        first, last = sum(rewards[:k]) / k, sum(rewards[-k:]) / k
        lines.append(
            f"RL            : {run['steps']} steps; mean reward of the first {k} {first:.3f}, last {k} {last:.3f}"
        )
    cells = {k: v for k, v in out.items() if k.startswith("checkpoint_eval[")}
    if cells:
        lines.append("evaluation    : overall score in percent (official mode; robust in brackets)")
    labels = {}  # checkpoint name -> label: without a warm start, "warm start" is the base model
    for label, name in out["checkpoints"].items():
        labels.setdefault(name, label.replace("_", " "))
    for bench in plan.benchmarks:
        vals = []
        for name, label in labels.items():
            cell = cells.get(f"checkpoint_eval[{name}|{bench}]")
            if not cell:
                continue
            agg = cell["aggregates"]
            official, robust = agg.get("official", {}).get("overall"), agg.get("robust", {}).get("overall")
            text = f"{official:.1f}" if isinstance(official, (int, float)) else "n/a"
            if isinstance(robust, (int, float)):
                text += f" [{robust:.1f}]"
            vals.append(f"{label} {text}")
        lines.append(f"  {bench:14s} " + "  ".join(vals))
    lines.append(f"checkpoint    : {run['checkpoint']}")
    lines.append(f"metrics       : {run['metrics']}")
    lines.append(f"artifacts     : {home}  (runs/, evals/, reports/, run_config.resolved.yaml)")
    lines += ui_lines(home, dagster_home, {"REELRL_RUN_CONFIG": str(home / RESOLVED)})
    return "\n".join(lines)
