"""Config validation, the RL update, the SFT warm start and the Ray Data stream, with real components."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cache_store import MediaCache, MediaSpec, write_video
from training.config import ConfigError, load_config
from training.data.items import TrainItem
from training.data.stream import epoch_order, stream_batches
from training.engines.base import Completion, SamplingParams
from training.loop.rollout import Rollout, rollout_and_score
from training.loop.trainer import RLTrainer
from training.loop.update import Experience
from training.rewards import RewardWeights
from training.sft import run_sft


def test_config_layers_and_errors(tmp_path):
    yml = tmp_path / "c.yaml"
    yml.write_text("worker:\n  rollout:\n    n: 6\nalgorithm:\n  adv_estimator: rloo\n")
    cfg = load_config(yml, ["worker.actor.clip_ratio_high=0.28", "trainer.total_steps=3"])
    assert (cfg.worker.rollout.n, cfg.algorithm.adv_estimator) == (6, "rloo")
    assert (cfg.worker.actor.clip_ratio_high, cfg.trainer.total_steps) == (0.28, 3)
    with pytest.raises(ConfigError, match="unknown config key worker.actor.clip_high"):
        load_config(overrides=["worker.actor.clip_high=0.3"])
    with pytest.raises(ConfigError, match="algorithm.adv_estimator='gpro'.*grpo"):
        load_config(overrides=["algorithm.adv_estimator=gpro"])
    with pytest.raises(ConfigError, match="worker.rollout.n must be > 1 for grpo"):
        load_config(overrides=["worker.rollout.n=1"])
    with pytest.raises(ConfigError, match="trainer.total_steps must be an integer"):
        load_config(overrides=["trainer.total_steps=2.5"])


def _items(factor: int, n: int = 2) -> list[TrainItem]:
    from cache_store.types import CachedMedia

    rng = np.random.default_rng(0)
    return [
        TrainItem(
            f"s{i}",
            "Is there a red square?",
            "boolean",
            "video",
            "yes",
            media=[
                CachedMedia(
                    f"d{i}",
                    f"/v{i}.mp4",
                    "video",
                    rng.integers(0, 255, (4, factor, factor, 3), dtype=np.uint8),
                    source_fps=8.0,
                    total_frames=16,
                    indices=[0, 5, 10, 15],
                    sample_fps=2.0,
                )
            ],
            extra={"process": "<think>I look for red.</think>"},
        )
        for i in range(n)
    ]


def test_rl_update_changes_every_trainable_parameter(tiny_models, tmp_path):
    cfg = load_config(
        overrides=[f"model_path={tiny_models['qwen2_vl']}", "worker.rollout.n=2", "worker.actor.lr=1e-2"]
    )
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    tok = trainer.processor.tokenizer
    items = _items(trainer.processor.video.factor)
    texts = ["<answer>yes</answer>", "<answer>no</answer>"]
    rollouts = [
        Rollout(
            i,
            Completion(t, tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id], "stop"),
            {"overall": float(t.endswith("yes</answer>")), "accuracy": 0.0, "format": 1.0},
        )
        for i in range(2)
        for t in texts
    ]
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    metrics = trainer.updater.update(Experience(items, rollouts))
    unchanged = [
        n for n, p in trainer.model.named_parameters() if p.requires_grad and torch.equal(p, before[n])
    ]
    assert unchanged == []
    assert metrics["actor/grad_norm"] > 0 and np.isfinite(metrics["actor/pg_loss"])


def test_rl_step_and_checkpoint_reload(tiny_models, tmp_path):
    from transformers import AutoModelForImageTextToText

    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen3_vl']}",
            "worker.rollout.n=2",
            "worker.rollout.max_new_tokens=6",
            "trainer.total_steps=1",
        ]
    )
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    result = trainer.train([_items(trainer.processor.video.factor)], steps=1)
    assert result.steps == 1 and (tmp_path / "metrics.jsonl").read_text().count("\n") == 1
    assert {"reward/overall", "reward/accuracy", "timing_s/data_wait", "actor/pg_loss"} <= set(
        result.history[0]
    )
    reloaded = AutoModelForImageTextToText.from_pretrained(result.checkpoint)
    assert reloaded.config.model_type == "qwen3_vl"


def test_sft_overfits_one_batch(tiny_models, tmp_path):
    items = _items(28)
    result = run_sft(tiny_models["qwen2_5_vl"], [items] * 12, steps=12, save_dir=tmp_path, lr=1e-2)
    losses = [h["sft/loss"] for h in result.history]
    assert len(losses) == 12 and losses[-1] < 0.5 * losses[0]
    assert (tmp_path / "checkpoint" / "preprocessor_config.json").exists()


def test_sft_resumes_from_its_checkpoint_on_the_same_data_order(tiny_models, tmp_path):
    import torch

    from training.outputs.sinks import read_metrics

    model = tiny_models["qwen2_5_vl"]
    data = [_items(28, n=1 + k % 2) for k in range(6)]  # batches differ, so the data position matters
    straight = run_sft(model, lambda pos: data[pos:], steps=6, save_dir=tmp_path / "a", lr=1e-2, save_freq=2)
    first = run_sft(model, lambda pos: data[pos:], steps=3, save_dir=tmp_path / "b", lr=1e-2, save_freq=2)
    assert first.steps == 3 and (tmp_path / "b" / "checkpoints" / "global_step_2").is_dir()
    # started again (as after a crash in step 3): resumes at step 2, redoes step 3 on batch 2, then 4-6
    resumed = run_sft(model, lambda pos: data[pos:], steps=6, save_dir=tmp_path / "b", lr=1e-2, save_freq=2)
    assert resumed.steps == 6 and [h["step"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert [h["sft/loss"] for h in resumed.history] == [h["sft/loss"] for h in straight.history]
    assert [m["step"] for m in read_metrics(tmp_path / "b")] == [1, 2, 3, 4, 5, 6]
    from safetensors.torch import load_file

    wa = load_file(tmp_path / "a" / "checkpoint" / "model.safetensors")
    wb = load_file(tmp_path / "b" / "checkpoint" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    with pytest.raises(ValueError, match="save_freq must be >= 0"):
        run_sft(model, data, steps=1, save_dir=tmp_path / "c", save_freq=-1)


def test_epoch_order_is_a_seeded_permutation():
    rows = [{"sample_id": str(i)} for i in range(10)]
    a, b = epoch_order(rows, 3, 0), epoch_order(rows, 3, 1)
    assert sorted(r["sample_id"] for r in a) == [str(i) for i in range(10)]
    assert a == epoch_order(rows, 3, 0) and a != b


def test_ray_data_streams_cached_frames(tmp_path):
    frames = [np.full((8, 56, 56, 3), 30 * (i + 1), np.uint8) for i in range(3)]
    paths = [write_video(tmp_path / f"v{i}.mp4", f, fps=4) for i, f in enumerate(frames)]
    cache = MediaCache(str(tmp_path / "cache"))
    spec = MediaSpec(fps=2.0, max_frames=4, max_pixels=56 * 56, min_pixels=28 * 28)
    report = cache.build([(str(p), "video") for p in paths], spec)
    rows = [
        {
            "sample_id": f"s{i}",
            "problem": "q",
            "problem_type": "boolean",
            "data_type": "video",
            "answer": "yes",
            "options": [],
            "media": [{"source": str(p), "kind": "video", "digest": report.digests[str(p)]}],
        }
        for i, p in enumerate(paths)
    ]
    batches = list(stream_batches(rows, str(tmp_path / "cache"), batch_size=2, seed=0, num_batches=4))
    assert [len(b) for b in batches] == [2, 2, 2, 2]  # 4 batches span 3 epochs of 3 rows
    seen = [it.sample_id for b in batches for it in b]
    expected = [r["sample_id"] for e in range(3) for r in epoch_order(rows, 0, e)][:8]
    assert seen == expected
    for it in (x for b in batches for x in b):
        cached = cache.get(it.media[0].digest)
        assert np.array_equal(it.media[0].frames, cached.frames)
        assert it.media[0].indices == cached.indices and it.media[0].sample_fps == cached.sample_fps
    # a resumed run starting at batch 3 sees batches 3.. of the same sequence (mid-epoch start included)
    resumed = stream_batches(
        rows, str(tmp_path / "cache"), batch_size=2, seed=0, num_batches=2, batches_drawn=3
    )
    assert [it.sample_id for b in resumed for it in b] == [r["sample_id"] for e in range(4) for r in epoch_order(
        rows, 0, e)][6:10]  # fmt: skip
    missing = [{**rows[0], "media": [{"source": "x", "kind": "video", "digest": "0" * 16}]}]
    with pytest.raises(Exception, match="sample s0: media not in the cache"):
        list(stream_batches(missing, str(tmp_path / "cache"), batch_size=1, epochs=1))


def test_judge_settings_fail_at_load():
    with pytest.raises(ConfigError, match="judge settings .* the judge URL and model go together"):
        load_config(overrides=["worker.reward.judge_url=http://127.0.0.1:9/v1"])
    with pytest.raises(ConfigError, match="judge settings"):
        load_config(overrides=["worker.reward.judge_url=ftp://x", "worker.reward.judge_model=j"])


def test_rl_step_grades_open_ended_rollouts_with_the_configured_judge(tiny_models, tmp_path, rating_judge):
    server = rating_judge("Score: 6")
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}",
            "worker.rollout.n=2",
            "worker.rollout.max_new_tokens=6",
            f"worker.reward.judge_url={server.url}",
            "worker.reward.judge_model=judge",
        ]
    )
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    items = _items(trainer.processor.video.factor)
    for item in items:
        item.problem_type, item.answer = "open-ended", "a red square moves to the left"
    rollouts = rollout_and_score(
        trainer.engine, items, SamplingParams(n=2, max_new_tokens=6, seed=0), RewardWeights(),
        judge=trainer.judge,
    )  # fmt: skip
    judged = [r.reward for r in rollouts if r.reward["judge_used"]]
    assert judged and all(r["accuracy"] == 0.6 and r["judge_failed"] == 0.0 for r in judged)
    asked = [body["messages"] for body in server.seen]
    assert len(asked) == len({str(m) for m in asked}) <= 4  # each distinct request once
    assert all("Is there a red square?" in str(m) for m in asked)  # the question reaches the judge


class _CountingEngine:
    """The real HF engine, keeping the requests it was given (to see the shuffled T-GRPO group)."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def generate(self, requests, params):
        self.calls.append((list(requests), params))
        return self.engine.generate(requests, params)

    def close(self):
        self.engine.close()


