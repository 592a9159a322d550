"""A corpus of broken and odd media through one real build: each file is cached sanely or recorded with a
clear reason, the build finishes, and no row breaks the entry invariants.

Files are made here: PyAV writes the containers and codecs (H.264, VP9/WebM, Matroska, FFV1, MPEG-4, a
display-matrix rotation, irregular timestamps), raw bytes make the rest (empty, text, truncated, a corrupted
last packet). Frame ``i`` of a clip has the flat colour ``COLOURS[i]``, so which source frame a cached frame
came from is read back from its colour.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import lance
import numpy as np
import pytest

from cache_store import MediaCache, MediaSpec, row_to_media
from cache_store.blobs import rows_with_frames
from cache_store.build import sample_problem
from cache_store.decode import decode_video
from cache_store.resize import StreamingResize, resize_frames
from cache_store.types import CachedMedia

# 64x96 frames resize to 56x84 (factor 28, at most 16 tokens of 28x28 per frame).
SPEC = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
SAMPLED = [0, 6, 12, 17, 23, 29]  # 30 frames, 10 fps, 2 fps -> 6 frames: torch.linspace(0, 29, 6).round()
COLOURS = np.array([[(8 * i) % 256, 255 - (8 * i) % 256, (37 * i) % 256] for i in range(30)], dtype=np.uint8)
VFR_GAPS_MS = [250 if i % 3 == 0 else 40 for i in range(30)]  # a long gap every third frame
VFR_PTS_MS = [0, *np.cumsum(VFR_GAPS_MS[:-1]).tolist()]


def clip(n: int = 30, height: int = 64, width: int = 96, noise: int = 0, marker: bool = False) -> np.ndarray:
    frames = np.broadcast_to(COLOURS[:n, None, None, :], (n, height, width, 3)).astype(np.int16)
    if noise:  # noise makes the bytes of each frame about equal, so cutting a file cuts frames evenly
        frames += np.random.default_rng(0).integers(-noise, noise + 1, frames.shape, dtype=np.int16)
    if marker:
        frames[:, :16, :16] = 255  # a white block in the coded top-left corner
    return np.clip(frames, 0, 255).astype(np.uint8)


def write_av(path, frames, fps=10, codec="libx264", pix_fmt="yuv420p", fmt=None, pts_ms=None, rotation=None,
             options=None, container_options=None) -> str:  # fmt: skip
    """Encode ``frames`` with any PyAV codec/container; ``pts_ms`` sets irregular timestamps (VFR)."""
    with av.open(str(path), mode="w", format=fmt, options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.options = options or {}
        if pts_ms is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def which_frames(frames: np.ndarray) -> list[int]:
    """Source frame index of each cached frame, by the nearest flat colour of its centre."""
    t, h, w, _ = frames.shape
    centre = frames[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(t, -1, 3).mean(axis=1)
    return [int(np.abs(COLOURS.astype(float) - m).sum(axis=1).argmin()) for m in centre]


def zero_last_packet(path: str) -> int:
    """Overwrite the last video packet's bytes with zeros in place (the index still lists the frame)."""
    with av.open(path) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(Path(path).read_bytes())
    pos, size = packets[-1]
    data[pos : pos + size] = bytes(size)
    Path(path).write_bytes(bytes(data))
    return len(packets)


