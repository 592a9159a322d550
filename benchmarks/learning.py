"""Learning shown on CPU: an SFT warm start, then GRPO and T-GRPO from it, held-out accuracy as they train.

```
python benchmarks/learning.py           # 5 RL seeds x (GRPO, T-GRPO): results.json + curves.png, ~8 min
python benchmarks/learning.py --quick   # 1 seed, 30 RL steps: results_quick.json + curves_quick.png, ~2 min
```

What runs, all through the project's public calls, on CPU:

1. a tiny random Qwen2-VL (``demo_kit.tiny_models.build_tiny_model``);
2. ``red_before_blue`` (``demo_kit.synthetic.tasks``): "does the red rectangle appear before the blue one?",
   yes/no. Only frame order answers it (swapping the two slots flips the answer and keeps the frames), so
   it is a task on which T-GRPO's shuffled-frame comparison has something to find. A train split and a
   held-out split from different seeds, half "yes" each; no held-out video equals a train video (checked
   on the raw frames, recorded in the results);
3. the mp4s decoded once into the Lance cache (``MediaCache.build``) and read back as ``TrainItem``s
   through the trainer's Ray Data stream (``training.data.stream.stream_batches``);
4. the warm start: ``training.sft.run_sft`` on answer-only targets (``<answer>yes</answer>``, 8 tokens with
   EOS, so rollouts stay short), long enough to leave the constant-answer plateau, short of solving it;
5. per RL seed, from that one warm start: ``RLTrainer.step`` with GRPO (``algorithm.temporal=false``) and
   with T-GRPO (``algorithm.temporal=true``), otherwise the same settings, seeds and batches. Every
   ``eval_every`` steps the held-out split is answered **greedily** (temperature 0, one response each);
   held-out accuracy is the mean of the boolean ``accuracy`` reward (exact yes/no).
6. temporal reliance, as Video-R1 analyses it: held-out accuracy on the ordered frames minus on the same
   videos with their frames shuffled (``training.loop.groups.shuffle_video_items``, one fixed permutation per
   video, the same for every checkpoint), for the warm start and each arm's final checkpoint. A policy that
   reads frame order loses accuracy when the order goes; one that ignores it scores the same on both.

Other settings of the trainer can be added to both arms with ``--rl-override key=value`` (for instance
``algorithm.norm_adv_by_std_in_grpo=false``). ``benchmarks/README.md`` has the figures, what was tried and
why the demo's own tasks are not used here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from cache_store import MediaCache, MediaSpec, write_video
from demo_kit.synthetic.demo import write_jsonl
from demo_kit.synthetic.tasks import TaskContext, red_before_blue
from demo_kit.tiny_models import build_tiny_model
from training.config import load_config, to_dict
from training.data.items import TrainItem
from training.data.samples import load_samples
from training.data.stream import epoch_order, sample_to_row, stream_batches
from training.engines.base import SamplingParams
from training.engines.hf import HFEngine
from training.loop.groups import shuffle_video_items
from training.loop.rollout import rollout_and_score
from training.loop.trainer import RLTrainer
from training.rewards import RewardWeights
from training.sft import run_sft

FAMILY = "qwen2_vl"
FRAME_SIZE, FPS = (64, 64), 8
# the demo's media_cache defaults (assets/cache.py): 2 fps, at most 8 frames, 16-64 visual tokens per frame
SPEC = MediaSpec(fps=2.0, max_frames=8, min_frames=4, min_pixels=16 * 28 * 28, max_pixels=64 * 28 * 28,
                 image_min_pixels=16 * 28 * 28, image_max_pixels=64 * 28 * 28, factor=28)  # fmt: skip
ARMS = {"grpo": False, "t_grpo": True}  # arm name -> algorithm.temporal
SHUFFLE_SEED = 0  # the held-out videos' frame permutations for the temporal-reliance measure
HISTORY_KEYS = (
    "step", "reward/overall", "reward/accuracy", "reward/format", "actor/grad_norm",
    "temporal/p_ordered", "temporal/p_shuffled", "temporal/applied_ratio", "timing_s/step",
)  # fmt: skip


@dataclass(frozen=True)
class Budget:
    """Every setting that moves the figures; stored in the results."""

    n_train: int = 512
    n_heldout: int = 128
    data_seed: int = 0  # train split seed; the held-out split uses data_seed + 1
    sft_steps: int = 120
    sft_batch: int = 8
    sft_lr: float = 3e-3
    sft_seed: int = 1
    rl_steps: int = 50
    eval_every: int = 5
    prompts_per_step: int = 16  # data.rollout_batch_size
    n: int = 4  # worker.rollout.n
    rl_lr: float = 1e-3
    temperature: float = 1.0
    max_new_tokens: int = 10
    seeds: tuple[int, ...] = (1, 2, 3, 4, 5)  # RL seeds: trainer.seed and the batch order
    rl_overrides: tuple[str, ...] = ()  # more ``key=value`` trainer settings, for both arms


FULL = Budget()
QUICK = replace(FULL, rl_steps=30, eval_every=10, seeds=(1,))  # same data and warm start as FULL


# ---- data -------------------------------------------------------------------------------------------
def write_split(root: Path, split: str, n: int, seed: int) -> tuple[Path, set[str]]:
    """``n`` samples of ``red_before_blue`` as mp4s plus a JSONL in the demo's record layout, with an empty
    ``process`` (answer-only SFT targets). Sample ``i`` draws from ``default_rng([seed, i])`` alone.
    Returns the JSONL and the SHA-1 of every video's frames (to check that two splits are disjoint)."""
    records, digests = [], set()
    for i in range(n):
        ctx = TaskContext(size=FRAME_SIZE, fps=FPS, variant=i)  # even i: "yes", odd i: "no"
        sample = red_before_blue(np.random.default_rng([seed, i]), ctx)
        digests.add(hashlib.sha1(sample.media.tobytes()).hexdigest())
        path = write_video(root / "media" / split / f"{split}-{i:05d}.mp4", sample.media, FPS)
        rel = path.relative_to(root).as_posix()
        records.append({
            "problem_id": f"{split}-{i:05d}", "problem": sample.problem, "problem_type": sample.problem_type,
            "data_type": sample.data_type, "options": sample.options, "answer": sample.answer,
            "solution": f"<answer>{sample.answer}</answer>", "process": "", "videos": [rel], "path": rel,
        })  # fmt: skip
    return write_jsonl(records, root / f"{split}.jsonl"), digests


