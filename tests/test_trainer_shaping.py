"""Length shaping in training: ``worker.reward.overlong_buffer`` (DAPO) and ``worker.reward.length_bonus``
(Video-R1 ``--len_control``) from the config to each rollout's ``overall`` reward and the step's metrics.

Responses come from a scripted engine that returns a fixed text with a fixed number of response tokens
(the text's own tokens, filler, then EOS), so each length, and hence each shaping term, is known exactly;
tokenizer, processor, model, rewards and update are the real ones (tiny Qwen2-VL).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from train_items import video_item

from training.config import ConfigError, load_config
from training.engines.base import Completion
from training.loop.trainer import RLTrainer

YES, NO = "<answer>yes</answer>", "<answer>no</answer>"
MAX_NEW = 32  # worker.rollout.max_new_tokens in these tests
OVERLONG = ["worker.reward.overlong_buffer.enable=true", "worker.reward.overlong_buffer.len=16",
            "worker.reward.overlong_buffer.penalty_factor=0.5"]  # fmt: skip
BONUS = ["worker.reward.length_bonus.enable=true", "worker.reward.length_bonus.min_length=10",
         "worker.reward.length_bonus.max_length=20", "worker.reward.length_bonus.bonus=0.2"]  # fmt: skip


class LengthEngine:
    """``script[sample_id]``: the group's ``(text, L)`` pairs; each completion has exactly ``L`` token ids."""

    def __init__(self, tokenizer, script: dict[str, list[tuple[str, int]]]):
        self.tok, self.script = tokenizer, script
        self.filler = tokenizer(" a", add_special_tokens=False)["input_ids"][-1]

    def _completion(self, text: str, length: int) -> Completion:
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        assert length > len(ids), f"{text!r} needs more than {len(ids)} tokens"
        ids = ids + [self.filler] * (length - len(ids) - 1) + [self.tok.eos_token_id]
        return Completion(text, ids, "length" if length == MAX_NEW else "stop")

    def generate(self, requests, params):
        if params.temperature == 0:  # ReMax's greedy response: the group's first
            return [[self._completion(*self.script[r.request_id][0])] for r in requests]
        return [[self._completion(*pair) for pair in self.script[r.request_id][: params.n]] for r in requests]

    def close(self):
        pass


def _trainer(tiny_models, tmp_path, script, *overrides: str, n: int = 2):
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}",
            f"worker.rollout.n={n}",
            f"worker.rollout.max_new_tokens={MAX_NEW}",
            "worker.actor.lr=1e-3",
            "trainer.logger=[jsonl]",
            *overrides,
        ]
    )
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    trainer.engine = trainer.maker.engine = LengthEngine(trainer.processor.tokenizer, script)
    items = [video_item(sample_id, trainer.processor.video.factor) for sample_id in script]
    return trainer, items


# group a: right, short and long; group b: wrong, short and at the maximum length
OVERLONG_SCRIPT = {"a": [(YES, 8), (YES, 28)], "b": [(NO, 9), (NO, 32)]}


def test_overlong_penalty_enters_overall_and_the_step_metrics(tiny_models, tmp_path):
    trainer, items = _trainer(tiny_models, tmp_path, OVERLONG_SCRIPT, *OVERLONG)
    exp = trainer.maker.make(items, (), 0).experience
    # expected = 32 - 16 = 16 tokens; penalty = min(-(L - 16) / 16 * 0.5, 0)
    assert [len(r.completion.token_ids) for r in exp.rollouts] == [8, 28, 9, 32]
    assert [r.reward["overlong_penalty"] for r in exp.rollouts] == [0.0, -0.375, 0.0, -0.5]
    assert [r.reward["overall"] for r in exp.rollouts] == pytest.approx([1.0, 0.625, 0.1, -0.4])
    assert [r.reward["accuracy"] for r in exp.rollouts] == [1.0, 1.0, 0.0, 0.0]  # what filters read

    metrics = trainer.step(items)
    assert metrics["reward/overlong_penalty"] == pytest.approx(-0.875 / 4)
    assert metrics["reward/overlong_ratio"] == 0.5
    assert metrics["reward/overall"] == pytest.approx((1.0 + 0.625 + 0.1 - 0.4) / 4)
    assert metrics["reward/accuracy"] == 0.5 and np.isfinite(metrics["actor/pg_loss"])
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert logged["reward/overlong_penalty"] == pytest.approx(-0.21875)


def test_length_bonus_goes_to_correct_responses_within_bounds_of_groups_with_two_correct(
    tiny_models, tmp_path
):
    script = {
        "a": [(YES, 10), (YES, 20), (YES, 21)],  # bounds inclusive: 10 and 20 get it, 21 does not
        "b": [(YES, 15), (NO, 15), (NO, 15)],  # one correct response: no bonus in the group
    }
    trainer, items = _trainer(tiny_models, tmp_path, script, *BONUS, n=3)
    exp = trainer.maker.make(items, (), 0).experience
    assert [r.reward["length_bonus"] for r in exp.rollouts] == [0.2, 0.2, 0.0, 0.0, 0.0, 0.0]
    assert [r.reward["overall"] for r in exp.rollouts] == pytest.approx([1.2, 1.2, 1.0, 1.0, 0.1, 0.1])
    assert [r.reward["accuracy"] for r in exp.rollouts] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]

    metrics = trainer.step(items)
    assert metrics["reward/length_bonus"] == pytest.approx(0.4 / 6)
    assert metrics["reward/overall"] == pytest.approx(4.6 / 6)
    assert "reward/overlong_penalty" not in metrics and np.isfinite(metrics["actor/pg_loss"])


