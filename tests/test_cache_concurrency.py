"""Building at scale: a build killed with SIGKILL and rerun, two builders racing on overlapping sources,
progress while items finish, and peak memory that does not grow with the corpus.

Builders that must be killed or must race run as subprocesses (``python -c`` with the ``__main__`` guard
the forkserver needs); the rerun and the checks run here, on the same real Lance store.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import lance
import numpy as np
import psutil
import pyarrow as pa
import pytest

from cache_store import MediaCache, MediaSpec, row_to_media, write_video
from cache_store.blobs import rows_with_frames
from cache_store.conflicts import dedupe, is_conflict, retry
from cache_store.schema import FAILURES_SCHEMA

SPEC = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
SAMPLED = [0, 6, 13, 19]  # 20 frames at 10 fps, 2 fps -> 4 frames: torch.linspace(0, 19, 4).round()
COLOURS = np.array([[(8 * i) % 256, 255 - (8 * i) % 256, (37 * i) % 256] for i in range(30)], dtype=np.uint8)
TIMEOUT_S = 300  # generous: a loaded 2-core machine imports torch in tens of seconds

BUILDER = """
import json, os, sys, time
from cache_store import MediaCache, MediaSpec
if __name__ == "__main__":
    root, sources, opts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    cache = MediaCache(root, flush_rows=opts["flush_rows"])
    if opts.get("barrier"):  # say ready, then wait for the go file: both builders start together
        open(opts["barrier"] + "." + opts["name"], "w").close()
        while not os.path.exists(opts["barrier"]):
            time.sleep(0.01)
    delay = opts.get("delay", 0.0)  # a slow caller: leaves time to kill the build mid-way
    report = cache.build(
        [(s, "video") for s in sources], MediaSpec(**opts["spec"]), workers=opts["workers"],
        progress=lambda done, total: time.sleep(delay),
    )
    print(json.dumps({"build_id": report.build_id, "built": report.built, "hits": report.hits,
                      "replaced": report.replaced, "failed": report.failed}))
