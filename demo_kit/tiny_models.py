"""Tiny, randomly initialised Qwen-VL checkpoints built offline, for tests and the embedded demo.

A checkpoint here is laid out like a real Hugging Face Qwen-VL release (config, safetensors weights,
tokenizer with chat template, generation config, image and video preprocessor configs), so every code
path that loads a real model loads these the same way, through transformers' own classes. Only sizes
differ: text hidden 64, 2 layers, a 1-2 block vision tower, a ~512-token byte-level BPE vocabulary
trained locally. Each checkpoint is well under 1 MB, and nothing touches the network.

Why a trained BPE and not a char vocabulary: the reward and evaluation code decode with
``skip_special_tokens`` and parse ``<think>``/``<answer>`` tags, JSON and numbers, so the tokenizer must
round-trip arbitrary text exactly (byte-level) and keep the Qwen special tokens as single ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from training.models.expert_layout import save_released
from training.registry import Registry

# The three newer families (Qwen3.5 dense/MoE, Qwen3-VL-MoE) are registered after qwen3_vl below.
FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")

# Order matters only for readability; ids follow the byte alphabet, as in any trained BPE.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen chat layout. No whitespace control anywhere: every newline below is intended output.
# Image/video items render as one placeholder each; the processor expands the pad token to the right
# number of visual tokens (and, for Qwen3-VL, into per-frame "<t seconds>" groups).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or 'image' in item or 'image_url' in item %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' or 'video' in item %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in item %}{{ item['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A small English-like corpus so the BPE learns the words, tags, numbers and JSON the project emits.
DEFAULT_CORPUS = (
    "<think>I look at the video frame by frame and count the squares.</think><answer>3</answer>",
    "<think>The red square appears first, then green, then blue.</think><answer>A</answer>",
    '<think>The flash starts at 1.5 seconds and ends at 3.0 seconds.</think><answer>{"time": [1.5, 3.0]}</answer>',
    '<answer>{"boxes": [12, 20, 40, 52]}</answer>',
    "<answer>yes</answer> <answer>no</answer> <answer>B</answer> <answer>C</answer> <answer>D</answer>",
    "Which colour appears first? Which colour appears last? Which colour appears second?",
    "In which direction does the square move? left right up down",
    "How many squares are there in the image? How many squares are in the video?",
    "When does the bright flash happen? Give the start and end time in seconds.",
    "Where is the rectangle? Give the bounding box as [x1, y1, x2, y2] in pixels.",
    "Is there a red square? Answer yes or no.",
    "Options:\nA. red\nB. green\nC. blue\nD. yellow",
    "Please think about this question as if you were a human pondering deeply.",
    "First, briefly explain your reasoning, then give the final answer inside <answer> tags.",
    "The quick brown fox jumps over the lazy dog. A person walks through the doorway.",
    "The answer is the option that matches what happens in the video.",
    "system user assistant You are a helpful assistant.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 16 20 24 25 32 48 64 96 100 0.5 1.0 2.5 3.5 7.25 -1",
    "<0.5 seconds> <1.0 seconds> <1.5 seconds> <2.0 seconds> <2.5 seconds> <3.0 seconds>",
    "{ } [ ] ( ) : ; , . ! ? \" ' - + * / = _ # % & < > @ $ ^ ~ | \\ `",
    '{"time": [0.0, 4.0], "boxes": {}} [1, 2, 3] {"a": 1}',
)


@dataclass(frozen=True)
class TextSize:
    """The language model's width. Depth (2 layers), heads (4 query, 2 key/value) and the vision tower are
    the same in every size; only the head dimension changes, and the M-RoPE sections scale with it."""

    hidden: int
    intermediate: int
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    # std of the weight matrices (None: transformers' initialisation, std 0.02). Wider weights make a random
    # model's greedy answers depend on its input instead of repeating one token, so engine comparisons
    # compare something.
    init_std: float | None = None

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def mrope_section(self, base: list[int]) -> list[int]:
        """``base`` is given for head_dim 16 (sections summing to 8 = head_dim / 2); scaled to this size."""
        return [s * self.head_dim // 16 for s in base]


# "tiny" (head_dim 16, ~200k parameters) is what the CPU tests and the demo train. "small" (head_dim 64,
# ~1M parameters) is the smallest vLLM's CPU attention accepts: it rejects head_dim 16.
SIZES = {
    "tiny": TextSize(hidden=64, intermediate=128),
    "small": TextSize(hidden=256, intermediate=512, init_std=0.1),
}
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class TokenIds:
    """Ids of the Qwen special tokens in a trained tokenizer."""

    endoftext: int
    im_start: int
    im_end: int
    vision_start: int
    vision_end: int
    image_pad: int
    video_pad: int
    vocab_size: int


@dataclass(frozen=True)
class FamilySpec:
    """What differs between families besides the config: patch size, normalisation, class names."""

    build_config: Callable[[TokenIds, TextSize], object]
    model_class: str
    patch_size: int
    mean: list[float]
    std: list[float]
    processor_class: str
    video_processor_type: str
    # "qwen3_5": the tokenizer is trained with Qwen3.5's own normaliser and pre-tokenizer (see train_tokenizer)
    tokenizer_style: str = "qwen2"


_FAMILIES: Registry[FamilySpec] = Registry("tiny model family", error=ValueError, known="choose one of")


def register_family(name: str, **spec):
    """Register a config builder for ``name``; a second registration of a name is an error."""

    def decorator(fn: Callable[[TokenIds, TextSize], object]) -> Callable[[TokenIds, TextSize], object]:
        _FAMILIES.add(name, FamilySpec(build_config=fn, **spec))
        return fn

    return decorator


def _text_config(ids: TokenIds, size: TextSize, mrope_section: list[int], theta: float, **extra) -> dict:
    return {
        "vocab_size": ids.vocab_size,
        "hidden_size": size.hidden,
        "intermediate_size": size.intermediate,
        "num_hidden_layers": size.layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.kv_heads,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": theta,
            "mrope_section": size.mrope_section(mrope_section),
            **extra,
        },
        "pad_token_id": ids.endoftext,
    }


def _token_fields(ids: TokenIds) -> dict:
    # Tied input/output embeddings, as in the small real checkpoints (Qwen2-VL-2B, Qwen2.5-VL-3B,
    # Qwen3-VL-2B/4B); it also keeps the Qwen3-VL checkpoint near 1 MB.
    return {
        "image_token_id": ids.image_pad,
        "video_token_id": ids.video_pad,
        "vision_start_token_id": ids.vision_start,
        "vision_end_token_id": ids.vision_end,
        "tie_word_embeddings": True,
    }


@register_family(
    "qwen2_vl",
    model_class="Qwen2VLForConditionalGeneration",
    patch_size=14,
    mean=OPENAI_CLIP_MEAN,
    std=OPENAI_CLIP_STD,
    processor_class="Qwen2VLProcessor",
    video_processor_type="Qwen2VLVideoProcessor",
)
def _qwen2_vl_config(ids: TokenIds, size: TextSize):
    from transformers import Qwen2VLConfig

    text = _text_config(ids, size, [2, 3, 3], 1e6) | {
        "bos_token_id": ids.endoftext,
        "eos_token_id": ids.im_end,
    }
    vision = {
        "depth": 1,
        "embed_dim": 32,
        "hidden_size": size.hidden,
        "mlp_ratio": 2,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    return Qwen2VLConfig(text_config=text, vision_config=vision, **_token_fields(ids))


@register_family(
    "qwen2_5_vl",
    model_class="Qwen2_5_VLForConditionalGeneration",
    patch_size=14,
    mean=OPENAI_CLIP_MEAN,
    std=OPENAI_CLIP_STD,
    processor_class="Qwen2_5_VLProcessor",
    video_processor_type="Qwen2VLVideoProcessor",
)
def _qwen2_5_vl_config(ids: TokenIds, size: TextSize):
    from transformers import Qwen2_5_VLConfig

    text = _text_config(ids, size, [2, 3, 3], 1e6) | {
        "bos_token_id": ids.endoftext,
        "eos_token_id": ids.im_end,
    }
    # Two blocks so both attention kinds run: block 0 windowed (window 56 px = 2x2 merged patches),
    # block 1 full attention, as in the real tower's fullatt_block_indexes.
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": size.hidden,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 56,
        "fullatt_block_indexes": [1],
    }
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **_token_fields(ids))


@register_family(
    "qwen3_vl",
    model_class="Qwen3VLForConditionalGeneration",
    patch_size=16,
    mean=[0.5] * 3,
    std=[0.5] * 3,
    processor_class="Qwen3VLProcessor",
    video_processor_type="Qwen3VLVideoProcessor",
)
def _qwen3_vl_config(ids: TokenIds, size: TextSize):
    from transformers import Qwen3VLConfig

    # Interleaved M-RoPE over head_dim/2 frequency slots (8 at head_dim 16: H takes slots 1,4; W 2,5; T the rest).
    text = _text_config(ids, size, [4, 2, 2], 5e6, mrope_interleaved=True) | {"head_dim": size.head_dim}
    # Deepstack taps vision block 0 and adds its merger's output to the visual positions after text layer 0.
    # One tap only: a merger injecting after the last text layer (index 1 here) changes nothing a response
    # token reads (no attention follows), so it would never get a gradient and "every parameter trains" fails.
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": size.hidden,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision, **_token_fields(ids))


# Qwen3.5 (dense and MoE) and Qwen3-VL-MoE. Their attention heads are 32 wide in the "tiny" size (64 in
# "small"): vLLM's CPU attention rejects 16. Qwen3.5 rotates only a quarter of each head (the family's
# partial_rotary_factor 0.25), so its interleaved M-RoPE sections sum to head_dim / 8; its text stack
# alternates Gated DeltaNet (linear attention) and full attention, one layer of each here, with
# linear-attention heads of 32 ("small": 128, the only width vLLM's CPU GDN kernel takes).
def _qwen3_family_dims(size: TextSize) -> dict:
    head_dim = max(size.head_dim, 32)
    return {"head_dim": head_dim, "linear_head_dim": 32 if head_dim == 32 else 128}


def _qwen3_family_vision(size: TextSize, **extra) -> dict:
    return {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": size.hidden,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 64,
        **extra,
    }


def _qwen3_5_text(ids: TokenIds, size: TextSize) -> dict:
    dims = _qwen3_family_dims(size)
    rotary_slots = dims["head_dim"] // 4 // 2  # partial_rotary_factor 0.25, then cos/sin pairs
    # the real [11, 11, 10] of 32 slots, scaled: T keeps the rest, H and W take every third slot
    h = w = max(1, rotary_slots * 11 // 32)
    return _text_config(ids, size, [2, 3, 3], 1e7) | {
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1e7,
            "mrope_section": [rotary_slots - h - w, h, w],
            "mrope_interleaved": True,
            "partial_rotary_factor": 0.25,
        },
        "head_dim": dims["head_dim"],
        "linear_key_head_dim": dims["linear_head_dim"],
        "linear_value_head_dim": dims["linear_head_dim"],
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_conv_kernel_dim": 4,
        "layer_types": ["linear_attention", "full_attention"],
        "bos_token_id": ids.endoftext,
        "eos_token_id": ids.im_end,
    }


# Experts: 4 routed (2 per token) of width 32, so a few dozen tokens reach every expert.
_MOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}


@register_family(
    "qwen3_5",
    model_class="Qwen3_5ForConditionalGeneration",
    patch_size=16,
    mean=[0.5] * 3,
    std=[0.5] * 3,
    processor_class="Qwen3VLProcessor",
    video_processor_type="Qwen3VLVideoProcessor",
    tokenizer_style="qwen3_5",
)
def _qwen3_5_config(ids: TokenIds, size: TextSize):
    from transformers import Qwen3_5Config

    # no deepstack in Qwen3.5's vision tower: its merger's output is the only visual input
    return Qwen3_5Config(
        text_config=_qwen3_5_text(ids, size), vision_config=_qwen3_family_vision(size), **_token_fields(ids)
    )


@register_family(
    "qwen3_5_moe",
    model_class="Qwen3_5MoeForConditionalGeneration",
    patch_size=16,
    mean=[0.5] * 3,
    std=[0.5] * 3,
    processor_class="Qwen3VLProcessor",
    video_processor_type="Qwen3VLVideoProcessor",
    tokenizer_style="qwen3_5",
)
def _qwen3_5_moe_config(ids: TokenIds, size: TextSize):
    from transformers import Qwen3_5MoeConfig

    text = _qwen3_5_text(ids, size) | _MOE | {"shared_expert_intermediate_size": 32}
    text.pop("intermediate_size")  # every layer is a MoE layer (routed experts + one gated shared expert)
    return Qwen3_5MoeConfig(text_config=text, vision_config=_qwen3_family_vision(size), **_token_fields(ids))


@register_family(
    "qwen3_vl_moe",
    model_class="Qwen3VLMoeForConditionalGeneration",
    patch_size=16,
    mean=[0.5] * 3,
    std=[0.5] * 3,
    processor_class="Qwen3VLProcessor",
    video_processor_type="Qwen3VLVideoProcessor",
)
def _qwen3_vl_moe_config(ids: TokenIds, size: TextSize):
    from transformers import Qwen3VLMoeConfig

    head_dim = _qwen3_family_dims(size)["head_dim"]
    # Qwen3-VL's interleaved sections [4, 2, 2] per 8 slots, scaled to head_dim / 2 slots
    text = _text_config(ids, size, [4, 2, 2], 5e6, mrope_interleaved=True) | _MOE | {"head_dim": head_dim}
    # transformers always renormalises the top-k routing weights; vLLM's Qwen3-VL-MoE reads that choice from
    # the config (``norm_topk_prob``, as in the released checkpoints' configs) and fails to build without it
    text["norm_topk_prob"] = True
    # expert width: 32 (vLLM's CPU MoE pads other widths to a multiple of 32, and its weight reload then
    # fails: "The size of tensor a (64) must match the size of tensor b (32)"), except at hidden 64, where 32
    # makes gate_up_proj square ([E, 64, 64]) and the released on-disk layout (training/models/
    # expert_layout.py) indistinguishable from transformers' own: 16 there (vLLM does not run that size)
    text["moe_intermediate_size"] = 16 if size.hidden == 64 else 32
    text["rope_parameters"]["mrope_section"] = [s * head_dim // 16 for s in (4, 2, 2)]
    # decoder_sparse_step 1 and no mlp_only_layers: every layer is a MoE layer (intermediate_size unused)
    # one deepstack tap at vision block 0, as the tiny Qwen3-VL (see there)
    vision = _qwen3_family_vision(size, deepstack_visual_indexes=[0])
    return Qwen3VLMoeConfig(text_config=text, vision_config=vision, **_token_fields(ids))


def train_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 512, *, style: str = "qwen2"):
    """Train a byte-level BPE on ``corpus`` plus ``DEFAULT_CORPUS``; returns a ``PreTrainedTokenizerFast``.

    Byte-level means any UTF-8 text round-trips exactly; the seven Qwen special tokens stay atomic.
    Training is deterministic for a given corpus and vocab size.

    ``style="qwen3_5"`` trains behind Qwen3.5's NFC normaliser and split regex (transformers'
    ``Qwen3_5Tokenizer``, which ``AutoTokenizer`` picks for a ``qwen3_5``/``qwen3_5_moe`` checkpoint and which
    rebuilds that pipeline around the saved vocabulary): trained otherwise, the reloaded tokenizer would split
    text differently from the one trained here.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL_TOKENS) + 1:
        raise ValueError(
            f"vocab_size {vocab_size} leaves no room for merges: byte-level BPE needs 256 byte "
            f"tokens + {len(SPECIAL_TOKENS)} special tokens; use at least 300"
        )
    texts = list(DEFAULT_CORPUS) + [str(t) for t in (corpus or ())]
    tok = Tokenizer(models.BPE())
    if style == "qwen3_5":
        from tokenizers import Regex, normalizers
        from transformers.models.qwen3_5.tokenization_qwen3_5 import PRETOKENIZE_REGEX

        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    elif style == "qwen2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        raise ValueError(f"unknown tokenizer style {style!r}; choose 'qwen2' or 'qwen3_5'")
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:2] + SPECIAL_TOKENS[3:]),
        model_max_length=32768,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def family_tokenizer(family: str, corpus: Iterable[str] | None = None, vocab_size: int = 512):
    """The tokenizer ``build_tiny_model`` trains for ``family`` (its family's pre-tokenizer style)."""
    return train_tokenizer(corpus, vocab_size, style=_FAMILIES.get(family).tokenizer_style)


