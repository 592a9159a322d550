"""The demo's margin against its noise: the embedded default graph (``reelrl demo``'s configs) run once per
seed in a fresh home, held-out accuracy of the warm start and of the trained checkpoint, and the spread.

```
python benchmarks/demo_seeds.py --seeds 1 2 3            # vary the RL run's seeds (trainer.seed, data.seed)
python benchmarks/demo_seeds.py --seeds 1 2 3 --vary all  # also the base model's, warm start's and
                                                          # pass-rate rollouts' seeds (a new warm start per seed)
```

Seed 1 with ``--vary rl`` is the demo as shipped. The data (``demo_dataset``: the train and held-out splits)
stays the same for every seed, so the scores are over the same 128 held-out prompts. Writes
``benchmarks/demo/seeds_<vary>.json`` (per-seed figures, the gain's mean, min, max and standard deviation,
wall time and the machine's load) and prints the table.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

BENCH = "reelrl_jsonl"


def seeded_ops(base: dict, seed: int, vary: str) -> dict:
    """The demo's op configs with ``seed`` put into the RL run's seeds (and, for ``vary='all'``, into every
    seed of the training procedure before it)."""
    ops = copy.deepcopy(base)

    def put(op: str, path: list[str], value) -> None:
        node = ops.setdefault(op, {}).setdefault("config", {})
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    put("training_run", ["trainer", "seed"], seed)
    put("training_run", ["data", "seed"], seed)
    if vary == "all":
        put("base_model", ["seed"], seed)
        put("sft_warm_start", ["seed"], seed)
        put("rollout_pass_rates", ["seed"], seed)
    return ops


def accuracy(out: dict, role: str) -> float:
    name = out["checkpoints"][role]
    return out[f"checkpoint_eval[{name}|{BENCH}]"]["aggregates"]["robust"]["accuracy"]


def run_seed(seed: int, vary: str, workdir: Path) -> dict:
    import dagster as dg

    from pipelines.definitions import resources
    from pipelines.demo import DEMO_EVAL_OPS, DEMO_OPS, materialize_all

    home, dagster_home = workdir / f"home-{seed}", workdir / f"dagster-{seed}"
    dagster_home.mkdir(parents=True)
    t0 = time.perf_counter()
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        out = materialize_all(
            instance, resources(home=str(home)), seeded_ops(DEMO_OPS, seed, vary), DEMO_EVAL_OPS, [BENCH]
        )
    rewards = [h["reward/overall"] for h in out["training_run"]["history"]]
    warm, trained = accuracy(out, "warm_start"), accuracy(out, "trained")
    return {
        "seed": seed,
        "filter_kept": out["filtered_train_set"]["kept"],
        "filter_dropped": out["filtered_train_set"]["dropped"],
        "reward_first10": sum(rewards[:10]) / 10,
        "reward_last10": sum(rewards[-10:]) / 10,
        "base": accuracy(out, "base"),
        "warm_start": warm,
        "trained": trained,
        "gain": trained - warm,
        "wall_s": time.perf_counter() - t0,
    }


def summary(rows: list[dict]) -> dict:
    gains = [r["gain"] for r in rows]
    return {
        "gain_mean": statistics.fmean(gains),
        "gain_min": min(gains),
        "gain_max": max(gains),
        "gain_std": statistics.stdev(gains) if len(gains) > 1 else 0.0,
    }


def table(rows: list[dict], stats: dict) -> str:
    lines = [
        "seed  filter kept/dropped  reward 1-10 -> 41-50  held-out accuracy: base, warm start -> trained  gain",
    ]
    for r in rows:
        lines.append(
            f"{r['seed']:>4}  {r['filter_kept']:>6} / {r['filter_dropped']:<11}  "
            f"{r['reward_first10']:.3f} -> {r['reward_last10']:.3f}        "
            f"{r['base']:.1f}, {r['warm_start']:.1f} -> {r['trained']:.1f}{'':20s}{r['gain']:+.1f}"
        )
    lines.append(
        f"gain over {len(rows)} seeds: mean {stats['gain_mean']:+.1f}, min {stats['gain_min']:+.1f}, "
        f"max {stats['gain_max']:+.1f}, std {stats['gain_std']:.1f} points (one held-out prompt = 0.78)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--vary", choices=["rl", "all"], default="rl")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "demo" / f"seeds_{args.vary}.json"
    rows = []
    with tempfile.TemporaryDirectory(prefix="reelrl-demo-seeds-") as tmp:
        for seed in args.seeds:
            rows.append(run_seed(seed, args.vary, Path(tmp)))
            print(table(rows, summary(rows)).splitlines()[-2], flush=True)
    stats = summary(rows)
    print(table(rows, stats))
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "vary": args.vary,
        "runs": rows,
        **stats,
        "machine": {
            "cpus": os.cpu_count(),
            "load_1min_at_end": os.getloadavg()[0],
            "cpu": platform.processor(),
        },
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
