"""Loading a Qwen-VL checkpoint and the two model calls RL needs: batched inputs and token log-probs.

Layout (as veRL): prompts are left-padded to a common length P, responses right-padded to R, so the
logits that predict response token j sit at position P - 1 + j for every row. Qwen's M-RoPE position
ids are computed by the model from ``mm_token_type_ids`` and the attention mask, so padding on either
side is harmless.

Distributed training (FSDP/DDP) needs every trainable parameter to join every backward, on every rank.
A micro-batch without pixels never runs the vision tower, so ``token_logprobs(..., dummy_vision=True)``
runs the tower on a tiny all-zero input and adds ``0.0 *`` its outputs to the log-probs: the values are
bit-identical and the tower's gradients are exactly zero, but its parameters are part of the graph
(veRL and EasyR1 do the same inside their patched forwards).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from training.models.positions import use_vllm_positions
from training.models.processor import EncodedPrompt, QwenVLProcessor
from training.models.vision import dummy_vision_term, freeze_vision

if TYPE_CHECKING:
    from training.models.lora import LoraSpec


def load_policy(
    path: str | Path,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    *,
    freeze_vision_tower: bool = False,
    lora: LoraSpec | None = None,
):
    """(model, processor) from a checkpoint directory, the same call a real Qwen checkpoint takes.

    Qwen2/2.5-VL models compute their M-RoPE position ids with vLLM's rule (``training.models.positions``),
    so log-probs here and in a vLLM engine use the same positions.

    ``lora`` wraps the model with peft adapters (only they train); ``freeze_vision_tower`` then stops the
    vision encoder and its merger from training (EasyR1's ``freeze_vision_tower``). Both default off, so
    the plain call still returns a fully trainable transformers model.
    """
    from transformers import AutoModelForImageTextToText

    processor = QwenVLProcessor(path)
    model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype).to(device)
    use_vllm_positions(model, processor.family)
    if lora is not None:
        from training.models.lora import apply_lora

        model = apply_lora(model, lora)
    if freeze_vision_tower:
        freeze_vision(model)
    return model, processor


def _vision_kwargs(prompts: list[EncodedPrompt], device) -> dict:
    out: dict = {}
    images = [p.pixel_values for p in prompts if p.pixel_values is not None]
    videos = [p.pixel_values_videos for p in prompts if p.pixel_values_videos is not None]
    if images:
        out["pixel_values"] = torch.cat(images).to(device)
        out["image_grid_thw"] = torch.tensor([g for p in prompts for g in p.image_grid_thw], device=device)
    if videos:
        out["pixel_values_videos"] = torch.cat(videos).to(device)
        out["video_grid_thw"] = torch.tensor([g for p in prompts for g in p.video_grid_thw], device=device)
        ts = [s for p in prompts for s in p.second_per_grid_ts]
        out["second_per_grid_ts"] = torch.tensor(ts, device=device)
    return out


def collate_prompts(prompts: list[EncodedPrompt], pad_id: int, device="cpu", family: str = "") -> dict:
    """Left-pad prompts into generation inputs (input_ids, attention_mask, mm_token_type_ids, vision)."""
    width = max(len(p.input_ids) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    types = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        n = len(p.input_ids)
        ids[i, width - n :] = torch.tensor(p.input_ids)
        mask[i, width - n :] = 1
        types[i, width - n :] = torch.tensor(p.mm_token_type_ids)
    batch = {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "mm_token_type_ids": types.to(device),
    }
    batch.update(_vision_kwargs(prompts, device))
    if family != "qwen2_5_vl":
        batch.pop("second_per_grid_ts", None)
    return batch


def pad_responses(responses: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad response token lists -> (ids [B, R], mask [B, R])."""
    width = max(1, max(len(r) for r in responses))
    ids = torch.full((len(responses), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(responses), width), dtype=torch.float32)
    for i, r in enumerate(responses):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1.0
    return ids, mask


def routes_experts(model) -> bool:
    """True for a mixture-of-experts language model (Qwen3-VL-MoE, Qwen3.5-MoE), also through peft."""
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", config)
    return int(getattr(text, "num_experts", 0) or 0) > 0


def token_logprobs(
    model,
    prompts: list[EncodedPrompt],
    responses: list[list[int]],
    pad_id: int,
    family: str,
    temperature: float = 1.0,
    *,
    dummy_vision: bool = False,
    router_aux: list[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each response token under ``model``.

    Returns ``(logp [B, R], response_mask [B, R])``; entries where the mask is 0 are 0. Gradients flow
    when called outside ``torch.no_grad``. ``temperature`` divides the logits as in sampling, so the
    ratio compares the distributions the rollout actually sampled from. The micro-batch may mix
    image-only, video-only, image+video and text-only prompts. ``dummy_vision``: when the micro-batch
    has no pixels at all, add the zero-weighted vision pass of ``dummy_vision_term`` to ``logp`` so
    every vision parameter joins the backward (set it whenever the update runs under FSDP/DDP).
    ``router_aux``: for a MoE model, the same forward also returns its routers' load-balancing loss
    (transformers' ``aux_loss`` over the non-padding tokens, with gradients), appended to this list; a dense
    model appends nothing.
    """
    device = next(model.parameters()).device
    batch = collate_prompts(prompts, pad_id, device, family)
    resp_ids, resp_mask = pad_responses(responses, pad_id)
    resp_ids, resp_mask = resp_ids.to(device), resp_mask.to(device)
    p_len = batch["input_ids"].shape[1]
    batch["input_ids"] = torch.cat([batch["input_ids"], resp_ids], dim=1)
    batch["attention_mask"] = torch.cat([batch["attention_mask"], resp_mask.long()], dim=1)
    batch["mm_token_type_ids"] = torch.cat([batch["mm_token_type_ids"], torch.zeros_like(resp_ids)], dim=1)
    if router_aux is not None and routes_experts(model):
        batch["output_router_logits"] = True
    out = model(**batch, use_cache=False)
    if batch.get("output_router_logits"):
        router_aux.append(out.aux_loss)
    logits = out.logits[:, p_len - 1 : -1].float()
    if temperature != 1.0:
        logits = logits / temperature
    logp = torch.gather(F.log_softmax(logits, dim=-1), 2, resp_ids.unsqueeze(-1)).squeeze(-1)
    has_pixels = "pixel_values" in batch or "pixel_values_videos" in batch
    # After the model's own forward: under FSDP2 the root module must run first (lazy init, unshard).
    if dummy_vision and not has_pixels and (zero := dummy_vision_term(model)) is not None:
        logp = logp + zero  # x + 0.0 == x bit for bit; masking after keeps padded entries as before
    return logp * resp_mask, resp_mask
