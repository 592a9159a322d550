"""A failed generation is retried, isolated to the prompts that cause it, and recorded, never scored 0.

The isolation logic is checked against an engine double that fails on chosen prompts (the calls it
receives are the behaviour under test); the trainer is checked end to end with the real tiny Qwen2-VL and
the real HF engine, on a sample whose cached frames were made for another model family (the processor
rejects them), which is how such a sample fails in practice.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cache_store.types import CachedMedia
from training.config import ConfigError, load_config
from training.data.items import TrainItem
from training.engines.base import Completion, GenerationRequest, SamplingParams
from training.engines.retry import FailedRequest, generate_isolating
from training.loop.rollout import RolloutError, rollout_and_score
from training.loop.trainer import RLTrainer
from training.rewards import RewardWeights

N2 = SamplingParams(n=2, max_new_tokens=4)


class FailingEngine:
    """Answers every request with ``<answer>yes</answer>`` n times; raises on a batch holding a request in
    ``bad`` (always) or in ``flaky`` (its first ``flaky[id]`` attempts); ``calls`` lists each batch."""

    def __init__(self, bad=(), flaky=None, shape_bug=False):
        self.bad, self.flaky, self.shape_bug, self.calls = set(bad), dict(flaky or {}), shape_bug, []

    def generate(self, requests, params):
        ids = [r.request_id for r in requests]
        self.calls.append(ids)
        if hit := [i for i in ids if i in self.bad]:
            raise ValueError(f"cannot encode {hit[0]}")
        for i in ids:
            if self.flaky.get(i, 0) > 0:
                self.flaky[i] -= 1
                raise RuntimeError("CUDA out of memory (transient)")
        n = params.n - 1 if self.shape_bug else params.n
        return [[Completion("<answer>yes</answer>", [7, 2], "stop")] * n for _ in requests]

    def close(self):
        pass


def _requests(ids: str) -> list[GenerationRequest]:
    return [GenerationRequest(i, f"question {i}") for i in ids]


def test_one_bad_request_is_isolated_by_halving_then_retried():
    engine = FailingEngine(bad={"e"})
    groups, failed = generate_isolating(engine, _requests("abcdefgh"), N2, retries=2)
    assert [g is None for g in groups] == [False] * 4 + [True] + [False] * 3
    assert all(len(g) == 2 for g in groups if g is not None)
    assert failed == [FailedRequest("e", "ValueError: cannot encode e", attempts=3)]
    # 8 fails -> abcd ok, efgh fails -> ef fails -> e fails (+2 retries), f ok -> gh ok
    assert engine.calls == [
        list("abcdefgh"), list("abcd"), list("efgh"), list("ef"), ["e"], ["e"], ["e"], ["f"], list("gh"),
    ]  # fmt: skip


def test_transient_failures_are_retried_until_they_succeed():
    engine = FailingEngine(flaky={"b": 3})  # the batch, then half "ab", then "b" fail; retry 1 of "b" works
    groups, failed = generate_isolating(engine, _requests("abc"), N2, retries=2)
    assert failed == [] and all(g is not None and len(g) == 2 for g in groups)
    assert engine.calls == [list("abc"), ["a"], list("bc"), ["b"], ["b"], ["c"]]


def test_retries_zero_and_errors_of_the_engine_itself():
    groups, failed = generate_isolating(FailingEngine(bad={"a"}), _requests("a"), N2, retries=0)
    assert groups == [None] and failed[0].attempts == 1
    with pytest.raises(RuntimeError, match=r"returned \[1, 1\] completions for 2 requests with n=2"):
        generate_isolating(FailingEngine(shape_bug=True), _requests("ab"), N2)
    with pytest.raises(ValueError, match="retries must be >= 0"):
        generate_isolating(FailingEngine(), _requests("a"), N2, retries=-1)
    assert generate_isolating(FailingEngine(), [], N2) == ([], [])


def _items(ids: str) -> list[TrainItem]:
    return [TrainItem(i, f"Is {i} red?", "boolean", "video", "yes") for i in ids]


def test_rollout_and_score_leaves_a_failed_prompt_out_or_raises_naming_it():
    failures: list[FailedRequest] = []
    rollouts = rollout_and_score(FailingEngine(bad={"b"}), _items("abc"), N2, RewardWeights(), failures=failures)
    assert [r.item_index for r in rollouts] == [0, 0, 2, 2]  # no row for "b", so no reward of 0 for it
    assert all(r.reward["accuracy"] == 1.0 for r in rollouts)
    assert [f.request_id for f in failures] == ["b"]
    with pytest.raises(RolloutError, match=r"failed for 1 of 3 prompts after 2 retries: b \(ValueError: cannot"):
        rollout_and_score(FailingEngine(bad={"b"}), _items("abc"), N2, RewardWeights())


def _video_item(sample_id: str, size: tuple[int, int]) -> TrainItem:
    frames = np.random.default_rng(0).integers(0, 255, (4, *size, 3), dtype=np.uint8)
    media = CachedMedia(
        f"d{sample_id}", f"/{sample_id}.mp4", "video", frames, source_fps=8.0, total_frames=16,
        indices=[0, 5, 10, 15], sample_fps=2.0,
    )  # fmt: skip
    return TrainItem(sample_id, "Is there a red square?", "boolean", "video", "yes", media=[media])


@pytest.fixture
def trainer(tiny_models, tmp_path):
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=4",
            "worker.rollout.retries=1", "data.rollout_batch_size=3", "trainer.logger=[jsonl]",
        ]
    )  # fmt: skip
    return RLTrainer(cfg, cfg.model_path, tmp_path / "run").setup()


def test_trainer_records_the_failed_sample_and_trains_on_the_others(trainer):
    f = trainer.processor.video.factor
    items = [_video_item("good0", (f, f)), _video_item("other_family", (f + 2, f)), _video_item("good1", (f, f))]
    metrics = trainer.step(items)
    assert metrics["rollout/failed_prompts"] == 1.0
    assert "actor/pg_loss" in metrics and metrics["step"] == 1  # the update ran on the two good groups
    (line,) = trainer.failures_path.read_text().splitlines()
    record = json.loads(line)
    assert record["sample_id"] == "other_family" and record["stage"] == "rollout" and record["step"] == 1
    assert "not a multiple of 28" in record["error"] and record["attempts"] == 2
    history = [json.loads(x) for x in (trainer.save_dir / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["rollout/failed_prompts"] == 1.0


def test_trainer_stops_when_every_prompt_of_a_step_fails(trainer):
    f = trainer.processor.video.factor
    with pytest.raises(RolloutError, match=r"step 1: generation failed for all 2 prompts \(first: a: ValueError"):
        trainer.step([_video_item("a", (f + 2, f)), _video_item("b", (f, f + 4))])
    assert len(trainer.failures_path.read_text().splitlines()) == 2 and trainer.global_step == 0


def test_bad_retries_setting_fails_at_load():
    with pytest.raises(ConfigError, match="worker.rollout.retries must be >= 0, got -1"):
        load_config(overrides=["worker.rollout.retries=-1"])
