"""Drawing primitives for synthetic media: flat colours on a dark canvas, so answers survive H.264.

Why flat, saturated colours and gaps of several pixels: the videos are lossy-encoded (crf 18, yuv420p
chroma at half resolution), and tests recover the ground truth from decoded pixels by thresholding.
Saturated colours far apart in RGB and a near-black background keep every object separable after
compression. Boxes use pixel-edge coordinates: a box ``[x1, y1, x2, y2]`` covers columns ``x1..x2-1``
and rows ``y1..y2-1`` (the usual continuous-box convention, so width = x2 - x1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BACKGROUND = (16, 16, 16)
FLASH = (245, 245, 245)

# Name -> RGB. Every pair differs by >= 150 in some channel, so colours stay distinct after encoding.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 30),
    "blue": (40, 60, 235),
    "yellow": (230, 215, 30),
    "cyan": (30, 210, 220),
    "magenta": (210, 40, 210),
}


def canvas(size: tuple[int, int], frames: int | None = None) -> np.ndarray:
    """A background image (H, W, 3), or a video (T, H, W, 3) when ``frames`` is given; uint8."""
    h, w = size
    shape = (h, w, 3) if frames is None else (frames, h, w, 3)
    out = np.empty(shape, dtype=np.uint8)
    out[...] = BACKGROUND
    return out


def fill_box(img: np.ndarray, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """Paint ``box`` = (x1, y1, x2, y2), edges exclusive at x2/y2, on (..., H, W, 3) in place."""
    x1, y1, x2, y2 = box
    img[..., y1:y2, x1:x2, :] = colour


def grid_boxes(rng: np.random.Generator, size: tuple[int, int], n: int, grid: int = 3) -> list[tuple]:
    """``n`` non-touching squares, one per randomly chosen cell of a ``grid`` x ``grid`` layout.

    Each square keeps a margin of >= 2 px inside its cell, so neighbours are >= 4 px apart.
    """
    h, w = size
    ch, cw = h // grid, w // grid
    if n > grid * grid:
        raise ValueError(f"cannot place {n} squares in a {grid}x{grid} grid")
    cells = rng.choice(grid * grid, size=n, replace=False)
    boxes = []
    for cell in sorted(int(c) for c in cells):
        row, col = divmod(cell, grid)
        side = int(rng.integers(max(4, min(ch, cw) // 3), min(ch, cw) - 4 + 1))
        y = row * ch + int(rng.integers(2, ch - side - 2 + 1))
        x = col * cw + int(rng.integers(2, cw - side - 2 + 1))
        boxes.append((x, y, x + side, y + side))
    return boxes


def write_png(path: Path, img: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 losslessly; PNG bytes are deterministic for the same pixels."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, mode="RGB").save(path, format="PNG", optimize=False)
    return path


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate (H, W): even (H.264 yuv420p) and >= 32 so a 3x3 grid of squares fits."""
    h, w = (int(v) for v in size)
    if h % 2 or w % 2 or h < 32 or w < 32:
        raise ValueError(f"size must be even and >= 32 in both dimensions, got {size}; try (64, 64)")
    return h, w