def load_items(jsonls: list[Path], cache_root: Path) -> list[list[TrainItem]]:
    """Decode every video once into the Lance cache, then read each split back, in order, as ``TrainItem``s
    through Ray Data. Ray is stopped afterwards if this started it (it would hold a core idle)."""
    import ray

    splits = [[sample_to_row(s) for s in load_samples(p)] for p in jsonls]
    rows = [r for split in splits for r in split]
    report = MediaCache(str(cache_root)).build(
        sorted({(m["source"], m["kind"]) for r in rows for m in r["media"]}), SPEC, workers=2
    )
    if report.failed:
        raise RuntimeError(f"{report.failed} videos failed to decode: {report.failures[:3]}")
    for r in rows:
        r["media"] = [{**m, "digest": report.digests[m["source"]]} for m in r["media"]]
    started = not ray.is_initialized()
    try:
        return [
            [
                item
                for batch in stream_batches(s, str(cache_root), len(s), shuffle=False, epochs=1)
                for item in batch
            ]
            for s in splits
        ]
    finally:
        if started:
            ray.shutdown()


def cycle(items: list[TrainItem], batch_size: int, seed: int):
    """Endless batches: each epoch a seeded permutation (``training.data.stream.epoch_order``), the ragged tail
    dropped so every batch has ``batch_size`` prompts."""
    epoch = 0
    while True:
        order = epoch_order(items, seed, epoch)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield order[start : start + batch_size]
        epoch += 1


# ---- evaluation and training ------------------------------------------------------------------------
def heldout_accuracy(engine, items: list[TrainItem], max_new_tokens: int) -> dict[str, float]:
    """Greedy (temperature 0), one response per prompt: mean accuracy and format rewards, and how often the
    answer was "yes" (0 or 1 means the policy answers the same whatever the video)."""
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0)
    rollouts = rollout_and_score(engine, items, params, RewardWeights())
    return {
        "accuracy": float(np.mean([r.reward["accuracy"] for r in rollouts])),
        "format": float(np.mean([r.reward["format"] for r in rollouts])),
        "said_yes": float(np.mean(["<answer>yes" in r.completion.text for r in rollouts])),
    }


