"""The trainer's group machinery wired end to end on a tiny Qwen2-VL: mixed offline slots (+ LUFFY), DAPO
dynamic sampling over the data stream, ReMax greedy baselines, GDPO keys, KL as a reward penalty.

Responses come from a scripted engine (a fixed text per prompt and slot) so rewards, and hence which
groups are kept or replaced, are known; tokenizer, processor, model, rewards and update are the real ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cache_store.types import CachedMedia
from training.config import ConfigError, load_config
from training.data.items import TrainItem
from training.engines.base import Completion
from training.loop.trainer import RLTrainer


class ScriptedEngine:
    """``script[sample_id]``: the n texts of its group; ``greedy[sample_id]``: the temperature-0 text."""

    def __init__(self, tokenizer, script: dict[str, list[str]], greedy: dict[str, str] | None = None):
        self.tok, self.script, self.greedy, self.calls = tokenizer, script, greedy or {}, []

    def _completion(self, text: str) -> Completion:
        ids = self.tok(text, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]
        return Completion(text, ids, "stop")

    def generate(self, requests, params):
        self.calls.append(([r.request_id for r in requests], params))
        if params.temperature == 0:
            return [[self._completion(self.greedy[r.request_id])] for r in requests]
        return [[self._completion(t) for t in self.script[r.request_id][: params.n]] for r in requests]

    def close(self):
        pass


def _item(sample_id: str, factor: int, **extra) -> TrainItem:
    frames = np.random.default_rng(0).integers(0, 255, (4, factor, factor, 3), dtype=np.uint8)
    media = CachedMedia(
        f"d{sample_id}", f"/{sample_id}.mp4", "video", frames, source_fps=8.0, total_frames=16,
        indices=[0, 5, 10, 15], sample_fps=2.0,
    )  # fmt: skip
    return TrainItem(
        sample_id, "Is there a red square?", "boolean", "video", "yes", media=[media], extra=extra
    )


YES, NO = "<answer>yes</answer>", "<answer>no</answer>"


def _trainer(tiny_models, tmp_path, *overrides: str) -> RLTrainer:
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}",
            "worker.rollout.n=2",
            "worker.actor.lr=1e-3",
            "data.rollout_batch_size=2",
            *overrides,
        ]
    )
    return RLTrainer(cfg, cfg.model_path, tmp_path).setup()


def _script(trainer, script, greedy=None) -> ScriptedEngine:
    engine = ScriptedEngine(trainer.processor.tokenizer, script, greedy)
    trainer.engine = trainer.maker.engine = engine
    return engine


def test_mix_policy_puts_the_offline_trajectory_in_the_last_slot_with_eos_and_luffy_trains_on_it(
    tiny_models, tmp_path
):
    trainer = _trainer(
        tiny_models, tmp_path, "worker.rollout.enable_mix_policy=true", "worker.actor.loss_type=luffy"
    )
    _script(trainer, {"a": [NO, NO], "b": [NO, YES], "c": [NO, NO]})
    fac = trainer.processor.video.factor
    items = [
        _item("a", fac, offline_output=YES),
        _item("b", fac),  # no offline trajectory: untouched
        _item("c", fac, offline_output=YES, has_offline_trajectory=False),  # switched off: untouched
    ]
    made = trainer.maker.make(items, (), step=0)
    exp, metrics = made.experience, made.metrics
    last = exp.rollouts[1]
    assert last.off_policy and last.completion.text == YES and last.completion.finish_reason == "stop"
    tok = trainer.processor.tokenizer
    assert last.completion.token_ids == tok(YES, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert last.reward["accuracy"] == 1.0  # scored again after the substitution
    assert [r.off_policy for r in exp.rollouts] == [False, True, False, False, False, False]
    assert (
        metrics["mix_policy/offline_candidates"] == 1 and metrics["mix_policy/offline_replaced_groups"] == 1
    )

    update = trainer.updater.update(exp)
    assert update["actor/off_policy_frac"] == pytest.approx(1 / 6)
    assert update["actor/off_policy_prob"] > 0 and np.isfinite(update["actor/off_pg_loss"])


def test_mix_policy_threshold_replaces_only_failing_groups(tiny_models, tmp_path):
    trainer = _trainer(
        tiny_models, tmp_path, "worker.rollout.enable_mix_policy=true",
        "worker.rollout.mix_policy_accuracy_threshold=0.5",
    )  # fmt: skip
    _script(trainer, {"a": [YES, NO], "b": [NO, NO]})
    fac = trainer.processor.video.factor
    made = trainer.maker.make(
        [_item("a", fac, offline_output=YES), _item("b", fac, offline_output=YES)], (), 0
    )
    exp, metrics = made.experience, made.metrics
    assert [r.off_policy for r in exp.rollouts] == [False, False, False, True]  # a: 0.5 is not < 0.5
    assert [r.reward["accuracy"] for r in exp.rollouts] == [1.0, 0.0, 0.0, 1.0]
    assert metrics["mix_policy/offline_replaced_groups"] == 1


def test_offline_output_with_a_vision_token_names_the_sample(tiny_models, tmp_path):
    trainer = _trainer(tiny_models, tmp_path, "worker.rollout.enable_mix_policy=true")
    _script(trainer, {"bad": [NO, NO]})
    item = _item("bad", trainer.processor.video.factor, offline_output="<|video_pad|>" + YES)
    with pytest.raises(ValueError, match="sample bad: offline_output"):
        trainer.maker.make([item], (), 0)


def test_dynamic_sampling_draws_batches_until_enough_groups_are_kept(tiny_models, tmp_path):
    trainer = _trainer(
        tiny_models, tmp_path, "algorithm.online_filtering=true", "trainer.max_try_make_batch=5"
    )
    _script(
        trainer, {"easy": [YES, YES], "hard": [NO, NO], "m1": [YES, NO], "m2": [NO, YES], "m3": [YES, NO]}
    )
    fac = trainer.processor.video.factor
    stream = iter(
        [[_item("easy", fac), _item("m1", fac)], [_item("m2", fac), _item("m3", fac)], [_item("x", fac)]]
    )
    first = next(stream)
    metrics = trainer.step(first, more=stream)
    assert trainer.batches_drawn == 2  # the third batch is never touched
    assert next(stream)[0].sample_id == "x"
    assert metrics["dynamic_sampling/kept"] == 2 and metrics["dynamic_sampling/surplus"] == 1
    assert metrics["dynamic_sampling/dropped_all_correct"] == 1 and metrics["dynamic_sampling/tries"] == 2
    assert metrics["reward/accuracy"] == 0.5 and "actor/pg_loss" in metrics  # only mixed groups trained on


def test_dynamic_sampling_that_keeps_nothing_skips_the_update(tiny_models, tmp_path):
    trainer = _trainer(
        tiny_models, tmp_path, "algorithm.online_filtering=true", "trainer.max_try_make_batch=1"
    )
    _script(trainer, {"easy": [YES, YES], "hard": [NO, NO]})
    fac = trainer.processor.video.factor
    before = [p.detach().clone() for p in trainer.model.parameters()]
    metrics = trainer.step([_item("easy", fac), _item("hard", fac)], more=iter([]))
    assert metrics["dynamic_sampling/kept"] == 0 and "actor/pg_loss" not in metrics and metrics["step"] == 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_remax_baseline_is_the_greedy_reward_of_the_same_prompt(tiny_models, tmp_path):
    trainer = _trainer(tiny_models, tmp_path, "algorithm.adv_estimator=remax")
    engine = _script(trainer, {"a": [YES, NO], "b": [NO, NO]}, greedy={"a": YES, "b": NO})
    fac = trainer.processor.video.factor
    made = trainer.maker.make([_item("a", fac), _item("b", fac)], (), 0)
    exp, metrics = made.experience, made.metrics
    assert engine.calls[-1][1].temperature == 0 and engine.calls[-1][1].n == 1
    assert exp.reward_baselines == [1.0, 1.0, 0.1, 0.1]  # overall = 0.9·acc + 0.1·format
    assert metrics["remax/greedy_reward"] == pytest.approx(0.55)
    assert np.isfinite(trainer.updater.update(exp)["actor/pg_loss"])


def test_prompt_drawn_twice_in_a_batch_forms_two_groups(tiny_models, tmp_path):
    from training.algorithms import compute_advantage

    trainer = _trainer(tiny_models, tmp_path)
    _script(trainer, {"a": [YES, NO]})
    fac = trainer.processor.video.factor
    exp = trainer.maker.make([_item("a", fac), _item("a", fac)], (), 0).experience
    assert [r.item_index for r in exp.rollouts] == [0, 0, 1, 1]
    scores = torch.tensor([[r.reward["overall"]] for r in exp.rollouts])
    adv, _ = compute_advantage("grpo", token_level_rewards=scores, response_mask=torch.ones(4, 1),
                               index=[r.item_index for r in exp.rollouts])  # fmt: skip
    assert adv[:, 0].tolist() == pytest.approx([0.7071, -0.7071, 0.7071, -0.7071], abs=1e-4)


@pytest.mark.parametrize("kl_type", ["fixed", "adaptive"])
def test_kl_as_reward_penalty_loads_a_reference_and_reports_the_coefficient(tiny_models, tmp_path, kl_type):
    trainer = _trainer(tiny_models, tmp_path, "algorithm.kl_coef=0.05", f"algorithm.kl_type={kl_type}")
    assert trainer.ref_model is not None and trainer.updater.kl_in_reward
    _script(trainer, {"a": [YES, NO]})
    fac = trainer.processor.video.factor
    first = trainer.step([_item("a", fac)])
    assert first["actor/reward_kl_penalty_coef"] == 0.05 and first["actor/reward_kl_penalty"] == 0.0
    second = trainer.step([_item("a", fac)])
    assert second["actor/reward_kl_penalty"] > 0  # the policy moved away from the reference
    if kl_type == "fixed":
        assert trainer.updater.kl_ctrl.kl_coef == 0.05
    else:  # below the target: the adaptive coefficient shrinks
        assert trainer.updater.kl_ctrl.kl_coef < 0.05


def test_gdpo_step_runs_on_the_configured_reward_keys(tiny_models, tmp_path):
    trainer = _trainer(tiny_models, tmp_path, "algorithm.adv_estimator=gdpo")
    _script(trainer, {"a": [YES, "no tags"]})
    metrics = trainer.step([_item("a", trainer.processor.video.factor)])
    assert np.isfinite(metrics["actor/pg_loss"]) and metrics["actor/grad_norm"] > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "worker.rollout.mix_policy_accuracy_threshold=1.5",
            "mix_policy_accuracy_threshold must be null or in",
        ),
        ("algorithm.kl_type=linear", "algorithm.kl_type='linear'; allowed"),
        ("algorithm.kl_penalty=k9", "algorithm.kl_penalty='k9'; allowed"),
        ("worker.actor.off_policy_reshape=p_div_p_x", "worker.actor.off_policy_reshape: unknown"),
        ("trainer.max_try_make_batch=0", "trainer.max_try_make_batch must be >= 1"),
        ("algorithm.gdpo_reward_keys=[]", "gdpo_reward_keys must be a non-empty list"),
    ],
)
def test_group_settings_fail_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_mix_policy_needs_two_responses():
    with pytest.raises(ConfigError, match="enable_mix_policy needs worker.rollout.n >= 2"):
        load_config(
            overrides=[
                "worker.rollout.enable_mix_policy=true",
                "worker.rollout.n=1",
                "algorithm.adv_estimator=remax",
            ]
        )


def test_lora_run_trains_only_adapters_and_saves_a_plain_checkpoint(tiny_models, tmp_path):
    from transformers import AutoModelForImageTextToText

    from training.outputs.checkpoint import CheckpointError

    trainer = _trainer(tiny_models, tmp_path, "worker.actor.lora_rank=4", "worker.actor.freeze_vision_tower=true")
    _script(trainer, {"a": [YES, NO]})
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    result = trainer.train([[_item("a", trainer.processor.video.factor)]], steps=1)
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == trainable
    plain = AutoModelForImageTextToText.from_pretrained(result.checkpoint)
    assert not any("lora" in k for k in plain.state_dict())
    plain_run = _trainer(tiny_models, tmp_path)  # the same run directory resumed without LoRA
    with pytest.raises(CheckpointError, match="saved by a LoRA run and does not fit the model being resumed"):
        plain_run.resume()


def test_lora_run_resumes_from_its_adapters_exactly(tiny_models, tmp_path):
    from training.outputs.checkpoint import CheckpointError

    lora = ("worker.actor.lora_rank=4", "worker.actor.lr=1e-2")
    batches = [[_item("a", 28)], [_item("b", 28)], [_item("a", 28)]]
    script = {"a": [YES, NO], "b": [NO, YES]}
    straight = _trainer(tiny_models, tmp_path / "straight", *lora)
    _script(straight, script)
    straight.train(batches, steps=3)

    first = _trainer(tiny_models, tmp_path / "cut", *lora)
    _script(first, script)
    first.train(batches, steps=1)
    resumed = _trainer(tiny_models, tmp_path / "cut", *lora)
    _script(resumed, script)
    assert resumed.resume() == 1 and resumed.global_step == 1
    resumed.train(lambda position: batches[position:], steps=3)
    after = dict(resumed.model.named_parameters())
    assert all(torch.equal(p, after[n]) for n, p in straight.model.named_parameters())
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in after.items())  # the adapters did move
    other_rank = _trainer(tiny_models, tmp_path / "cut", "worker.actor.lora_rank=8")
    with pytest.raises(CheckpointError, match="do not fit the model being resumed"):
        other_rank.resume()
    no_lora = _trainer(tiny_models, tmp_path / "no_lora")
    _script(no_lora, script)
    no_lora.train(batches, steps=1)
    with pytest.raises(CheckpointError, match="holds no LoRA adapter state"):
        _trainer(tiny_models, tmp_path / "no_lora", *lora).resume()