def token_ids(tokenizer) -> TokenIds:
    """Look up the special-token ids; fails loudly if the tokenizer lacks one."""
    ids = {}
    for name, tok in zip(TokenIds.__dataclass_fields__, SPECIAL_TOKENS):
        idx = tokenizer.convert_tokens_to_ids(tok)
        if idx is None or idx == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no {tok!r}; train it with SPECIAL_TOKENS")
        ids[name] = idx
    return TokenIds(**ids, vocab_size=len(tokenizer))


def _preprocessor_configs(spec: FamilySpec) -> tuple[dict, dict]:
    """Image and video preprocessor configs in the layout of real Qwen checkpoints, sized for tiny frames.

    Pixel budgets are counted in merged patches: 4 to 64 visual tokens of factor² pixels each, where
    factor = patch·merge (28 for Qwen2/2.5-VL, 32 for Qwen3-VL).
    """
    factor = spec.patch_size * 2
    min_pixels, max_pixels = 4 * factor * factor, 64 * factor * factor
    common = {
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "do_convert_rgb": True,
        "resample": 3,
        "image_mean": spec.mean,
        "image_std": spec.std,
        "patch_size": spec.patch_size,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
        "processor_class": spec.processor_class,
    }
    image = common | {"image_processor_type": "Qwen2VLImageProcessor"}
    video = common | {
        "video_processor_type": spec.video_processor_type,
        "fps": 2.0,
        "min_frames": 4,
        "max_frames": 64,
    }
    return image, video