def shuffled_copy(items: list[TrainItem]) -> list[TrainItem]:
    """The held-out items with their frames shuffled (every item is a video), the same permutations on every
    call, so each checkpoint is measured on the same shuffled videos."""
    shuffled, origin = shuffle_video_items(items, np.random.default_rng(SHUFFLE_SEED))
    if origin != list(range(len(items))):
        raise ValueError("temporal reliance needs every held-out item to be a video")
    return shuffled


def temporal_reliance(
    engine, heldout: list[TrainItem], shuffled: list[TrainItem], max_new_tokens: int
) -> dict:
    """Held-out accuracy on ordered frames, on shuffled frames, and the difference (the reliance)."""
    ordered = heldout_accuracy(engine, heldout, max_new_tokens)["accuracy"]
    on_shuffled = heldout_accuracy(engine, shuffled, max_new_tokens)["accuracy"]
    return {"ordered": ordered, "shuffled": on_shuffled, "reliance": ordered - on_shuffled}


def rl_config(budget: Budget, model_path: str, seed: int, temporal: bool):
    return load_config(overrides=[
        f"model_path={model_path}", f"trainer.seed={seed}", f"trainer.total_steps={budget.rl_steps}",
        "trainer.logger=[jsonl]", f"data.rollout_batch_size={budget.prompts_per_step}",
        f"worker.rollout.n={budget.n}", f"worker.rollout.temperature={budget.temperature}",
        f"worker.rollout.max_new_tokens={budget.max_new_tokens}", f"worker.actor.lr={budget.rl_lr}",
        *budget.rl_overrides, f"algorithm.temporal={str(temporal).lower()}",
    ])  # fmt: skip


def run_arm(
    budget: Budget, warm: str, train, heldout, shuffled, seed: int, temporal: bool, out: Path
) -> dict:
    """RL from the warm start; held-out accuracy at step 0, every ``eval_every`` steps and at the end, and
    the final checkpoint's temporal reliance (``shuffled``: the held-out items with shuffled frames)."""
    cfg = rl_config(budget, warm, seed, temporal)
    trainer = RLTrainer(cfg, warm, out).setup()
    batches = cycle(train, budget.prompts_per_step, seed)
    t0 = time.perf_counter()
    curve = [{"step": 0, **heldout_accuracy(trainer.engine, heldout, budget.max_new_tokens)}]
    for step in range(1, budget.rl_steps + 1):
        trainer.step(next(batches))
        if step % budget.eval_every == 0 or step == budget.rl_steps:
            curve.append({"step": step, **heldout_accuracy(trainer.engine, heldout, budget.max_new_tokens)})
    seconds = time.perf_counter() - t0
    reliance = temporal_reliance(trainer.engine, heldout, shuffled, budget.max_new_tokens)
    history = [{k: h[k] for k in HISTORY_KEYS if k in h} for h in trainer.history]
    return {"seed": seed, "curve": curve, "history": history, "seconds": seconds,
            "temporal_reliance": reliance, "config": to_dict(cfg)}  # fmt: skip


# ---- summary and plot -------------------------------------------------------------------------------
def spread(values: list[float]) -> dict[str, float]:
    """Mean, min, max and (population) std over seeds."""
    return {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values)),
            "std": float(np.std(values)), "n": len(values)}  # fmt: skip


def _final(run: dict) -> float:
    return run["curve"][-1]["accuracy"]


def _mean_after_start(run: dict) -> float:
    """Mean held-out accuracy over every evaluation after step 0: how fast a run learned."""
    return float(np.mean([p["accuracy"] for p in run["curve"][1:]]))


