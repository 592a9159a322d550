"""The vision tower of a Qwen-VL model: finding it (also through a peft wrapper), freezing it, and the
zero-weighted pass that puts every tower parameter in the graph of a micro-batch without pixels (see
``policy.token_logprobs(..., dummy_vision=True)``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch


def vision_tower(model) -> torch.nn.Module:
    """The visual encoder (patch embedding, blocks, merger; Qwen3-VL's deepstack mergers) of a Qwen-VL
    model, also through a peft wrapper. One tower serves images and videos."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    tower = getattr(getattr(base, "model", None), "visual", None)
    if tower is None:
        raise ValueError(f"{type(base).__name__} has no vision tower at .model.visual")
    return tower


def freeze_vision(model) -> dict[str, int]:
    """Stop the whole vision tower from training, as EasyR1 does (``model.model.visual`` with its merger).

    Returns element counts: ``frozen`` (vision parameters, now fixed) and ``trainable`` (what is left).
    The optimizer may still be given every parameter: AdamW skips parameters whose grad stays None.
    """
    tower = vision_tower(model)
    tower.requires_grad_(False)
    return {
        "frozen": sum(p.numel() for p in tower.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def _tensors(x) -> Iterator[torch.Tensor]:
    """Every tensor in a model output, however nested (ModelOutput, tuples, lists)."""
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, Mapping):
        for v in x.values():
            yield from _tensors(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)


def dummy_vision_term(model) -> torch.Tensor | None:
    """A scalar 0 that depends on every vision-tower parameter, or None when nothing needs it.

    The tower runs on one minimal all-zero grid (t=1, h=w=2·merge patches, i.e. 4 merged tokens) built
    from its own config, and every output is summed, Qwen3-VL's deepstack features included, so each
    vision parameter receives an exactly-zero gradient. Skipped (None) when gradients are off or no
    vision parameter trains (frozen tower, LoRA on the language model only): there is nothing to sync.
    """
    tower = vision_tower(model)
    if not torch.is_grad_enabled() or not any(p.requires_grad for p in tower.parameters()):
        return None
    cfg = tower.config
    side = 2 * cfg.spatial_merge_size
    param = next(tower.parameters())
    pixels = torch.zeros(
        side * side,
        cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size**2,
        dtype=param.dtype,
        device=param.device,
    )
    grid = torch.tensor([[1, side, side]], device=param.device)
    out = tower(pixels, grid_thw=grid)
    return 0.0 * sum(t.float().sum() for t in _tensors(out))
