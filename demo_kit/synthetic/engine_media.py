"""Media that engine comparisons run on (the processor parity and vLLM tests, ``benchmarks/vllm_logprob_gap.py``):
synthetic videos and an image built into a real Lance cache and read back, plus what a cache never produces
(an odd frame count), as prompt cases from text-only to two videos."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from cache_store import MediaCache, MediaSpec, write_video
from cache_store.types import CachedMedia


def _frames(n: int, seed: int, h: int = 64, w: int = 96) -> np.ndarray:
    """A coloured square moving over a noisy background: every frame differs, so every frame matters."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, (n, h, w, 3), dtype=np.uint8)
    for t in range(n):
        x = (t * 5) % (w - 16)
        frames[t, 20:36, x : x + 16] = (200, 40 + 10 * seed, 60)
    return frames


def cached_media(root: Path, factor: int) -> dict[str, CachedMedia]:
    """``image``, ``video`` (2 s at 8 fps -> 4 frames) and ``long`` (8 s -> 16 frames, so its temporal
    positions run past its spatial ones) from a Lance cache built for a model of this ``factor``; the
    frames are 2x3 merged patches, 6 factor² pixels."""
    root.mkdir(parents=True, exist_ok=True)
    video = write_video(root / "short.mp4", _frames(16, 1), fps=8.0)
    long = write_video(root / "long.mp4", _frames(64, 2), fps=8.0)
    image = root / "image.png"
    Image.fromarray(_frames(1, 3)[0]).save(image)
    f2 = factor * factor
    spec = MediaSpec(
        fps=2.0, max_frames=16, min_pixels=4 * f2, max_pixels=6 * f2, image_min_pixels=4 * f2,
        image_max_pixels=6 * f2, factor=factor,
    )  # fmt: skip
    cache = MediaCache(root / "cache")
    sources = [(str(video), "video"), (str(long), "video"), (str(image), "image")]
    report = cache.build(sources, spec)
    if report.failed:
        raise RuntimeError(f"the engine media did not build: {report.failures}")
    short_m, long_m, image_m = cache.get_many([report.digests[s] for s, _ in sources], copy=True)
    return {"video": short_m, "long": long_m, "image": image_m}


def odd(media: CachedMedia, t: int = 3) -> CachedMedia:
    """The first ``t`` frames of a cached video (the cache samples even counts only)."""
    return replace(media, frames=media.frames[:t].copy(), indices=media.indices[:t], timestamps=media.timestamps[:t])


def cases(media: dict[str, CachedMedia]) -> dict[str, list[CachedMedia]]:
    """Prompt media per case: text only, an image, videos of even, odd and long frame counts, an image with
    a video, and two videos of different lengths and rates."""
    second = replace(media["long"], digest="long-b")
    return {
        "text": [],
        "image": [media["image"]],
        "video_even": [media["video"]],
        "video_odd": [odd(media["video"])],
        "video_long": [media["long"]],
        "image_video": [media["image"], media["video"]],
        "two_videos": [media["video"], second],
    }