def test_t_grpo_step_generates_a_shuffled_group_for_video_items(tiny_models, tmp_path):
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}",
            "worker.rollout.n=4",
            "worker.rollout.max_new_tokens=4",
            "algorithm.temporal=true",
        ]
    )
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    trainer.engine = trainer.maker.engine = _CountingEngine(trainer.engine)
    items = _items(trainer.processor.video.factor)
    items[1].data_type = "image"  # no shuffled group, no bonus
    metrics = trainer.step(items)
    (ordered, p1), (shuffled, p2) = trainer.engine.calls
    assert (len(ordered), p1.n, len(shuffled), p2.n) == (2, 4, 1, 2)  # n // 2 responses, video item only
    original, permuted = items[0].media[0].frames, shuffled[0].media[0].frames
    assert sorted(map(bytes, permuted)) == sorted(map(bytes, original)) and not np.array_equal(permuted, original)
    assert metrics["temporal/video_groups"] == 1.0 and "temporal/p_shuffled" in metrics
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["temporal/video_groups"] == 1.0


def test_t_grpo_settings_are_checked_at_load():
    with pytest.raises(ConfigError, match="temporal_alpha >= 0"):
        load_config(overrides=["algorithm.temporal_alpha=-1"])


def test_the_rollout_logprob_gap_compares_engine_and_trainer_logprobs_of_on_policy_rows():
    from training.loop.update import rollout_logprob_gap

    def rollout(logprobs, off_policy=False):
        completion = Completion("x", [5] * (len(logprobs) if logprobs else 2), "stop", logprobs)
        return Rollout(0, completion, {"overall": 0.0}, off_policy=off_policy)

    rollouts = [
        rollout([-1.0, -2.0]),
        rollout(None),  # the HF engine reports no log-probs
        rollout([-0.5, -0.25, -4.0]),
        rollout([-9.0, -9.0], off_policy=True),  # an offline answer: no behaviour log-probs to compare
    ]
    old = [  # the trainer's log-probs, two micro-batches of two rows, right-padded with 0
        torch.tensor([[-1.5, -2.0, 0.0], [-3.0, -3.0, 0.0]]),
        torch.tensor([[-0.5, -0.5, -4.0], [-1.0, -1.0, 0.0]]),
    ]
    gap = rollout_logprob_gap(rollouts, old, [[0, 1], [2, 3]])
    assert gap == {"rollout/logprob_diff_mean": [0.75 / 5], "rollout/logprob_diff_max": [0.5]}
    assert rollout_logprob_gap(rollouts[1:2], old[:1], [[0]]) == {}


