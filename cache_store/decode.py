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

Odd inputs, measured with decord 0.6 and PyAV 18 (FFmpeg 8); ``tests/test_cache_corpus.py`` builds each:

* **Container vs extension**: both backends probe the content, so an MKV or WebM named ``.mp4`` or an MP4
  named ``.avi`` decodes normally. Odd sizes (97x61 in FFV1, MPEG-4 or H.264 4:4:4) decode normally.
* **Rotation**: decord applies the display-matrix rotation angle (a 90-degree clip comes out portrait);
  PyAV hands over the coded frame, so the PyAV path rotates by ``frame.rotation`` and matches decord bit
  for bit. Like decord it reads only the angle: a mirrored matrix (rare) comes out rotated, not mirrored.
* **Variable frame rate**: indices and ``sample_fps`` follow qwen-vl-utils (frame count, average fps);
  ``timestamps`` are the frames' presentation times relative to frame 0, so they are right for VFR too
  (``index / fps`` is the fallback when a container has no usable timestamps).
* **Over-reported frame count** (a truncated or corrupt tail): decord raises or hangs, PyAV decodes what
  it can. If at least ``MIN_DECODABLE`` of the frames the container lists decode, the sample is planned
  again over the decodable frames (``total_frames`` is then that count); below it the file is reported as
  truncated instead of caching a clip that silently lacks its end.
* **Very high resolution**: decord returns all sampled frames at full resolution at once, so ``"auto"``
  sends a video whose sampled frames exceed ``DECORD_MAX_BYTES`` to PyAV, which resizes them in chunks of
  ``DECODE_BYTES`` as it decodes (``resize.StreamingResize``): 32 frames of 4K raised peak memory by
  0.17 GB this way against 1.8 GB through decord.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise

import av
import numpy as np
from PIL import Image

from . import sampling
from .errors import DecodeFailed, EmptySource, TooFewFrames
from .keys import MediaSpec, canonical_source, local_path
from .resize import StreamingResize
from .types import CachedMedia

BACKENDS = ("auto", "decord", "pyav")
MIN_DECODABLE = 0.9  # fraction of the listed frames that must decode for the file to count as complete
DECODE_BYTES = 32 << 20  # full-resolution uint8 frames PyAV holds before resizing them
# "auto" streams a video through PyAV when its sampled frames at full resolution exceed this: decord holds
# them all at once (4K x 40 frames peaked at 2.8 GB), and decoding it in chunks lets its frame queue grow.
DECORD_MAX_BYTES = 256 << 20


def _require_file(source: str) -> str:
    path = local_path(source)
    if path is None:
        raise DecodeFailed(f"{source}: remote sources are not supported yet; copy the file locally")
    if os.path.isdir(path):
        raise DecodeFailed(f"{path}: is a directory, not a media file; fix the path in the dataset")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise EmptySource(f"{path}: file is empty (0 bytes); re-export or drop it from the dataset")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file; fix the path in the dataset or drop the sample")
    return path


def _is_text(head: bytes) -> bool:
    """Whether a file's first bytes read as text. Only this verdict is reported, never the bytes: a file
    named like media may hold anything (credentials, private notes), and failures are stored and printed."""
    text = head.decode("utf-8", errors="ignore")  # a multibyte character may be cut at the end of ``head``
    return (
        bool(text.strip())
        and len(text) > len(head) // 2
        and all(c.isprintable() or c.isspace() for c in text)
    )


def _diagnose(path: str) -> str:
    """A plain-words guess at why no backend opens ``path``: a text file, or an MP4 cut short."""
    with open(path, "rb") as f:
        head = f.read(512)
        if _is_text(head):
            return "it is a text file, not a video"
        if head[4:8] != b"ftyp":
            return "its content is not a container format FFmpeg recognises"
        size, offset, boxes = os.fstat(f.fileno()).st_size, 0, []
        while offset + 8 <= size:  # walk the top-level MP4 boxes: (32-bit size, 4-char type)
            f.seek(offset)
            box_size, kind = int.from_bytes(f.read(4), "big"), f.read(4)
            if box_size == 1:
                box_size = int.from_bytes(f.read(8), "big")
            elif box_size == 0:  # the last box, up to the end of the file
                box_size = size - offset
            boxes.append(kind)
            if box_size < 8 or offset + box_size > size:
                return f"it is an MP4 cut short: its {kind.decode(errors='replace')!r} box ends past the file"
            offset += box_size
        if b"moov" not in boxes:
            return "it is an MP4 without its index (no 'moov' box): an unfinished download or recording"
    return "its streams are corrupt"


