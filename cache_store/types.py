"""Plain data types of the cache, shared by the store, the trainer and the evaluator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CachedMedia:
    """Decoded, sampled and resized media exactly as the model's processor would receive it.

    ``frames`` is uint8 (T, H, W, 3); an image has T == 1. ``indices`` are the source frame indices
    that were sampled and ``timestamps`` their presentation times in seconds relative to frame 0 (``index /
    source_fps`` when the container has no usable timestamps). Qwen3-VL
    needs ``indices`` and ``source_fps`` to build its per-frame timestamp tokens.
    """

    digest: str
    source: str
    kind: str  # "video" | "image"
    frames: np.ndarray
    source_fps: float = 0.0
    total_frames: int = 1
    indices: list[int] = field(default_factory=lambda: [0])
    timestamps: list[float] = field(default_factory=lambda: [0.0])
    sample_fps: float = 0.0

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])
