"""Seconds per RL step for each model family on its tiny checkpoint, and the ratio to Qwen2-VL.

One step is ``RLTrainer.step`` as in training: rollouts with the HF engine (``worker.rollout.n`` responses
per prompt, sampled), rewards, old log-probs, the policy loss's backward and the AdamW step. Every family
gets the same batch: 2 video prompts (4 frames at the family's resize factor), n=4, 8 new tokens.

The families are timed in turns (one step of each, round after round; the order rotates every round), so
load from other processes falls on all of them alike; each family's first step is an untimed warm-up. The
median over rounds is printed with the 1-minute load average before and after, and the ratio to qwen2_vl
from the same run.

    .venv/bin/python benchmarks/family_steps.py [--rounds 5] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASELINE = "qwen2_vl"


def _items(factor: int, step: int):
    from cache_store.types import CachedMedia
    from training.data.items import TrainItem

    rng = np.random.default_rng(step)
    return [
        TrainItem(
            f"s{step}-{i}", "Is there a red square?", "boolean", "video", ["yes", "no"][i % 2],
            media=[
                CachedMedia(
                    f"d{step}-{i}", f"/v{step}-{i}.mp4", "video",
                    rng.integers(0, 255, (4, factor, factor, 3), dtype=np.uint8),
                    source_fps=8.0, total_frames=16, indices=[0, 5, 10, 15], sample_fps=2.0,
                )
            ],
        )
        for i in range(2)
    ]  # fmt: skip


def _trainer(model: str, out: Path):
    from training.config import load_config
    from training.loop.trainer import RLTrainer

    cfg = load_config(
        overrides=[
            f"model_path={model}", "worker.rollout.n=4", "worker.rollout.max_new_tokens=8",
            "worker.actor.lr=1e-3", "data.rollout_batch_size=2", "trainer.logger=[jsonl]",
        ]
    )  # fmt: skip
    return RLTrainer(cfg, model, out).setup()


def main() -> int:
    from demo_kit.tiny_models import FAMILIES, build_tiny_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed steps per family (after one warm-up)")
    ap.add_argument("--out", type=Path, help="also write the numbers as JSON")
    args = ap.parse_args()
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="family-steps-") as tmp:
        root = Path(tmp)
        trainers = {
            f: _trainer(str(build_tiny_model(f, root / "models" / f, seed=0)), root / f) for f in FAMILIES
        }
        for f, t in trainers.items():  # warm-up
            t.step(_items(t.processor.video.factor, 0))
        times: dict[str, list[float]] = {f: [] for f in FAMILIES}
        for r in range(args.rounds):
            order = FAMILIES[r % len(FAMILIES) :] + FAMILIES[: r % len(FAMILIES)]
            for f in order:
                t = trainers[f]
                items = _items(t.processor.video.factor, r + 1)
                t0 = time.perf_counter()
                t.step(items)
                times[f].append(time.perf_counter() - t0)
    load_after = os.getloadavg()[0]
    med = {f: statistics.median(v) for f, v in times.items()}
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs")
    print(f"{'family':<14} {'s/step (median)':>16} {'min':>7} {'max':>7} {'vs ' + BASELINE:>12}")
    for f in FAMILIES:
        print(
            f"{f:<14} {med[f]:>16.3f} {min(times[f]):>7.3f} {max(times[f]):>7.3f} "
            f"{med[f] / med[BASELINE]:>11.2f}x"
        )
    if args.out:
        doc = {"rounds": args.rounds, "load": [load_before, load_after], "seconds": times, "median": med}
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
