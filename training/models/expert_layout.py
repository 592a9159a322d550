"""Routed experts on disk in the released layout, which both transformers and vLLM read.

Qwen3-VL-MoE keeps each layer's routed experts in two 3D parameters. transformers 5.19 holds them as
``gate_up_proj [E, 2I, H]`` and ``down_proj [E, H, I]`` (E experts, hidden H, expert width I); the released
checkpoints store both transposed (``[E, H, 2I]``, ``[E, I, H]``). transformers reads either (its
``qwen3_vl_moe`` weight conversion transposes when the shapes say so) but ``save_pretrained`` writes its own
layout, and vLLM 0.32 reads only the released one: given the other it fails while loading (``The size of
tensor a (32) must match the size of tensor b (256)``), and its in-place weight reload would do the same.
So every checkpoint ReelRL writes goes through ``save_released`` and every weight sync into vLLM through
``released_layout``. (``save_pretrained`` cannot be handed the released layout: its reverse conversion
transposes any expert tensor whose shape differs from the model's back to transformers' layout, so the
released one is written with that conversion off, which for Qwen3-VL-MoE is nothing but these transposes.)

A model whose ``H == 2I`` (or ``H == I``) has square expert matrices: transformers cannot tell the two
layouts apart there and would read a released checkpoint untransposed, so such a model keeps transformers'
layout (with a warning that vLLM will not read it). No released Qwen3-VL-MoE is square.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

# model_type -> the parameter-name suffixes stored transposed (last two dims) in the released checkpoints
TRANSPOSED_ON_DISK = {"qwen3_vl_moe": ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")}


def _ambiguous(state: dict[str, torch.Tensor], names: list[str]) -> bool:
    return any(state[n].shape[-1] == state[n].shape[-2] for n in names)


def released_layout(state: dict[str, torch.Tensor], model_type: str) -> dict[str, torch.Tensor]:
    """``state`` (a transformers state dict of a ``model_type`` model) with the routed experts in the layout
    of the released checkpoints; other families, and square expert matrices, unchanged (a new dict)."""
    suffixes = TRANSPOSED_ON_DISK.get(model_type, ())
    names = [n for n in state if n.endswith(suffixes)] if suffixes else []
    if not names:
        return dict(state)
    if _ambiguous(state, names):
        log.warning(
            "%s: square routed-expert matrices (hidden size == expert width or twice it): saved in "
            "transformers' layout, which transformers reads back but vLLM does not",
            model_type,
        )
        return dict(state)
    return {n: (t.transpose(-1, -2).contiguous() if n in names else t) for n, t in state.items()}


def save_released(model, out_dir, state: dict[str, torch.Tensor]) -> None:
    """``model.save_pretrained(out_dir, state_dict=state)``, the routed experts in the released layout."""
    model_type = model.config.model_type
    released = released_layout(state, model_type)
    converted = any(released[n] is not state[n] for n in state)
    # transformers' reverse conversion would transpose the released experts back (see the module doc)
    model.save_pretrained(out_dir, state_dict=released, save_original_format=not converted)
