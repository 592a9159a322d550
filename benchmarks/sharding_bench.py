"""What FSDP2 costs and saves per rank: ``worker.actor.strategy=fsdp2`` vs ``replicate`` on two gloo ranks.

For each strategy the two ranks build an ``RLTrainer`` on the same tiny Qwen2.5-VL and run the same policy
updates (scripted rollouts, so both strategies train on identical data), then report per rank:

- ``train_state_mb``: the parameters, gradients and AdamW moments this rank holds (local shards under FSDP2);
- ``rollout_copy_mb``: the full copy FSDP2 keeps for generation (0 for replicate: it generates with the policy);
- ``update_s``: median wall time of one update (old log-probs, loss passes, optimizer step);
- ``sync_s``: the gather that refreshes the rollout copy before a step (FSDP2 only).

Ratios (fsdp2 / replicate) are printed from one run. On CPU the gloo collectives dominate the time of a
model this small, so ``update_s`` says little about a GPU; the memory ratio is the point: sharded training
state is 1/W of the replicated one, plus one unsharded copy of the weights for generation.

    .venv/bin/python benchmarks/sharding_bench.py [--updates 5] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _mb(tensors) -> float:
    total = 0
    for t in tensors:
        if t is None or not torch.is_tensor(t):
            continue
        local = t.to_local() if hasattr(t, "to_local") else t
        total += local.numel() * local.element_size()
    return total / 2**20


def _experience(trainer, rank: int):
    from training.data.items import TrainItem
    from training.engines.base import Completion
    from training.loop.rollout import Rollout
    from training.loop.update import Experience

    tok = trainer.processor.tokenizer
    items = [
        TrainItem(f"q{rank}{i}", f"Is {i} more than {rank}?", "boolean", "text", "yes") for i in range(2)
    ]
    texts = ["<answer>yes</answer>", "<answer>no</answer>"]
    rollouts = []
    for i in range(len(items)):
        for j, text in enumerate(texts):
            ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            score = float(j == 0)
            rollouts.append(Rollout(i, Completion(text, ids, "stop"), {"overall": score, "accuracy": score}))
    return Experience(items, rollouts)


def _rank(rank: int, port: int, model: str, out: str, updates: int, queue) -> None:
    import torch.distributed as dist

    from training.config import load_config
    from training.loop.trainer import RLTrainer
    from training.parallel.fsdp import is_sharded

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    result = {}
    for strategy in ("replicate", "fsdp2"):
        cfg = load_config(
            overrides=[
                f"model_path={model}", "worker.rollout.n=2", "data.rollout_batch_size=4",
                "worker.actor.micro_batch_size=2", "trainer.logger=[jsonl]", f"worker.actor.strategy={strategy}",
            ]
        )  # fmt: skip
        trainer = RLTrainer(cfg, model, Path(out) / strategy, rank=rank, world_size=2).setup()
        exp = _experience(trainer, rank)
        times, syncs = [], []
        for _ in range(updates):
            t0 = time.perf_counter()
            trainer.engine.sync_weights(trainer.model)
            syncs.append(time.perf_counter() - t0)
            dist.barrier()
            t0 = time.perf_counter()
            trainer.updater.update(exp)
            times.append(time.perf_counter() - t0)
        params = list(trainer.model.parameters())
        moments = [
            v for s in trainer.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim()
        ]
        copy = trainer.engine.model
        result[strategy] = {
            "sharded": is_sharded(trainer.model),
            "train_state_mb": _mb(params) + _mb(p.grad for p in params) + _mb(moments),
            "rollout_copy_mb": 0.0 if copy is trainer.model else _mb(copy.parameters()),
            "update_s": statistics.median(times),
            "sync_s": statistics.median(syncs) if copy is not trainer.model else 0.0,
        }
        del trainer
    queue.put((rank, result))
    dist.destroy_process_group()


def main() -> None:
    import torch.multiprocessing as mp

    from demo_kit.tiny_models import build_tiny_model

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_model("qwen2_5_vl", Path(tmp) / "model", seed=0))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_rank, args=(r, port, model, tmp, args.updates, queue)) for r in (0, 1)]
        for p in procs:
            p.start()
        results = dict(queue.get(timeout=900) for _ in procs)
        for p in procs:
            p.join(timeout=60)
    rows = []
    for rank in sorted(results):
        rep, fsdp = results[rank]["replicate"], results[rank]["fsdp2"]
        for key in ("train_state_mb", "rollout_copy_mb", "update_s", "sync_s"):
            ratio = fsdp[key] / rep[key] if rep[key] else float("nan")
            rows.append(
                {"rank": rank, "metric": key, "replicate": rep[key], "fsdp2": fsdp[key], "ratio": ratio}
            )
            print(
                f"rank {rank} {key:16s} replicate {rep[key]:9.3f}  fsdp2 {fsdp[key]:9.3f}  fsdp2/replicate {ratio:6.3f}"
            )
    if args.out:
        args.out.write_text(json.dumps({"world_size": 2, "updates": args.updates, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
