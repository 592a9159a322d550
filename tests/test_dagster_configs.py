"""The launchpad's training_run config is training.config.RLConfig, field by field."""

import dataclasses
import typing

import dagster as dg
import pytest

from assets.configs import dagster_config, field_comments
from assets.training_runs import DEMO_RL_DEFAULTS, TrainingRunConfig, rl_config
from training.config import ActorConfig, ConfigError, RLConfig, choices, to_dict


def leaves(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_every_rlconfig_key_is_a_launchpad_field_with_its_default():
    expected = leaves(to_dict(RLConfig()))
    del expected["model_path"]  # the policy comes from sft_warm_start
    expected.update(DEMO_RL_DEFAULTS)
    got = leaves(TrainingRunConfig().model_dump())
    assert got.pop("num_workers") == 1
    assert got == expected


def test_launchpad_values_reach_the_typed_config():
    cfg = rl_config(
        TrainingRunConfig(
            algorithm={"adv_estimator": "rloo", "kl_coef": 0.01},
            worker={"actor": {"clip_ratio_high": 0.28, "off_max_clip": 2.0}, "rollout": {"n": 4}},
            trainer={"logger": ["console", "jsonl"]},
        ),
        "/models/tiny",
    )
    assert cfg.model_path == "/models/tiny"
    assert (cfg.algorithm.adv_estimator, cfg.algorithm.kl_coef) == ("rloo", 0.01)
    assert (cfg.worker.actor.off_max_clip, cfg.worker.rollout.n) == (2.0, 4)
    assert cfg.worker.actor.lr == DEMO_RL_DEFAULTS["worker.actor.lr"]  # untouched keys keep the defaults
    assert cfg.trainer.logger == ["console", "jsonl"]


def test_cross_field_rules_fail_at_run_start_naming_the_key():
    with pytest.raises(ConfigError, match=r"worker\.rollout\.n must be > 1 for grpo"):
        rl_config(TrainingRunConfig(worker={"rollout": {"n": 1}}), "/m")
    with pytest.raises(ConfigError, match=r"trainer\.logger=\['neptune'\]; allowed entries"):
        rl_config(TrainingRunConfig(trainer={"logger": ["neptune"]}), "/m")


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"algorithm": {"kl_penalty": "k9"}}, "algorithm:kl_penalty"),
        ({"worker": {"rollout": {"engine": "sglang"}}}, "worker:rollout:engine"),
        ({"worker": {"actor": {"lr": "fast"}}}, "worker:actor:lr"),
        ({"data": {"rollout_batch_sise": 2}}, "rollout_batch_sise"),
    ],
)
def test_dagster_refuses_bad_values_naming_the_field(bad, where):
    @dg.asset
    def probe(config: TrainingRunConfig) -> None:  # type: ignore[valid-type]
        raise AssertionError("must not run")

    with pytest.raises(dg.DagsterInvalidConfigError, match=where):
        dg.materialize([probe], run_config={"ops": {"probe": {"config": bad}}})


def test_choices_are_literals_and_comments_are_descriptions():
    actor = TrainingRunConfig.model_fields["worker"].annotation.model_fields["actor"].annotation
    loss = actor.model_fields["loss_type"]
    assert typing.get_args(loss.annotation) == choices()["worker.actor.loss_type"]
    assert "LoRA" in actor.model_fields["lora_rank"].description
    assert field_comments(ActorConfig)["lr"] == "EasyR1 / EasyVideoR1 recipe"


def test_generator_on_a_small_dataclass():
    @dataclasses.dataclass
    class Inner:
        k: str = "a"  # which one

    @dataclasses.dataclass
    class Outer:
        inner: Inner = dataclasses.field(default_factory=Inner)
        ratio: float | None = None
        tags: list = dataclasses.field(default_factory=lambda: ["x"])

    cfg = dagster_config(Outer, "OuterConfig", choices={"inner.k": ("a", "b")}, defaults={"ratio": 0.5})
    assert cfg().model_dump() == {"inner": {"k": "a"}, "ratio": 0.5, "tags": ["x"]}
    assert cfg(ratio=None).ratio is None
    with pytest.raises(Exception, match="'a' or 'b'"):
        cfg(inner={"k": "c"})
