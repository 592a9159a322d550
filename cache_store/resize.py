"""torchvision's bicubic+antialias tensor resize, written out in plain torch (no torchvision on CPU here).

qwen-vl-utils resizes the decoded (T, 3, H, W) uint8 video with
``torchvision.transforms.functional.resize(video, [h, w], BICUBIC, antialias=True)``. For a tensor that is
(torchvision ``F.resize`` -> ``F_t.resize``): return the input unchanged when the size already matches;
otherwise cast to float32 with ``.to()`` (strides kept), ``interpolate(mode="bicubic", antialias=True,
align_corners=False)``, clamp to [0, 255] (bicubic overshoots), round, cast back to uint8. Doing the same
steps here makes the cached uint8 frames bit-for-bit what qwen-vl-utils feeds the processor.
"""

from __future__ import annotations

import numpy as np
import torch

RESIZE_CHUNK = 16  # frames per interpolate call: bounds the float32 copy for long videos


def resize_frames(frames: np.ndarray, height: int, width: int, chunk: int = RESIZE_CHUNK) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, height, width, 3) uint8.

    Frames are independent under ``interpolate``, so chunking over T changes no value. The (T, 3, H, W)
    view is a permutation of the (T, H, W, 3) array, exactly as qwen-vl-utils builds it, so the kernel sees
    the same memory layout torchvision does there.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"frames must be uint8 (T, H, W, C), got {frames.dtype} {frames.shape}")
    if frames.shape[1:3] == (height, width):
        return frames
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    out = []
    for part in video.split(chunk):
        resized = torch.nn.functional.interpolate(
            part.to(torch.float32), size=[height, width], mode="bicubic", align_corners=False, antialias=True
        )
        out.append(resized.clamp(min=0, max=255).round().to(torch.uint8))
    return torch.cat(out).permute(0, 2, 3, 1).contiguous().numpy()
