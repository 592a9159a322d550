"""Parity with the real qwen-vl-utils 0.0.14 (skipped when it is not installed).

qwen-vl-utils imports torchvision at module top, and torchvision cannot exist beside the CPU torch here
(FIELD_NOTES), so a stub torchvision is installed for the import. The stub's ``resize`` records the size
qwen-vl-utils asks for and returns the frames untouched; the test then checks our sampled indices,
metadata and target size against qwen-vl-utils' own decord path, and that our resize of *its* frames gives
our cached frames. Images go through PIL only, so there the comparison is pixel-exact end to end.
(The resize arithmetic itself is compared with real torchvision in test_cache_resize.py, where it imports.)
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from cache_store import MediaSpec, sampling, write_video

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("qwen_vl_utils") is None, reason="qwen-vl-utils (0.0.14) is not installed"
)


@pytest.fixture
def qvu(monkeypatch):
    """``qwen_vl_utils.vision_process`` imported against a stub torchvision; yields (module, resize calls)."""
    calls: list[list[int]] = []

    def resize(video, size, interpolation=None, antialias=None):
        calls.append(list(size))
        return video

    torchvision = types.ModuleType("torchvision")
    torchvision.__version__ = "0.0.0+stub"
    tv_io = types.ModuleType("torchvision.io")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize = resize
    transforms.functional = functional
    transforms.InterpolationMode = types.SimpleNamespace(BICUBIC="bicubic")
    torchvision.io, torchvision.transforms = tv_io, transforms
    for name, module in [
        ("torchvision", torchvision),
        ("torchvision.io", tv_io),
        ("torchvision.transforms", transforms),
        ("torchvision.transforms.functional", functional),
    ]:
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("FORCE_QWENVL_VIDEO_READER", "decord")
    module = importlib.import_module("qwen_vl_utils.vision_process")
    yield module, calls
    for name in [n for n in sys.modules if n == "qwen_vl_utils" or n.startswith("qwen_vl_utils.")]:
        del sys.modules[name]  # never leave a module bound to the stub torchvision behind


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (ValueError, AssertionError) as exc:
        return type(exc).__name__ if isinstance(exc, AssertionError) else "ValueError"


def test_smart_nframes_matches(qvu):
    module, _ = qvu
    grid = itertools.product(
        [1, 2, 3, 7, 30, 31, 100, 1001, 20000],
        [1.0, 7.5, 10.0, 23.976, 30.0, 60.0],
        [0.5, 1.0, 2.0, 3.3],
        [1, 4, 5],
        [None, 8, 9, 16, 768],
    )
    for total, video_fps, fps, min_frames, max_frames in grid:
        ele = {"fps": fps, "min_frames": min_frames} | (
            {} if max_frames is None else {"max_frames": max_frames}
        )
        ours = _outcome(sampling.smart_nframes, total, video_fps, fps, min_frames, max_frames)
        assert ours == _outcome(module.smart_nframes, ele, total, video_fps), (total, video_fps, ele)


def test_smart_resize_matches(qvu):
    module, _ = qvu
    sides = [1, 10, 27, 28, 42, 64, 70, 333, 720, 1080, 4000]
    budgets = [(None, None), (3136, 12544), (100352, 602112), (131072, 786432), (4096, 4096 * 1.05)]
    for h, w, factor, (lo, hi) in itertools.product(sides, sides, [28, 32], budgets):
        ours = _outcome(sampling.smart_resize, h, w, factor, lo, hi)
        assert ours == _outcome(module.smart_resize, h, w, factor, lo, hi), (h, w, factor, lo, hi)


@pytest.mark.parametrize(
    "spec, shape, fps",
    [
        (MediaSpec(min_pixels=3136, max_pixels=12544), (30, 64, 96), 10),
        (MediaSpec(factor=32, min_pixels=4096, max_pixels=12544), (30, 64, 96), 10),
        (MediaSpec(), (30, 64, 96), 10),  # default budget: upscaled to 128 tokens
        (
            MediaSpec(fps=3.0, min_frames=5, max_frames=9, total_pixels=40000, min_pixels=1000),
            (47, 90, 160),
            24,
        ),
    ],
)
def test_fetch_video_matches(qvu, tmp_path, spec, shape, fps):
    from cache_store.decode import decode_video
    from cache_store.resize import resize_frames

    module, calls = qvu
    rng = np.random.default_rng(0)
    path = str(write_video(tmp_path / "v.mp4", rng.integers(0, 256, (*shape, 3), dtype=np.uint8), fps))
    ele = {
        "video": path,
        "fps": spec.fps,
        "min_frames": spec.min_frames,
        "max_frames": spec.max_frames,
        "min_pixels": spec.min_pixels,
        "max_pixels": spec.max_pixels,
    }
    if spec.total_pixels is not None:
        ele["total_pixels"] = spec.total_pixels
    (video, meta), sample_fps = module.fetch_video(
        ele, image_patch_size=spec.factor // 2, return_video_sample_fps=True, return_video_metadata=True
    )
    ours = decode_video(path, spec)
    height, width = calls[-1]
    assert ours.frames.shape == (len(meta["frames_indices"]), height, width, 3)
    assert ours.indices == list(meta["frames_indices"])
    assert (ours.total_frames, ours.source_fps, ours.sample_fps) == (
        meta["total_num_frames"],
        meta["fps"],
        sample_fps,
    )
    theirs = video.permute(0, 2, 3, 1).to(torch.uint8).numpy()  # untouched by the stub
    assert np.array_equal(resize_frames(theirs, height, width), ours.frames)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
@pytest.mark.parametrize("budget", [(None, None), (3136, 12544), (50000, 60000)])
def test_fetch_image_matches_pixel_for_pixel(qvu, tmp_path, mode, budget):
    from cache_store.decode import decode_image

    module, _ = qvu
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (77, 123, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA")
    image = image if mode == "RGBA" else image.convert("RGB").convert(mode)
    path = tmp_path / "img.png"
    image.save(path)
    spec = MediaSpec(image_min_pixels=budget[0], image_max_pixels=budget[1])
    ele = {"image": str(path), "min_pixels": spec.image_min_pixels, "max_pixels": spec.image_max_pixels}
    theirs = np.asarray(module.fetch_image(ele, image_patch_size=14))
    ours = decode_image(path, spec).frames
    assert ours.shape == (1, *theirs.shape) and np.array_equal(ours[0], theirs)
