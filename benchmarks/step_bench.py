"""One RL step with the tensor cache vs on-the-fly decoding (EasyVideoR1's Figure 3), from one run.

Usage: ``.venv/bin/python benchmarks/step_bench.py [--rounds 2] [--batch 1] [--steps 2] [--out results.json]``
(``--help`` lists the sizes; ``--quick`` is a smoke test whose numbers mean nothing).

The same trainer (``training.loop.trainer.RLTrainer``: rollout with the HF engine, rewards, old and reference
log-probs, GRPO update with a KL loss, checkpoint), the same tiny random Qwen2-VL (``demo_kit``: this
machine has no real checkpoint and no GPU, so the model is ~200k parameters), the same rows, seeds and
settings; only ``data.media_source`` differs:

- ``cache``: the frames come from the Lance cache (built once before the runs, not timed);
- ``decode``: the Ray Data reader decodes, samples and resizes every clip on the fly (never the cache), batches
  ahead of the trainer as in training (``data.media_source=decode``);
- ``inline``: decoding as ``decode``, but each batch only when the step asks for it (no read-ahead), so the
  step waits for its own batch's decode: the on-the-fly baseline of the paper, whose workers decode inside
  the step (``--arms cache,decode`` leaves it out).

Clips are what ``benchmarks/cache_bench.py`` makes: synthetic 1280x720 30 fps H.264 with camera motion, grain
and moving objects, sampled at 2 fps to at most 64 frames at 262,144 px (factor 28): a 32 s clip gives 64
frames of 364x672 (about 10,000 visual tokens per prompt). Runs rotate the arms' order every round so load
drift hits all. Each run is a fresh ``train`` over ``--steps`` steps from one ``stream_batches`` stream; in
step 1 nothing has been read ahead yet, so the figures are the means over steps 2.. of every run
(``--steps 1`` reports step 1). Reported: per-phase seconds (``timing_s/*``) of every arm and their ratios to
``cache``, the step ratios, the cached step's share of data wait, and tokens per step
(``perf/total_num_tokens``, prompt incl. visual tokens plus responses: they must be identical, as must the
rewards, since the tensors are). The reader is also timed alone (one batch's media, each mode), the cost
that reading ahead hides or not. Default: one round (about 1.5 min on a quiet 2-core machine, once the clips
are made).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch
from bench_inputs import synth_clip
from bench_measure import Report, Result, loadavg

from cache_store import MediaCache, MediaSpec
from training.config import load_config
from training.data.media_source import MediaSource
from training.data.stream import ensure_ray, stream_batches
from training.loop.timing import PREFIX, STEP_PHASES

MAX_PIXELS = 262_144  # the (and cache_bench's) per-frame budget; --max-pixels changes it


def media_spec(max_pixels: int = MAX_PIXELS) -> MediaSpec:
    """2 fps, up to 64 frames, ``max_pixels`` per frame (below qwen-vl-utils' video minimum of 128 * 28**2, the
    minimum follows it down)."""
    low = {"min_pixels": max_pixels} if max_pixels < 128 * 28 * 28 else {}  # else the default, unchanged
    return MediaSpec(fps=2.0, max_frames=64, max_pixels=max_pixels, factor=28, **low)


MODES = ("cache", "decode")  # data.media_source values the reader is timed in
# arm -> (data.media_source, batches fetched ahead of the trainer: None = the stream's default, as in training)
ARMS = {"cache": ("cache", None), "decode": ("decode", None), "inline": ("decode", 0)}
PAPER = {"step": 1.47, "gen": 1.52, "ref": 2.85, "update_actor": 1.0}  # EasyVideoR1 Fig. 3 (decode/cache)
DATA_WAIT_GOAL = 0.02  # the cached step waits for data less than 2 % of its time


def rows_for(clips: list[Path], batches: int, batch: int, spec: MediaSpec) -> list[dict]:
    """``batches * batch`` rows (clips reused round-robin), each a temporal question on one clip."""
    rows = []
    for i in range(batches * batch):
        clip = clips[i % len(clips)]
        rows.append(
            {
                "sample_id": f"q{i}",
                "problem": "Which way does the camera pan first?",
                "problem_type": "multiple choice",
                "data_type": "video",
                "answer": "A",
                "options": ["A. left", "B. right", "C. up", "D. down"],
                "media": [
                    {"source": str(clip), "kind": "video", "digest": spec.key_for(clip, "video").digest()}
                ],
            }
        )
    return rows


def run_arm(arm: str, model: Path, rows: list[dict], cache_root: str, args, out_dir: Path) -> list[dict]:
    """One fresh trainer, ``args.steps`` steps streamed as ``arm`` says; its per-step metrics."""
    from training.loop.trainer import RLTrainer

    mode, fetch_ahead = ARMS[arm]

    cfg = load_config(
        overrides=[
            f"model_path={model}", f"data.rollout_batch_size={args.batch}", f"worker.rollout.n={args.n}",
            f"worker.rollout.max_new_tokens={args.max_new_tokens}", "worker.actor.lr=1e-3",
            "algorithm.use_kl_loss=true", "algorithm.kl_coef=0.01",  # a reference model, as in the paper
            f"worker.actor.micro_batch_size={args.batch * args.n}", f"data.media_source={mode}",
            f"trainer.total_steps={args.steps}", "trainer.logger=[jsonl]", "trainer.seed=1",
        ]
    )  # fmt: skip
    shutil.rmtree(out_dir, ignore_errors=True)  # a fresh run, never a resume of an earlier invocation's
    trainer = RLTrainer(cfg, model, out_dir).setup()
    try:
        stream = stream_batches(
            rows,
            cache_root,
            args.batch,
            shuffle=False,
            num_batches=args.steps,
            media=MediaSource(mode, media_spec(args.max_pixels)),
            fetch_ahead=fetch_ahead,
        )
        return trainer.train(stream, steps=args.steps).history
    finally:
        trainer.close()


def reader_seconds(
    rows: list[dict], cache_root: str, batch: int, repeats: int, spec: MediaSpec
) -> dict[str, float]:
    """Seconds the reader (``MediaFetcher``, what the Ray Data actor runs) takes for one batch's media in each
    mode, alone in this process: the cost that prefetching hides, or not. Modes alternate; the median."""
    from training.data.media_source import MediaFetcher

    times: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(repeats):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            fetcher = MediaFetcher(cache_root, MediaSource(mode, spec))
            t0 = time.perf_counter()
            for row in rows[:batch]:
                fetcher.fetch(row["sample_id"], row["media"])
            times[mode].append(time.perf_counter() - t0)
    return {m: statistics.median(t) for m, t in times.items()}


def steady(history: list[dict]) -> list[dict]:
    """The steps after the first (nothing is read ahead before step 1), or step 1 when it is alone."""
    return history[1:] or history


def phase_means(histories: list[list[dict]]) -> dict[str, float]:
    """Mean seconds per step of each phase (and ``other``: the step less its phases) over the steady steps."""
    steps = [h for history in histories for h in steady(history)]
    names = [p for p in STEP_PHASES if any(PREFIX + p in h for h in steps)]
    out = {p: statistics.fmean(h.get(PREFIX + p, 0.0) for h in steps) for p in names}
    out["step"] = statistics.fmean(h[PREFIX + "step"] for h in steps)
    out["other"] = out["step"] - sum(out[p] for p in names)
    return out


def figure3(means: dict[str, dict[str, float]]) -> str:
    """The per-phase table in the paper's Figure-3 form: seconds of each arm, and each on-the-fly arm's
    seconds over the cached ones (the speed-up the cache gives)."""
    fly = [a for a in means if a != "cache"]
    head = [f"{a + ' s':>9s}" for a in means] + [f"{a + '/cache':>13s}" for a in fly]
    lines = [f"{'phase':16s} {' '.join(head)}  paper"]
    for phase in means["cache"]:
        c = means["cache"][phase]
        cells = [f"{means[a][phase]:9.3f}" for a in means]
        cells += [f"{means[a][phase] / c:12.2f}x" if c > 1e-9 else f"{'-':>13s}" for a in fly]
        paper = f"{PAPER[phase]:.2f}x" if phase in PAPER else ""
        lines.append(f"{phase:16s} {' '.join(cells)}  {paper}")
    return "\n".join(lines)


def parse(argv: list[str] | None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=2, help="distinct clips (rows reuse them round-robin)")
    p.add_argument("--seconds", type=float, default=32.0, help="clip length: 32 s gives 64 frames at 2 fps")
    p.add_argument("--batch", type=int, default=1, help="prompts per step (data.rollout_batch_size)")
    p.add_argument("--n", type=int, default=2, help="responses per prompt (worker.rollout.n)")
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument(
        "--max-pixels", type=int, default=MAX_PIXELS,
        help="per-frame pixel budget; smaller: fewer visual tokens per step, the same decode per clip",
    )  # fmt: skip
    p.add_argument("--steps", type=int, default=2, help="steps per run (step 1 is left out of the means)")
    p.add_argument("--rounds", type=int, default=1, help="runs per arm, the arms' order rotated every round")
    p.add_argument(
        "--arms",
        default=",".join(ARMS),
        help=f"comma-separated, from {', '.join(ARMS)} (cache and decode needed)",
    )
    p.add_argument("--warmup", action="store_true", help="one untimed step per mode before the rounds")
    p.add_argument("--reader-repeats", type=int, default=2, help="timings of the reader alone, per mode")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the trainer (0: torch's choice)")
    p.add_argument("--quick", action="store_true", help="2 s 320x240 clips, 1 round of 2 steps: a smoke test")
    p.add_argument("--workdir", type=Path, default=Path(".reelrl/bench/step"), help="clips, cache, runs")
    p.add_argument("--out", type=Path, help="write every number to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.steps, args.clips, args.reader_repeats = 2.0, 1, 2, 2, 1
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown or not {"cache", "decode"} <= set(args.arms):
        p.error(f"--arms {','.join(args.arms)}: choose from {', '.join(ARMS)}, cache and decode included")
    return args


def prepare(args) -> tuple[Path, list[dict], str]:
    """The tiny model, the clips and the cache (made once in the work dir, reused by later runs)."""
    from demo_kit.tiny_models import build_tiny_model

    work = args.workdir.resolve()
    height, width = (240, 320) if args.quick else (720, 1280)
    t0 = time.perf_counter()
    clips = [
        synth_clip(work / "clips", args.seconds, 30, height, width, seed=i)[0] for i in range(args.clips)
    ]
    model = work / "tiny-qwen2_vl"
    if not (model / "config.json").exists():
        build_tiny_model("qwen2_vl", model, seed=0)
    cache = MediaCache(work / "cache")
    report = cache.build([(str(c), "video") for c in clips], media_spec(args.max_pixels), workers=2)
    if report.failures:
        raise SystemExit(f"cache build failed: {report.failures}")
    ensure_ray()  # started here, not inside the first run's step 1
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s ({report.built} clips decoded into the cache)")
    rows = rows_for(clips, args.steps, args.batch, media_spec(args.max_pixels))
    return model, rows, str(work / "cache")


def run_rounds(model: Path, rows: list[dict], cache_root: str, args) -> dict[str, list[list[dict]]]:
    """Every run's per-step metrics, by arm: ``args.rounds`` runs per arm, the order rotated every round."""
    work = args.workdir.resolve() / "runs"
    # --warmup: one untimed step per mode, so first-call costs (allocators, lazy imports) stay out of the rounds
    if args.warmup:
        warm = argparse.Namespace(**{**vars(args), "steps": 1})
        for arm in args.arms:
            run_arm(arm, model, rows[: args.batch], cache_root, warm, work / f"warm_{arm}")
        print(f"warm-up done; load {loadavg()}")
    histories: dict[str, list[list[dict]]] = {a: [] for a in args.arms}
    for r in range(args.rounds):
        k = r % len(args.arms)
        for arm in args.arms[k:] + args.arms[:k]:
            t0 = time.perf_counter()
            history = run_arm(arm, model, rows, cache_root, args, work / f"{arm}{r}")
            histories[arm].append(history)
            steps = ", ".join(f"{h[PREFIX + 'step']:.2f}" for h in history)
            print(
                f"round {r + 1} {arm:6s}: steps {steps} s (run {time.perf_counter() - t0:.1f} s); load {loadavg()}"
            )
    return histories


