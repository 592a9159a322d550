"""Frame sampling and resizing rules of qwen-vl-utils 0.0.14, as pure functions.

A cached sample must be exactly what ``qwen_vl_utils.fetch_video`` / ``fetch_image`` would have given the
model's processor, so that ``video_grid_thw`` (and therefore every placeholder-token count) is identical in
rollout, log-prob, update and evaluation. Each function below restates one rule of that package; the
constants are its module constants (``MODEL_SEQ_LEN`` is fixed here instead of read from the environment,
so a cache key never depends on an environment variable).

Notation: ``f`` is the spatial resize factor = patch size x ``SPATIAL_MERGE_SIZE`` (28 for Qwen2-VL and
Qwen2.5-VL with 14-pixel patches, 32 for Qwen3-VL with 16-pixel patches); ``ceil2``/``floor2`` round to a
multiple of ``FRAME_FACTOR``.
"""

from __future__ import annotations

import math
import re

MAX_RATIO = 200
SPATIAL_MERGE_SIZE = 2
IMAGE_MIN_TOKEN_NUM = 4
IMAGE_MAX_TOKEN_NUM = 16384
VIDEO_MIN_TOKEN_NUM = 128
VIDEO_MAX_TOKEN_NUM = 768
FPS = 2.0
FRAME_FACTOR = 2  # the vision tower merges 2 consecutive frames into one temporal patch
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
MODEL_SEQ_LEN = 128000  # qwen-vl-utils' default for the MODEL_SEQ_LEN environment variable

# model family (transformers ``model_type``) -> vision patch size; the resize factor is patch * merge.
PATCH_SIZE_BY_FAMILY: dict[str, int] = {
    "qwen2_vl": 14,
    "qwen2_5_vl": 14,
    "qwen3_vl": 16,
    "qwen3_vl_moe": 16,
    "qwen3_5": 16,
    "qwen3_5_moe": 16,
}