def summarise(warm_acc: float, arms: dict[str, list[dict]], warm_reliance: dict | None = None) -> dict:
    """Per arm over seeds: final held-out accuracy, its gain over the warm start, the mean over the run,
    the first step at >= 0.9 (None: never) and the final temporal reliance; then the per-seed paired
    T-GRPO minus GRPO differences."""
    out: dict = {"warm_start_accuracy": warm_acc}
    if warm_reliance is not None:
        out["warm_start_temporal_reliance"] = warm_reliance["reliance"]
    for name, runs in arms.items():
        out[name] = {
            "final_accuracy": spread([_final(r) for r in runs]),
            "gain_over_warm_start": spread([_final(r) - warm_acc for r in runs]),
            "mean_accuracy_over_run": spread([_mean_after_start(r) for r in runs]),
            "first_step_at_0.9": [
                next((p["step"] for p in r["curve"] if p["accuracy"] >= 0.9), None) for r in runs
            ],
        }
        if all("temporal_reliance" in r for r in runs):
            out[name]["temporal_reliance"] = spread([r["temporal_reliance"]["reliance"] for r in runs])
            out[name]["accuracy_on_shuffled"] = spread([r["temporal_reliance"]["shuffled"] for r in runs])
    if arms.get("grpo") and arms.get("t_grpo"):
        pairs = list(zip(arms["grpo"], arms["t_grpo"], strict=True))
        out["t_grpo_minus_grpo"] = {
            "final_accuracy": spread([_final(t) - _final(g) for g, t in pairs]),
            "mean_accuracy_over_run": spread([_mean_after_start(t) - _mean_after_start(g) for g, t in pairs]),
        }
    return out


def _moving_mean(x: np.ndarray, k: int) -> np.ndarray:
    k = max(1, min(k, len(x)))
    return np.convolve(x, np.ones(k) / k, mode="valid")