"""


def spec_options(spec: MediaSpec) -> dict:
    return {k: spec.to_dict()[k] for k in ("fps", "max_frames", "min_pixels", "max_pixels")}


def start_builder(root, sources, **opts) -> subprocess.Popen:
    opts = {"flush_rows": 2, "workers": 1, "spec": spec_options(SPEC), **opts}
    return subprocess.Popen(
        [sys.executable, "-c", BUILDER, str(root), json.dumps(sources), json.dumps(opts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the test can find (and clean up) its workers
    )


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def live_processes(pgid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            pass
    return found


def videos(folder, count: int, frames: int = 20, size=(64, 96)) -> list[str]:
    """``count`` clips; clip ``k`` frame ``j`` has colour ``COLOURS[(k + j) % 30]``, so a row names its clip."""
    folder.mkdir(exist_ok=True)
    paths = []
    for k in range(count):
        order = [(k + j) % 30 for j in range(frames)]
        pixels = np.broadcast_to(COLOURS[order][:, None, None, :], (frames, *size, 3)).copy()
        paths.append(str(write_video(folder / f"clip{k:02d}.mp4", pixels, 10)))
    return paths


def entry_rows(cache: MediaCache) -> list[dict]:
    return rows_with_frames(lance.dataset(cache.entries_uri))


def committed(cache_root) -> int:
    try:
        return lance.dataset(os.path.join(cache_root, "entries.lance")).count_rows()
    except (ValueError, OSError):  # not created yet
        return 0


def assert_complete(cache: MediaCache, paths: list[str]) -> list[dict]:
    """Every key exactly once, and every row whole: its frames decode to the clip it names."""
    rows = entry_rows(cache)
    counts = collections.Counter(r["digest"] for r in rows)
    assert sorted(counts) == sorted(SPEC.key_for(p, "video").digest() for p in paths)
    assert set(counts.values()) == {1}
    for row in rows:
        media = row_to_media(row)
        k = paths.index(row["source"])
        means = media.frames.reshape(4, -1, 3).mean(axis=1)
        seen = [int(np.abs(COLOURS.astype(float) - m).sum(axis=1).argmin()) for m in means]
        assert media.frames.shape == (4, 56, 84, 3) and media.indices == SAMPLED
        assert seen == [(k + i) % 30 for i in SAMPLED], row["source"]
    return rows


def test_kill_9_mid_build_then_rerun_completes(tmp_path):
    paths = videos(tmp_path / "media", 20)
    stuck = str(tmp_path / "stuck.mp4")
    os.mkfifo(stuck)  # blocks a decode worker in open(): the kill must not leave it running
    root = tmp_path / "cache"
    proc = start_builder(root, [stuck, *paths], workers=2, delay=0.4)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while committed(root) < 4:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the build committed nothing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 60  # orphaned forkserver and workers must go away on their own
        while live_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert live_processes(proc.pid) == []
    finally:
        if proc.poll() is None or live_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)  # only the group this test started
        proc.communicate()

    cache = MediaCache(root, flush_rows=2)
    before = entry_rows(cache)
    assert 4 <= len(before) < 20 and len(before) % 2 == 0  # whole flushes only, killed mid-way
    (killed_build,) = {r["build_id"] for r in before}
    (started,) = cache.lineage()  # the killed build shows as an incomplete event, without counts
    assert (started["build_id"], started["status"], started["kind"]) == (killed_build, "incomplete", "build")
    assert (started["sources"], started["added"], started["entries_version"]) == (21, None, None)  # + fifo
    assert cache.show(before[0]["source"])["build_status"] == "incomplete"

    report = cache.build([(p, "video") for p in paths], SPEC, workers=2)
    assert (report.hits, report.built, report.failed) == (len(before), 20 - len(before), 0)
    rows = assert_complete(cache, paths)
    by_build = collections.Counter(r["build_id"] for r in rows)
    assert by_build == {killed_build: len(before), report.build_id: 20 - len(before)}
    incomplete, lineage = cache.lineage()
    assert (incomplete["build_id"], incomplete["status"]) == (killed_build, "incomplete")
    assert (lineage["build_id"], lineage["status"], lineage["hits"], lineage["added"]) == (
        report.build_id,
        "complete",
        len(before),
        20 - len(before),
    )


def test_two_builders_on_overlapping_sources(tmp_path):
    paths = videos(tmp_path / "media", 16)
    shared = paths[4:12]  # both builders start on the same 8 new keys at the same moment
    plan = {"a": shared + paths[:4], "b": shared + paths[12:]}
    root, barrier = tmp_path / "cache", str(tmp_path / "go")
    procs = {
        name: start_builder(root, srcs, flush_rows=1, barrier=barrier, name=name)
        for name, srcs in plan.items()
    }
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not all(os.path.exists(f"{barrier}.{name}") for name in plan):
            assert all(p.poll() is None for p in procs.values()), "a builder exited before the start"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        open(barrier, "w").close()
        reports = {name: finish(proc) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    for report in reports.values():
        assert report["failed"] == 0 and report["built"] + report["hits"] + report["replaced"] == 12
    cache = MediaCache(root)
    assert_complete(cache, paths)
    assert sorted(r["build_id"] for r in cache.lineage()) == sorted(r["build_id"] for r in reports.values())
    assert cache.failures() == []
    again = cache.build([(p, "video") for p in paths], SPEC)
    assert (again.hits, again.built) == (16, 0)


def test_progress_is_called_as_items_finish(tmp_path):
    paths = videos(tmp_path / "media", 6)
    cache = MediaCache(tmp_path / "cache", flush_rows=2)
    calls = []
    report = cache.build(
        [(p, "video") for p in paths],
        SPEC,
        workers=1,
        progress=lambda d, t: calls.append((d, t, committed(cache.root))),
    )
    # (done, total, rows committed when called): each decode reports as it finishes; the writer thread
    # commits groups of flush_rows=2 rows meanwhile, so committed counts only grow, in steps of 2
    assert [c[:2] for c in calls] == [(i, 6) for i in range(1, 7)]
    seen = [c[2] for c in calls]
    assert seen == sorted(seen) and all(n in (0, 2, 4, 6) for n in seen)
    assert report.built == 6 and committed(cache.root) == 6
    hits = []
    cache.build(
        [(p, "video") for p in paths] + [("x", "sound")], SPEC, progress=lambda d, t: hits.append((d, t))
    )
    assert hits == [(d, 7) for d in range(2, 8)]  # the malformed entry counts as done from the start


MEMORY_BUILD = """
import json, resource, sys
from cache_store import MediaCache, MediaSpec
if __name__ == "__main__":
    spec = MediaSpec(fps=2.0, max_frames=8, min_pixels=4 * 28 * 28, max_pixels=448 * 448)
    report = MediaCache(sys.argv[1], flush_rows=2).build([(p, "video") for p in json.loads(sys.argv[2])], spec)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"built": report.built, "peak": peak}))