def explain(means: dict, reader: dict[str, float], first: dict[str, float]) -> list[str]:
    """Lines saying where the arms' step times differ, and why."""
    c = means["cache"]
    lines = [
        f"reader alone, one batch's media: decode {reader['decode']:.2f} s, cache read {reader['cache'] * 1e3:.0f} ms",
        "step 1 of each run (nothing read ahead yet), data wait: "
        + ", ".join(f"{arm} {wait:.2f} s" for arm, wait in first.items()),
    ]  # fmt: skip
    if reader["decode"] < c["step"]:
        lines.append(
            f"why: decoding a batch ({reader['decode']:.1f} s) is shorter than a step's compute ({c['step']:.1f} s), "
            "so the Ray Data reader decodes batch k+1 while step k runs (prefetch); on the fly decoding then "
            "costs the trainer only the CPU the reader shares with it, not waiting"
        )  # fmt: skip
    else:
        lines.append(
            f"why: decoding a batch ({reader['decode']:.1f} s) takes longer than a step's compute "
            f"({c['step']:.1f} s): in decode mode the trainer waits for the reader"
        )
    if "inline" in means:
        i = means["inline"]
        lines.append(
            f"inline (no read-ahead, the paper's on-the-fly baseline): each step waits {i['data_wait']:.2f} s for "
            f"its own batch's decode, {i['data_wait'] / i['step']:.0%} of its {i['step']:.2f} s"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start, load_start = time.perf_counter(), loadavg()
    print(
        f"ReelRL step benchmark, cache vs decode; load avg {load_start}; {os.cpu_count()} CPUs, {platform.platform()}"
    )
    model, rows, cache_root = prepare(args)
    clip = MediaCache(cache_root).get(rows[0]["media"][0]["digest"])
    size = "320x240" if args.quick else "1280x720"
    print(f"clip: {args.seconds:g} s {size} H.264 -> {clip.num_frames} frames of {clip.height}x{clip.width}; "
          f"{args.batch} prompts x {args.n} responses, {args.max_new_tokens} new tokens, {args.steps} steps/run, "
          f"{args.rounds} rounds; tiny random Qwen2-VL, torch threads {torch.get_num_threads()}")  # fmt: skip
    histories = run_rounds(model, rows, cache_root, args)
    means = {a: phase_means(histories[a]) for a in args.arms}
    print("\nmean seconds per step (steps 2.. of every run), EasyVideoR1 Figure-3 form:")
    print(figure3(means))
    tokens = {a: [h["perf/total_num_tokens"] for hs in histories[a] for h in hs] for a in args.arms}
    rewards = {a: [h["reward/overall"] for hs in histories[a] for h in hs] for a in args.arms}
    same = all(tokens[a] == tokens["cache"] and rewards[a] == rewards["cache"] for a in args.arms)
    report = Report()
    c = means["cache"]
    for arm in [a for a in args.arms if a != "cache"]:
        d = means[arm]
        detail = f"{arm} {d['step']:.2f} s vs cache {c['step']:.2f} s per step"
        report.add(Result(f"step_{arm}_vs_cache", d["step"] / c["step"], PAPER["step"], ">=", detail))
    d = means["decode"]
    for phase in ("data_wait", "gen", "ref", "update_actor"):
        if c.get(phase, 0) > 1e-9:
            detail = f"decode {d[phase]:.3f} s vs cache {c[phase]:.3f} s"
            report.add(Result(f"{phase}_decode_vs_cache", d[phase] / c[phase], None, "info", detail))
    reader = reader_seconds(rows, cache_root, args.batch, args.reader_repeats, media_spec(args.max_pixels))
    first = {a: statistics.fmean(hs[0][PREFIX + "data_wait"] for hs in histories[a]) for a in args.arms}
    print("\n".join(explain(means, reader, first)))
    share = c["data_wait"] / c["step"]
    print(f"cached step's data wait: {c['data_wait'] * 1e3:.1f} ms = {share:.3%} of the step (goal < 2 %): "
          f"{'PASS' if share < DATA_WAIT_GOAL else 'FAIL'}")  # fmt: skip
    per_arm = ", ".join(f"{a} {sorted(set(t))}" for a, t in tokens.items())
    print(
        f"tokens per step: {per_arm}; tokens and rewards identical in every step: {'yes' if same else 'NO'}"
    )
    print(
        f"\nload avg at start {load_start}, at end {loadavg()}; total {time.perf_counter() - start:.0f} s\n"
    )
    print(report.table())
    if args.out:
        data = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "means": means, "histories": histories, "data_wait_share_cache": share,
            "reader_seconds_per_batch": reader, "first_step_data_wait": first, "tokens_identical": same,
            "results": {r.name: r.to_dict() for r in report.results},
            "loadavg": {"start": load_start, "end": loadavg()},
        }  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2))
        print(f"wrote {args.out}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
