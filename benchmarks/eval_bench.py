"""Evaluation runner benchmark (issue 5, "Performance"): overlapped pipeline vs the sequential loop, one run.

Usage: ``.venv/bin/python benchmarks/eval_bench.py [--quick] [--workdir .reelrl/bench_eval] [--out FILE]``.

Both runs use the same engine object (a tiny random Qwen2.5-VL through the HF engine, greedy), the same
records and settings; only ``overlap`` differs. The sequential loop is the runner with ``overlap=False``:
per batch, decode its videos (cache build in a killable worker), generate, score, append: what a simple
harness does. Two cases:

- **uncached**: each run starts with an empty Lance cache, so every video is decoded during the run;
- **cached**: the cache already holds every video (the second time a checkpoint is evaluated), so stage 1
  only reads frames.

Inputs: ``N`` synthetic 360p H.264 clips (textured moving scene, 30 fps) with a 4-option question each;
spec 2 fps, <= 16 frames, 50,176 max pixels. Torch runs on one thread in both runs so the decode worker has a
core of its own on this 2-core machine (the same setting for both; the ratio is what overlap buys).
Results: printed and written as JSON; see ``benchmarks/README.md``.

``--engines hf,vllm`` (run with ``.venv-vllm/bin/python``: ``make setup-vllm``) instead compares generation
engines: the same records through the overlapped runner with a warm cache, once per engine, on the "small"
tiny Qwen2.5-VL (head_dim 64: vLLM's CPU attention rejects the default tiny size), float32 on both sides so
the predictions are the same; the ratio is samples/s of vLLM's ``AsyncLLM`` over the HF engine's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_inputs import synth_clip
from bench_measure import loadavg

from evaluation.adapters.choice import ChoiceAdapter
from training.rewards.choice import extract_choice

MAX_NEW_TOKENS = 160  # the headline setting; --max-new-tokens 48,160,320 sweeps the stage balance


class BenchAdapter(ChoiceAdapter):
    """A four-option question per clip; official mode reads the letter with the reward library's extractor."""

    name = "eval_bench"

    def official_choice(self, response, record):
        return extract_choice(response, record.options) or ""


def _records(adapter: BenchAdapter, clips: list[Path]) -> list:
    options = ["A. left", "B. right", "C. up", "D. down"]
    return [
        adapter.make_record(f"clip{i}", problem="Which way does the scene move?", answer="A", options=options,
                            media=[str(p)])
        for i, p in enumerate(clips)
    ]  # fmt: skip