def round_by_factor(number: float, factor: int) -> int:
    """Closest multiple of ``factor`` (Python ``round``: halves go to the even quotient)."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """Smallest multiple of ``factor`` that is >= ``number``."""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """Largest multiple of ``factor`` that is <= ``number``."""
    return math.floor(number / factor) * factor


def factor_for_family(name: str) -> int:
    """Spatial resize factor for a model family: 28 for Qwen2-VL / Qwen2.5-VL, 32 for Qwen3-VL.

    ``name`` may be a transformers ``model_type`` (``"qwen2_5_vl"``), a display name (``"Qwen2.5-VL"``) or a
    hub id / path containing one (``"Qwen/Qwen3-VL-8B-Instruct"``); case, ``-``, ``_`` and ``.`` are ignored.
    """
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    # Longest family names first so "qwen3vlmoe" is not read as "qwen3vl" (same factor, but be exact).
    for family in sorted(PATCH_SIZE_BY_FAMILY, key=len, reverse=True):
        if family.replace("_", "") in squashed:
            return PATCH_SIZE_BY_FAMILY[family] * SPATIAL_MERGE_SIZE
    raise ValueError(
        f"unknown model family {name!r}: expected one of {sorted(PATCH_SIZE_BY_FAMILY)} "
        "(or pass the resize factor explicitly: 28 for Qwen2/2.5-VL, 32 for Qwen3-VL)"
    )


def smart_resize(
    height: int,
    width: int,
    factor: int,
    min_pixels: float | None = None,
    max_pixels: float | None = None,
) -> tuple[int, int]:
    """Target (height, width): multiples of ``factor``, area in [min_pixels, max_pixels], aspect kept.

    Rule: round each side to the nearest multiple of ``factor`` (at least ``factor``). If the area then
    exceeds ``max_pixels``, scale both original sides by ``beta = sqrt(h*w / max_pixels)`` and floor to the
    factor; if it is under ``min_pixels``, scale by ``sqrt(min_pixels / (h*w))`` and ceil. Defaults are the
    image budget (4 and 16384 tokens of ``factor**2`` pixels).

    Raises ValueError when the aspect ratio exceeds ``MAX_RATIO`` (200) or ``max_pixels < min_pixels``
    (qwen-vl-utils asserts the latter; an assert vanishes under ``python -O``, so this raises).

    >>> smart_resize(64, 96, 28, min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
    (56, 84)
    """
    max_pixels = max_pixels if max_pixels is not None else IMAGE_MAX_TOKEN_NUM * factor**2
    min_pixels = min_pixels if min_pixels is not None else IMAGE_MIN_TOKEN_NUM * factor**2
    if max_pixels < min_pixels:
        raise ValueError(f"max_pixels ({max_pixels}) must be >= min_pixels ({min_pixels})")
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_RATIO}, got {ratio}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def smart_nframes(
    total_frames: int,
    video_fps: float,
    fps: float = FPS,
    min_frames: int = FPS_MIN_FRAMES,
    max_frames: int | None = None,
) -> int:
    """Number of frames to sample from a video of ``total_frames`` frames at ``video_fps``.

    Rule: ``min_f = ceil2(min_frames)``, ``max_f = floor2(max_frames)`` where ``max_frames`` defaults to
    ``min(FPS_MAX_FRAMES, total_frames)``; ``n = total_frames / video_fps * fps`` clamped to
    ``[min_f, max_f]``, then to ``<= total_frames``, then ``floor2``. Raises ValueError unless
    ``FRAME_FACTOR <= n <= total_frames`` (e.g. a 1-frame video cannot be sampled).

    >>> smart_nframes(30, 10.0, fps=2.0, min_frames=4, max_frames=16)
    6
    """
    if video_fps <= 0:
        raise ValueError(f"video fps must be positive, got {video_fps}")
    min_f = ceil_by_factor(min_frames, FRAME_FACTOR)
    max_f = floor_by_factor(
        max_frames if max_frames is not None else min(FPS_MAX_FRAMES, total_frames), FRAME_FACTOR
    )
    nframes = total_frames / video_fps * fps
    nframes = min(min(max(nframes, min_f), max_f), total_frames)
    nframes = floor_by_factor(nframes, FRAME_FACTOR)
    if not (FRAME_FACTOR <= nframes <= total_frames):
        raise ValueError(f"nframes should in interval [{FRAME_FACTOR}, {total_frames}], but got {nframes}.")
    return int(nframes)


def sample_indices(total_frames: int, nframes: int) -> list[int]:
    """Source frame indices: ``torch.linspace(0, total_frames - 1, nframes).round()``.

    torch (float32, round-half-to-even) rather than numpy on purpose: qwen-vl-utils uses torch, and a
    float64 linspace can land on the other side of a .5 than torch's float32 one.

    >>> sample_indices(30, 6)
    [0, 6, 12, 17, 23, 29]
    """
    import torch  # lazy: the store process never samples, only decode workers and tests do

    return torch.linspace(0, total_frames - 1, nframes).round().long().tolist()


def sample_fps(nframes: int, total_frames: int, video_fps: float) -> float:
    """Effective sampling rate ``nframes / total_frames * video_fps`` (what the processor is told)."""
    return nframes / max(total_frames, 1e-6) * video_fps


def video_pixel_budget(
    nframes: int,
    factor: int,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    total_pixels: float | None = None,
) -> tuple[int, float]:
    """Per-frame ``(min_px, max_px)`` for a video of ``nframes`` sampled frames.

    Rule: ``min_px = min_pixels or 128 f**2``; ``total_px = total_pixels or MODEL_SEQ_LEN * f**2 * 0.9``;
    ``max_px = max(min(768 f**2, total_px / nframes * FRAME_FACTOR), int(1.05 * min_px))``, then capped by
    ``max_pixels`` when given. ``max_px`` may be fractional, as in qwen-vl-utils.
    """
    min_px = min_pixels if min_pixels is not None else VIDEO_MIN_TOKEN_NUM * factor * factor
    total_px = total_pixels if total_pixels is not None else MODEL_SEQ_LEN * factor * factor * 0.9
    max_px = max(
        min(VIDEO_MAX_TOKEN_NUM * factor * factor, total_px / nframes * FRAME_FACTOR), int(min_px * 1.05)
    )
    if max_pixels is not None:
        max_px = min(max_pixels, max_px)
    return min_px, max_px


def image_pixel_budget(
    factor: int, min_pixels: int | None = None, max_pixels: int | None = None
) -> tuple[int, int]:
    """Image ``(min_px, max_px)``: defaults ``4 f**2`` and ``16384 f**2`` (no frame-count coupling)."""
    min_px = min_pixels if min_pixels is not None else IMAGE_MIN_TOKEN_NUM * factor * factor
    max_px = max_pixels if max_pixels is not None else IMAGE_MAX_TOKEN_NUM * factor * factor
    return min_px, max_px