def build_tiny_model(
    family: str,
    out_dir: str | Path,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    vocab_size: int = 512,
    size: str = "tiny",
) -> Path:
    """Write a tiny random ``family`` checkpoint (one of ``FAMILIES``) to ``out_dir``; returns the path.

    ``size`` is a key of ``SIZES``: "tiny" (default) or "small" (what vLLM's CPU build can run). Reload
    with ``AutoModelForImageTextToText.from_pretrained(out_dir)`` and ``AutoTokenizer.from_pretrained(out_dir)``.
    The same (family, seed, corpus, vocab_size, size) gives the same weights and tokenizer.
    """
    spec = _FAMILIES.get(family)
    if size not in SIZES:
        raise ValueError(f"unknown tiny model size {size!r}; choose one of {sorted(SIZES)}")
    import transformers
    from transformers import GenerationConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = family_tokenizer(family, corpus, vocab_size)
    ids = token_ids(tokenizer)
    config = spec.build_config(ids, SIZES[size])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(transformers, spec.model_class)(config).eval()
        if (std := SIZES[size].init_std) is not None:
            with torch.no_grad():
                for weight in model.parameters():
                    if weight.dim() > 1:
                        weight.normal_(0.0, std)
    # generate() stops at <|im_end|> (end of turn) or <|endoftext|>; vision placeholders are suppressed
    # because a generated pad token would desynchronise placeholder and feature counts when re-scored.
    model.generation_config = GenerationConfig(
        bos_token_id=ids.endoftext,
        eos_token_id=[ids.im_end, ids.endoftext],
        pad_token_id=ids.endoftext,
        suppress_tokens=[ids.image_pad, ids.video_pad, ids.vision_start, ids.vision_end],
    )
    # routed experts in the released checkpoints' layout (Qwen3-VL-MoE), as every checkpoint ReelRL writes
    save_released(model, out, model.state_dict())
    tokenizer.save_pretrained(out)
    image_cfg, video_cfg = _preprocessor_configs(spec)
    for name, cfg in (("preprocessor_config.json", image_cfg), ("video_preprocessor_config.json", video_cfg)):
        (out / name).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return out