def run_case(
    engine,
    adapter,
    records,
    cache_root: Path,
    out: Path,
    spec,
    overlap: bool,
    batch_size: int,
    max_new_tokens: int,
) -> tuple[float, dict[str, float]]:
    from cache_store import MediaCache
    from evaluation.runner import run_benchmark
    from training.engines.base import SamplingParams

    sampling = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = run_benchmark(
        engine, adapter, records, MediaCache(cache_root), spec, out, model_id="tiny", sampling=sampling,
        batch_size=batch_size, overlap=overlap, media_workers=1,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    if result.counts["scored"] != len(records):
        raise RuntimeError(f"only {result.counts['scored']}/{len(records)} scored: {result.counts}")
    return elapsed, result.stage_seconds


def _compare(engine, adapter, records, work: Path, spec, batch_size: int, max_new_tokens: int) -> dict:
    """The four runs (uncached/cached x sequential/overlapped) at one generation length."""
    times: dict[str, float] = {}
    stages: dict[str, dict[str, float]] = {}
    for case in ("uncached", "cached"):
        for overlap in (False, True):
            name = f"{case}/{'overlapped' if overlap else 'sequential'}"
            cache_root = work / f"cache-{'overlapped' if overlap else 'sequential'}"
            if case == "uncached":
                shutil.rmtree(cache_root, ignore_errors=True)
            out = work / "runs" / name.replace("/", "-")
            times[name], stages[name] = run_case(
                engine, adapter, records, cache_root, out, spec, overlap, batch_size, max_new_tokens
            )
            busy = ", ".join(f"{k} {v:.2f} s" for k, v in stages[name].items())
            n = len(records)
            print(
                f"  {name:22s} {times[name]:7.2f} s  ({n / times[name]:.2f} samples/s; busy: {busy})",
                flush=True,
            )
    ratios = {c: times[f"{c}/sequential"] / times[f"{c}/overlapped"] for c in ("uncached", "cached")}
    for case, r in ratios.items():
        print(f"  {case}: overlapped is {r:.2f}x the sequential loop", flush=True)
    return {
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "speedup": {k: round(v, 3) for k, v in ratios.items()},
        "stage_busy_seconds": stages,
    }


def _tree_rss_gb() -> float:
    """Resident memory of this process and every process it started (vLLM's engine core and worker)."""
    import psutil

    me = psutil.Process()
    return sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 2**30


def _engines(names: list[str], model: Path, adapter, records, work: Path, spec, args) -> dict:
    """Samples/s of each engine on the same records (overlapped runner, warm cache), and their predictions."""
    from training.engines.hf import HFEngine

    seconds, responses, starts = {}, {}, {}
    for name in names:
        t0 = time.perf_counter()
        if name == "vllm":
            from training.engines.vllm_async import VLLMAsyncEngine

            engine = VLLMAsyncEngine(str(model), dtype="float32", max_model_len=4096)
        else:
            engine = HFEngine.from_pretrained(str(model), batch_size=args.batch_size)
        ready_s, rss = time.perf_counter() - t0, _tree_rss_gb()
        print(f"  {name}: engine ready in {ready_s:.1f} s; this process and its children: {rss:.2f} GB", flush=True)
        starts[name] = {"ready_s": round(ready_s, 1), "rss_gb": round(rss, 2)}
        try:  # warm-up: the cache holds every clip, the engine has run once
            run_case(engine, adapter, records, work / "cache", work / "runs" / f"{name}-warmup", spec, True,
                     args.batch_size, 8)  # fmt: skip
            out = work / "runs" / f"{name}-timed"
            seconds[name], _ = run_case(
                engine, adapter, records, work / "cache", out, spec, True, args.batch_size, args.max_new_tokens[0]
            )
        finally:
            engine.close()
        rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
        responses[name] = {r["id"]: r["response"] for r in rows}
        print(f"  {name}: {seconds[name]:.2f} s, {len(records) / seconds[name]:.2f} samples/s", flush=True)
    doc = {"seconds": {k: round(v, 3) for k, v in seconds.items()}, "engine_start": starts}
    if len(names) == 2:
        a, b = names
        doc["ratio"] = {f"{b}_vs_{a}": round(seconds[a] / seconds[b], 3)}
        doc["same_predictions"] = responses[a] == responses[b]
        print(f"  {b} is {seconds[a] / seconds[b]:.2f}x {a} (samples/s); same predictions: "
              f"{doc['same_predictions']}", flush=True)  # fmt: skip
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 small clips: a smoke test, numbers mean nothing")
    ap.add_argument("--workdir", default=".reelrl/bench_eval")
    ap.add_argument("--out", default=str(Path(__file__).parent / "eval" / "results.json"))
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument(
        "--max-new-tokens", type=lambda v: [int(x) for x in v.split(",")], default=[MAX_NEW_TOKENS],
        help="generation length(s), comma-separated: the first is the headline, the rest a sweep",
    )  # fmt: skip
    ap.add_argument(
        "--engines", type=lambda v: v.split(","), default=None,
        help="compare generation engines instead (hf,vllm; needs .venv-vllm): samples/s on the same records",
    )  # fmt: skip
    args = ap.parse_args()

    import torch

    from cache_store import MediaSpec
    from demo_kit.tiny_models import build_tiny_model
    from training.engines.hf import HFEngine

    torch.set_num_threads(1)
    work = Path(args.workdir)
    n, (h, w, secs) = (4, (128, 160, 2.0)) if args.quick else (args.n, (360, 640, 6.0))
    clips = [synth_clip(work / "clips", secs, 30.0, h, w, seed=i)[0] for i in range(n)]
    adapter = BenchAdapter()
    records = _records(adapter, clips)
    spec = MediaSpec(fps=2.0, max_frames=16, min_frames=4, max_pixels=50_176, min_pixels=3136, factor=28)
    if args.engines:
        model = work / "small_qwen2_5_vl"
        if not (model / "config.json").exists():
            build_tiny_model("qwen2_5_vl", model, seed=0, size="small")
        print(f"engines {args.engines}, {n} clips, max_new_tokens {args.max_new_tokens[0]}:", flush=True)
        doc = _engines(args.engines, model, adapter, records, work, spec, args)
        doc |= {"samples": n, "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens[0],
                "machine": {"cpus": os.cpu_count(), "loadavg": loadavg()}}  # fmt: skip
        out = Path(args.out).with_name("engines.json")
        if not args.quick:
            out.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"wrote {out}")
        return 0
    model = work / "tiny_qwen2_5_vl"
    if not (model / "config.json").exists():
        build_tiny_model("qwen2_5_vl", model, seed=0)
    engine = HFEngine.from_pretrained(str(model), batch_size=args.batch_size)

    # warm-up outside the timings: the decode forkserver starts and the model runs once
    run_case(engine, adapter, records[:1], work / "cache-warmup", work / "runs" / "warmup", spec, True, 1, 8)
    shutil.rmtree(work / "cache-warmup", ignore_errors=True)
    sweep = {}
    for tokens in args.max_new_tokens:
        print(f"max_new_tokens {tokens}:", flush=True)
        sweep[tokens] = _compare(engine, adapter, records, work, spec, args.batch_size, tokens)
    main_case = sweep[args.max_new_tokens[0]]
    doc = {
        "quick": args.quick,
        "samples": n,
        "clip": {"height": h, "width": w, "seconds": secs, "fps": 30.0},
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens[0],
        "seconds": main_case["seconds"],
        "speedup": main_case["speedup"],
        "stage_busy_seconds": main_case["stage_busy_seconds"],
        "by_max_new_tokens": {str(k): v for k, v in sweep.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg": loadavg()},
    }
    if not args.quick:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