def test_each_prompt_is_encoded_once_per_step(tiny_models, tmp_path, monkeypatch):
    """Rollout, ReMax greedy pass and update share one encoding per prompt (``rollout.StepPrompts``); the
    T-GRPO shuffled copy of a video is another prompt (other pixels), encoded once too."""
    from collections import Counter

    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}",
            "worker.rollout.n=2",
            "worker.rollout.max_new_tokens=4",
            "algorithm.adv_estimator=remax",
            "algorithm.temporal=true",
        ]
    )
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    items = _items(trainer.processor.video.factor, n=3)
    items[2].data_type = "image"  # no shuffled copy
    calls: Counter = Counter()
    encode = trainer.processor.encode

    def counting_encode(prompt, media, *args, **kwargs):
        calls[(kwargs.get("sample_id"), tuple(m.digest for m in media))] += 1
        return encode(prompt, media, *args, **kwargs)

    monkeypatch.setattr(trainer.processor, "encode", counting_encode)
    for _ in range(2):
        calls.clear()
        metrics = trainer.step(items)
        assert "actor/pg_loss" in metrics and "remax/greedy_reward" in metrics
        ordered = {(it.sample_id, (it.media[0].digest,)) for it in items}
        assert ordered <= set(calls) and len(calls) == len(ordered) + 2  # + the two shuffled videos
        assert set(calls.values()) == {1}, calls
