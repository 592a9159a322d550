"""``resize_frames``: properties here; bit-exactness against real torchvision (make test-vllm, or wherever it
imports)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cache_store.resize import resize_frames

RNG = np.random.default_rng(0)


def test_same_size_is_returned_untouched():
    frames = RNG.integers(0, 256, (2, 56, 84, 3), dtype=np.uint8)
    assert resize_frames(frames, 56, 84) is frames  # torchvision returns its input, no interpolation


def test_flat_colour_survives_and_shape_dtype():
    frames = np.full((3, 64, 96, 3), (10, 200, 30), dtype=np.uint8)
    out = resize_frames(frames, 280, 392)
    assert out.shape == (3, 280, 392, 3) and out.dtype == np.uint8
    assert (out == np.array([10, 200, 30], np.uint8)).all()


def test_chunking_changes_nothing():
    frames = RNG.integers(0, 256, (5, 90, 160, 3), dtype=np.uint8)
    assert np.array_equal(resize_frames(frames, 84, 140, chunk=2), resize_frames(frames, 84, 140, chunk=16))


def test_overshoot_is_clamped_not_wrapped():
    frames = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    frames[:, :, 4:] = 255  # a hard edge: bicubic overshoots below 0 and above 255 next to it
    out = torch.from_numpy(resize_frames(frames, 28, 28)).permute(0, 3, 1, 2)
    raw = torch.nn.functional.interpolate(
        torch.from_numpy(frames).permute(0, 3, 1, 2).float(), size=[28, 28], mode="bicubic", antialias=True
    )
    assert (raw < 0).any() and (raw > 255).any()
    assert (out[raw < 0] == 0).all() and (out[raw > 255] == 255).all()  # a uint8 cast alone would wrap
    assert torch.equal(out, raw.clamp(0, 255).round().to(torch.uint8))


@pytest.mark.needs_torchvision  # real torchvision: make test-vllm's environment has it
@pytest.mark.usefixtures("torchvision_env")
@pytest.mark.parametrize(
    "shape, size",
    [((8, 90, 160), (56, 84)), ((4, 64, 96), (280, 392)), ((3, 100, 75), (84, 56)), ((2, 56, 84), (56, 84))],
)
def test_matches_torchvision_bit_for_bit(shape, size):
    from torchvision.transforms import InterpolationMode, functional

    frames = RNG.integers(0, 256, (*shape, 3), dtype=np.uint8)
    video = torch.tensor(frames).permute(0, 3, 1, 2)  # as qwen-vl-utils builds it
    expected = functional.resize(video, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    assert torch.equal(torch.from_numpy(resize_frames(frames, *size)), expected.permute(0, 2, 3, 1))
