"""Qwen2-VL / Qwen2.5-VL M-RoPE position ids with vLLM's rule, installed on the models the trainer loads.

Every token gets three position ids (temporal, height, width). Text tokens have the same id on all three
axes and count up by one. A visual item of merged grid (t, h, w) that starts at position ``s`` gets
``(s + ⌊i_t · interval⌋, s + i_h, s + i_w)`` for each of its tokens, where ``interval`` is
``tokens_per_second · second_per_grid_ts`` for a Qwen2.5-VL video and 1 otherwise.

**The rule for the text after a visual item**: it starts at the largest position id the item used, plus
one. That is the original Qwen2-VL/Qwen2.5-VL rule and what vLLM computes
(``get_mrope_input_positions`` in vllm/model_executor/models/qwen2_5_vl.py, 0.32). transformers 5.19's
``get_rope_index`` instead starts it at ``s + max(h, w)``, which is the same for images (t = 1) but not for
a video whose temporal ids run further than its spatial ones (``⌊(t-1) · interval⌋ ≥ max(h, w)``, e.g.
any video of 2 fps frames at ``tokens_per_second`` 2 and a small grid). With it, the trainer's log-probs
would use other positions than vLLM's rollouts for every token after a video: a systematic train/rollout
mismatch. So ``use_vllm_positions`` replaces the model's ``get_rope_index`` with ``rope_index`` below
(generation and the training forward both call it). Qwen3-VL needs nothing: it gives every frame its own
one-frame group (t = 1), where the two rules agree.

The interval is computed as vLLM does, in float64 from the float32 ``second_per_grid_ts`` value, so the
truncation ``⌊i_t · interval⌋`` agrees even where float32 arithmetic would round across an integer.
"""

from __future__ import annotations

import itertools
import types

import numpy as np
import torch

FAMILIES_WITH_FIX = ("qwen2_vl", "qwen2_5_vl")


def item_positions(start: int, grid: tuple[int, int, int], interval: float = 1.0) -> np.ndarray:
    """(3, t·h·w) position ids of one visual item of merged grid ``grid`` starting at ``start``.

    >>> item_positions(5, (3, 1, 2), interval=8.0).tolist()
    [[5, 5, 13, 13, 21, 21], [5, 5, 5, 5, 5, 5], [5, 6, 5, 6, 5, 6]]
    """
    idx = np.indices(grid).reshape(3, -1).astype(np.int64)
    if interval != 1.0:
        idx[0] = (idx[0] * interval).astype(np.int64)
    return idx + start


def runs(token_types: list[int]) -> list[tuple[int, int, int]]:
    """``(type, start, end)`` of each run of equal token types.

    >>> runs([0, 0, 2, 2, 2, 0, 1])
    [(0, 0, 2), (2, 2, 5), (0, 5, 6), (1, 6, 7)]
    """
    types_ = np.asarray(token_types)
    if not types_.size:
        return []
    bounds = [0, *(np.flatnonzero(np.diff(types_)) + 1).tolist(), len(types_)]
    return [(int(types_[a]), a, b) for a, b in itertools.pairwise(bounds)]


def sequence_positions(
    token_types: list[int], grids: list[tuple[int, int, int]], intervals: list[float]
) -> np.ndarray:
    """(3, L) position ids of one unpadded sequence.

    ``token_types``: 0 text, 1 image, 2 video per token; ``grids``/``intervals``: one per visual run of
    tokens, in order (merged grids: the spatial sides already divided by the merge size).

    >>> sequence_positions([0, 0, 2, 2, 2, 2, 2, 2, 0], [(3, 1, 2)], [8.0])[0].tolist()
    [0, 1, 2, 2, 10, 10, 18, 18, 19]
    """
    spans = runs(token_types)
    found = sum(kind != 0 for kind, _, _ in spans)
    if found != len(grids):
        raise ValueError(f"{len(grids)} visual items given, {found} found in the token types")
    parts, pos, k = [], 0, 0
    for kind, start, end in spans:
        if kind == 0:
            parts.append(np.broadcast_to(np.arange(pos, pos + end - start), (3, end - start)))
            pos += end - start
            continue
        grid = grids[k]
        if int(np.prod(grid)) != end - start:
            raise ValueError(f"visual item {k}: {end - start} placeholder tokens for a merged grid of {grid}")
        block = item_positions(pos, grid, intervals[k])
        parts.append(block)
        pos = int(block.max()) + 1  # vLLM's rule (see the module docstring)
        k += 1
    return np.concatenate(parts, axis=1) if parts else np.zeros((3, 0), dtype=np.int64)


def rope_index(
    model,
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``get_rope_index`` of a Qwen2/2.5-VL model with vLLM's rule: ``(position_ids (3, B, L), deltas (B, 1))``.

    Same signature and outputs as transformers' method; padded positions (attention mask 0) get 0, and
    ``deltas`` is ``max position + 1 - length`` per row (generation continues from it).
    """
    merge = model.config.vision_config.spatial_merge_size
    tokens_per_second = getattr(model.config.vision_config, "tokens_per_second", 1.0)
    images = iter(image_grid_thw.tolist() if image_grid_thw is not None else [])
    videos = iter(video_grid_thw.tolist() if video_grid_thw is not None else [])
    seconds = iter(second_per_grid_ts.tolist() if second_per_grid_ts is not None else [])
    position_ids = torch.zeros(3, *input_ids.shape, dtype=input_ids.dtype, device=input_ids.device)
    deltas = []
    for row in range(input_ids.shape[0]):
        keep = torch.ones_like(input_ids[row], dtype=torch.bool)
        if attention_mask is not None:
            keep = attention_mask[row].bool()
        types_ = mm_token_type_ids[row][keep].tolist()
        grids, intervals = [], []
        for kind, _, _ in runs(types_):
            if kind == 0:
                continue
            t, h, w = next(images) if kind == 1 else next(videos)
            grids.append((t, h // merge, w // merge))
            # vLLM: seconds (a float32 tensor's value as a Python float) * tokens_per_second, in float64
            intervals.append(float(next(seconds, 1.0)) * tokens_per_second if kind == 2 else 1.0)
        pos = torch.from_numpy(np.ascontiguousarray(sequence_positions(types_, grids, intervals)))
        position_ids[:, row, keep] = pos.to(position_ids)
        deltas.append(int(pos.max()) + 1 - len(types_) if pos.numel() else 0)
    return position_ids, torch.tensor(deltas, device=input_ids.device).unsqueeze(1)


def use_vllm_positions(model, family: str) -> None:
    """Make ``model`` (a Qwen2/2.5-VL ``...ForConditionalGeneration``, or a peft wrapper of one) compute
    position ids with ``rope_index``; a no-op for other families. Bound on the instance, so it travels
    with the model (FSDP2 wrapping, deep copies) and nothing else in the process changes."""
    if family not in FAMILIES_WITH_FIX:
        return
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = base.model
    inner.get_rope_index = types.MethodType(rope_index, inner)
