"""Loading a Qwen-VL checkpoint and the two model calls RL needs: batched inputs and token log-probs.

Layout (as veRL): prompts are left-padded to a common length P, responses right-padded to R, so the
logits that predict response token j sit at position P - 1 + j for every row. Qwen's M-RoPE position
ids are computed by the model from ``mm_token_type_ids`` and the attention mask, so padding on either
side is harmless.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from training.models.processor import EncodedPrompt, QwenVLProcessor


def load_policy(path: str | Path, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """(model, processor) from a checkpoint directory, the same call a real Qwen checkpoint takes."""
    from transformers import AutoModelForImageTextToText

    processor = QwenVLProcessor(path)
    model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype).to(device)
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


def token_logprobs(
    model,
    prompts: list[EncodedPrompt],
    responses: list[list[int]],
    pad_id: int,
    family: str,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each response token under ``model``.

    Returns ``(logp [B, R], response_mask [B, R])``; entries where the mask is 0 are 0. Gradients flow
    when called outside ``torch.no_grad``. ``temperature`` divides the logits as in sampling, so the
    ratio compares the distributions the rollout actually sampled from.
    """
    device = next(model.parameters()).device
    batch = collate_prompts(prompts, pad_id, device, family)
    resp_ids, resp_mask = pad_responses(responses, pad_id)
    resp_ids, resp_mask = resp_ids.to(device), resp_mask.to(device)
    p_len = batch["input_ids"].shape[1]
    batch["input_ids"] = torch.cat([batch["input_ids"], resp_ids], dim=1)
    batch["attention_mask"] = torch.cat([batch["attention_mask"], resp_mask.long()], dim=1)
    batch["mm_token_type_ids"] = torch.cat([batch["mm_token_type_ids"], torch.zeros_like(resp_ids)], dim=1)
    logits = model(**batch, use_cache=False).logits[:, p_len - 1 : -1].float()
    if temperature != 1.0:
        logits = logits / temperature
    logp = torch.gather(F.log_softmax(logits, dim=-1), 2, resp_ids.unsqueeze(-1)).squeeze(-1)
    return logp * resp_mask, resp_mask
