"""RL micro-batches on real tiny Qwen-VL models: mixed media, zero-weighted dummy vision passes, a frozen
vision tower, LoRA adapters and their merged checkpoints."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

from cache_store.types import CachedMedia
from training.engines.base import GenerationRequest, SamplingParams
from training.engines.hf import HFEngine
from training.models.lora import (
    LoraSpec,
    apply_lora,
    expert_parameters,
    resolve_expert_targets,
    resolve_targets,
    save_merged,
)
from training.models.policy import collate_prompts, load_policy, token_logprobs
from training.models.processor import QwenVLProcessor
from training.models.vision import dummy_vision_term, freeze_vision, vision_tower

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")
MOE = ("qwen3_5_moe", "qwen3_vl_moe")


def _video(factor: int, seed: int, sample_fps: float) -> CachedMedia:
    """Four frames sampled at ``sample_fps`` from an 8 fps source (the processor reads the rate from the
    indices: 4 of ``total`` frames)."""
    frames = np.random.default_rng(seed).integers(0, 255, (4, 2 * factor, 2 * factor, 3), dtype=np.uint8)
    total = round(4 * 8.0 / sample_fps)
    indices = np.linspace(0, total - 1, 4).round().astype(int).tolist()
    return CachedMedia(
        f"v{seed}",
        f"/v{seed}.mp4",
        "video",
        frames,
        source_fps=8.0,
        total_frames=total,
        indices=indices,
        timestamps=[i / 8.0 for i in indices],
        sample_fps=sample_fps,
    )


def _image(factor: int, seed: int) -> CachedMedia:
    frames = np.random.default_rng(seed).integers(0, 255, (1, 2 * factor, 4 * factor, 3), dtype=np.uint8)
    return CachedMedia(f"i{seed}", f"/i{seed}.png", "image", frames)


def _mixed(proc: QwenVLProcessor):
    """Image-only, video-only, image+video and text-only prompts, with responses of different lengths.
    The two videos have different sample rates, so Qwen2.5-VL's per-video time steps must stay in order."""
    f = proc.video.factor
    prompts = [
        proc.encode("How many squares?", [_image(f, 1)]),
        proc.encode("Which colour appears first?", [_video(f, 2, sample_fps=1.0)]),
        proc.encode("Does the image match the clip?", [_image(f, 3), _video(f, 4, sample_fps=2.0)]),
        proc.encode("Say yes or no.", []),
    ]
    texts = ["<answer>3</answer>", "red", "<think>yes</think><answer>yes</answer>", "no"]
    return prompts, [proc.tokenizer(t)["input_ids"] for t in texts]


def _logp(model, proc, prompts, responses, **kw):
    return token_logprobs(model, prompts, responses, proc.tokenizer.pad_token_id, proc.family, **kw)


def _text_only(proc):
    prompts = [proc.encode("Say yes or no.", []), proc.encode("Is there a red square?", [])]
    return prompts, [proc.tokenizer(t)["input_ids"] for t in ("yes", "<answer>no</answer>")]


# ---- mixed micro-batches -------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_mixed_micro_batch_rows_equal_each_prompt_alone(tiny_models, family):
    model, proc = load_policy(tiny_models[family])
    prompts, responses = _mixed(proc)
    batch = collate_prompts(prompts, proc.tokenizer.pad_token_id, "cpu", proc.family)
    assert batch["image_grid_thw"].tolist() == [[1, 4, 8], [1, 4, 8]]
    assert batch["video_grid_thw"].tolist() == [[2, 4, 4], [2, 4, 4]]
    if family == "qwen2_5_vl":  # temporal_patch_size / sample_fps, one per video, in prompt order
        assert batch["second_per_grid_ts"].tolist() == [2.0, 1.0]
    else:
        assert "second_per_grid_ts" not in batch
    with torch.no_grad():
        logp, mask = _logp(model, proc, prompts, responses)
        alone = [_logp(model, proc, [p], [r])[0][0] for p, r in zip(prompts, responses)]
    assert mask.sum(1).tolist() == [len(r) for r in responses]
    for i, row in enumerate(alone):
        torch.testing.assert_close(logp[i, : row.numel()], row, atol=1e-5, rtol=0)
        assert (logp[i, row.numel() :] == 0).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_image_or_video_batches_reach_every_vision_parameter(tiny_models, family):
    """One tower serves both media: a batch with only images (or only videos) already trains all of it."""
    model, proc = load_policy(tiny_models[family])
    prompts, responses = _mixed(proc)
    for rows in ([0], [1]):
        model.zero_grad(set_to_none=True)
        logp, mask = _logp(model, proc, [prompts[i] for i in rows], [responses[i] for i in rows])
        (logp.sum() / mask.sum()).backward()
        assert [n for n, p in vision_tower(model).named_parameters() if p.grad is None] == []


