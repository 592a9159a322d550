"""qwen-vl-utils 0.0.14 sampling rules, with values computed by hand (working shown in comments)."""

from __future__ import annotations

import pytest

from cache_store import sampling
from cache_store.sampling import (
    factor_for_family,
    sample_fps,
    sample_indices,
    smart_nframes,
    smart_resize,
    video_pixel_budget,
)


def test_constants_are_qwen_vl_utils_0_0_14():
    assert (sampling.FRAME_FACTOR, sampling.FPS_MIN_FRAMES, sampling.FPS_MAX_FRAMES) == (2, 4, 768)
    assert (sampling.IMAGE_MIN_TOKEN_NUM, sampling.IMAGE_MAX_TOKEN_NUM) == (4, 16384)
    assert (sampling.VIDEO_MIN_TOKEN_NUM, sampling.VIDEO_MAX_TOKEN_NUM) == (128, 768)
    assert (sampling.MAX_RATIO, sampling.SPATIAL_MERGE_SIZE, sampling.FPS, sampling.MODEL_SEQ_LEN) == (
        200,
        2,
        2.0,
        128000,
    )


def test_factor_rounding_helpers():
    assert sampling.round_by_factor(42, 28) == 56  # 1.5 rounds to even 2
    assert sampling.round_by_factor(70, 28) == 56  # 2.5 rounds to even 2
    assert sampling.ceil_by_factor(5, 2) == 6
    assert sampling.floor_by_factor(7.9, 2) == 6


@pytest.mark.parametrize(
    "args, expected",
    [
        # 64/28 = 2.29 -> 56, 96/28 = 3.43 -> 84; 4704 px inside [3136, 12544]
        ((64, 96, 28, 3136, 12544), (56, 84)),
        # 4704 < 100352: beta = sqrt(100352 / 6144) = 4.0415; ceil(9.24) * 28 = 280, ceil(13.86) * 28 = 392
        ((64, 96, 28, 100352, 602112), (280, 392)),
        # 1092 * 1932 > 602112: beta = sqrt(2073600 / 602112) = 1.8558; floor(20.8) * 28, floor(36.95) * 28
        ((1080, 1920, 28, 3136, 602112), (560, 1008)),
        # Qwen3 factor 32: 360/32 = 11.25 -> 352, 640/32 = 20 -> 640; 225280 px inside the budget
        ((360, 640, 32, 131072, 786432), (352, 640)),
        # default image budget; 42/28 = 1.5 and 70/28 = 2.5 both round (half to even) to 2
        ((42, 42, 28), (56, 56)),
        ((70, 70, 28), (56, 56)),
        # aspect exactly 200 is allowed; 10 -> max(28, 0) = 28, 2000/28 = 71.4 -> 1988
        ((10, 2000, 28), (28, 1988)),
    ],
)
def test_smart_resize(args, expected):
    assert smart_resize(*args) == expected


def test_smart_resize_errors():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2010, 28)  # 201 > MAX_RATIO
    with pytest.raises(ValueError, match="max_pixels"):
        smart_resize(64, 96, 28, min_pixels=5000, max_pixels=4000)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((30, 10.0, 2.0, 4, 16), 6),  # 3 s * 2 fps = 6
        ((3000, 30.0, 2.0, 4, 16), 16),  # 200 capped by max_frames
        ((10, 10.0, 2.0, 4, 16), 4),  # 2 raised to min_frames
        ((35, 10.0, 2.0, 4, 16), 6),  # 7 floored to a multiple of 2
        ((20, 10.0, 2.0, 5, 16), 6),  # min_frames 5 -> ceil2 = 6
        ((300, 10.0, 2.0, 4, 9), 8),  # max_frames 9 -> floor2 = 8
        ((1000, 1.0, 2.0, 4, None), 768),  # default max = floor2(min(768, total))
        ((3, 30.0, 2.0, 4, 16), 2),  # min_frames 4 > total 3 -> 3 -> floor2 = 2
    ],
)
def test_smart_nframes(args, expected):
    assert smart_nframes(*args) == expected


def test_smart_nframes_errors():
    with pytest.raises(ValueError, match=r"interval \[2, 1\]"):
        smart_nframes(1, 30.0)  # a single frame cannot fill a temporal patch of 2
    with pytest.raises(ValueError, match="fps"):
        smart_nframes(30, 0.0)


def test_sample_indices_and_fps():
    assert sample_indices(30, 6) == [0, 6, 12, 17, 23, 29]  # 0, 5.8, 11.6, 17.4, 23.2, 29
    assert sample_indices(10, 3) == [0, 4, 9]  # 4.5 rounds half to even
    assert sample_indices(4, 4) == [0, 1, 2, 3]
    assert sample_fps(6, 30, 10.0) == 2.0


def test_video_pixel_budget():
    # defaults, factor 28: min 128*784; max = max(min(768*784, 128000*784*0.9/16*2), int(1.05*min))
    assert video_pixel_budget(16, 28) == (100352, 602112)
    # many frames: 90316800 / 768 * 2 = 235200 is under the 768-token cap
    assert video_pixel_budget(768, 28) == (100352, 235200.0)
    # an explicit max_pixels caps the computed budget
    assert video_pixel_budget(16, 28, min_pixels=3136, max_pixels=50000) == (3136, 50000)
    # total_pixels 100000 over 16 frames: 100000 / 16 * 2 = 12500
    assert video_pixel_budget(16, 28, min_pixels=3136, total_pixels=100000) == (3136, 12500.0)
    # the floor int(1.05 * 3136) = 3292 wins over 10000 / 16 * 2 = 1250
    assert video_pixel_budget(16, 28, min_pixels=3136, total_pixels=10000) == (3136, 3292)
    assert video_pixel_budget(16, 32) == (131072, 786432)  # Qwen3: 128 and 768 tokens of 32x32


@pytest.mark.parametrize(
    "name, factor",
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", 28),
        ("qwen2_vl", 28),
        ("Qwen2-VL", 28),
        ("Qwen3-VL-2B-Instruct", 32),
        ("qwen3_vl_moe", 32),
        ("qwen3_5", 32),
        ("Qwen/Qwen3.5-27B", 32),
        ("qwen3_5_moe", 32),
        ("Qwen/Qwen3.5-35B-A3B", 32),
    ],
)
def test_factor_for_family(name, factor):
    assert factor_for_family(name) == factor


def test_factor_for_unknown_family():
    with pytest.raises(ValueError, match="unknown model family 'llava'"):
        factor_for_family("llava")
