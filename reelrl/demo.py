"""``reelrl demo``: materialize the whole graph in-process on the embedded default and summarise it."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
    lines.append("scores (robust mode; official mode in the UI, eval_report and results.json):")
    cells = {k: v for k, v in out.items() if k.startswith("checkpoint_eval[")}
    for bench, metric in HEADLINE.items():
        vals = []
        for label, name in out["checkpoints"].items():
            cell = cells.get(f"checkpoint_eval[{name}|{bench}]")
            value = cell and cell["aggregates"].get("robust", {}).get(metric)
            if isinstance(value, (int, float)):
                vals.append(f"{label} {value:.3f}")
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
