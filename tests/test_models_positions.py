"""M-RoPE position ids with vLLM's rule (``training.models.positions``): exact values by hand, the case where
transformers 5.19 differs (a video whose temporal ids run past its spatial ones), and the rule installed on
every Qwen2/2.5-VL model the trainer loads (vLLM's own function is compared in tests/test_vllm_engine.py)."""

from __future__ import annotations

import pytest
import torch

from training.models.policy import load_policy
from training.models.positions import item_positions, sequence_positions


def test_an_item_spans_its_grid_from_its_start():
    pos = item_positions(5, (3, 2, 2), interval=8.0)  # the example: grid (3,4,4) merged by 2
    assert pos[0].tolist() == [5] * 4 + [13] * 4 + [21] * 4
    assert pos[1].tolist() == [5, 5, 6, 6] * 3 and pos[2].tolist() == [5, 6, 5, 6] * 3
    assert item_positions(0, (2, 1, 1), interval=0.7)[0].tolist() == [0, 0]  # floor(1 * 0.7) = 0


def test_text_after_a_video_starts_after_its_largest_position():
    types = [0] * 5 + [2] * 12 + [0] * 2
    pos = sequence_positions(types, [(3, 2, 2)], [8.0])
    assert pos[:, :5].tolist() == [list(range(5))] * 3
    assert pos[:, -2:].tolist() == [[22, 23]] * 3  # transformers 5.19 would restart at 5 + max(2, 2) = 7
    image_then_text = sequence_positions([0, 1, 1, 1, 1, 1, 1, 0], [(1, 2, 3)], [1.0])
    assert image_then_text[:, -1].tolist() == [4, 4, 4]  # an image: max(h, w) rule and max+1 rule agree


def test_a_run_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="visual item 0: 3 placeholder tokens for a merged grid of"):
        sequence_positions([0, 2, 2, 2, 0], [(1, 2, 2)], [1.0])
    with pytest.raises(ValueError, match="2 visual items given, 1 found"):
        sequence_positions([0, 2, 2, 2, 2], [(1, 2, 2), (1, 2, 2)], [1.0, 1.0])


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_loaded_models_compute_positions_with_the_rule(tiny_models, family):
    """A padded batch of one long video prompt (8 temporal groups of 2x2 merged patches: temporal ids reach
    start + 7·interval, spatial ids only start + 1): the text after it starts at max + 1, where the stock
    transformers method starts it at start + 2."""
    model, proc = load_policy(tiny_models[family])
    merge = model.config.vision_config.spatial_merge_size
    n = 8 * 2 * 2
    ids = torch.tensor([[0, 0] + [1] * 3 + [proc.video_token_id] * n + [1] * 4])
    mask = (torch.arange(ids.shape[1]) >= 2).long().unsqueeze(0)  # two left-padding slots
    types = (ids == proc.video_token_id).long() * 2
    grid = torch.tensor([[8, 2 * merge, 2 * merge]])
    kwargs = {"second_per_grid_ts": torch.tensor([1.0])} if family == "qwen2_5_vl" else {}
    pos, delta = model.model.get_rope_index(ids, types, video_grid_thw=grid, attention_mask=mask, **kwargs)
    interval = 2.0 if family == "qwen2_5_vl" else 1.0  # tokens_per_second 2 x 1 s per temporal group
    last_video = 3 + int(7 * interval)
    assert pos[:, 0, :2].tolist() == [[0, 0]] * 3  # padding
    assert pos[0, 0, -4:].tolist() == list(range(last_video + 1, last_video + 5))
    assert int(delta) == last_video + 5 - (ids.shape[1] - 2)
    stock, _ = type(model.model).get_rope_index(
        model.model, ids, types, video_grid_thw=grid, attention_mask=mask, **kwargs
    )
    assert stock[0, 0, -4].item() == 3 + 2  # transformers 5.19: start + max(h, w) // merge


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"])
def test_the_qwen3_layout_families_keep_the_stock_position_method(tiny_models, family):
    """The rule above is installed on Qwen2/2.5-VL only: the Qwen3-VL layout (Qwen3-VL, its MoE, Qwen3.5)
    gives each frame its own timestamped block with one temporal id, so no video's temporal ids run past
    its spatial ones and transformers' own ``get_rope_index`` is what vLLM computes (the vLLM differential,
    tests/test_vllm_engine.py, compares the log-probs that depend on it)."""
    model, _ = load_policy(tiny_models[family])
    assert "get_rope_index" not in vars(model.model)  # nothing bound on the instance
    assert model.model.get_rope_index.__func__ is type(model.model).get_rope_index
