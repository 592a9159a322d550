"""Train items for trainer tests: a boolean question over random frames, as the cache would hand them over."""

from __future__ import annotations

import numpy as np

from cache_store.types import CachedMedia
from training.data.items import TrainItem


def video_item(sample_id: str, factor: int) -> TrainItem:
    """"Is there a red square?" (answer yes) over 4 random frames of ``factor`` x ``factor`` pixels."""
    frames = np.random.default_rng(0).integers(0, 255, (4, factor, factor, 3), dtype=np.uint8)
    media = CachedMedia(
        f"d{sample_id}", f"/{sample_id}.mp4", "video", frames, source_fps=8.0, total_frames=16,
        indices=[0, 5, 10, 15], sample_fps=2.0,
    )  # fmt: skip
    return TrainItem(sample_id, "Is there a red square?", "boolean", "video", "yes", media=[media])