# ---- dummy vision passes -------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_dummy_vision_pass_joins_backward_without_changing_anything(tiny_models, family):
    model, proc = load_policy(tiny_models[family])
    prompts, responses = _text_only(proc)
    tower = dict(vision_tower(model).named_parameters())
    grads = {}
    for dummy in (False, True):
        model.zero_grad(set_to_none=True)
        logp, mask = _logp(model, proc, prompts, responses, dummy_vision=dummy)
        (-logp.sum() / mask.sum()).backward()
        grads[dummy] = {n: p.grad for n, p in model.named_parameters()}
        grads[dummy, "logp"] = logp.detach()
    assert torch.equal(grads[True, "logp"], grads[False, "logp"])  # bit-equal values
    # Without the dummy the tower is outside the graph; with it every vision parameter gets an exact 0.
    vision_names = {f"model.visual.{n}" for n in tower}
    assert all(grads[False][n] is None for n in vision_names)
    assert all(grads[True][n] is not None and not grads[True][n].any() for n in vision_names)
    for name, g in grads[False].items():  # the language model's gradients are untouched, bit for bit
        if name not in vision_names:
            assert torch.equal(g, grads[True][name]), name


def test_dummy_vision_only_where_it_matters(tiny_models):
    model, proc = load_policy(tiny_models["qwen3_vl"])
    with torch.no_grad():
        assert dummy_vision_term(model) is None  # no graph, nothing to synchronise
    term = dummy_vision_term(model)
    assert term.item() == 0.0 and term.requires_grad
    prompts, responses = _mixed(proc)
    # A batch with pixels runs the real tower; the flag adds nothing (same graph, same values).
    with torch.no_grad():
        assert torch.equal(
            _logp(model, proc, prompts, responses, dummy_vision=True)[0],
            _logp(model, proc, prompts, responses)[0],
        )
    freeze_vision(model)
    assert dummy_vision_term(model) is None  # frozen tower: no parameter to reach


# ---- frozen vision tower -------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_frozen_vision_tower_stays_fixed_through_an_update(tiny_models, family):
    model, proc = load_policy(tiny_models[family], freeze_vision_tower=True)
    tower = vision_tower(model)
    n_vision = sum(p.numel() for p in tower.parameters())
    n_total = sum(p.numel() for p in model.parameters())
    assert freeze_vision(model) == {"frozen": n_vision, "trainable": n_total - n_vision}
    assert not any(p.requires_grad for p in tower.merger.parameters())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    prompts, responses = _mixed(proc)
    logp, mask = _logp(model, proc, prompts, responses, dummy_vision=True)
    (-logp.sum() / mask.sum()).backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    vision = {f"model.visual.{n}" for n, _ in tower.named_parameters()}
    assert not changed & vision
    # Qwen3.5's layer 0 is a Gated DeltaNet (linear attention) layer
    first = "linear_attn.in_proj_qkv" if family.startswith("qwen3_5") else "self_attn.q_proj"
    assert f"model.language_model.layers.0.{first}.weight" in changed
    assert "model.language_model.embed_tokens.weight" in changed  # also the (tied) output head
    if family in MOE:  # the routed experts and the router train as any other language-model weight
        moe = {
            f"model.language_model.layers.{i}.mlp.{w}"
            for i in range(2)
            for w in (*EXPERT_WEIGHTS, "gate.weight")
        }
        assert moe <= changed