def make_corpus(root) -> dict[str, str]:
    root.mkdir()
    c = {
        "mkv_named_mp4": write_av(root / "matroska.mp4", clip(), fmt="matroska"),
        "webm_named_mp4": write_av(root / "webm.mp4", clip(), codec="libvpx-vp9", fmt="webm"),
        "mp4_named_avi": write_av(root / "mpeg4part14.avi", clip(), fmt="mp4"),
        "odd_size_ffv1": write_av(
            root / "odd.mkv", clip(height=61, width=97), codec="ffv1", pix_fmt="yuv444p"
        ),
        "odd_size_mpeg4": write_av(root / "odd_mpeg4.mp4", clip(height=61, width=97), codec="mpeg4"),
        "rotated_90": write_av(root / "rotated.mp4", clip(marker=True), rotation=90),
        "vfr": write_av(root / "vfr.mp4", clip(), pts_ms=VFR_PTS_MS),
        "uhd_4k": write_av(root / "uhd.mp4", clip(6, 2160, 3840), options={"preset": "ultrafast"}),
        "two_frames": write_av(root / "two.mp4", clip(2)),
        "over_reported": write_av(root / "over.mp4", clip(noise=20), options={"bframes": "0"}),
        "one_frame": write_av(root / "one.mp4", clip(1)),
        "truncated_faststart": write_av(
            root / "cut_fast.mp4", clip(noise=20), container_options={"movflags": "faststart"}
        ),
        "truncated": write_av(root / "cut.mp4", clip(noise=20)),
        "empty": str(root / "empty.mp4"),
        "text": str(root / "notes.mp4"),
        "missing": str(root / "missing.mp4"),
    }
    assert zero_last_packet(c["over_reported"]) == 30
    for name in ("truncated", "truncated_faststart"):  # cut in half: moov at the end vs at the front
        data = Path(c[name]).read_bytes()
        Path(c[name]).write_bytes(data[: len(data) // 2])
    Path(c["empty"]).write_bytes(b"")
    Path(c["text"]).write_text("subtitle track, not a video\n" * 20)
    return c


# name -> (frames shape, sampled indices, total_frames); each cached frame's colour must match its index
CACHED = {
    "mkv_named_mp4": ((6, 56, 84, 3), SAMPLED, 30),
    "webm_named_mp4": ((6, 56, 84, 3), SAMPLED, 30),
    "mp4_named_avi": ((6, 56, 84, 3), SAMPLED, 30),
    "odd_size_ffv1": ((6, 56, 84, 3), SAMPLED, 30),  # 61x97 -> 56x84
    "odd_size_mpeg4": ((6, 56, 84, 3), SAMPLED, 30),
    "rotated_90": ((6, 84, 56, 3), SAMPLED, 30),  # shown portrait: 96x64 -> 84x56
    "vfr": ((6, 56, 84, 3), SAMPLED, 30),
    "uhd_4k": ((4, 84, 140, 3), [0, 2, 3, 5], 6),  # min_frames 4 of 6; 2160x3840 -> 84x140 (11760 px)
    "two_frames": ((2, 56, 84, 3), [0, 1], 2),
    "over_reported": ((4, 56, 84, 3), [0, 9, 19, 28], 29),  # 29 of 30 listed decode: 2.9 s -> 4 frames
}
# name -> (error class, words the message must contain)
FAILED = {
    "one_frame": ("TooFewFrames", "add it as an image"),
    "truncated_faststart": ("DecodeFailed", "truncated or corrupt"),
    "truncated": ("DecodeFailed", "cut short"),
    "empty": ("EmptySource", "empty"),
    "text": ("DecodeFailed", "text file"),
    "missing": ("FileNotFoundError", "not found"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    corpus = make_corpus(tmp_path_factory.mktemp("corpus") / "media")
    assert set(corpus) == set(CACHED) | set(FAILED)
    cache = MediaCache(tmp_path_factory.mktemp("cache") / "store", flush_rows=3)
    report = cache.build([(path, "video") for path in corpus.values()], SPEC, workers=2, timeout_s=300)
    return corpus, cache, report


def test_build_finishes_with_every_file_cached_or_failed(built):
    corpus, cache, report = built
    assert (report.built, report.failed, report.hits) == (len(CACHED), len(FAILED), 0)
    assert set(report.digests) == {corpus[name] for name in CACHED}
    rows = lance.dataset(cache.entries_uri).to_table(columns=["digest", "source"]).to_pylist()
    assert sorted(r["source"] for r in rows) == sorted(corpus[name] for name in CACHED)
    assert len({r["digest"] for r in rows}) == len(rows)
    assert sorted(f["source"] for f in cache.failures()) == sorted(corpus[name] for name in FAILED)
    (lineage,) = cache.lineage()
    assert (lineage["added"], lineage["failed"]) == (len(CACHED), len(FAILED))


@pytest.mark.parametrize("name", sorted(FAILED))
def test_failure_names_the_file_and_the_reason(built, name):
    corpus, cache, _ = built
    (failure,) = [f for f in cache.failures() if f["source"] == corpus[name]]
    error, words = FAILED[name]
    assert failure["error"] == error
    assert corpus[name] in failure["message"] and words in failure["message"]


@pytest.mark.parametrize("name", sorted(CACHED))
def test_cached_sample_is_right(built, name):
    corpus, cache, report = built
    shape, indices, total = CACHED[name]
    media = cache.get(report.digests[corpus[name]])
    assert media.frames.shape == shape and media.indices == indices and media.total_frames == total
    assert which_frames(media.frames) == indices
    assert media.sample_fps == pytest.approx(len(indices) / total * media.source_fps)
    if name == "vfr":  # presentation times, not index / average fps
        assert media.source_fps == pytest.approx(30 / 3.36)  # 30 frames over 3.36 s
        assert media.timestamps == pytest.approx([VFR_PTS_MS[i] / 1000 for i in indices], abs=1e-3)
    else:
        assert media.timestamps == pytest.approx([i / media.source_fps for i in indices], abs=1e-3)
    if name == "rotated_90":  # 90 degrees counter-clockwise: the coded top-left block ends bottom-left
        white = media.frames.min(axis=-1) > 200  # no flat colour of the clip is > 200 in all channels
        assert white[:, -8:, :8].all() and not white[:, :8, :8].any()


def test_every_row_keeps_the_entry_invariants(built):
    _, cache, _ = built
    for row in rows_with_frames(lance.dataset(cache.entries_uri)):
        media = row_to_media(row)
        assert sample_problem(media, SPEC) is None, row["source"]
        _, h, w, _ = media.frames.shape
        assert h * w <= SPEC.max_pixels and media.source_fps > 0
        assert media.timestamps[0] == 0.0 and media.indices == sorted(set(media.indices))


def test_rebuild_hits_and_records_the_same_failures(built):
    corpus, cache, first = built
    again = cache.build([(path, "video") for path in corpus.values()], SPEC, workers=1, timeout_s=300)
    assert (again.hits, again.built, again.failed) == (len(CACHED), 0, len(FAILED))
    assert again.version == first.version and len(cache.failures()) == len(FAILED)


def test_rotation_and_vfr_agree_across_backends(built):
    corpus, _, _ = built
    for name in ("rotated_90", "vfr"):
        by_decord = decode_video(corpus[name], SPEC, backend="decord")
        by_pyav = decode_video(corpus[name], SPEC, backend="pyav")
        assert np.array_equal(by_decord.frames, by_pyav.frames), name
        assert by_decord.timestamps == pytest.approx(by_pyav.timestamps, abs=1e-3), name
        assert by_decord.indices == by_pyav.indices == SAMPLED


def test_over_reported_count_is_resampled_over_decodable_frames(built):
    corpus, _, _ = built
    with av.open(corpus["over_reported"]) as container:
        assert container.streams.video[0].frames == 30  # the index still lists the zeroed frame
    with pytest.raises(Exception, match="only 15 of the 30 frames"):
        decode_video(corpus["truncated_faststart"], SPEC, backend="pyav")


MEMORY_PROBE = """
import json, resource, sys
from cache_store import MediaSpec
from cache_store.decode import decode_video
spec = MediaSpec(fps=8.0, max_frames=32, min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
if __name__ == "__main__":
    decode_video(sys.argv[2], spec)  # warm every import and code path on a small clip first
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    media = decode_video(sys.argv[1], spec)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"shape": list(media.frames.shape), "growth": (peak - base) * 1024}))
"""


def test_high_resolution_decode_does_not_hold_full_resolution_frames(tmp_path):
    """32 frames of 4K are 796 MB of RGB; qwen-vl-utils would hold them all plus a float copy (measured
    here: 2.8 GB peak for 40 frames). Streaming through PyAV must stay well under half of that."""
    path = tmp_path / "uhd.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = np.zeros((2160, 3840, 3), np.uint8)
        for i in range(32):
            frame[:] = COLOURS[i % 30]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    small = write_av(tmp_path / "small.mp4", clip())
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), small],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    full_resolution = 32 * 2160 * 3840 * 3
    assert probe["shape"] == [32, 84, 140, 3]
    assert probe["growth"] < full_resolution / 2, probe


def test_streaming_resize_equals_one_batch_resize():
    frames = np.random.default_rng(3).integers(0, 256, (7, 61, 97, 3), dtype=np.uint8)
    stream = StreamingResize(lambda h, w: (28, 56), max_bytes=2 * 61 * 97 * 3)  # flushes every 2 frames
    for frame in frames[:5]:
        stream.add(frame)
    stream.add_batch(frames[5:])
    assert np.array_equal(stream.result(), resize_frames(frames, 28, 56))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"indices": [0, 6, 12, 17, 23, 30]}, "outside the 30 frames"),
        ({"timestamps": [0.0, 0.6, 0.5, 1.7, 2.3, 2.9]}, "increasing"),
        ({"frames": np.zeros((5, 56, 84, 3), np.uint8)}, "need equal and even"),
        ({"frames": np.zeros((6, 50, 84, 3), np.uint8)}, "multiples of 28"),
        ({"frames": np.zeros((6, 56, 84, 3), np.float32)}, "uint8"),
    ],
)
def test_unsound_samples_are_refused(change, words):
    sound = {
        "digest": "0" * 16,
        "source": "/x.mp4",
        "kind": "video",
        "frames": np.zeros((6, 56, 84, 3), np.uint8),
        "source_fps": 10.0,
        "total_frames": 30,
        "indices": SAMPLED,
        "timestamps": [i / 10 for i in SAMPLED],
        "sample_fps": 2.0,
    }
    assert sample_problem(CachedMedia(**sound), SPEC) is None
    assert words in sample_problem(CachedMedia(**{**sound, **change}), SPEC)
