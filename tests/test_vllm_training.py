"""RL with vLLM rollouts (``worker.rollout.engine=vllm``) on CPU, every family, media from a real Lance cache:
GRPO steps end to end with the weights synced into vLLM before every step and the vision tower training.

- Every step the log-probs vLLM reports for the tokens it sampled equal the trainer's own (the
  ``rollout/logprob_diff_max`` metric, < 1e-4): the engine holds the policy's current weights, vision
  included, and sees the trainer's prompt ids, pixels and positions.
- The same run with the HF engine gives the same per-step metrics. The two engines' samplers draw different
  random numbers, so this comparison samples with ``top_k=1`` at temperature 1 (both engines then pick the
  most likely token); GRPO still learns because mixed offline groups put a correct offline answer beside
  the online ones (``enable_mix_policy``).
- A run stopped after step 2 and resumed gives step 3's metrics of the uninterrupted run.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from vllm_families import synced_families

from demo_kit.synthetic.engine_media import cached_media
from training.config import load_config
from training.data.items import TrainItem
from training.loop.trainer import RLTrainer

pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_env")]

FAMILIES = synced_families()  # GRPO syncs the policy into vLLM before each step
STEPS = 3
EXACT = ("reward/overall", "reward/accuracy", "reward/format", "response_length/mean")
CLOSE = ("actor/pg_loss", "actor/grad_norm", "actor/clipfrac", "actor/ppo_kl")


def settings(model: str, engine: str, **extra) -> list[str]:
    overrides = {
        "model_path": model, "worker.rollout.engine": engine, "worker.rollout.dtype": "float32",
        "worker.rollout.enforce_eager": "true", "worker.rollout.n": 3, "worker.rollout.top_k": 1,
        "worker.rollout.max_new_tokens": 8, "worker.rollout.enable_mix_policy": "true",
        "data.rollout_batch_size": 2, "worker.actor.lr": 1e-4, "worker.actor.micro_batch_size": 3,
        "trainer.total_steps": STEPS, "trainer.save_freq": 1, "trainer.logger": "[jsonl]",
    } | extra  # fmt: skip
    return [f"{k}={v}" for k, v in overrides.items()]


def batches(media) -> list[list[TrainItem]]:
    """Yes/no questions on a video, an image and both, each with a correct offline answer."""

    def item(i: int, answer: str, medias) -> TrainItem:
        kind = "video" if all(m.kind == "video" for m in medias) else "image" if len(medias) == 1 else "mixed"
        return TrainItem(
            f"s{i}", "Is there a red square?", "boolean", kind, answer, media=medias,
            extra={"offline_output": f"<answer>{answer}</answer>"},
        )  # fmt: skip

    video, image, long = media["video"], media["image"], media["long"]
    items = [
        item(0, "yes", [video]),
        item(1, "no", [image]),
        item(2, "yes", [image, video]),
        item(3, "no", [long]),
    ]
    return [[items[(2 * k) % 4], items[(2 * k + 1) % 4]] for k in range(STEPS)]


def train(model: str, out, engine: str, data, steps: int = STEPS, resume: bool = False) -> list[dict]:
    cfg = load_config(overrides=settings(model, engine))
    trainer = RLTrainer(cfg, model, out).setup()
    try:
        if resume:
            trainer.resume()
        return trainer.train(lambda position: iter(data[position:]), steps).history
    finally:
        trainer.close()


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="module")
def runs(family, small_models, tmp_path_factory):
    """The vLLM run, the HF-engine run, and a vLLM run stopped after step 2 then resumed."""
    from training.models.processor import QwenVLProcessor

    model = small_models[family]
    tmp = tmp_path_factory.mktemp(f"rl_{family}")
    data = batches(cached_media(tmp / "media", QwenVLProcessor(model).video.factor))
    out = {"vllm": tmp / "vllm", "hf": tmp / "hf", "resumed": tmp / "resumed"}
    history = {"vllm": train(model, out["vllm"], "vllm", data), "hf": train(model, out["hf"], "hf", data)}
    train(model, out["resumed"], "vllm", data, steps=2)
    history["resumed"] = train(model, out["resumed"], "vllm", data, resume=True)
    return model, out, history


def test_vllm_rollouts_carry_the_policys_logprobs_every_step(runs):
    _, _, history = runs
    steps = history["vllm"]
    assert [m["step"] for m in steps] == [1, 2, 3]
    for m in steps:
        assert m["rollout/logprob_diff_max"] < 1e-4, m
        assert m["actor/grad_norm"] > 0  # the offline answers give every group a reward spread
    assert "rollout/logprob_diff_max" not in history["hf"][0]  # the HF engine reports no log-probs


def test_the_vision_tower_trains_and_vllm_follows_it(runs):
    model, out, _ = runs
    before = load_file(f"{model}/model.safetensors")
    after = load_file(out["vllm"] / "checkpoints" / f"global_step_{STEPS}" / "model.safetensors")
    vision = [k for k in before if ".visual." in k or k.startswith("visual.")]
    assert vision and all(not torch.equal(before[k], after[k]) for k in vision if k in after)


def test_per_step_metrics_equal_the_hf_engine_run(runs):
    _, _, history = runs
    for got, want in zip(history["vllm"], history["hf"], strict=True):
        for key in EXACT:
            assert got[key] == want[key], (got["step"], key)
        for key in CLOSE:
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), (got["step"], key)


def test_a_resumed_vllm_run_continues_where_it_stopped(runs):
    _, _, history = runs
    full, resumed = history["vllm"][-1], history["resumed"][-1]
    assert resumed["step"] == STEPS
    for key in EXACT:
        assert resumed[key] == full[key], key
    for key in CLOSE:
        assert resumed[key] == pytest.approx(full[key], rel=1e-4, abs=1e-6), key
