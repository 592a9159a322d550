"""The resumable runner end to end: real mp4s, a real MediaCache, the Charades-STA adapter.

The engine is a deterministic fake returning canned responses per request id (the real tiny model
is covered by the engine tests); it records every call so resume can be checked exactly.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cache_store.encode import write_video
from cache_store.keys import MediaSpec
from cache_store.store import MediaCache
from evaluation.adapters import get_adapter
from evaluation.runner import GREEDY, run_benchmark
from training.engines.base import Completion, GenerationEngine, SamplingParams

# annotation line -> canned response. Ground truths: A [0,10], B [10,20], C [2,6], D [1,2], E [3,5].
ANNOTATION = {
    "AAAAA 0 10##person opens a door.": "The event happens in 0 - 10 seconds.",  # IoU 1 in both modes
    "BBBBB 10 20##person sits down.": '<answer>{"time": [15, 20]}</answer>',  # robust 0.5; official: no parse
    "CCCCC 2 6##person drinks water.": "It happens in 4 to 8 seconds",  # IoU (6-4)/(8-2) = 1/3 in both
    "DDDDD 1 2##person waves.": "The event happens in 1 - 2 seconds.",  # its video is missing
    "EEEEE 3 5##person laughs.": "",  # empty response
}


class CannedEngine:
    """GenerationEngine returning a fixed response per request id; records every call."""

    def __init__(self, responses: dict[str, str], fail_ids: tuple[str, ...] = ()):
        self.responses, self.fail_ids = responses, set(fail_ids)
        self.calls: list[list[str]] = []
        self.media_shapes: dict[str, list[tuple[int, ...]]] = {}
        self.prompts: dict[str, str] = {}

    def generate(self, requests, params):
        self.calls.append([r.request_id for r in requests])
        if any(r.request_id in self.fail_ids for r in requests):
            raise RuntimeError("engine refuses " + ",".join(sorted(self.fail_ids)))
        out = []
        for r in requests:
            self.media_shapes[r.request_id] = [m.frames.shape for m in r.media]
            self.prompts[r.request_id] = r.prompt
            text = self.responses[r.request_id]
            out.append(
                [Completion(text=text, token_ids=list(range(len(text.split()))), finish_reason="stop")]
                * params.n
            )
        return out

    def close(self):
        pass

    @property
    def generated_ids(self):
        return [i for call in self.calls for i in call]


@pytest.fixture
def bench(tmp_path):
    videos = tmp_path / "videos"
    for i, vid in enumerate(("AAAAA", "BBBBB", "CCCCC", "EEEEE")):
        frames = np.zeros((8, 32, 32, 3), np.uint8)
        frames[..., i % 3] = 60 * (i + 1)
        write_video(videos / f"{vid}.mp4", frames, fps=4)
    ann = tmp_path / "charades_test.txt"
    ann.write_text("\n".join(ANNOTATION) + "\n")
    adapter = get_adapter("charades_sta")
    records = adapter.load(ann, videos)
    by_video = {line.split()[0]: response for line, response in ANNOTATION.items()}
    responses = {r.id: by_video[r.extra["video_id"]] for r in records}
    spec = MediaSpec(fps=2.0, max_frames=4, min_frames=2, max_pixels=56 * 56, min_pixels=28 * 28)
    return {
        "records": records,
        "responses": responses,
        "cache": MediaCache(tmp_path / "cache"),
        "spec": spec,
        "ann": ann,
        "videos": videos,
        "out": tmp_path / "run",
    }


def _run(bench, engine, **kw):
    kw = {"batch_size": 2, "model_id": "fake-model", "annotation_path": bench["ann"], **kw}
    return run_benchmark(
        engine, "charades_sta", bench["records"], bench["cache"], bench["spec"], bench["out"], **kw
    )


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_resume_and_exact_results(bench):
    by_vid = {r.extra["video_id"]: r.id for r in bench["records"]}
    engine = CannedEngine(bench["responses"])
    progress = []
    result = _run(bench, engine, progress=progress.append)

    # media: D is missing -> media_failed with its reason; never sent to the engine
    assert [f["id"] for f in result.media_failures] == [by_vid["DDDDD"]]
    assert "media file not found" in result.media_failures[0]["reason"]
    assert "DDDDD.mp4" in result.media_failures[0]["reason"]
    assert sorted(engine.generated_ids) == sorted(by_vid[v] for v in ("AAAAA", "BBBBB", "CCCCC", "EEEEE"))
    assert engine.calls == [[by_vid["AAAAA"], by_vid["BBBBB"]], [by_vid["CCCCC"]], [by_vid["EEEEE"]]]
    # the engine got decoded frames from the cache (4 frames at 28x28 under this spec) and the rendered prompt
    assert engine.media_shapes[by_vid["AAAAA"]] == [(4, 28, 28, 3)]
    assert engine.prompts[by_vid["AAAAA"]] == bench["records"][0].problem

    # predictions: one line per generated sample, appended batch by batch
    rows = _lines(bench["out"] / "predictions.jsonl")
    assert [r["id"] for r in rows] == engine.generated_ids
    row_b = next(r for r in rows if r["id"] == by_vid["BBBBB"])
    assert row_b["response"] == '<answer>{"time": [15, 20]}</answer>'
    assert row_b["scores"]["robust"]["iou"] == pytest.approx(0.5)
    assert row_b["scores"]["official"] == {"score": 0.0, "iou": 0.0, "pred": None, "extraction_failed": True}

    # results: official IoUs [1, 0, 1/3, 0], robust IoUs [1, 0.5, 1/3, 0] over the 4 scored samples
    results = json.loads((bench["out"] / "results.json").read_text())
    assert results == json.loads(json.dumps(result.to_dict()))
    off, rob = results["aggregates"]["official"], results["aggregates"]["robust"]
    assert off["n"] == rob["n"] == 4
    assert (off["R@0.3"], off["R@0.5"], off["R@0.7"]) == pytest.approx((50.0, 25.0, 25.0))
    assert off["mIoU"] == pytest.approx(100 * (1 + 1 / 3) / 4)
    assert off["extraction_failure_rate"] == pytest.approx(50.0)  # B (JSON) and E (empty)
    assert (rob["R@0.3"], rob["R@0.5"], rob["R@0.7"]) == pytest.approx((75.0, 50.0, 25.0))
    assert rob["mIoU"] == pytest.approx(100 * (1 + 0.5 + 1 / 3) / 4)
    assert rob["extraction_failure_rate"] == pytest.approx(25.0)  # E only
    assert results["counts"] == {
        "total": 5,
        "scored": 4,
        "media_failed": 1,
        "generation_failed": 0,
        "empty_response": 1,
        "extraction_failed": {"robust": 1, "official": 2},
        "scoring_failed": {"robust": 0, "official": 0},
        "unknown_predictions": 0,
        "missing": 1,
    }
    assert result.partial is True
    assert result.generated_this_run == 4 and result.resumed == 0
    assert progress[-1]["done"] == progress[-1]["total"] == 5 and progress[-1]["pending"] == 0
    assert {"rate_per_s", "eta_s", "media_failed"} <= set(progress[-1])

    # manifest: every setting that moves scores
    manifest = json.loads((bench["out"] / "manifest.json").read_text())
    s = manifest["settings"]
    assert s["benchmark"] == "charades_sta" and s["model_id"] == "fake-model"
    assert s["media_spec"]["fps"] == 2.0 and s["media_spec"]["max_frames"] == 4
    assert s["media_spec"]["max_pixels"] == 56 * 56 and s["media_spec"]["factor"] == 28
    assert s["sampling"]["temperature"] == 0.0 and s["seed"] == GREEDY.seed
    assert len(s["prompt_template_hash"]) == 64
    assert manifest["annotation_path"] == str(bench["ann"]) and manifest["num_records"] == 5
    assert set(manifest["code_version"]) == {"commit", "dirty"}

    # rerun: nothing regenerated, same numbers; D is retried (and fails again) but never generated
    engine2 = CannedEngine(bench["responses"])
    again = _run(bench, engine2)
    assert engine2.calls == [] and again.resumed == 4 and again.generated_this_run == 0
    assert again.aggregates == result.aggregates and again.counts == result.counts
    assert len(_lines(bench["out"] / "predictions.jsonl")) == 4

    # a crash mid-write: drop C's line and leave a partial line -> exactly C is regenerated
    pred = bench["out"] / "predictions.jsonl"
    kept = [line for line in pred.read_text().splitlines() if by_vid["CCCCC"] not in line]
    pred.write_text("\n".join(kept) + '\n{"id": "' + by_vid["CCCCC"] + '", "resp')
    engine3 = CannedEngine(bench["responses"])
    third = _run(bench, engine3)
    assert engine3.calls == [[by_vid["CCCCC"]]]
    assert third.aggregates == result.aggregates

    # the missing video appears: only D is generated, now 5 scored
    frames = np.full((8, 32, 32, 3), 90, np.uint8)
    write_video(bench["videos"] / "DDDDD.mp4", frames, fps=4)
    engine4 = CannedEngine(bench["responses"])
    fourth = _run(bench, engine4)
    assert engine4.calls == [[by_vid["DDDDD"]]]
    assert fourth.counts["scored"] == 5 and fourth.counts["media_failed"] == 0
    assert fourth.aggregates["official"]["R@0.7"] == pytest.approx(40.0)  # D's IoU is 1: 2 of 5


def test_other_settings_refused_in_same_out_dir(bench):
    _run(bench, CannedEngine(bench["responses"]))
    with pytest.raises(ValueError, match=r"other settings \(model_id: 'fake-model' -> 'other-model'\)"):
        _run(bench, CannedEngine(bench["responses"]), model_id="other-model")
    with pytest.raises(ValueError, match="sampling"):
        _run(bench, CannedEngine(bench["responses"]), sampling=SamplingParams(temperature=0.7, seed=1))


def test_undecodable_video_and_engine_failure_are_counted(bench):
    with open(bench["videos"] / "BBBBB.mp4", "wb") as f:  # overwrite with bytes no decoder reads
        f.write(os.urandom(4096))
    by_vid = {r.extra["video_id"]: r.id for r in bench["records"]}
    engine = CannedEngine(bench["responses"], fail_ids=(by_vid["CCCCC"],))
    result = _run(bench, engine, batch_size=8)
    reasons = {f["id"]: f["reason"] for f in result.media_failures}
    assert set(reasons) == {by_vid["BBBBB"], by_vid["DDDDD"]}
    assert "DecodeFailed" in reasons[by_vid["BBBBB"]]
    # the batch failed as a whole, then each request alone: only C is a generation failure
    assert engine.calls[0] == [by_vid["AAAAA"], by_vid["CCCCC"], by_vid["EEEEE"]]
    assert [f["id"] for f in result.generation_failures] == [by_vid["CCCCC"]]
    assert result.counts["scored"] == 2 and result.counts["generation_failed"] == 1
    assert result.counts["total"] == 5 == result.counts["scored"] + result.counts["media_failed"] + 1


def test_mode_and_sampling_validation(bench):
    with pytest.raises(ValueError, match="unknown scoring mode 'best'"):
        _run(bench, CannedEngine(bench["responses"]), mode="best")
    with pytest.raises(ValueError, match="one response per sample"):
        _run(bench, CannedEngine(bench["responses"]), sampling=SamplingParams(n=4, temperature=1.0))
    assert isinstance(CannedEngine({}), GenerationEngine)


def test_moved_media_and_corrected_answer_reuse_responses(bench, tmp_path):
    import dataclasses
    import shutil

    from evaluation.adapters.charades_sta import ground_truth

    first = _run(bench, CannedEngine(bench["responses"]))
    moved = tmp_path / "moved"
    shutil.copytree(bench["videos"], moved)
    records = get_adapter("charades_sta").load(bench["ann"], moved)
    # correct B's ground truth to [15, 20]: its stored response must be rescored, not regenerated
    records = [
        dataclasses.replace(r, answer=ground_truth((15.0, 20.0)), extra={**r.extra, "span": [15.0, 20.0]})
        if r.extra["video_id"] == "BBBBB"
        else r
        for r in records
    ]
    engine = CannedEngine(bench["responses"])
    again = run_benchmark(
        engine,
        "charades_sta",
        records,
        bench["cache"],
        bench["spec"],
        bench["out"],
        batch_size=2,
        model_id="fake-model",
    )
    assert engine.calls == []  # same prompts and file names: nothing regenerated
    assert again.counts["scored"] == first.counts["scored"] == 4
    assert first.aggregates["robust"]["mIoU"] == pytest.approx(100 * (1 + 0.5 + 1 / 3) / 4)
    assert again.aggregates["robust"]["mIoU"] == pytest.approx(100 * (1 + 1 + 1 / 3) / 4)
    assert again.aggregates["official"] == first.aggregates["official"]  # B still has no official parse


def test_a_run_with_unscored_records_says_partial_and_a_resumed_completed_run_scores_like_a_full_one(
    bench, tmp_path
):
    first = _run(bench, CannedEngine(bench["responses"]))  # D's video is missing: 4 of 5 scored
    assert first.partial is True and first.counts["missing"] == 1
    manifest = json.loads((bench["out"] / "manifest.json").read_text())
    assert (manifest["partial"], manifest["missing"]) == (True, 1)
    assert json.loads((bench["out"] / "results.json").read_text())["partial"] is True

    write_video(bench["videos"] / "DDDDD.mp4", np.full((8, 32, 32, 3), 90, np.uint8), fps=4)
    resumed = _run(bench, CannedEngine(bench["responses"]))  # generates D only
    assert resumed.resumed == 4 and resumed.generated_this_run == 1
    assert resumed.partial is False and resumed.counts["missing"] == 0
    manifest = json.loads((bench["out"] / "manifest.json").read_text())
    assert (manifest["partial"], manifest["missing"]) == (False, 0)

    full = _run({**bench, "out": tmp_path / "full"}, CannedEngine(bench["responses"]))
    assert full.resumed == 0 and full.generated_this_run == 5 and full.partial is False
    assert resumed.aggregates == full.aggregates and resumed.counts == full.counts