def test_both_terms_add_up_and_off_leaves_rewards_unchanged(tiny_models, tmp_path):
    script = {"a": [(YES, 12), (YES, 20), (YES, 30)]}
    trainer, items = _trainer(tiny_models, tmp_path / "on", script, *OVERLONG, *BONUS, n=3)
    made = trainer.maker.make(items, (), 0)
    exp, metrics = made.experience, made.metrics
    # 12: bonus; 20: bonus and -(20 - 16) / 16 * 0.5 = -0.125; 30: -(30 - 16) / 16 * 0.5 = -0.4375
    assert [r.reward["overall"] for r in exp.rollouts] == pytest.approx([1.2, 1.075, 0.5625])
    assert metrics["reward/length_bonus"] == pytest.approx(0.4 / 3)
    assert metrics["reward/overlong_penalty"] == pytest.approx(-0.5625 / 3)

    trainer, items = _trainer(tiny_models, tmp_path / "off", script, n=3)
    made = trainer.maker.make(items, (), 0)
    exp, metrics = made.experience, made.metrics
    assert [r.reward["overall"] for r in exp.rollouts] == pytest.approx([1.0, 1.0, 1.0])
    assert not {"overlong_penalty", "length_bonus"} & set(exp.rollouts[0].reward)
    assert not {"reward/overlong_penalty", "reward/length_bonus"} & set(metrics)


def test_remax_greedy_baseline_gets_the_overlong_penalty_too(tiny_models, tmp_path):
    script = {"a": [(YES, 28), (NO, 8)]}  # the greedy response is the first: right, 28 tokens
    trainer, items = _trainer(tiny_models, tmp_path, script, *OVERLONG, "algorithm.adv_estimator=remax")
    made = trainer.maker.make(items, (), 0)
    exp, metrics = made.experience, made.metrics
    assert exp.reward_baselines == pytest.approx([0.625, 0.625])
    assert metrics["remax/greedy_reward"] == pytest.approx(0.625)


def test_shaping_keys_load_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "rl.yaml"
    path.write_text(
        "worker:\n  rollout: {max_new_tokens: 2048}\n"
        "  reward:\n    overlong_buffer: {enable: true, len: 512, penalty_factor: 0.5}\n"
    )
    cfg = load_config(
        path, ["worker.reward.length_bonus.enable=true", "worker.reward.length_bonus.bonus=0.1"]
    )
    over, bonus = cfg.worker.reward.overlong_buffer, cfg.worker.reward.length_bonus
    assert (over.enable, over.len, over.penalty_factor) == (True, 512, 0.5)
    assert (bonus.enable, bonus.min_length, bonus.max_length, bonus.bonus) == (True, 320, 512, 0.1)
    default = load_config().worker.reward
    assert (default.overlong_buffer.enable, default.overlong_buffer.len) == (False, 4096)  # verl's
    assert default.overlong_buffer.penalty_factor == 1.0
    assert (default.length_bonus.enable, default.length_bonus.min_length) == (False, 320)  # Video-R1's
    assert (default.length_bonus.max_length, default.length_bonus.bonus) == (512, 0.2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["worker.reward.overlong_buffer.enable=true"],  # verl's len 4096 > max_new_tokens 1024
         r"worker\.reward\.overlong_buffer\.len=4096 exceeds worker\.rollout\.max_new_tokens=1024"),
        (["worker.reward.overlong_buffer.len=0"], r"worker\.reward\.overlong_buffer\.len must be > 0"),
        (["worker.reward.overlong_buffer.penalty_factor=-1"],
         r"worker\.reward\.overlong_buffer\.penalty_factor must be >= 0"),
        (["worker.reward.overlong_buffer.len=2.5"], r"worker\.reward\.overlong_buffer\.len must be an integer"),
        (["worker.reward.overlong_buffer.lenght=8"], r"unknown config key worker\.reward\.overlong_buffer\.lenght"),
        (["worker.reward.length_bonus.min_length=600"],
         r"worker\.reward\.length_bonus\.min_length <= worker\.reward\.length_bonus\.max_length"),
        (["worker.reward.length_bonus.min_length=-1"], r"0 <= worker\.reward\.length_bonus\.min_length"),
        (["worker.reward.length_bonus.bonus=-0.2"], r"worker\.reward\.length_bonus\.bonus must be >= 0"),
        (["worker.reward.length_bonus.enable=true", "worker.rollout.max_new_tokens=256"],
         r"worker\.reward\.length_bonus\.min_length=320 exceeds worker\.rollout\.max_new_tokens=256"),
        (["worker.reward.length_bonus.enable=maybe"], r"worker\.reward\.length_bonus\.enable must be a boolean"),
    ],
)  # fmt: skip
def test_bad_shaping_settings_fail_at_load_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_launchpad_shaping_settings_reach_the_typed_config_and_are_checked_at_run_start():
    from assets.training_runs import TrainingRunConfig, rl_config

    reward = {
        "overlong_buffer": {"enable": True, "len": 16, "penalty_factor": 0.5},
        "length_bonus": {"enable": True, "min_length": 20},
    }
    # the launchpad's own max_new_tokens default is the demo's (short answers): this run allows 64 tokens
    cfg = rl_config(
        TrainingRunConfig(worker={"reward": reward, "rollout": {"max_new_tokens": 64}}), "/models/tiny"
    )
    assert cfg.worker.reward.overlong_buffer.len == 16 and cfg.worker.reward.length_bonus.min_length == 20
    assert TrainingRunConfig().worker.reward.overlong_buffer.len == 4096
    with pytest.raises(ConfigError, match=r"worker\.reward\.overlong_buffer\.len=4096 exceeds"):
        rl_config(TrainingRunConfig(worker={"reward": {"overlong_buffer": {"enable": True}}}), "/m")
