"""Ray Data streaming of cached frames against a direct ``MediaCache.get_many`` of the same samples (issue
"Ray Data at speed"); every ratio is from one run.

Usage: ``.venv/bin/python benchmarks/ray_data_bench.py [--quick] [--workdir .reelrl/bench] [--out results.json]``.

Inputs: ``--clips`` synthetic 10 s 1280x720 30 fps H.264 clips (``bench_inputs.synth_clip``, the cache
benchmark's corpus: the same files are reused from ``<workdir>/clips``) built into a cache with the cache
benchmark's spec (2 fps, at most 64 frames, 262,144 max pixels: 20 frames of 378x672 per clip); the samples
are the clips ``--repeats`` times over (a sample = one prepared row with one video), batches of
``--batch-size``. ``--quick``: tiny clips, one round (a smoke test, its numbers mean nothing).

Modes, run in rotating order each round after one untimed warm-up pass of each (so the page cache is warm for
all); each ratio is the median over ``--rounds`` rounds of that round's ``direct`` time over the mode's:

* ``direct``: ``MediaCache.get_many`` of each batch's digests in this process, one batch after another;
* ``stream``: ``training.data.stream.stream_batches`` (Ray Data rows, frames read by ``iter_torch_batches``'
  ``collate_fn`` in this process, ``FETCH_AHEAD`` batches in parallel), one full pass; each pass builds its
  Ray datasets as a run does, so what a stream costs to start is inside the time;
* ``stream_ahead1``: the same with one batch fetched ahead (no parallel fetching);
* ``stream_run`` against ``direct_run``: ``--run-epochs`` passes (default ``ENDLESS_CHUNK_EPOCHS``, 8) from one
  stream, as a training run reads them (``training_run`` builds one Ray dataset for all its steps, an endless
  stream one per ``ENDLESS_CHUNK_EPOCHS`` epochs), against ``get_many`` over the same passes: the stream's start
  is paid once per 8 passes instead of every pass;
* ``actor`` (the previous reader, kept here only for this comparison; ``--no-actor`` skips it): a one-actor
  ``ActorPoolStrategy`` whose ``map_batches`` UDF reads the frames and hands them on as bytes through the
  object store; each pass starts its actor. Timed in the first two rounds only (it takes ~100x longer).

A ratio is bytes per second of the mode over bytes per second of ``direct`` (``direct_run`` for ``stream_run``);
goal for ``stream`` and ``stream_run``: >= 0.8.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import psutil
from bench_inputs import synth_clip
from bench_measure import Report, Result, loadavg, mb

from cache_store import MediaCache, MediaSpec
from training.data import stream as data

SPEC = MediaSpec(fps=2.0, max_frames=64, max_pixels=262_144, factor=28)
GOAL = 0.8


def make_cache(workdir: Path, clips: int, quick: bool) -> tuple[MediaCache, list[str]]:
    """The cache of ``clips`` synthetic clips (made or reused) and their digests, in clip order."""
    size = (2, 30, 240, 320) if quick else (10, 30, 720, 1280)
    made = [
        synth_clip(workdir / ("clips_quick" if quick else "clips"), *size, seed=1 + i)[0]
        for i in range(clips)
    ]
    cache = MediaCache(workdir / f"ray_data_cache{'_quick' if quick else ''}")
    result = cache.build([(str(p), "video") for p in made], SPEC, workers=2)
    if result.failed:
        raise RuntimeError(f"cache build failed for {result.failed} clips: {cache.failures()[:2]}")
    return cache, [result.digests[str(p)] for p in made]


def prepared_rows(digests: list[str], repeats: int) -> list[dict]:
    return [
        {"sample_id": f"s{i}", "problem": "q", "problem_type": "boolean", "answer": "yes",
         "media": [{"source": f"clip{i % len(digests)}", "kind": "video", "digest": d}]}
        for i, d in enumerate(digests * repeats)
    ]  # fmt: skip


class OneActorFetch:
    """The previous reader's UDF: frames read in a Ray Data actor and passed on as bytes (object store)."""

    def __init__(self, cache_root: str):
        self.cache = MediaCache(cache_root)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        frames = []
        for media_json in batch["media_json"]:
            digests = [m["digest"] for m in orjson.loads(media_json)]
            frames.append([(c.frames.tobytes(), c.frames.shape) for c in self.cache.get_many(digests)])
        batch["media_frames"] = np.array(frames + [None], dtype=object)[:-1]
        return batch


def actor_pass(rows: list[dict], root: str, batch_size: int) -> int:
    import ray

    ds = data.rows_dataset(rows).map_batches(
        OneActorFetch,
        fn_constructor_kwargs={"cache_root": root},
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=1),
        batch_format="numpy",
    )
    total = 0
    for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
        for media in batch["media_frames"]:
            total += sum(np.frombuffer(b, np.uint8).reshape(s).nbytes for b, s in media)
    return total


def direct_pass(cache: MediaCache, rows: list[dict], batch_size: int, epochs: int = 1) -> int:
    total = 0
    for _ in range(epochs):
        for i in range(0, len(rows), batch_size):
            digests = [m["digest"] for r in rows[i : i + batch_size] for m in r["media"]]
            total += sum(c.frames.nbytes for c in cache.get_many(digests))
    return total


def stream_pass(rows: list[dict], root: str, batch_size: int, ahead: int, epochs: int = 1) -> int:
    batches = data.stream_batches(rows, root, batch_size, shuffle=False, epochs=epochs, fetch_ahead=ahead)
    return sum(m.frames.nbytes for batch in batches for item in batch for m in item.media)