def _plan(path: str, total_frames: int, video_fps: float, spec: MediaSpec) -> list[int]:
    try:
        n = sampling.smart_nframes(total_frames, video_fps, spec.fps, spec.min_frames, spec.max_frames)
    except ValueError as exc:
        raise TooFewFrames(
            f"{path}: {total_frames} frame(s) at {video_fps:g} fps cannot be sampled: Qwen's temporal patch "
            f"needs at least {sampling.FRAME_FACTOR} ({exc}); add it as an image or drop it"
        ) from exc
    # clamp to the decodable range: the indices come from a frame count the container reported
    return [min(max(i, 0), total_frames - 1) for i in sampling.sample_indices(total_frames, n)]


def _resizer(nframes: int, spec: MediaSpec) -> StreamingResize:
    """Resizes to ``smart_resize`` of the first frame's size under the video budget for ``nframes``."""
    min_px, max_px = sampling.video_pixel_budget(
        nframes, spec.factor, spec.min_pixels, spec.max_pixels, spec.total_pixels
    )
    return StreamingResize(
        lambda h, w: sampling.smart_resize(h, w, spec.factor, min_px, max_px), DECODE_BYTES
    )


def _timestamps(times: list, first: float | None, indices: list[int], fps: float) -> list[float]:
    """Seconds from frame 0 to each sampled frame: presentation times when all are known and strictly
    increase (right for variable frame rate), else ``index / fps``."""
    known = first is not None and all(t is not None and math.isfinite(t) for t in [first, *times])
    if known and all(a < b for a, b in pairwise(times)) and times[0] >= first:
        return [round(float(t) - float(first), 6) for t in times]
    return [i / fps for i in indices]


class _TooLargeForDecord(Exception):
    """The sampled frames at full resolution exceed ``DECORD_MAX_BYTES``: stream them through PyAV."""


def _frame_bytes(path: str) -> int:
    """Bytes of one full-resolution RGB frame, from the container header (0 when unknown)."""
    try:
        with av.open(path) as container:
            context = container.streams.video[0].codec_context
            return int(context.width) * int(context.height) * 3
    except Exception:  # noqa: BLE001 - only a size estimate; decord reports the real error
        return 0


def _read_decord(
    path: str, spec: MediaSpec, max_bytes: int | None = None
) -> tuple[np.ndarray, list[int], int, float, list[float]]:
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    total, fps = len(vr), float(vr.get_avg_fps())
    if total <= 0 or not fps > 0:
        raise DecodeFailed(f"{path}: decord reports {total} frames at {fps} fps")
    indices = _plan(path, total, fps, spec)
    if max_bytes is not None and len(indices) * _frame_bytes(path) > max_bytes:
        raise _TooLargeForDecord
    batch = vr.get_batch(indices).asnumpy()  # one call, as qwen-vl-utils (chunks let decord's queue grow)
    if batch.shape[0] != len(indices):
        raise DecodeFailed(f"{path}: decord returned {batch.shape[0]} of {len(indices)} frames")
    out = _resizer(len(indices), spec)
    out.add_batch(batch)
    del batch
    try:
        stamps = vr.get_frame_timestamp([0, *indices])[:, 0].tolist()
    except Exception:  # noqa: BLE001 - timestamps are metadata; index / fps is the documented fallback
        stamps = [None, *indices]
    return out.result(), indices, total, fps, _timestamps(stamps[1:], stamps[0], indices, fps)


def _upright(frame: av.VideoFrame) -> np.ndarray:
    """RGB array of a PyAV frame turned by its display rotation, as decord returns it."""
    array = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(array, turns)) if turns else array


def _probe_pyav(path: str) -> tuple[int, int, float]:
    """(frames the header lists or 0, non-empty packets, average fps) of the first video stream."""
    with av.open(path) as container:
        if not container.streams.video:
            raise DecodeFailed(f"{path}: no video stream (audio only or an image container?)")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        packets = 0
        try:
            for packet in container.demux(stream):
                packets += 1 if packet.size else 0
        except av.error.FFmpegError:
            pass  # a corrupt tail: the packets read so far are what there is
        return int(stream.frames or 0), packets, float(rate) if rate else 0.0


