"""Mixture-of-experts families (Qwen3-VL-MoE, Qwen3.5-MoE) on their tiny checkpoints: every expert that
routed tokens gets a gradient (and only those), the routers' load-balancing loss is returned by the same
forward, switched on or off by ``worker.actor.router_aux_loss_coef`` and logged either way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_items import video_item

from cache_store.types import CachedMedia
from training.config import ConfigError, load_config
from training.engines.base import Completion
from training.loop.trainer import RLTrainer
from training.models.policy import load_policy, routes_experts, token_logprobs

MOE = ("qwen3_5_moe", "qwen3_vl_moe")


def _batch(proc):
    """A video prompt, an image prompt and a text-only prompt with their responses."""
    f = proc.video.factor
    rng = np.random.default_rng(0)
    video = CachedMedia(
        "v", "/v.mp4", "video", rng.integers(0, 255, (4, 2 * f, 2 * f, 3), dtype=np.uint8),
        source_fps=8.0, total_frames=32, indices=[0, 10, 20, 31], sample_fps=1.0,
    )  # fmt: skip
    image = CachedMedia("i", "/i.png", "image", rng.integers(0, 255, (1, 2 * f, 4 * f, 3), dtype=np.uint8))
    prompts = [
        proc.encode("Which colour appears first?", [video]),
        proc.encode("How many squares?", [image]),
        proc.encode("Say yes or no.", []),
    ]
    responses = [proc.tokenizer(t)["input_ids"] for t in ("red", "<answer>3</answer>", "<answer>no</answer>")]
    return prompts, responses


def _moe_blocks(model):
    return [layer.mlp for layer in model.model.language_model.layers]


@pytest.mark.parametrize("family", MOE)
def test_every_expert_that_routed_tokens_gets_a_gradient(tiny_models, family):
    model, proc = load_policy(tiny_models[family])
    model.train()
    routed: dict[int, set[int]] = {}

    def record(layer):
        def hook(_module, _inputs, output):  # the router returns (logits, top-k weights, top-k indices)
            routed.setdefault(layer, set()).update(output[2].flatten().tolist())

        return hook

    handles = [block.gate.register_forward_hook(record(i)) for i, block in enumerate(_moe_blocks(model))]
    prompts, responses = _batch(proc)
    logp, mask = token_logprobs(model, prompts, responses, proc.tokenizer.pad_token_id, proc.family)
    (-logp.sum() / mask.sum()).backward()
    for h in handles:
        h.remove()
    n_experts = model.config.text_config.num_experts
    for i, block in enumerate(_moe_blocks(model)):
        assert routed[i], f"layer {i} routed nothing"
        for e in range(n_experts):
            for name in ("gate_up_proj", "down_proj"):
                grad = getattr(block.experts, name).grad[e]
                if e in routed[i]:
                    assert grad.abs().sum() > 0, (
                        f"layer {i} expert {e} routed tokens but its {name} has no gradient"
                    )
                else:  # an expert no token reached computes nothing
                    assert not grad.any(), (
                        f"layer {i} expert {e} routed nothing but its {name} has a gradient"
                    )
        assert block.gate.weight.grad.abs().sum() > 0  # the router learns through the top-k weights
    # the tiny models route every expert on this batch (4 experts, top-2), so all of them were checked
    assert all(routed[i] == set(range(n_experts)) for i in routed)


@pytest.mark.parametrize("family", [*MOE, "qwen3_5"])
def test_router_aux_loss_comes_from_the_same_forward(tiny_models, family):
    model, proc = load_policy(tiny_models[family])
    prompts, responses = _batch(proc)
    aux: list[torch.Tensor] = []
    logp, _ = token_logprobs(
        model, prompts, responses, proc.tokenizer.pad_token_id, proc.family, router_aux=aux
    )
    plain, _ = token_logprobs(model, prompts, responses, proc.tokenizer.pad_token_id, proc.family)
    assert torch.equal(logp, plain)  # asking for the routers' loss changes no log-prob
    if not routes_experts(model):  # a dense model has no router: nothing is appended
        assert aux == []
        return
    (loss,) = aux
    # load_balancing_loss_func: num_experts * sum_e(share of routed slots_e * mean router prob_e) over the
    # tokens of every layer; top_k (2) for routing spread evenly, as in these random tiny routers
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(model.config.text_config.num_experts_per_tok, rel=0.1)
    loss.backward()
    assert all(block.gate.weight.grad.abs().sum() > 0 for block in _moe_blocks(model))
    # it reaches what feeds a router: every router, and earlier layers' experts, never the last layer's experts
    last = _moe_blocks(model)[-1].experts
    assert last.gate_up_proj.grad is None or not last.gate_up_proj.grad.any()


class _OneRightOneWrong:
    def __init__(self, tokenizer):
        self.tok = tokenizer

    def generate(self, requests, params):
        def done(text):
            ids = self.tok(text, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]
            return Completion(text, ids, "stop")

        return [[done("<answer>yes</answer>"), done("<answer>no</answer>")] for _ in requests]

    def close(self):
        pass


def _router_grads_after_a_step(model_path: str, tmp_path, coef: float):
    cfg = load_config(
        overrides=[
            f"model_path={model_path}", "worker.rollout.n=2", "data.rollout_batch_size=2",
            "worker.actor.lr=1e-3", "worker.actor.weight_decay=0", "trainer.logger=[jsonl]",
            f"worker.actor.router_aux_loss_coef={coef}",
        ]
    )  # fmt: skip
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    trainer.engine = trainer.maker.engine = _OneRightOneWrong(trainer.processor.tokenizer)
    factor = trainer.processor.video.factor
    captured = {}

    def before_step(*_):  # the gradients the optimizer is about to apply
        captured.update(
            {n: p.grad.clone() for n, p in trainer.model.named_parameters() if n.endswith("mlp.gate.weight")}
        )

    trainer.updater.optimizer.register_step_pre_hook(before_step)
    metrics = trainer.step([video_item("a", factor), video_item("b", factor)])
    return metrics, captured


@pytest.mark.parametrize("family", MOE)
def test_router_aux_loss_is_off_by_default_on_by_config_and_logged_either_way(tiny_models, tmp_path, family):
    off, off_grads = _router_grads_after_a_step(tiny_models[family], tmp_path / "off", 0.0)
    on, on_grads = _router_grads_after_a_step(tiny_models[family], tmp_path / "on", 0.5)
    assert off["actor/router_aux_loss"] > 0 and on["actor/router_aux_loss"] > 0
    assert off["actor/router_aux_loss"] == pytest.approx(on["actor/router_aux_loss"], rel=1e-5)  # same model
    assert off_grads.keys() == on_grads.keys() and len(off_grads) == 2  # both layers' routers
    # the coefficient moves only what the load-balancing loss reaches: the routers' gradients differ
    assert any(not torch.allclose(off_grads[n], on_grads[n]) for n in off_grads)


def test_router_aux_loss_coef_is_checked_at_load_and_dense_models_log_nothing(tiny_models, tmp_path):
    with pytest.raises(ConfigError, match="router_aux_loss_coef must be >= 0"):
        load_config(overrides=["worker.actor.router_aux_loss_coef=-0.1"])
    metrics, grads = _router_grads_after_a_step(tiny_models["qwen3_5"], tmp_path, 0.001)
    assert "actor/router_aux_loss" not in metrics and grads == {}


def test_qwen3_vl_moe_checkpoints_store_the_experts_in_the_released_layout(tiny_models, tmp_path, caplog):
    """On disk, Qwen3-VL-MoE's routed experts are ``gate_up_proj [E, H, 2I]`` and ``down_proj [E, I, H]`` as in
    the released checkpoints (vLLM reads only that layout); transformers reads them back transposed into its
    own ``[E, 2I, H]`` / ``[E, H, I]``, the same numbers, and a trained checkpoint is written the same way."""
    from safetensors.torch import load_file

    from training.models.expert_layout import released_layout
    from training.models.lora import save_merged

    path = tiny_models["qwen3_vl_moe"]
    model, proc = load_policy(path)
    config = model.config.text_config
    e, h, i = config.num_experts, config.hidden_size, config.moe_intermediate_size
    disk = load_file(f"{path}/model.safetensors")
    layer = "model.language_model.layers.0.mlp.experts"
    assert disk[f"{layer}.gate_up_proj"].shape == (e, h, 2 * i) and disk[f"{layer}.down_proj"].shape == (
        e,
        i,
        h,
    )
    memory = model.state_dict()
    assert memory[f"{layer}.gate_up_proj"].shape == (e, 2 * i, h)
    assert disk.keys() <= memory.keys()  # (the tied output head is not stored)
    assert all(torch.equal(disk[k].transpose(1, 2) if ".experts." in k else disk[k], memory[k]) for k in disk)
    with torch.no_grad():  # a trained model: its checkpoint holds the new numbers, released layout, read back
        memory[f"{layer}.down_proj"].add_(1.0)
    save_merged(model, proc, tmp_path / "trained")
    saved = load_file(tmp_path / "trained" / "model.safetensors")
    assert torch.equal(saved[f"{layer}.down_proj"], memory[f"{layer}.down_proj"].transpose(1, 2))
    reloaded = load_policy(tmp_path / "trained")[0].state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in memory.items())
    # dense families and the other MoE family pass through; square expert matrices (hidden == 2 x width)
    # cannot be told apart from transformers' layout by shape, so they stay in it, with a warning
    dense = load_policy(tiny_models["qwen3_vl"])[0].state_dict()
    assert all(released_layout(dense, "qwen3_vl")[k] is v for k, v in dense.items())
    square = {f"{layer}.gate_up_proj": torch.zeros(4, 64, 64), f"{layer}.down_proj": torch.zeros(4, 64, 32)}
    assert all(released_layout(square, "qwen3_vl_moe")[k] is v for k, v in square.items())
    assert "square routed-expert matrices" in caplog.text
