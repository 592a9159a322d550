"""Evaluation runner benchmark (issue 5, "Performance"): overlapped pipeline vs the sequential loop, one run.

Usage: ``.venv/bin/python benchmarks/eval_bench.py [--quick] [--pairs 4] [--max-new-tokens 160,320] [--workdir
.reelrl/bench_eval] [--out FILE]``.

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

The machine is shared, so the modes alternate: ``--pairs`` rounds (default 4) of the four runs, the mode that
goes first swapping each round, and the ratio printed is the median of the rounds' ratios, with each run's load
average. Beside it, what overlap could gain at most, from the sequential runs (one stage at a time) measured in
CPU seconds, which a loaded machine stretches far less than wall seconds: each stage is one thread or one decode
process, so its CPU seconds are what it takes on a core of its own. ``bound`` is (media + generate + score) /
max(stage); ``bound_with_fill_and_drain`` also charges the first batch, which passes every stage before the
longest stage runs back to back (``pipeline_bound``). For the overlapped runs: the generation thread's CPU
seconds, its seconds waiting for a core (run queue) and blocked (neither: the GIL), from Linux's schedstat, and
the cores the process tree used (CPU seconds / wall seconds): wall = CPU seconds / cores used, so the ratio is
(cores used overlapped / sequential) x (CPU seconds sequential / overlapped): overlap gains only as far as the
machine lends the overlapped run more cores than the sequential one. Every run must predict what the first did.
Results: printed and written as JSON; see ``benchmarks/README.md``.

``--engines hf,vllm`` (run with ``.venv-vllm/bin/python``: ``make setup-vllm``) instead compares generation
engines: the same records through the overlapped runner with a warm cache, once per engine, on the "small"
tiny Qwen2.5-VL (head_dim 64: vLLM's CPU attention rejects the default tiny size), float32 on both sides so
the predictions are the same; the ratio is samples/s of vLLM's ``AsyncLLM`` over the HF engine's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_inputs import synth_clip
from bench_measure import loadavg

from evaluation.adapters.choice import ChoiceAdapter
from training.rewards.choice import extract_choice

DEFAULT_OUT = Path(__file__).parent / "eval" / "results.json"
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


def stage_bound(stage_seconds: dict[str, float]) -> float:
    """The most overlap can gain when each stage runs on a core of its own: (sum of the stages) / (the longest)."""
    longest = max(stage_seconds.values())
    return sum(stage_seconds.values()) / longest if longest > 0 else 1.0


def pipeline_bound(stage_seconds: dict[str, float], batches: int) -> float:
    """``stage_bound`` with the pipeline's fill and drain: with ``batches`` batches of equal cost, the first batch
    passes every stage before the longest stage can run back to back, so the overlapped run takes at least
    sum/batches + (batches - 1)/batches * longest."""
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches}")
    total, longest = sum(stage_seconds.values()), max(stage_seconds.values())
    floor = total / batches + (batches - 1) / batches * longest
    return total / floor if floor > 0 else 1.0


def thread_schedstat(path: str = "/proc/thread-self/schedstat") -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting on a run queue for one) of a thread, from Linux's schedstat; None
    where the kernel does not provide it."""
    try:
        on_cpu, run_queue, _ = Path(path).read_text().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(run_queue) / 1e9


class MeteredEngine:
    """Delegates to ``engine`` and adds up, over its ``generate`` calls (made in the generation thread), the wall
    seconds and the calling thread's CPU and run-queue seconds: wall - CPU - run queue is the time the thread was
    blocked (waiting for the GIL, mostly: the engine does no I/O)."""

    def __init__(self, engine):
        self.engine = engine
        self.wall = self.cpu = self.run_queue = 0.0
        self.measured = thread_schedstat() is not None

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def generate(self, requests, sampling):
        before, t0 = thread_schedstat(), time.perf_counter()
        try:
            return self.engine.generate(requests, sampling)
        finally:
            after = thread_schedstat()
            self.wall += time.perf_counter() - t0
            if before is not None and after is not None:
                self.cpu += after[0] - before[0]
                self.run_queue += after[1] - before[1]


