"""torchvision's bicubic+antialias tensor resize, written out in plain torch (no torchvision on CPU here).

qwen-vl-utils resizes the decoded (T, 3, H, W) uint8 video with
``torchvision.transforms.functional.resize(video, [h, w], BICUBIC, antialias=True)``. For a tensor that is
(torchvision ``F.resize`` -> ``F_t.resize``): return the input unchanged when the size already matches;
otherwise cast to float32 with ``.to()`` (strides kept), ``interpolate(mode="bicubic", antialias=True,
align_corners=False)``, clamp to [0, 255] (bicubic overshoots), round, cast back to uint8. Doing the same
steps here makes the cached uint8 frames bit-for-bit what qwen-vl-utils feeds the processor.

Memory: qwen-vl-utils holds every sampled frame at full resolution, then a float32 copy of all of them
(64 frames of 4K are 1.6 GB of uint8 and 6.4 GB of float). Here frames are resized in chunks bounded in bytes
(``RESIZE_BYTES`` of float32 per ``interpolate`` call) and ``StreamingResize`` lets a decoder hand frames
over as it decodes them, so a 4K video costs about one chunk of full-resolution frames, not the whole clip.
Frames are independent under ``interpolate``, so chunking changes no value.
"""

from __future__ import annotations

import numpy as np
import torch

RESIZE_CHUNK = 16  # at most this many frames per interpolate call ...
RESIZE_BYTES = 128 << 20  # ... and at most this many bytes of float32 input (one 4K frame is ~100 MB)


def resize_frames(frames: np.ndarray, height: int, width: int, chunk: int = RESIZE_CHUNK) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, height, width, 3) uint8.

    The (T, 3, H, W) view is a permutation of the (T, H, W, 3) array, exactly as qwen-vl-utils builds it, so
    the kernel sees the same memory layout torchvision does there. Each ``interpolate`` call gets at most
    ``chunk`` frames and ``RESIZE_BYTES`` of float32 (at least one frame).
    """
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"frames must be uint8 (T, H, W, C), got {frames.dtype} {frames.shape}")
    if frames.shape[1:3] == (height, width):
        return frames
    per_frame = 4 * int(np.prod(frames.shape[1:]))
    chunk = max(1, min(chunk, RESIZE_BYTES // per_frame))
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    out = []
    for part in video.split(chunk):
        resized = torch.nn.functional.interpolate(
            part.to(torch.float32), size=[height, width], mode="bicubic", align_corners=False, antialias=True
        )
        out.append(resized.clamp(min=0, max=255).round().to(torch.uint8))
    return torch.cat(out).permute(0, 2, 3, 1).contiguous().numpy()


class StreamingResize:
    """Resize frames as a decoder produces them; ``result()`` is ``resize_frames`` of all of them stacked.

    ``size(height, width) -> (h, w)`` picks the output size from the first frame (qwen-vl-utils takes it
    from the stacked video, whose frames all share the first frame's size). Full-resolution frames wait in
    a buffer of at most ``max_bytes`` (or one frame) before they are resized, so peak memory is about
    ``max_bytes`` plus the resized output, whatever the source resolution and frame count.
    """

    def __init__(self, size, max_bytes: int = RESIZE_BYTES):
        self._size_for, self.max_bytes = size, max_bytes
        self.size: tuple[int, int] | None = None
        self._parts: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []
        self._pending_bytes = 0
        self.count = 0

    def add(self, frame: np.ndarray) -> None:
        """One (H, W, 3) uint8 frame, in output order."""
        if self._pending and frame.shape != self._pending[0].shape:
            self.flush()  # a mid-stream size change: stack only frames of one size
        self._pending.append(frame)
        self._pending_bytes += frame.nbytes
        self.count += 1
        if self._pending_bytes >= self.max_bytes:
            self.flush()

    def add_batch(self, frames: np.ndarray) -> None:
        """(k, H, W, 3) uint8 frames, in output order (resized at once: the caller bounds k)."""
        self.flush()
        self.count += len(frames)
        self._resize(frames)

    def flush(self) -> None:
        if self._pending:
            batch = np.stack(self._pending)
            self._pending, self._pending_bytes = [], 0
            self._resize(batch)

    def _resize(self, frames: np.ndarray) -> None:
        if self.size is None:
            self.size = self._size_for(int(frames.shape[1]), int(frames.shape[2]))
        self._parts.append(resize_frames(frames, *self.size))

    def result(self) -> np.ndarray:
        """(T, h, w, 3) uint8 of every frame added so far."""
        self.flush()
        if not self._parts:
            raise ValueError("no frames were added")
        return self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts)