def plot(results: dict, path: Path) -> Path:
    """Three panels: held-out accuracy per arm (mean over seeds, min-max band), the training accuracy
    reward, and T-GRPO's accuracy on ordered vs shuffled frames (``temporal/p_ordered``/``p_shuffled``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    colours = {"grpo": "tab:blue", "t_grpo": "tab:orange"}
    k = 5
    for name, runs in results["arms"].items():
        label = f"{name.upper().replace('_', '-')} ({len(runs)} seed{'s' * (len(runs) > 1)})"
        steps = [p["step"] for p in runs[0]["curve"]]
        acc = np.array([[p["accuracy"] for p in r["curve"]] for r in runs])
        axes[0].plot(steps, acc.mean(0), marker="o", ms=3, color=colours[name], label=label)
        axes[0].fill_between(steps, acc.min(0), acc.max(0), color=colours[name], alpha=0.15)
        reward = np.array([[h["reward/accuracy"] for h in r["history"]] for r in runs]).mean(0)
        axes[1].plot(np.arange(k, len(reward) + 1), _moving_mean(reward, k), color=colours[name], label=label)
    for key, style in (("temporal/p_ordered", "-"), ("temporal/p_shuffled", "--")):
        runs = results["arms"].get("t_grpo", [])
        if runs and all(key in h for h in runs[0]["history"]):
            p = np.array([[h[key] for h in r["history"]] for r in runs]).mean(0)
            axes[2].plot(np.arange(k, len(p) + 1), _moving_mean(p, k), style, color=colours["t_grpo"],
                         label=key.split("/")[1].replace("p_", "frames ") + " (T-GRPO rollouts)")  # fmt: skip
    warm = results["summary"]["warm_start_accuracy"]
    axes[0].axhline(warm, color="grey", ls="--", label=f"SFT warm start ({warm:.2f})")
    titles = ("held-out accuracy, greedy (mean; band: min-max over seeds)",
              f"training accuracy reward, sampled at T=1 ({k}-step mean)",
              f"T-GRPO: accuracy on ordered vs shuffled frames ({k}-step mean)")  # fmt: skip
    for ax, title in zip(axes, titles):
        ax.axhline(0.5, color="grey", ls=":", lw=0.8)
        ax.set(xlabel="RL step", ylim=(0, 1.02), title=title)
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("accuracy")
    overrides = ", ".join(results["budget"]["rl_overrides"])
    title = f"red_before_blue, tiny {FAMILY}: SFT warm start then GRPO / T-GRPO"
    fig.suptitle(title + (f" ({overrides})" if overrides else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ---- main -------------------------------------------------------------------------------------------
def run(budget: Budget, workdir: Path, out_dir: Path, suffix: str = "") -> dict:
    """The whole benchmark; writes ``results{suffix}.json`` and ``curves{suffix}.png`` to ``out_dir``."""
    t_start, load_start = time.perf_counter(), os.getloadavg()[0]
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    model = build_tiny_model(FAMILY, workdir / "model", seed=0)
    train_jsonl, train_digests = write_split(workdir / "data", "train", budget.n_train, budget.data_seed)
    held_jsonl, held_digests = write_split(
        workdir / "data", "heldout", budget.n_heldout, budget.data_seed + 1
    )
    train, heldout = load_items([train_jsonl, held_jsonl], workdir / "cache")
    timings["data_s"] = time.perf_counter() - t0
    print(f"data: {len(train)} train, {len(heldout)} held-out ({timings['data_s']:.0f}s)", flush=True)

    t0 = time.perf_counter()
    sft = run_sft(model, cycle(train, budget.sft_batch, budget.sft_seed), budget.sft_steps, workdir / "sft",
                  lr=budget.sft_lr, seed=budget.sft_seed)  # fmt: skip
    timings["sft_s"] = time.perf_counter() - t0
    base = heldout_accuracy(HFEngine.from_pretrained(model), heldout, budget.max_new_tokens)
    warm_engine = HFEngine.from_pretrained(sft.checkpoint)
    warm = heldout_accuracy(warm_engine, heldout, budget.max_new_tokens)
    shuffled = shuffled_copy(heldout)
    warm_reliance = temporal_reliance(warm_engine, heldout, shuffled, budget.max_new_tokens)
    print(
        f"held-out: base {base['accuracy']:.3f}, SFT warm start {warm['accuracy']:.3f} "
        f"(shuffled frames {warm_reliance['shuffled']:.3f})",
        flush=True,
    )

    arms: dict[str, list[dict]] = {name: [] for name in ARMS}
    for seed in budget.seeds:
        for name, temporal in ARMS.items():
            result = run_arm(
                budget, sft.checkpoint, train, heldout, shuffled, seed, temporal, workdir / f"{name}_{seed}"
            )
            if result["curve"][0]["accuracy"] != warm["accuracy"]:
                raise RuntimeError(f"{name} seed {seed} does not start at the warm start's held-out accuracy")
            arms[name].append(result)
            timings[f"{name}_seed{seed}_s"] = result["seconds"]
            accs = " ".join(f"{p['accuracy']:.2f}" for p in result["curve"])
            shuf = result["temporal_reliance"]["shuffled"]
            print(f"{name} seed {seed}: held-out {accs}, shuffled frames {shuf:.2f} ({result['seconds']:.0f}s)",
                  flush=True)  # fmt: skip
    timings["total_s"] = time.perf_counter() - t_start

    results = {
        "task": "red_before_blue",
        "evaluation": "held-out accuracy: greedy decoding (temperature 0), one response per prompt, "
        "mean of the boolean accuracy reward",
        "budget": asdict(budget),
        "model": {"family": FAMILY, "build_seed": 0},
        "media": {"frame_size": FRAME_SIZE, "fps": FPS, "spec": asdict(SPEC)},
        "data": {
            "n_train": len(train),
            "n_heldout": len(heldout),
            "train_yes": float(np.mean([it.answer == "yes" for it in train])),
            "heldout_yes": float(np.mean([it.answer == "yes" for it in heldout])),
            "heldout_videos_also_in_train": len(train_digests & held_digests),
        },
        "base_model": base,
        "warm_start": {
            **warm,
            "temporal_reliance": warm_reliance,
            "sft_loss": [h["sft/loss"] for h in sft.history],
        },
        "arms": arms,
        "summary": summarise(warm["accuracy"], arms, warm_reliance),
        "timings_s": timings,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_1m": [load_start, os.getloadavg()[0]],
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"results{suffix}.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, out_dir / f"curves{suffix}.png")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 RL seed, 30 RL steps (~2 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "learning",
                        help="folder for results[_quick].json and curves[_quick].png")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=ROOT / ".reelrl" / "learning",
                        help="scratch: model, videos, cache, checkpoints (rebuilt each run)")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", help="RL seeds (default 1-5; --quick: 1)")
    parser.add_argument("--rl-override", action="append", default=[], metavar="KEY=VALUE",
                        help="a trainer setting for both arms (e.g. algorithm.kl_coef=0.01)")  # fmt: skip
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    budget = QUICK if args.quick else FULL
    budget = replace(budget, seeds=tuple(args.seeds or budget.seeds), rl_overrides=tuple(args.rl_override))
    results = run(budget, args.workdir, args.out, "_quick" if args.quick else "")
    print(json.dumps(results["summary"], indent=1))
    print(f"total {results['timings_s']['total_s']:.0f}s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
