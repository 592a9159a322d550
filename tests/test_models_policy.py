"""Processor inputs from cached frames, the HF engine and token log-probs on real tiny Qwen-VL models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cache_store.types import CachedMedia
from training.engines.base import GenerationRequest, SamplingParams
from training.engines.hf import HFEngine
from training.models.policy import collate_prompts, token_logprobs
from training.models.processor import (
    QWEN3_LAYOUT,
    PlaceholderMismatchError,
    QwenVLProcessor,
    patchify,
    qwen3_timestamps,
)

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")


def _media(factor: int, seed: int = 0) -> tuple[CachedMedia, CachedMedia]:
    rng = np.random.default_rng(seed)
    video = CachedMedia(
        "v",
        "/v.mp4",
        "video",
        rng.integers(0, 255, (4, 2 * factor, 2 * factor, 3), dtype=np.uint8),
        source_fps=8.0,
        total_frames=32,
        indices=[0, 10, 20, 31],
        timestamps=[0, 1.25, 2.5, 3.875],
        sample_fps=1.0,
    )
    image = CachedMedia(
        "i", "/i.png", "image", rng.integers(0, 255, (1, 2 * factor, 4 * factor, 3), dtype=np.uint8)
    )
    return video, image


def test_patchify_matches_transformers_image_processor(tiny_models):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    proc = QwenVLProcessor(tiny_models["qwen2_5_vl"])
    _, image = _media(proc.image.factor)
    s = proc.image
    official = Qwen2VLImageProcessorPil(
        patch_size=s.patch_size,
        temporal_patch_size=s.temporal_patch_size,
        merge_size=s.merge_size,
        image_mean=list(s.image_mean),
        image_std=list(s.image_std),
    )(images=[image.frames[0]], do_resize=False, return_tensors="pt")
    ours, grid = patchify(image.frames, s)
    assert grid == official["image_grid_thw"][0].tolist()
    torch.testing.assert_close(ours, official["pixel_values"].float(), atol=1e-5, rtol=0)


def test_patchify_pads_time_by_repeating_last_frame():
    from training.models.processor import VisionSettings

    s = VisionSettings(
        patch_size=2, temporal_patch_size=2, merge_size=1, image_mean=(0, 0, 0), image_std=(1, 1, 1)
    )
    frames = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (0, 255, 51)])  # T=3 -> padded to 4
    patches, grid = patchify(frames, s)
    assert grid == [2, 1, 1]
    # patch layout is (C, tp, p, p): second temporal group holds frame 2 twice (51/255 = 0.2)
    second = patches[1].view(3, 2, 2, 2)
    assert torch.allclose(second, torch.full_like(second, 0.2))


def test_qwen3_timestamps_average_each_temporal_pair():
    assert qwen3_timestamps([0, 10, 20, 31], 8.0, 2) == [0.625, 3.1875]
    assert qwen3_timestamps([0, 8, 16], 8.0, 2) == [0.5, 2.0]  # odd count: last index repeated


@pytest.mark.parametrize("family", FAMILIES)
def test_placeholders_equal_features(tiny_models, family):
    proc = QwenVLProcessor(tiny_models[family])
    video, image = _media(proc.video.factor)
    enc = proc.encode("Which colour appears first?", [video])
    t, h, w = enc.video_grid_thw[0]
    assert enc.input_ids.count(proc.video_token_id) == t * h * w // proc.video.merge_size**2
    assert enc.pixel_values_videos.shape == (
        t * h * w,
        3 * proc.video.temporal_patch_size * proc.video.patch_size**2,
    )
    text = proc.tokenizer.decode(enc.input_ids)
    if family in QWEN3_LAYOUT:  # one timestamped block per temporal group, inside the template's outer markers
        assert text.count("<|vision_start|>") == t + 1 and "<|vision_start|><0.6 seconds>" in text
        assert "<3.2 seconds>" in text and text.count("<|vision_end|><|vision_end|>") == 1
    else:
        assert text.count("<|vision_start|>") == 1
    img = proc.encode("Count the squares", [image])
    assert img.input_ids.count(proc.image_token_id) == np.prod(img.image_grid_thw[0]) // 4


def test_reserved_tokens_in_prompt_are_rejected(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen2_vl"])
    with pytest.raises(ValueError, match="sample s7.*<\\|video_pad\\|>"):
        proc.encode("sneaky <|video_pad|>", [], sample_id="s7")


def test_wrong_factor_frames_fail_with_a_fix(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen3_vl"])  # factor 32
    bad, _ = _media(28)
    with pytest.raises(ValueError, match="multiple of 32"):
        proc.encode("q", [bad])


def test_placeholder_mismatch_names_the_sample(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen2_vl"])
    video, _ = _media(proc.video.factor)
    enc = proc.encode("q", [video])
    enc.video_grid_thw[0] = [4, 4, 4]
    with pytest.raises(
        PlaceholderMismatchError, match="sample s1: video features and video tokens do not match"
    ):
        proc._check_placeholders(enc, "s1")


@pytest.mark.parametrize("family", FAMILIES)
def test_training_logprobs_equal_generation_distribution(tiny_models, family):
    """Left-padded mixed video/image/text batch: the update's forward sees what generate sampled from."""
    engine = HFEngine.from_pretrained(tiny_models[family])
    proc = engine.processor
    video, image = _media(proc.video.factor)
    enc = [
        proc.encode("What colour appears first in the clip?", [video]),
        proc.encode("Count", [image]),
        proc.encode("text only", []),
    ]
    batch = collate_prompts(enc, proc.tokenizer.pad_token_id, "cpu", proc.family)
    with torch.no_grad():
        out = engine.model.generate(
            **batch,
            do_sample=False,
            max_new_tokens=6,
            output_logits=True,
            return_dict_in_generate=True,
            eos_token_id=None,
            pad_token_id=proc.tokenizer.pad_token_id,
        )
        gen = out.sequences[:, batch["input_ids"].shape[1] :]
        ref = torch.stack([torch.log_softmax(x.float(), -1) for x in out.logits], 1)
        ref = ref.gather(2, gen.unsqueeze(-1)).squeeze(-1)
        logp, mask = token_logprobs(engine.model, enc, gen.tolist(), proc.tokenizer.pad_token_id, proc.family)
    assert mask.sum() == gen.numel()
    torch.testing.assert_close(logp, ref, atol=1e-5, rtol=0)


def test_engine_n_samples_seeded_and_every_parameter_gets_gradient(tiny_models):
    engine = HFEngine.from_pretrained(tiny_models["qwen2_5_vl"])
    proc = engine.processor
    video, image = _media(proc.video.factor)
    reqs = [GenerationRequest("a", "first colour?", [video]), GenerationRequest("b", "count", [image])]
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=5)
    out = engine.generate(reqs, params)
    assert [len(g) for g in out] == [3, 3]
    assert [[c.token_ids for c in g] for g in engine.generate(reqs, params)] == [
        [c.token_ids for c in g] for g in out
    ]
    vision_ids = {proc.image_token_id, proc.video_token_id, proc.vision_start_id, proc.vision_end_id}
    assert not vision_ids & {t for g in out for c in g for t in c.token_ids}
    enc = [proc.encode(r.prompt, r.media) for r in reqs for _ in range(3)]
    engine.model.train()
    logp, mask = token_logprobs(
        engine.model, enc, [c.token_ids for g in out for c in g], proc.tokenizer.pad_token_id, proc.family
    )
    (-(logp * mask).sum() / mask.sum()).backward()
    missing = [n for n, p in engine.model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
