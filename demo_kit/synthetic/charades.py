"""Known-answer stand-ins for Charades-STA videos, so the real benchmark runs end to end offline.

Input is the official annotation text (``<VID> <start> <end>##<sentence>`` per line, times in
seconds). For every video id we write ``<VID>.mp4`` whose visible event is a bright patch lit exactly
while the annotated moment runs. A frame at index i is shown at time i / fps and counts as "in" the
moment when its centre (i + 0.5) / fps lies in [start, end), so the visible event matches the
annotation to within half a frame (1 / (2 fps)). Charades-STA has several sentences per video: the
k-th annotation of a video lights cell k of a near-square grid, so each moment stays separable.
"""

from __future__ import annotations

import math
import re
import zlib
from pathlib import Path

import numpy as np

from cache_store.encode import write_video

from .render import FLASH, PALETTE, canvas, check_size, fill_box

_LINE = re.compile(r"^(\S+)\s+(\d+(?:\.\d*)?)\s+(\d+(?:\.\d*)?)##(.*)$")
TAIL_SECONDS = 2.0


def parse_charades_annotations(path: str | Path) -> list[tuple[str, float, float, str]]:
    """Rows ``(video_id, start, end, sentence)`` of an official Charades-STA annotation file.

    Blank lines are skipped; a malformed line or ``end <= start`` raises ``ValueError`` naming
    ``file:line``.
    """
    rows = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line.strip())
        if m is None:
            raise ValueError(f"{path}:{lineno}: expected '<VID> <start> <end>##<sentence>', got {line!r}")
        vid, start, end, sentence = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
        if end <= start:
            raise ValueError(f"{path}:{lineno}: end {end} must be greater than start {start} for {vid}")
        rows.append((vid, start, end, sentence))
    return rows


def event_cells(size: tuple[int, int], n: int) -> list[tuple[int, int, int, int]]:
    """``n`` boxes tiling the frame in a ceil(sqrt(n))-wide grid; one event gets the whole frame."""
    h, w = size
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    return [
        (c * w // cols, r * h // rows, (c + 1) * w // cols, (r + 1) * h // rows)
        for r in range(rows)
        for c in range(cols)
    ][:n]


def lit_frames(start: float, end: float, fps: float, n_frames: int) -> np.ndarray:
    """Boolean (n_frames,): frame i is lit iff start <= (i + 0.5) / fps < end.

    A moment shorter than a frame may contain no centre; it then lights the frame holding its
    midpoint, so every annotated moment is visible.
    """
    centres = (np.arange(n_frames) + 0.5) / fps
    lit = (centres >= start) & (centres < end)
    if not lit.any():
        lit[min(int((start + end) / 2 * fps), n_frames - 1)] = True
    return lit


def make_charades_standins(
    annotation_txt: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    fps: int = 4,
    size: tuple[int, int] = (64, 64),
) -> list[Path]:
    """Write one ``out_dir/<VID>.mp4`` per video id in ``annotation_txt``; returns them in file order.

    Each video lasts ``ceil((max end + 2 s) * fps)`` frames on a dark background with one seeded
    coloured square (so videos differ); the moments light up as described in the module docstring.
    """
    size = check_size(size)
    events: dict[str, list[tuple[float, float]]] = {}
    for vid, start, end, _ in parse_charades_annotations(annotation_txt):
        events.setdefault(vid, []).append((start, end))
    out = Path(out_dir)
    paths = []
    for vid, moments in events.items():
        rng = np.random.default_rng([seed, zlib.crc32(vid.encode())])
        n_frames = math.ceil((max(e for _, e in moments) + TAIL_SECONDS) * fps)
        video = canvas(size, n_frames)
        side = min(size) // 4
        x, y = int(rng.integers(0, size[1] - side + 1)), int(rng.integers(0, size[0] - side + 1))
        fill_box(video, (x, y, x + side, y + side), PALETTE[str(rng.choice(list(PALETTE)))])
        for (start, end), (x1, y1, x2, y2) in zip(moments, event_cells(size, len(moments))):
            video[lit_frames(start, end, fps, n_frames), y1:y2, x1:x2] = FLASH
        paths.append(write_video(out / f"{vid}.mp4", video, fps))
    return paths
