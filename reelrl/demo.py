"""``reelrl demo``: materialize the whole graph in-process on the embedded default and summarise it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from reelrl.runner import in_runner, launch, prepare_dagster_home, run_graph


def demo_command(home: str | Path, minimal: bool, ray_address: str) -> int:
    """``reelrl demo``: the graph runs in a runner process of its own (``reelrl.runner``)."""
    if not in_runner():
        argv = ["demo", "--home", str(home), "--ray-address", ray_address]
        return launch([*argv, *(["--minimal"] if minimal else [])])
    return run_graph(
        lambda: run_demo(home=home, minimal=minimal, ray_address=ray_address), rerun="re-run `reelrl demo`"
    )


def run_demo(home: str | Path = ".reelrl", minimal: bool = False, ray_address: str = "") -> dict:
    from pipelines.definitions import resources
    from pipelines.demo import (
        DEMO_EVAL_OPS,
        DEMO_OPS,
        MINIMAL_EVAL_OPS,
        MINIMAL_OPS,
        home_instance,
        materialize_all,
    )

    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    dagster_home = prepare_dagster_home(home)
    ops = demo_ops(MINIMAL_OPS if minimal else DEMO_OPS)
    t0 = time.perf_counter()
    try:
        outputs = materialize_all(
            home_instance(),
            resources(home=str(home), ray_address=ray_address),
            ops,
            MINIMAL_EVAL_OPS if minimal else DEMO_EVAL_OPS,
        )
    except RuntimeError as exc:
        raise SystemExit(f"demo run failed ({exc}); see the log above") from exc
    curve = write_reward_curve(outputs, home)
    summary = summarize(outputs, home, dagster_home, time.perf_counter() - t0, curve)
    print(summary)
    return outputs


def demo_ops(ops: dict) -> dict:
    """The demo's asset configs for the graph the code location serves: with ``$REELRL_DATASETS`` or
    ``$REELRL_RUN_CONFIG`` your files replace the synthetic set, so ``demo_dataset``'s config goes."""
    if os.environ.get("REELRL_DATASETS") or os.environ.get("REELRL_RUN_CONFIG"):
        return {k: v for k, v in ops.items() if k != "demo_dataset"}
    return ops


# benchmark -> (headline metric, what the number means)
HEADLINE = {
    "reelrl_jsonl": (
        "accuracy",
        "share of the held-out split (val.jsonl, never trained on) answered right, greedy decoding",
    ),
    "charades_sta": (
        "mIoU",
        (
            "mean overlap of the predicted and annotated moment on Charades-STA's real records (stand-in "
            "videos); the demo does not train moment retrieval, so expect ~0 for every checkpoint"
        ),
    ),
}
ROLES = {"base": "base", "warm_start": "warm start", "trained": "trained"}
SMOOTH = 5  # steps in the sparkline's moving mean


def write_reward_curve(out: dict, home: Path) -> Path | None:
    """The RL run's per-step reward curves as ``<home>/reports/reward_curve.png`` (None without steps)."""
    from training.outputs.curves import plot_curves

    hist = out["training_run"]["history"]
    if not hist:
        return None
    return plot_curves(hist, home / "reports" / "reward_curve.png", title="demo GRPO run: reward per step")


