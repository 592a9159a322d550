"""``QwenVLProcessor`` equals the official processor of the pinned transformers (the one vLLM runs) for every
family: input ids, token types, pixels, grids and Qwen2.5-VL's ``second_per_grid_ts``, bit for bit, on
media read out of a real Lance cache. Needs torchvision for the official video processors (``make test-vllm``)."""

from __future__ import annotations

import pytest
import torch

from demo_kit.synthetic.engine_media import cached_media, cases
from training.models.processor import QWEN3_LAYOUT, QwenVLProcessor, VideoMetadata

pytestmark = [pytest.mark.needs_torchvision, pytest.mark.usefixtures("torchvision_env")]

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")


def official(processor, path: str, media, prompt: str) -> dict:
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(path)
    images = [m.frames[0] for m in media if m.kind == "image"] or None
    videos = [m.frames for m in media if m.kind == "video"] or None
    kwargs = {}
    if videos:
        metadata = [VideoMetadata.of(m).as_dict() for m in media if m.kind == "video"]
        kwargs = {"videos": videos, "video_metadata": metadata, "do_sample_frames": False}
    text = processor.render(prompt, media)
    return proc(text=[text], images=images, do_resize=False, return_tensors="pt", **kwargs)


@pytest.fixture(scope="module")
def media_by_factor(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity_media")
    return {f: cases(cached_media(root / str(f), f)) for f in (28, 32)}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", ["image", "video_even", "video_odd", "video_long", "image_video", "two_videos"])
def test_the_processor_equals_the_official_one(tiny_models, media_by_factor, family, case):
    ours = QwenVLProcessor(tiny_models[family])
    media = media_by_factor[ours.video.factor][case]
    want = official(ours, tiny_models[family], media, "What happens here?")
    got = ours.encode("What happens here?", media)
    assert got.input_ids == want["input_ids"][0].tolist()
    assert got.mm_token_type_ids == want["mm_token_type_ids"][0].tolist()
    if "pixel_values" in want:
        assert torch.equal(got.pixel_values, want["pixel_values"])
        assert got.image_grid_thw == want["image_grid_thw"].tolist()
    if "pixel_values_videos" in want:
        assert torch.equal(got.pixel_values_videos, want["pixel_values_videos"])
        assert got.video_grid_thw == want["video_grid_thw"].tolist()
    if family == "qwen2_5_vl" and "second_per_grid_ts" in want:
        assert torch.equal(torch.tensor(got.second_per_grid_ts), want["second_per_grid_ts"])
    if family in QWEN3_LAYOUT and "pixel_values_videos" in want:
        # the template's outer markers stay around the per-frame groups (defect A)
        text = ours.tokenizer.decode(got.input_ids)
        assert "<|vision_start|><0." in text or "<|vision_start|><1." in text