"""


def test_peak_memory_does_not_grow_with_corpus_size(tmp_path):
    """Rows are flushed every 2: building 3N clips must not hold more rows than building N. Each row is
    8 x 448 x 448 x 3 = 4.8 MB, so holding the extra 2N = 12 rows would add 58 MB (more with copies)."""
    paths = videos(tmp_path / "media", 18, frames=16, size=(448, 448))
    peaks = {}
    for n in (6, 18):
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_BUILD, str(tmp_path / f"cache{n}"), json.dumps(paths[:n])],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["built"] == n
        peaks[n] = result["peak"]
    row = 8 * 448 * 448 * 3
    assert peaks[18] - peaks[6] < 6 * row, peaks  # half of the 12 extra rows


def test_retry_retries_commit_conflicts_only():
    attempts, naps = [], []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("Retryable commit conflict for version 7: preempted by concurrent transaction")
        return "done"

    assert retry(flaky, sleep=naps.append) == "done" and len(attempts) == 3 and len(naps) == 2
    assert is_conflict(OSError("Too many concurrent writers. Attempted 10 retries."))
    with pytest.raises(OSError, match="disk full"):
        retry(lambda: (_ for _ in ()).throw(OSError("disk full")), sleep=naps.append)
    assert len(naps) == 2  # no sleep before re-raising a non-conflict error
    with pytest.raises(OSError, match="conflict"):
        retry(lambda: (_ for _ in ()).throw(OSError("commit conflict")), retries=2, sleep=naps.append)


def test_dedupe_keeps_the_newest_row_of_each_doubled_key(tmp_path):
    """Two concurrent inserts of one new key both commit in Lance 14 (``cache_store.conflicts``): here the
    duplicates are written directly, then deduped twice (a second deduper must find nothing to do)."""
    cache = MediaCache(tmp_path / "cache")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def failure(digest, build, minutes):
        return {"digest": digest, "source": f"/{digest}.mp4", "kind": "video", "error": "DecodeFailed",
                "message": build, "time": t0 + timedelta(minutes=minutes), "build_id": build}  # fmt: skip

    rows = [failure("aa", "b1", 0), failure("aa", "b2", 5), failure("bb", "b1", 0), failure("aa", "b3", 1)]
    for row in rows:  # separate appends, as separate commits would leave them
        lance.write_dataset(
            pa.Table.from_pylist([row], schema=FAILURES_SCHEMA), cache.failures_uri, mode="append"
        )
    assert dedupe(cache.storage, cache.failures_uri, "time") == 2
    kept = sorted((r["digest"], r["build_id"]) for r in cache.failures())
    assert kept == [("aa", "b2"), ("bb", "b1")]
    assert dedupe(cache.storage, cache.failures_uri, "time") == 0
