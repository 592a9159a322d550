"""The overlapped evaluation pipeline: same results as the sequential loop, real overlap, several benchmarks
sharing one engine, and a failure outside a record stops every stage instead of hanging.

Real mp4s, a real MediaCache and the Charades-STA adapter; the engine is ``CannedEngine`` from the runner
tests (canned responses per request id; it records every call).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np
import pytest
from test_eval_runner import CannedEngine

from cache_store.encode import write_video
from cache_store.keys import MediaSpec
from cache_store.store import MediaCache
from evaluation.adapters import get_adapter
from evaluation.runner import BenchmarkJob, run_benchmark, run_benchmarks

SPEC = MediaSpec(fps=2.0, max_frames=4, min_frames=2, max_pixels=56 * 56, min_pixels=28 * 28)


@pytest.fixture
def bench(tmp_path):
    videos = tmp_path / "videos"
    lines = []
    for i in range(6):
        frames = np.full((8, 32, 32, 3), 30 * i, np.uint8)
        write_video(videos / f"V{i}.mp4", frames, fps=4)
        lines.append(f"V{i} {i} {i + 2}##event number {i}.")
    ann = tmp_path / "ann.txt"
    ann.write_text("\n".join(lines) + "\n")
    records = get_adapter("charades_sta").load(ann, videos)
    responses = {r.id: f"The event happens in {i} - {i + 3} seconds." for i, r in enumerate(records)}
    return {"records": records, "responses": responses, "ann": ann, "tmp": tmp_path}


def _rows(path):
    return (path / "predictions.jsonl").read_text().splitlines()


def test_overlapped_and_sequential_runs_write_the_same_predictions(bench):
    results, calls = {}, {}
    for overlap in (True, False):
        engine = CannedEngine(bench["responses"])
        out = bench["tmp"] / f"run-{overlap}"
        results[overlap] = run_benchmark(
            engine, "charades_sta", bench["records"], MediaCache(bench["tmp"] / f"cache-{overlap}"), SPEC, out,
            model_id="m", batch_size=4, overlap=overlap,
        )  # fmt: skip
        calls[overlap] = engine.calls
        assert len(_rows(out)) == 6
    assert (
        calls[True]
        == calls[False]
        == [[r.id for r in bench["records"][:4]], [r.id for r in bench["records"][4:]]]
    )
    assert _rows(bench["tmp"] / "run-True") == _rows(bench["tmp"] / "run-False")
    assert results[True].aggregates == results[False].aggregates
    assert results[True].aggregates["official"]["mIoU"] == pytest.approx(100 * 2 / 3)


class _WatchedCache(MediaCache):
    """A MediaCache that counts its builds (one per batch in the pipeline)."""

    def __init__(self, root):
        super().__init__(root)
        self.builds = 0
        self.second_build = threading.Event()

    def build(self, *args, **kwargs):
        report = super().build(*args, **kwargs)
        self.builds += 1
        if self.builds >= 2:
            self.second_build.set()
        return report


class _WaitingEngine(CannedEngine):
    """Generating the first batch waits until the media of the second batch are built: only possible when
    decoding overlaps generation (sequentially it would wait for ever; the 20 s limit fails the test)."""

    def __init__(self, responses, cache):
        super().__init__(responses)
        self.cache, self.overlapped = cache, None

    def generate(self, requests, params):
        if self.overlapped is None:
            self.overlapped = self.cache.second_build.wait(timeout=20)
        return super().generate(requests, params)


def test_media_of_the_next_batch_are_decoded_while_the_engine_generates(bench):
    cache = _WatchedCache(bench["tmp"] / "cache")
    engine = _WaitingEngine(bench["responses"], cache)
    result = run_benchmark(
        engine,
        "charades_sta",
        bench["records"],
        cache,
        SPEC,
        bench["tmp"] / "run",
        model_id="m",
        batch_size=2,
    )
    assert engine.overlapped is True
    assert cache.builds == 3 and result.counts["scored"] == 6


def test_several_benchmarks_share_the_engine_with_their_own_media_settings(bench):
    engine = CannedEngine(bench["responses"])
    small = MediaSpec(fps=2.0, max_frames=2, min_frames=2, max_pixels=28 * 28, min_pixels=28 * 28)
    recs = bench["records"]
    jobs = [
        BenchmarkJob("charades_sta", recs[:3], bench["tmp"] / "a", SPEC),
        BenchmarkJob(get_adapter("charades_sta", prompt_style="reelrl"), recs[3:], bench["tmp"] / "b", small),
    ]
    first, second = run_benchmarks(
        engine, jobs, MediaCache(bench["tmp"] / "cache"), model_id="m", batch_size=2
    )
    # batches never mix benchmarks: 3 records -> [2, 1], then the second job's 3 -> [2, 1]
    assert [len(c) for c in engine.calls] == [2, 1, 2, 1]
    assert engine.media_shapes[recs[0].id] == [(4, 28, 28, 3)] and engine.media_shapes[recs[5].id] == [
        (2, 28, 28, 3)
    ]
    assert (first.counts["scored"], second.counts["scored"]) == (3, 3)
    assert first.aggregates["official"]["mIoU"] == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError, match="share an out_dir"):
        run_benchmarks(engine, [jobs[0], jobs[0]], MediaCache(bench["tmp"] / "cache"), model_id="m")


class _Fatal(BaseException):
    """Not a per-request failure: nothing in the stages catches it."""


class _DyingEngine(CannedEngine):
    def generate(self, requests, params):
        if len(self.calls) == 1:
            raise _Fatal("the accelerator is gone")
        return super().generate(requests, params)


def test_a_fatal_error_stops_every_stage_and_keeps_what_was_written(bench):
    engine = _DyingEngine(bench["responses"])
    out = bench["tmp"] / "run"
    kw = {"model_id": "m", "batch_size": 2}
    cache = MediaCache(bench["tmp"] / "cache")
    with pytest.raises(_Fatal, match="accelerator is gone"):
        run_benchmark(engine, "charades_sta", bench["records"], cache, SPEC, out, **kw)
    assert len(_rows(out)) == 2  # the first batch was scored and appended before the failure
    again = CannedEngine(bench["responses"])
    result = run_benchmark(again, "charades_sta", bench["records"], cache, SPEC, out, **kw)
    assert [len(c) for c in again.calls] == [2, 2] and result.resumed == 2 and result.counts["scored"] == 6


@pytest.mark.parametrize("overlap", [True, False])
def test_decode_workers_start_once_per_media_spec_for_the_whole_run(bench, monkeypatch, overlap):
    """Six records in batches of two: one decode worker decodes the three batches of a spec (a build per
    batch used to start its own), a second spec gets its own pool, and no worker outlives the run."""
    from evaluation import pipeline

    pools = []

    class Watched(pipeline.DecodePool):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.workers_started = []
            pools.append(self)

        def _start_slot(self):
            slot = super()._start_slot()
            self.workers_started.append(slot.proc)
            return slot

    monkeypatch.setattr(pipeline, "DecodePool", Watched)
    small = MediaSpec(fps=2.0, max_frames=2, min_frames=2, max_pixels=28 * 28, min_pixels=28 * 28)
    recs = bench["records"]
    jobs = [
        BenchmarkJob("charades_sta", recs, bench["tmp"] / "a", SPEC),
        BenchmarkJob("charades_sta", recs[:2], bench["tmp"] / "b", small),
    ]
    engine = CannedEngine(bench["responses"])
    cache = MediaCache(bench["tmp"] / "cache")
    first, second = run_benchmarks(engine, jobs, cache, model_id="m", batch_size=2, overlap=overlap)
    assert (first.counts["scored"], second.counts["scored"]) == (6, 2)
    assert [p.spec for p in pools] == [SPEC, small]
    assert [len(p.workers_started) for p in pools] == [1, 1]
    assert not any(w.is_alive() for p in pools for w in p.workers_started)


class _ContinuousEngine(CannedEngine):
    """Stands in for vLLM's AsyncLLM (which cannot run here): ``submit`` takes a batch's requests at once and
    finishes them later, a batch only once the next one has arrived (or nothing more comes for a moment), as a
    continuous-batching scheduler keeps its running batch full across batch boundaries."""

    def __init__(self, responses, fail_ids=()):
        super().__init__(responses, fail_ids)
        self.pending: list[tuple[list, object]] = []
        self.in_flight_peak = 0
        self.lock = threading.Condition()
        self.worker = threading.Thread(target=self._run, daemon=True)
        self.closed = False
        self.worker.start()

    def submit(self, requests, params):
        future = Future()
        with self.lock:
            self.pending.append((requests, params, future))
            self.in_flight_peak = max(self.in_flight_peak, len(self.pending))
            self.lock.notify()
        return future

    def _run(self):
        while not self.closed:
            with self.lock:
                self.lock.wait_for(lambda: len(self.pending) >= 2 or self.closed, timeout=0.3)
                if not self.pending:
                    continue
                requests, params, future = self.pending.pop(0)
            try:
                future.set_result(self.generate(requests, params))
            except Exception as e:  # noqa: BLE001 - handed to the caller through the future
                future.set_exception(e)

    def close(self):
        self.closed = True


def test_an_asynchronous_engine_gets_the_next_batch_before_it_finishes_this_one(bench):
    """With ``submit`` the generation stage hands batches over without waiting: the engine holds requests of
    two batches at once (a synchronous engine only ever sees one), and the predictions, aggregates and the
    isolation of a failing request are those of the synchronous run."""
    recs = bench["records"]
    results, engines = {}, {}
    for name, engine in (
        ("async", _ContinuousEngine(bench["responses"], fail_ids=(recs[4].id,))),
        ("sync", CannedEngine(bench["responses"], fail_ids=(recs[4].id,))),
    ):
        engines[name] = engine
        results[name] = run_benchmark(
            engine, "charades_sta", recs, MediaCache(bench["tmp"] / f"cache-{name}"), SPEC,
            bench["tmp"] / f"run-{name}", model_id="m", batch_size=2,
        )  # fmt: skip
        engine.close()
    assert engines["async"].in_flight_peak >= 2
    assert _rows(bench["tmp"] / "run-async") == _rows(bench["tmp"] / "run-sync")
    assert results["async"].aggregates == results["sync"].aggregates
    assert [f["id"] for f in results["async"].generation_failures] == [recs[4].id]
    assert results["async"].counts["scored"] == 5 and results["async"].stage_seconds["generate"] > 0
