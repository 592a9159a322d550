"""The held-out-split adapter: ReelRL/EasyR1 JSONL through the training loader, scored by the reward
library, run end to end with a real cache (video, image and text-only samples)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cache_store.encode import write_video
from cache_store.keys import MediaSpec
from cache_store.store import MediaCache
from evaluation.adapters import get_adapter
from evaluation.runner import run_benchmark
from training.engines.base import Completion

SAMPLES = [
    {
        "problem_id": "mc1",
        "problem": "Which colour is the square?",
        "problem_type": "multiple choice",
        "options": ["A. red", "B. blue"],
        "answer": "B",
        "videos": ["clips/v1.mp4"],
        "data_source": "synth",
    },
    {
        "problem_id": "num1",
        "problem": "How many dots?",
        "problem_type": "numerical",
        "answer": "3",
        "images": ["img/i1.png"],
    },
    {
        "problem_id": "mc2",
        "problem": "Which way does it move?",
        "problem_type": "multiple_choice",
        "options": ["A. left", "B. right"],
        "answer": "<answer>A</answer>",
        "videos": ["clips/v1.mp4"],
    },
    {"problem_id": "txt1", "problem": "Is 2 even?", "problem_type": "boolean", "answer": "yes"},
]
RESPONSES = {
    "mc1": "<think>it is blue</think><answer>B</answer>",  # correct
    "num1": "<answer>4</answer>",  # wrong, but a number was read
    "mc2": "I cannot tell.",  # nothing to read
    "txt1": "<answer>yes</answer>",  # correct
}


@pytest.fixture
def split(tmp_path):
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24, 2] = 255
    write_video(tmp_path / "data" / "clips" / "v1.mp4", frames, fps=4)
    (tmp_path / "data" / "img").mkdir(parents=True)
    Image.fromarray(np.full((56, 56, 3), 128, np.uint8)).save(tmp_path / "data" / "img" / "i1.png")
    path = tmp_path / "data" / "heldout.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    return path


def test_load(split):
    recs = get_adapter("reelrl_jsonl").load(split, None)
    assert [r.id for r in recs] == ["mc1", "num1", "mc2", "txt1"]
    mc1, num1, mc2, txt1 = recs
    assert mc1.media == [str(split.parent / "clips" / "v1.mp4")] and mc1.media_kind == "video"
    assert mc1.categories == {"problem_type": "multiple choice", "data_source": "synth"}
    assert num1.media_kind == "image" and num1.data_type == "image"
    assert mc2.problem_type == "multiple choice" and mc2.answer == "A"  # canonical type, unwrapped key
    assert txt1.media == [] and txt1.media_kind == "none" and txt1.data_type == "text"


def test_load_errors_name_the_row(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(SAMPLES[3]) + "\n" + json.dumps({"problem": "q", "problem_type": "boolean"}) + "\n"
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: missing answer"):
        get_adapter("reelrl_jsonl").load(bad, None)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps(SAMPLES[3]) + "\n" + json.dumps(SAMPLES[3]) + "\n")
    with pytest.raises(ValueError, match=r"dup\.jsonl: duplicate record ids \['txt1'\]"):
        get_adapter("reelrl_jsonl").load(dup, None)


def test_scores_and_aggregates_exact(split):
    adapter = get_adapter("reelrl_jsonl")
    recs = adapter.load(split, None)
    scores = [adapter.score_sample(r, RESPONSES[r.id], "robust") for r in recs]
    assert [s["accuracy"] for s in scores] == [1.0, 0.0, 0.0, 1.0]
    assert [s["extraction_failed"] for s in scores] == [False, False, True, False]
    assert adapter.score_sample(recs[0], RESPONSES["mc1"], "official") == scores[0]  # same reference scorer
    agg = adapter.aggregate(recs, scores, "robust")
    assert agg == {
        "n": 4,
        "accuracy": 50.0,  # percent, like every aggregate
        "overall": 50.0,
        "per_problem_type": {"boolean": 100.0, "multiple choice": 50.0, "numerical": 0.0},
        "mean_overall": pytest.approx(100 * (1.0 + 0.1 + 0.0 + 1.0) / 4),  # 0.9·acc + 0.1·format
        "mean_format": 75.0,
    }


class Engine:
    def __init__(self):
        self.seen = {}

    def generate(self, requests, params):
        for r in requests:
            self.seen[r.request_id] = [(m.kind, m.frames.shape) for m in r.media]
        return [[Completion(RESPONSES[r.request_id], [1, 2], "stop")] for r in requests]

    def close(self):
        pass


def test_run_with_video_image_and_text(split, tmp_path):
    adapter = get_adapter("reelrl_jsonl")
    recs = adapter.load(split, None)
    spec = MediaSpec(
        fps=2.0,
        max_frames=4,
        min_frames=2,
        max_pixels=56 * 56,
        min_pixels=28 * 28,
        image_max_pixels=56 * 56,
        image_min_pixels=28 * 28,
    )
    engine = Engine()
    result = run_benchmark(
        engine,
        "reelrl_jsonl",
        recs,
        MediaCache(tmp_path / "cache"),
        spec,
        tmp_path / "out",
        model_id="m",
        batch_size=3,
    )
    assert engine.seen == {
        "mc1": [("video", (4, 28, 28, 3))],
        "num1": [("image", (1, 56, 56, 3))],
        "mc2": [("video", (4, 28, 28, 3))],
        "txt1": [],
    }
    for mode in ("robust", "official"):
        assert result.aggregates[mode]["accuracy"] == 50.0
        assert result.aggregates[mode]["extraction_failure_rate"] == 25.0
    assert result.counts["scored"] == 4 and result.counts["media_failed"] == 0