class PeakOwnRSS:
    """Peak RSS of this process (not its Ray children) while the block runs, sampled every 10 ms."""

    def __enter__(self):
        self.proc, self.start, self.peak = psutil.Process(), psutil.Process().memory_info().rss, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.above = max(self.peak, self.proc.memory_info().rss) - self.start


def measure(modes: dict, rounds: int, report: Report, few: tuple[str, ...] = ()) -> dict:
    """Each mode (name -> (pass, bytes it must deliver)) once untimed, then ``rounds`` rounds in rotating order
    (the modes in ``few``, slow ones, only in the first two); per mode the times, the peak RSS growth of this
    process and the load average before each timed pass, by round."""
    for name, (fn, want) in modes.items():
        if fn() != want:
            raise RuntimeError(f"{name}: a pass delivered a different number of bytes than {want}")
    out = {name: {"s": {}, "rss_above": [], "load_1m": []} for name in modes}
    names = list(modes)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if name in few and r >= 2:
                continue
            out[name]["load_1m"].append(loadavg()[0])
            with PeakOwnRSS() as rss:
                start = time.perf_counter()
                got = modes[name][0]()
                out[name]["s"][r] = time.perf_counter() - start
            out[name]["rss_above"].append(rss.above)
            if got != modes[name][1]:
                report.note(f"{name} round {r}: {got} bytes, expected {modes[name][1]}")
    return out


def paired_ratio(direct: dict[int, float], mode: dict[int, float]) -> float:
    """Median over rounds of (direct time / mode time) within the round: load that drifts between rounds
    moves both sides of each ratio."""
    return statistics.median(direct[r] / mode[r] for r in mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny clips, one round: a smoke test")
    parser.add_argument("--workdir", type=Path, default=Path(".reelrl/bench"), help="clips and the cache")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3, help="samples = clips x repeats")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds (the actor reader: 2)")
    parser.add_argument("--no-actor", action="store_true", help="skip the previous one-actor reader")
    parser.add_argument(
        "--run-epochs", type=int, default=data.ENDLESS_CHUNK_EPOCHS, help="passes per stream in stream_run"
    )
    parser.add_argument("--out", type=Path, help="write every number to this JSON file")
    parser.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.repeats, args.rounds, args.run_epochs = 3, 2, 1, 2
    start = time.perf_counter()
    print(
        f"ReelRL Ray Data benchmark ({'quick' if args.quick else 'full'}); {os.cpu_count()} CPUs; load avg {loadavg()}"
    )
    cache, digests = make_cache(args.workdir.resolve(), args.clips, args.quick)
    rows, root, b = prepared_rows(digests, args.repeats), cache.root, args.batch_size
    data.ensure_ray()  # started once, outside every timed pass (a run starts it once too)
    expected = direct_pass(cache, rows, b)
    print(
        f"{len(digests)} cache entries, {len(rows)} samples = {mb(expected)} per pass, batch {b}, "
        f"FETCH_AHEAD {data.FETCH_AHEAD}; inputs ready in {time.perf_counter() - start:.0f} s; load avg {loadavg()}"
    )
    e = args.run_epochs
    modes = {
        "direct": (lambda: direct_pass(cache, rows, b), expected),
        "stream": (lambda: stream_pass(rows, root, b, data.FETCH_AHEAD), expected),
        "stream_ahead1": (lambda: stream_pass(rows, root, b, 1), expected),
        "direct_run": (lambda: direct_pass(cache, rows, b, e), e * expected),
        "stream_run": (lambda: stream_pass(rows, root, b, data.FETCH_AHEAD, e), e * expected),
    }
    if not args.no_actor:
        modes["actor"] = (lambda: actor_pass(rows, root, b), expected)
    report = Report()
    times = measure(modes, args.rounds, report, few=("actor",))
    for name in [m for m in modes if not m.startswith("direct")]:
        base = "direct_run" if name == "stream_run" else "direct"
        direct, mine, size = times[base]["s"], times[name]["s"], modes[name][1]
        t, t_direct = statistics.median(mine.values()), statistics.median(direct.values())
        detail = (
            f"{name} {size / t / 1e9:.2f} GB/s ({t:.3f} s) vs get_many {size / t_direct / 1e9:.2f} GB/s "
            f"({t_direct:.3f} s), {mb(size)} a pass, medians of {len(mine)} and {len(direct)} passes, ratio the "
            f"median of the rounds' own; peak RSS of this process above its start "
            f"{mb(max(times[name]['rss_above']))} vs {mb(max(times[base]['rss_above']))}; load avg 1m "
            f"{min(times[name]['load_1m']):.2f}-{max(times[name]['load_1m']):.2f}"
        )
        target, op = (GOAL, ">=") if name in ("stream", "stream_run") else (None, "info")
        raw = {"bytes": size, "direct_s": direct, **times[name]}
        report.add(Result(f"{name}_vs_get_many", paired_ratio(direct, mine), target, op, detail, raw))
    print(f"\nload avg at end {loadavg()}; total {time.perf_counter() - start:.0f} s\n")
    print(report.table())
    if args.out:
        payload = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "results": {r.name: r.to_dict() for r in report.results},
            "notes": report.notes,
            "loadavg_end": loadavg(),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2))
    return 1 if args.check and any(r.passed is False for r in report.results) else 0


if __name__ == "__main__":
    sys.exit(main())