def _frames_until_error(container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    """Frames in presentation order up to the first unreadable packet, then the frames already in flight.

    Slice threading, not frame threading: with frame threads an error surfaces late and takes the frames
    in flight with it, so the decodable count of a corrupt file would depend on the machine's core count.
    """
    stream.thread_type = "SLICE"
    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.error.FFmpegError:
        try:
            yield from stream.codec_context.decode(None)  # drain what decoded before the bad packet
        except av.error.FFmpegError:
            pass


def _decode_pyav(path: str, indices: list[int], spec: MediaSpec):
    """Decode sequentially up to the last wanted frame, resizing wanted frames as they come.

    Returns (frames or None when some wanted frame never decoded, presentation times, time of frame 0,
    frames decoded).
    """
    wanted, last = Counter(indices), max(indices)
    out, times, first, count = _resizer(len(indices), spec), [], None, 0
    with av.open(path) as container:
        for frame in _frames_until_error(container, container.streams.video[0]):
            if count == 0:
                first = frame.time
            for _ in range(wanted.get(count, 0)):
                out.add(_upright(frame))
                times.append(frame.time)
            count += 1
            if count > last:
                break
    return (out.result() if out.count == len(indices) else None), times, first, count


def _read_pyav(path: str, spec: MediaSpec) -> tuple[np.ndarray, list[int], int, float, list[float]]:
    listed, packets, fps = _probe_pyav(path)
    if packets <= 0 or not fps > 0:
        raise DecodeFailed(f"{path}: PyAV finds {packets} frames at {fps} fps")
    claimed = max(listed, packets)

    def truncated(decodable: int) -> DecodeFailed:
        return DecodeFailed(
            f"{path}: only {decodable} of the {claimed} frames the container lists can be read: the file is "
            "truncated or corrupt"
        )

    if packets < MIN_DECODABLE * claimed:
        raise truncated(packets)
    indices = _plan(path, packets, fps, spec)
    frames, times, first, total = _decode_pyav(path, indices, spec)
    if frames is None:  # fewer frames decode than the packets promise: plan again over those that do
        if total < MIN_DECODABLE * claimed:
            raise truncated(total)
        indices = _plan(path, total, fps, spec)
        frames, times, first, _ = _decode_pyav(path, indices, spec)
        if frames is None:
            raise DecodeFailed(f"{path}: PyAV decodes a different number of frames on each pass")
    return frames, indices, total, fps, _timestamps(times, first, indices, fps)


def _failure_message(path: str, errors: list[tuple[str, Exception]]) -> str:
    """Why no backend decoded ``path``: our own findings (e.g. truncation) or else a guess from the file's
    bytes, then the backends' raw errors, then the fix."""
    own, raw = [], []
    for name, exc in errors:
        if isinstance(exc, DecodeFailed):
            own.append(f"{name}: {str(exc).removeprefix(path + ': ')}")
        else:
            raw.append(f"{name}: {type(exc).__name__}: {str(exc).strip()[:300]}")
    try:
        reason = "; ".join(own) if own else _diagnose(path)
    except OSError as exc:
        reason = f"it cannot be read ({exc})"
    details = f" ({'; '.join(raw)})" if raw else ""
    return (
        f"{path}: cannot decode: {reason}{details}; re-download or re-encode it "
        "(ffmpeg -i in -c:v libx264 -pix_fmt yuv420p out.mp4) or drop it from the dataset"
    )


def decode_video(source: str | os.PathLike, spec: MediaSpec, backend: str = "auto") -> CachedMedia:
    """Sample and resize one video. ``backend``: ``"decord"``, ``"pyav"`` or ``"auto"``: decord, and PyAV when
    decord fails or when the sampled frames at full resolution would exceed ``DECORD_MAX_BYTES``.

    Returns ``frames`` (T, H', W', 3) uint8 with T = ``smart_nframes``; ``indices``/``timestamps`` of the
    sampled source frames; ``source_fps``, ``total_frames`` and ``sample_fps`` as the processor needs them.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    src = canonical_source(source)
    path = _require_file(src)
    errors: list[tuple[str, Exception]] = []
    decoded = None
    limit = DECORD_MAX_BYTES if backend == "auto" else None
    readers = {"decord": lambda: _read_decord(path, spec, limit), "pyav": lambda: _read_pyav(path, spec)}
    for name, read in readers.items():
        if backend not in ("auto", name):
            continue
        try:
            decoded = read()
            break
        except _TooLargeForDecord:
            continue
        except TooFewFrames:
            raise  # a property of the video, not of the backend: PyAV would say the same
        except Exception as exc:  # noqa: BLE001 - every backend error is reported together below
            errors.append((name, exc))
    if decoded is None:
        raise DecodeFailed(_failure_message(path, errors))
    frames, indices, total, fps, timestamps = decoded
    return CachedMedia(
        digest=spec.key_for(src, "video").digest(),
        source=src,
        kind="video",
        frames=frames,
        source_fps=fps,
        total_frames=total,
        indices=[int(i) for i in indices],
        timestamps=timestamps,
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
        with open(path, "rb") as f:
            what = (
                "it is a text file, not an image" if _is_text(f.read(512)) else f"{type(exc).__name__}: {exc}"
            )
        raise DecodeFailed(f"{path}: cannot read image ({what}); re-save it as PNG/JPEG") from exc
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