# ---- LoRA -----------------------------------------------------------------------------------------------
def _lm_linears(model) -> list[str]:
    """The 7 projections of each of the 2 decoder layers of the tiny models (Qwen2/2.5/3-VL); the newer
    families' linears, layer by layer: Qwen3.5's layer 0 is Gated DeltaNet, its MoE keeps one gated shared
    expert beside the routed ones, and Qwen3-VL-MoE's only linears are the attention projections."""
    family = model.config.model_type
    attn = [f"self_attn.{n}" for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
    mlp = [f"mlp.{n}" for n in ("gate_proj", "up_proj", "down_proj")]
    if family in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        per_layer = [attn + mlp, attn + mlp]
    else:
        delta_net = [
            f"linear_attn.{n}" for n in ("in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "out_proj")
        ]
        shared = [f"mlp.shared_expert.{n[4:]}" for n in mlp] + ["mlp.shared_expert_gate"]
        per_layer = {
            "qwen3_5": [delta_net + mlp, attn + mlp],
            "qwen3_5_moe": [delta_net + shared, attn + shared],
            "qwen3_vl_moe": [attn, attn],
        }[family]
    return sorted(f"model.language_model.layers.{i}.{n}" for i, names in enumerate(per_layer) for n in names)


EXPERT_WEIGHTS = ("experts.gate_up_proj", "experts.down_proj")  # each MoE block's routed experts, 3D


def test_lora_spec_and_targets(tiny_models):
    assert LoraSpec(rank=4, target_modules=" q_proj, v_proj ,").target_modules == ("q_proj", "v_proj")
    assert LoraSpec(rank=4).target_modules == "all-linear"
    with pytest.raises(ValueError, match="rank must be positive"):
        LoraSpec(rank=0)
    model, _ = load_policy(tiny_models["qwen2_vl"])
    # all-linear: the language model only, never the output head or the vision tower
    assert resolve_targets(model, LoraSpec(rank=4)) == _lm_linears(model)
    assert resolve_targets(model, LoraSpec(rank=4, target_modules="q_proj,v_proj")) == [
        n for n in _lm_linears(model) if n.endswith(("q_proj", "v_proj"))
    ]
    with pytest.raises(ValueError, match=r"\['qproj'\] match no linear layer.*available: \['down_proj'"):
        resolve_targets(model, LoraSpec(rank=4, target_modules="q_proj,qproj"))
    with pytest.raises(ValueError, match=r"\['qkv'\] exist only in the vision tower"):
        resolve_targets(model, LoraSpec(rank=4, target_modules="qkv"))
    vision = resolve_targets(model, LoraSpec(rank=4, target_modules="qkv", include_vision=True))
    assert vision == ["model.visual.blocks.0.attn.qkv"]


@pytest.mark.parametrize("family", ["qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"])
def test_lora_targets_of_the_newer_families(tiny_models, family):
    """all-linear reaches the Gated DeltaNet projections and (MoE) the shared and routed experts; the routed
    experts are 3D parameters, picked by 'experts' or their full name, and a short name that only exists as
    an expert weight fails naming that."""
    model, _ = load_policy(tiny_models[family])
    assert resolve_targets(model, LoraSpec(rank=4)) == _lm_linears(model)
    experts = [f"model.language_model.layers.{i}.mlp.{w}" for i in range(2) for w in sorted(EXPERT_WEIGHTS)]
    assert expert_parameters(model) == (experts if family in MOE else [])
    assert resolve_expert_targets(model, LoraSpec(rank=4)) == expert_parameters(model)
    if family.startswith("qwen3_5"):
        spec = LoraSpec(rank=4, target_modules="in_proj_qkv,out_proj")
        assert [n.split("layers.")[1] for n in resolve_targets(model, spec)] == [
            "0.linear_attn.in_proj_qkv",
            "0.linear_attn.out_proj",
        ]
    if family not in MOE:
        with pytest.raises(ValueError, match=r"\['experts'\] match no linear layer"):
            resolve_targets(model, LoraSpec(rank=4, target_modules="q_proj,experts"))
        return
    spec = LoraSpec(rank=4, target_modules="q_proj,experts.down_proj")
    assert resolve_expert_targets(model, spec) == [n for n in experts if n.endswith("down_proj")]
    assert all(n.endswith("q_proj") for n in resolve_targets(model, spec))
    assert resolve_expert_targets(model, LoraSpec(rank=4, target_modules="experts")) == experts
    assert resolve_targets(model, LoraSpec(rank=4, target_modules="experts")) == []
    with pytest.raises(
        ValueError, match=r"\['gate_up_proj'\] are routed-expert weights.*select them with 'experts'"
    ):
        resolve_targets(model, LoraSpec(rank=4, target_modules="gate_up_proj"))


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_update_trains_only_adapters_and_saves_a_plain_checkpoint(tiny_models, family, tmp_path):
    model, proc = load_policy(tiny_models[family], lora=LoraSpec(rank=4, alpha=8))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {
        f"base_model.model.{m}.lora_{ab}.default.weight"
        for m in _lm_linears(model.get_base_model())
        for ab in "AB"
    }
    # MoE: "all-linear" adapts the routed experts too, one low-rank delta (A, B) per 3D weight and layer
    # (peft nests the two wrappers of one experts module: experts.base_layer.lora_A, experts.lora_A)
    experts = {n for n in trainable if ".mlp.experts." in n}
    assert len(experts) == (2 * len(EXPERT_WEIGHTS) * 2 if family in MOE else 0)
    assert trainable - experts == expected
    expected = trainable
    prompts, responses = _mixed(proc)
    with torch.no_grad():  # B starts at 0: the adapted model is the base model
        base_logp = _logp(model, proc, prompts, responses)[0]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    for _ in range(2):  # the first step moves B only (A's gradient is B^T·..., zero at B = 0)
        optimizer.zero_grad(set_to_none=True)
        logp, mask = _logp(model, proc, prompts, responses)
        (-logp.sum() / mask.sum()).backward()
        optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == expected
    with torch.no_grad():
        lora_logp = _logp(model, proc, prompts, responses)[0]
    assert (lora_logp - base_logp).abs().max() > 1e-3

    out = save_merged(model, proc, tmp_path / "merged")
    assert not (out / "adapter_config.json").exists()
    assert json.loads((out / "config.json").read_text())["model_type"] == family
    merged, merged_proc = load_policy(out)
    assert type(merged).__name__ == type(model.get_base_model()).__name__
    assert merged.state_dict().keys() == load_policy(tiny_models[family])[0].state_dict().keys()
    with torch.no_grad():
        merged_logp = _logp(merged, merged_proc, prompts, responses)[0]
    torch.testing.assert_close(merged_logp, lora_logp, atol=1e-5, rtol=0)
    # The training model is untouched by saving (no merge/unmerge round trip).
    assert all(torch.equal(p, before[n]) or n in changed for n, p in model.named_parameters())


def test_lora_model_generates_through_the_hf_engine_like_its_merged_checkpoint(tiny_models, tmp_path):
    model, proc = load_policy(
        tiny_models["qwen3_vl"], lora=LoraSpec(rank=4, alpha=8, target_modules="q_proj,o_proj")
    )
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    f = proc.video.factor
    reqs = [
        GenerationRequest("a", "Which colour appears first?", [_video(f, 2, 1.0)]),
        GenerationRequest("b", "Say yes or no.", []),
    ]
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=8)
    ours = HFEngine(model, proc).generate(reqs, greedy)
    merged = HFEngine.from_pretrained(save_merged(model, proc, tmp_path / "m")).generate(reqs, greedy)
    base = HFEngine.from_pretrained(tiny_models["qwen3_vl"]).generate(reqs, greedy)
    assert [g[0].token_ids for g in ours] == [g[0].token_ids for g in merged]
    assert [g[0].token_ids for g in ours] != [g[0].token_ids for g in base]


def test_vision_lora_with_dummy_pass_and_frozen_tower(tiny_models):
    """Adapters on the vision tower join a text-only backward through the dummy pass; freezing the
    tower afterwards (load_policy order: LoRA, then freeze) stops them too."""
    spec = LoraSpec(rank=2, target_modules="q_proj,qkv", include_vision=True)
    model, proc = load_policy(tiny_models["qwen2_5_vl"], lora=spec)
    vision_lora = [p for n, p in vision_tower(model).named_parameters() if p.requires_grad]
    assert len(vision_lora) == 2 * 2  # qkv of 2 vision blocks, A and B
    prompts, responses = _text_only(proc)
    _logp(model, proc, prompts, responses, dummy_vision=True)[0].sum().backward()
    assert all(p.grad is not None for p in vision_lora)
    frozen, _ = load_policy(tiny_models["qwen2_5_vl"], lora=spec, freeze_vision_tower=True)
    assert not any(p.requires_grad for p in vision_tower(frozen).parameters())
    assert sum(p.requires_grad for p in frozen.parameters()) == 2 * 2  # q_proj of 2 LM layers


def test_apply_lora_keeps_outputs_until_trained(tiny_models):
    model, proc = load_policy(tiny_models["qwen2_vl"])
    prompts, responses = _mixed(proc)
    with torch.no_grad():
        before = _logp(model, proc, prompts, responses)[0]
        adapted = apply_lora(model, LoraSpec(rank=8, alpha=16, dropout=0.1))
        adapted.eval()  # dropout off: B = 0 makes the adapters the identity
        torch.testing.assert_close(_logp(adapted, proc, prompts, responses)[0], before, atol=0, rtol=0)


# ---- distributed: the reason for the dummy pass ------------------------------------------------------
def _fsdp_rank(rank: int, port: int, path: str, result_queue) -> None:
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    model, proc = load_policy(path)
    model.train()
    fully_shard(vision_tower(model))
    fully_shard(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    media = [] if rank == 0 else [_image(proc.image.factor, 1)]  # rank 0 sees no pixels at all
    prompts = [proc.encode("How many squares?", media)]
    responses = [proc.tokenizer("<answer>3</answer>")["input_ids"]]
    for _ in range(2):
        logp, mask = _logp(model, proc, prompts, responses, dummy_vision=True)
        (-logp.sum() / mask.sum()).backward()
        optimizer.step()
        optimizer.zero_grad()
    result_queue.put(rank)
    dist.destroy_process_group()


@pytest.mark.slow
def test_fsdp2_ranks_with_and_without_pixels_finish_their_updates(tiny_models):
    """FSDP2 over gloo, vision tower as its own shard unit: rank 0 text-only, rank 1 with an image.
    Without the dummy pass rank 0 never joins the tower's reduce-scatter and both ranks hang
    (measured); with it, two full updates finish."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_fsdp_rank, args=(r, port, tiny_models["qwen2_5_vl"], queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    hung = [p.is_alive() for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert hung == [False, False] and [p.exitcode for p in procs] == [0, 0]
    assert sorted(queue.get(timeout=5) for _ in procs) == [0, 1]
