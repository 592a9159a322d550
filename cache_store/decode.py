"""Decode one source into a ``CachedMedia``: sample frames, resize, keep uint8.

Videos follow qwen-vl-utils 0.0.14 ``fetch_video``: decord reads the container's frame count and average
fps, ``smart_nframes`` picks how many frames, ``torch.linspace(0, total-1, n).round()`` which ones, and
``smart_resize`` with the video pixel budget the output size; ``resize.resize_frames`` is torchvision's
bicubic+antialias tensor resize, so the stored uint8 frames are what qwen-vl-utils hands the processor
(it then only calls ``.float()``). Images follow ``fetch_image``: PIL, RGBA composited on white,
``smart_resize`` with the image budget, PIL bicubic resize.

decord 0.6 is unmaintained (FIELD_NOTES): it can raise on files PyAV reads, so PyAV is the fallback; it
can also hang forever, which only a killable worker process can handle (see ``workers.py``). This module
runs inside those workers (and in tests); it does no caching and no Lance I/O.
"""

from __future__ import annotations

import os

import av
import numpy as np
from PIL import Image

from . import sampling
from .errors import DecodeFailed, EmptySource, TooFewFrames
from .keys import MediaSpec, canonical_source, local_path
from .resize import resize_frames
from .types import CachedMedia

BACKENDS = ("auto", "decord", "pyav")


def _require_file(source: str) -> str:
    path = local_path(source)
    if path is None:
        raise DecodeFailed(f"{source}: remote sources are not supported yet; copy the file locally")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise EmptySource(f"{path}: file is empty (0 bytes); re-export or drop it from the dataset")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file; fix the path in the dataset or drop the sample")
    return path


def _plan(path: str, total_frames: int, video_fps: float, spec: MediaSpec) -> list[int]:
    try:
        n = sampling.smart_nframes(total_frames, video_fps, spec.fps, spec.min_frames, spec.max_frames)
    except ValueError as exc:
        raise TooFewFrames(
            f"{path}: {total_frames} frames at {video_fps:g} fps cannot be sampled ({exc})"
        ) from exc
    # clamp to the decodable range: the indices come from a frame count the container reported
    return [min(max(i, 0), total_frames - 1) for i in sampling.sample_indices(total_frames, n)]


def _read_decord(path: str, spec: MediaSpec) -> tuple[np.ndarray, list[int], int, float]:
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    total, fps = len(vr), float(vr.get_avg_fps())
    if total <= 0 or fps <= 0:
        raise DecodeFailed(f"{path}: decord reports {total} frames at {fps} fps")
    indices = _plan(path, total, fps, spec)
    frames = vr.get_batch(indices).asnumpy()
    if frames.shape[0] != len(indices):
        raise DecodeFailed(f"{path}: decord returned {frames.shape[0]} of {len(indices)} frames")
    return frames, indices, total, fps


def _pyav_collect(path: str, wanted: set[int]) -> tuple[dict[int, np.ndarray], int]:
    """Decode sequentially, keeping the ``wanted`` frames; returns them and how many frames decoded."""
    found: dict[int, np.ndarray] = {}
    last = max(wanted)
    count = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                if count in wanted:
                    found[count] = frame.to_ndarray(format="rgb24")
                count += 1
                if count > last:
                    break
        except av.error.FFmpegError:
            pass  # a corrupt tail: what decoded so far is the decodable range
    return found, count


def _read_pyav(path: str, spec: MediaSpec) -> tuple[np.ndarray, list[int], int, float]:
    with av.open(path) as container:
        if not container.streams.video:
            raise DecodeFailed(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        total = sum(1 for packet in container.demux(stream) if packet.size)
    if total <= 0 or fps <= 0:
        raise DecodeFailed(f"{path}: PyAV finds {total} frames at {fps} fps")
    for _ in range(2):  # the packet count can over-report; then resample over what actually decodes
        indices = _plan(path, total, fps, spec)
        found, decoded = _pyav_collect(path, set(indices))
        if len(found) == len(set(indices)):
            return np.stack([found[i] for i in indices]), indices, total, fps
        total = decoded
    raise DecodeFailed(f"{path}: PyAV decodes only {total} frames and cannot deliver {indices}")


def decode_video(source: str | os.PathLike, spec: MediaSpec, backend: str = "auto") -> CachedMedia:
    """Sample and resize one video. ``backend``: ``"auto"`` (decord, PyAV on error), ``"decord"``, ``"pyav"``.

    Returns ``frames`` (T, H', W', 3) uint8 with T = ``smart_nframes``; ``indices``/``timestamps`` of the
    sampled source frames; ``source_fps``, ``total_frames`` and ``sample_fps`` as the processor needs them.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    src = canonical_source(source)
    path = _require_file(src)
    errors = []
    frames = None
    for name, reader in (("decord", _read_decord), ("pyav", _read_pyav)):
        if backend not in ("auto", name):
            continue
        try:
            frames, indices, total, fps = reader(path, spec)
            break
        except TooFewFrames:
            raise  # a property of the video, not of the backend: PyAV would say the same
        except Exception as exc:  # noqa: BLE001 - every backend error is reported together below
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).strip()[:300]}")
    if frames is None:
        raise DecodeFailed(
            f"{path}: cannot decode ({'; '.join(errors)}); re-encode it "
            "(ffmpeg -i in -c:v libx264 -pix_fmt yuv420p out.mp4) or drop it from the dataset"
        )
    min_px, max_px = sampling.video_pixel_budget(
        len(indices), spec.factor, spec.min_pixels, spec.max_pixels, spec.total_pixels
    )
    height, width = sampling.smart_resize(frames.shape[1], frames.shape[2], spec.factor, min_px, max_px)
    return CachedMedia(
        digest=spec.key_for(src, "video").digest(),
        source=src,
        kind="video",
        frames=resize_frames(frames, height, width),
        source_fps=fps,
        total_frames=total,
        indices=[int(i) for i in indices],
        timestamps=[i / fps for i in indices],
        sample_fps=sampling.sample_fps(len(indices), total, fps),
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """qwen-vl-utils ``to_rgb``: RGBA is composited on white (not just dropped), anything else converted."""
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


def decode_image(source: str | os.PathLike, spec: MediaSpec) -> CachedMedia:
    """Load and resize one image (T == 1) with the image pixel budget, as qwen-vl-utils ``fetch_image``."""
    src = canonical_source(source)
    path = _require_file(src)
    try:
        with Image.open(path) as opened:
            image = _to_rgb(opened)
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise DecodeFailed(
            f"{path}: cannot read image ({type(exc).__name__}: {exc}); re-save it as PNG/JPEG"
        ) from exc
    width, height = image.size
    h, w = sampling.smart_resize(height, width, spec.factor, spec.image_min_pixels, spec.image_max_pixels)
    image = image.resize((w, h), resample=Image.Resampling.BICUBIC)
    return CachedMedia(
        digest=spec.key_for(src, "image").digest(),
        source=src,
        kind="image",
        frames=np.asarray(image, dtype=np.uint8)[None].copy(),
    )


def decode(source: str, kind: str, spec: MediaSpec, backend: str = "auto") -> CachedMedia:
    """Dispatch on ``kind`` (``"video"`` | ``"image"``); the worker's single entry point."""
    if kind == "video":
        return decode_video(source, spec, backend)
    if kind == "image":
        return decode_image(source, spec)
    raise ValueError(f"{source}: kind must be 'video' or 'image', got {kind!r}")