def summarize(
    out: dict, home: Path, dagster_home: Path, elapsed: float, curve_png: Path | None = None
) -> str:
    from reelrl.sparkline import moving_mean, sparkline

    cache, filt, run = out["media_cache"], out["filtered_train_set"], out["training_run"]
    labels = {
        role: out.get("checkpoint_labels", {}).get(role, ROLES.get(role, role)) for role in out["checkpoints"]
    }
    lines = ["", "=" * 72, f"ReelRL demo finished in {elapsed / 60:.1f} min", "=" * 72]
    lines.append(
        f"media cache   : {cache['hits']} hits, {cache['built']} misses decoded, {cache['failed']} failed "
        f"(Lance version {cache['version']}, data version {cache['data_version']}) at {cache['uri']}"
    )
    lines.append("                (videos decoded once into frames; a re-run reads them back: all hits)")
    lines.append(f"filter        : {filter_line(filt)}")
    lines.append(
        "                (kept: prompts the warm start solves in some of its rollouts but not all; a prompt "
        "always or never solved gives GRPO no signal)"
    )
    rewards = [h["reward/overall"] for h in run["history"]]
    if rewards:
        smooth = moving_mean(rewards, SMOOTH)
        lines.append(
            f"reward / step : {sparkline(smooth)}  {len(rewards)} steps, {smooth[0]:.2f} -> {smooth[-1]:.2f} "
            f"(min {min(rewards):.2f}, max {max(rewards):.2f})"
        )
        lines.append(
            f"                (mean reward of each step's rollouts on training prompts, accuracy and format as the "
            f"trainer weighs them; "
            f"moving mean over {SMOOTH} steps)"
        )
    if len(rewards) >= 20:
        first, last = sum(rewards[:10]) / 10, sum(rewards[-10:]) / 10
        lines.append(f"                mean of the first 10 steps {first:.3f}, of the last 10 {last:.3f}")
    if curve_png:
        lines.append(f"reward curve  : {curve_png}")
    lines.append("scores in percent (robust mode; official mode in the UI, eval_report and results.json):")
    cells = {k: v for k, v in out.items() if k.startswith("checkpoint_eval[")}
    width = max([len(v) for v in labels.values()] + [6])
    rows = []
    for bench, (metric, meaning) in HEADLINE.items():
        vals = {}
        for role, name in out["checkpoints"].items():
            cell = cells.get(f"checkpoint_eval[{name}|{bench}]")
            value = cell and cell["aggregates"].get("robust", {}).get(metric)
            if isinstance(value, (int, float)):
                vals[role] = value
        if not vals:
            continue
        row = f"  {bench:14s} {metric:9s}" + "".join(
            f"  {f'{vals[r]:.1f}' if r in vals else '—':>{width}s}" for r in out["checkpoints"]
        )
        if "warm_start" in vals and "trained" in vals:
            row += f"  {vals['trained'] - vals['warm_start']:+.1f} points"
        rows.append(row)
        rows.append(f"  {'':14s} ({meaning})")
    if rows:
        head = f"  {'benchmark':14s} {'metric':9s}" + "".join(
            f"  {labels[r]:>{width}s}" for r in out["checkpoints"]
        )
        if any(row.endswith(" points") for row in rows):
            head += f"  change ({labels['trained']} - {labels['warm_start']})"
        lines += [head, *rows]
    lines.append("checkpoints   : " + ", ".join(f"{labels[k]} = {v}" for k, v in out["checkpoints"].items()))
    lines.append("                (the Dagster partition keys; the UI shows each one's label as metadata)")
    lines.append(f"checkpoint    : {run['checkpoint']}")
    lines.append(f"artifacts     : {home}  (models/, data/, cache/, runs/, evals/, reports/)")
    lines += ui_lines(home, dagster_home)
    return "\n".join(lines)


def filter_line(filt: dict) -> str:
    """What the pass-rate filter did, with the bounds it used (not the defaults)."""
    kept = f"kept {filt['kept']}, dropped {filt['dropped']}"
    if not filt.get("enabled", True):
        return f"{kept} (off: no pass-rate rollouts, every row kept)"
    low, high = filt.get("low", 0.0), filt.get("high", 1.0)
    note = "" if (low, high) == (0.0, 1.0) else "; widened: keeps every row" if low < 0 and high > 1 else ""
    return f"{kept} ({low:g} < pass rate < {high:g}{note})"


def ui_lines(home: Path, dagster_home: Path, env: dict[str, str] | None = None) -> list[str]:
    """How to open the UI on the instance this run wrote to, with the code location's ``env`` (e.g. the run
    config whose assets it should show)."""
    env = dict(env or {})
    if dagster_home.resolve() != (home / "dagster_home").resolve():
        env["DAGSTER_HOME"] = str(dagster_home)
    prefix = "".join(f"{k}={v} " for k, v in env.items())
    return [
        f"open the UI   : {prefix}.venv/bin/reelrl ui --home {home}",
        f"                (dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000 on DAGSTER_HOME={dagster_home}),",
        "                then http://127.0.0.1:3000 -> Assets (the runs are under Runs)",
    ]