class TreeCPU:
    """CPU seconds of this process (exact, exited threads included) and of its descendants (the decode forkserver
    and workers, which are not our children: sampled every ``interval`` s while the block runs), less what the
    sampling itself costs (listing the descendants reads every process of the machine)."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self.me, self.interval = psutil.Process(), interval
        self.seen: dict[int, float] = {}
        self.overhead = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tree-cpu")

    def _sample(self) -> None:
        import psutil

        t0 = time.thread_time()
        for p in self.me.children(recursive=True):
            try:
                t = p.cpu_times()
                self.seen[p.pid] = t.user + t.system
            except psutil.Error:  # exited since listed
                pass
        self.overhead += time.thread_time() - t0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self.base, self.seen, self.overhead = dict(self.seen), {}, 0.0
        t = self.me.cpu_times()
        self.own0 = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        t = self.me.cpu_times()
        self.seconds = t.user + t.system - self.own0 - self.overhead
        self.seconds += sum(v - self.base.get(pid, 0.0) for pid, v in self.seen.items())


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
) -> dict:
    """One timed run: ``{"wall", "stages"}`` (busy seconds of each stage), and with a ``MeteredEngine`` the
    generation thread's ``generate_cpu`` / ``generate_run_queue`` / ``generate_blocked`` seconds, the CPU seconds
    of this process tree (``cpu``, less ``cpu_meter_overhead``: what measuring it cost) and the load average at
    its end."""
    from cache_store import MediaCache
    from evaluation.runner import run_benchmark
    from training.engines.base import SamplingParams

    sampling = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0)
    shutil.rmtree(out, ignore_errors=True)
    metered = MeteredEngine(engine)
    with TreeCPU() as tree:
        t0 = time.perf_counter()
        result = run_benchmark(
            metered, adapter, records, MediaCache(cache_root), spec, out, model_id="tiny", sampling=sampling,
            batch_size=batch_size, overlap=overlap, media_workers=1,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
    if result.counts["scored"] != len(records):
        raise RuntimeError(f"only {result.counts['scored']}/{len(records)} scored: {result.counts}")
    run = {"wall": round(elapsed, 3), "stages": result.stage_seconds, "cpu": round(tree.seconds, 3),
           "cpu_meter_overhead": round(tree.overhead, 3)}  # fmt: skip
    if metered.measured:
        run |= {
            "generate_cpu": round(metered.cpu, 3),
            "generate_run_queue": round(metered.run_queue, 3),
            "generate_blocked": round(max(0.0, metered.wall - metered.cpu - metered.run_queue), 3),
        }
    return run | {"loadavg": loadavg()}


def _predictions(out: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: r["response"] for r in rows}


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return round(statistics.median(values), 3) if values else None


def _summary(runs: dict[str, list[dict]], batches: int) -> dict:
    """Median ratio over the pairs, the stages' CPU seconds (sequential runs: one stage at a time) and the two
    bounds they give, and what the overlapped runs got of the machine."""
    seq, ovl = runs["sequential"], runs["overlapped"]
    ratios = [round(s["wall"] / o["wall"], 3) for s, o in zip(seq, ovl, strict=True)]
    doc: dict = {"ratio": round(statistics.median(ratios), 3), "ratios": ratios}
    doc["wall"] = {mode: _median(rs, "wall") for mode, rs in runs.items()}
    # wall = CPU seconds / cores used, so the ratio is (cores used overlapped / sequential) x (CPU s sequential /
    # overlapped): overlap pays off only as far as the machine lends the overlapped run more cores
    doc["cpu_s"] = {mode: _median(rs, "cpu") for mode, rs in runs.items()}
    doc["cores_used"] = {
        mode: round(statistics.median(r["cpu"] / r["wall"] for r in rs), 2) for mode, rs in runs.items()
    }
    loads = [r["loadavg"][0] for rs in runs.values() for r in rs]
    doc["load_1m"] = [min(loads), max(loads)]
    if "generate_cpu" in seq[0]:
        # each stage is one thread (generation, scoring) or one decode process, so its CPU seconds are the time
        # it takes on a core of its own; media = everything but generation and scoring (mostly the decode worker)
        gen = statistics.median(r["generate_cpu"] for r in seq)
        score = statistics.median(r["stages"]["score"] for r in seq)
        media = statistics.median(r["cpu"] - r["generate_cpu"] - r["stages"]["score"] for r in seq)
        cpu = {"media": round(media, 3), "generate": round(gen, 3), "score": round(score, 3)}
        doc["stage_cpu_s"] = cpu
        doc["bound"] = round(stage_bound(cpu), 3)
        doc["bound_with_fill_and_drain"] = round(pipeline_bound(cpu, batches), 3)
        doc["overlapped_generate"] = {
            k: _median(ovl, f"generate_{k}") for k in ("cpu", "run_queue", "blocked")
        }
    return doc


def _print_summary(case: str, doc: dict, batches: int) -> None:
    pairs = " ".join(f"{r:.2f}" for r in doc["ratios"])
    lo, hi = doc["load_1m"]
    print(f"  {case}: overlapped is {doc['ratio']:.2f}x the sequential loop (median; pairs: {pairs}; load "
          f"{lo:.2f}-{hi:.2f} on {os.cpu_count()} cores)", flush=True)  # fmt: skip
    if "bound" in doc:
        c = doc["stage_cpu_s"]
        print(f"    bound: stage CPU s of the sequential runs: media {c['media']:.2f}, generate {c['generate']:.2f}, "
              f"score {c['score']:.2f} -> (sum/max) {doc['bound']:.2f}x; with the fill and drain of {batches} "
              f"batches {doc['bound_with_fill_and_drain']:.2f}x", flush=True)  # fmt: skip
    cores, cpu = doc["cores_used"], doc["cpu_s"]
    line = (f"    cores used (CPU s / wall s): sequential {cores['sequential']:.2f}, overlapped "
            f"{cores['overlapped']:.2f} (CPU s {cpu['sequential']:.2f} and {cpu['overlapped']:.2f})")  # fmt: skip
    if "overlapped_generate" in doc:
        g = doc["overlapped_generate"]
        line += (f"; overlapped generation thread: {g['cpu']:.2f} s on a CPU, {g['run_queue']:.2f} s waiting "
                 f"for a core, {g['blocked']:.2f} s blocked (GIL)")  # fmt: skip
    print(line, flush=True)


def _compare(
    engine, adapter, records, work: Path, spec, batch_size: int, max_new_tokens: int, pairs: int
) -> dict:
    """``pairs`` rounds of the four runs (uncached/cached x sequential/overlapped) at one generation length. The
    two modes alternate which goes first, so a change of machine load hits both (an even number of rounds
    balances the order); every run must give the same predictions."""
    runs = {case: {"sequential": [], "overlapped": []} for case in ("uncached", "cached")}
    reference: dict[str, str] | None = None
    for pair in range(pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        for case in ("uncached", "cached"):
            for overlap in order:
                mode = "overlapped" if overlap else "sequential"
                cache_root = work / f"cache-{mode}"
                if case == "uncached":
                    shutil.rmtree(cache_root, ignore_errors=True)
                out = work / "runs" / f"{case}-{mode}"
                run = run_case(
                    engine, adapter, records, cache_root, out, spec, overlap, batch_size, max_new_tokens
                )
                runs[case][mode].append(run)
                predictions = _predictions(out)
                if reference is not None and predictions != reference:
                    raise RuntimeError(
                        f"{case}/{mode} (pair {pair + 1}) predicted otherwise than the first run"
                    )
                reference = predictions
                busy = ", ".join(f"{k} {v:.2f} s" for k, v in run["stages"].items())
                print(
                    f"  pair {pair + 1} {case + '/' + mode:22s} {run['wall']:7.2f} s  ({len(records) / run['wall']:.2f} "
                    f"samples/s; busy: {busy}; load {run['loadavg'][0]:.2f})",
                    flush=True,
                )  # fmt: skip
    batches = math.ceil(len(records) / batch_size)
    doc = {"pairs": pairs, "runs": runs, "loadavg": loadavg()}
    for case, case_runs in runs.items():
        doc[case] = _summary(case_runs, batches)
        _print_summary(case, doc[case], batches)
    return doc


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
        print(
            f"  {name}: engine ready in {ready_s:.1f} s; this process and its children: {rss:.2f} GB",
            flush=True,
        )
        starts[name] = {"ready_s": round(ready_s, 1), "rss_gb": round(rss, 2)}
        try:  # warm-up: the cache holds every clip, the engine has run once
            run_case(engine, adapter, records, work / "cache", work / "runs" / f"{name}-warmup", spec, True,
                     args.batch_size, 8)  # fmt: skip
            out = work / "runs" / f"{name}-timed"
            seconds[name] = run_case(
                engine,
                adapter,
                records,
                work / "cache",
                out,
                spec,
                True,
                args.batch_size,
                args.max_new_tokens[0],
            )["wall"]
        finally:
            engine.close()
        responses[name] = _predictions(out)
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
    ap.add_argument("--out", default=None, help=f"JSON results (default {DEFAULT_OUT}; --quick: none)")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument(
        "--pairs", type=int, default=4, help="rounds of sequential + overlapped runs (median ratio)"
    )
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
        out = Path(args.out or DEFAULT_OUT).with_name("engines.json")
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
        print(f"max_new_tokens {tokens}, {args.pairs} pairs of runs:", flush=True)
        sweep[tokens] = _compare(engine, adapter, records, work, spec, args.batch_size, tokens, args.pairs)
    main_case = sweep[args.max_new_tokens[0]]
    doc = {
        "quick": args.quick,
        "samples": n,
        "clip": {"height": h, "width": w, "seconds": secs, "fps": 30.0},
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens[0],
        "pairs": args.pairs,
        "uncached": main_case["uncached"],
        "cached": main_case["cached"],
        "by_max_new_tokens": {str(k): v for k, v in sweep.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg": loadavg()},
    }
    out = args.out or (None if args.quick else str(DEFAULT_OUT))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {out}")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
