"""MediaCache end to end on real mp4/PNG files and real Lance datasets in tmp dirs."""

from __future__ import annotations

import json
import os

import lance
import numpy as np
import pytest
from PIL import Image

from cache_store import MediaCache, MediaSpec, row_to_media, write_video
from cache_store.blobs import rows_with_frames
from cache_store.workers import DecodePool

# 64x96 frames resize to 56x84 (smart_resize with factor 28 inside [4, 16] tokens of 28x28).
SPEC = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
SAMPLED = [0, 6, 12, 17, 23, 29]  # 30 frames at 10 fps, 2 fps -> 6 frames: linspace(0, 29, 6).round()
# frame i has one flat colour; neighbours differ by 8 in R and G and 37 in B, far above codec error
COLOURS = np.array([[(8 * i) % 256, 255 - (8 * i) % 256, (37 * i) % 256] for i in range(30)], dtype=np.uint8)


def coloured_video(path, order=range(30), fps=10):
    frames = np.broadcast_to(COLOURS[list(order)][:, None, None, :], (len(order), 64, 96, 3)).copy()
    return str(write_video(path, frames, fps))


def which_frames(frames: np.ndarray) -> list[int]:
    """Source frame index of each decoded frame, by nearest flat colour."""
    means = frames.reshape(len(frames), -1, 3).mean(axis=1)
    return [int(np.abs(COLOURS.astype(float) - m).sum(axis=1).argmin()) for m in means]


def bump_mtime(path):
    st = os.stat(path)  # a rewrite inside one clock tick can keep (size, mtime): make the change certain
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def entry_digests(cache) -> set[str]:
    return set(lance.dataset(cache.entries_uri).to_table(columns=["digest"]).column("digest").to_pylist())


@pytest.fixture
def video(tmp_path):
    return coloured_video(tmp_path / "clip.mp4")


def test_build_samples_the_right_frames_then_hits(tmp_path, video):
    image = tmp_path / "flat.png"
    Image.new("RGB", (100, 60), (10, 200, 30)).save(image)
    cache = MediaCache(tmp_path / "cache")
    report = cache.build([(video, "video"), (str(image), "image")], SPEC)
    assert (report.built, report.hits, report.replaced, report.failed) == (2, 0, 0, 0)
    assert report.version == cache.version()

    media = cache.get(report.digests[video])
    assert media.frames.shape == (6, 56, 84, 3) and media.frames.dtype == np.uint8
    assert media.indices == SAMPLED and which_frames(media.frames) == SAMPLED
    assert media.timestamps == pytest.approx([0.0, 0.6, 1.2, 1.7, 2.3, 2.9])
    assert (media.source_fps, media.total_frames, media.sample_fps) == (10.0, 30, 2.0)
    assert (media.source, media.kind) == (video, "video")

    picture = cache.get(report.digests[str(image)])
    # 60/28 -> 56, 100/28 = 3.57 -> 112 (default image budget); a flat colour survives bicubic exactly
    assert picture.frames.shape == (1, 56, 112, 3)
    assert (picture.frames == np.array([10, 200, 30], np.uint8)).all()
    assert cache.stats() == {
        "rows": 2,
        "bytes": 6 * 56 * 84 * 3 + 56 * 112 * 3,
        "failures": 0,
        "version": report.version,
    }

    again = MediaCache(tmp_path / "cache").build([(video, "video"), (str(image), "image")], SPEC)
    assert (again.hits, again.built, again.replaced, again.failed) == (2, 0, 0, 0)
    assert again.version == report.version and cache.stats()["rows"] == 2
    lineage = cache.lineage()
    assert [row["build_id"] for row in lineage] == [report.build_id, again.build_id]
    assert [row["added"] for row in lineage] == [2, 0] and [row["hits"] for row in lineage] == [0, 2]
    assert json.loads(lineage[0]["spec_json"]) == SPEC.to_dict()


def test_modified_source_is_stale_then_replaced(tmp_path, video):
    cache = MediaCache(tmp_path / "cache")
    digest = cache.build([(video, "video")], SPEC).digests[video]
    assert cache.lookup(video, "video", SPEC).indices == SAMPLED

    coloured_video(video, order=range(29, -1, -1))  # same size and length, frames reversed
    bump_mtime(video)
    assert cache.lookup(video, "video", SPEC) is None  # stale rows are never served by lookup

    report = cache.build([(video, "video")], SPEC)
    assert (report.replaced, report.built, report.hits) == (1, 0, 0)
    assert report.digests[video] == digest and cache.stats()["rows"] == 1
    assert which_frames(cache.lookup(video, "video", SPEC).frames) == [29 - i for i in SAMPLED]


def test_validity_field_change_replaces_row_under_the_same_key(tmp_path, video):
    cache = MediaCache(tmp_path / "cache")
    cache.build([(video, "video")], SPEC)
    qwen3 = MediaSpec(factor=32, min_pixels=4 * 32 * 32, max_pixels=SPEC.max_pixels)  # same key, new factor
    assert cache.lookup(video, "video", qwen3) is None
    report = cache.build([(video, "video")], qwen3)
    assert report.replaced == 1
    assert cache.lookup(video, "video", qwen3).frames.shape == (6, 64, 96, 3)  # 64 and 96 are multiples of 32
    assert cache.lookup(video, "video", SPEC) is None
    other_key = cache.build([(video, "video")], MediaSpec(fps=1.0, min_pixels=3136, max_pixels=12544))
    assert other_key.built == 1 and cache.stats()["rows"] == 2


def test_bad_sources_are_recorded_and_the_build_finishes(tmp_path, video):
    corrupt, empty, missing = tmp_path / "corrupt.mp4", tmp_path / "empty.mp4", tmp_path / "missing.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    empty.write_bytes(b"")
    one_frame = coloured_video(tmp_path / "still.mp4", order=[3])
    cache = MediaCache(tmp_path / "cache")
    sources = [
        (one_frame, "video"),
        (str(corrupt), "video"),
        (video, "video"),
        (str(empty), "video"),
        (str(missing), "video"),
        (str(corrupt), "sound"),
    ]
    report = cache.build(sources, SPEC)
    assert (report.built, report.failed) == (1, 5)
    by_error = {f["error"]: f["source"] for f in report.failures}
    assert by_error == {
        "DecodeFailed": str(corrupt),
        "EmptySource": str(empty),
        "FileNotFoundError": str(missing),
        "ValueError": str(corrupt),  # the unknown kind "sound"
        "TooFewFrames": one_frame,  # 1 frame cannot fill a temporal patch of 2
    }
    for failure in report.failures:
        assert failure["source"] in failure["message"]
    assert entry_digests(cache) == {report.digests[video]}
    assert set(report.digests) == {video}
    stored = cache.failures()
    assert len(stored) == 5 and {f["build_id"] for f in stored} == {report.build_id}
    assert cache.stats()["failures"] == 5


def test_source_that_breaks_loses_its_row_and_recovers(tmp_path, video):
    cache = MediaCache(tmp_path / "cache")
    digest = cache.build([(video, "video")], SPEC).digests[video]
    with open(video, "wb") as f:
        f.write(np.random.default_rng(1).bytes(2048))
    broken = cache.build([(video, "video")], SPEC)
    assert (broken.failed, broken.removed, broken.hits) == (1, 1, 0)
    with pytest.raises(KeyError, match=digest):
        cache.get(digest)
    assert [f["digest"] for f in cache.failures()] == [digest]

    coloured_video(video)
    bump_mtime(video)
    fixed = cache.build([(video, "video")], SPEC)
    assert (fixed.built, fixed.failed) == (1, 0)
    assert cache.failures() == [] and cache.get(digest).indices == SAMPLED


def test_rgba_image_is_composited_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (56, 56), (255, 0, 0, 0)).save(path)  # fully transparent red
    cache = MediaCache(tmp_path / "cache")
    media = cache.get(cache.build([(str(path), "image")], SPEC).digests[str(path)])
    assert media.frames.shape == (1, 56, 56, 3) and (media.frames == 255).all()
    assert (media.kind, media.indices, media.total_frames) == ("image", [0], 1)


def test_get_many_keeps_order_and_names_missing_digests(tmp_path):
    paths = [coloured_video(tmp_path / f"v{i}.mp4", order=range(i, i + 20)) for i in range(3)]
    cache = MediaCache(tmp_path / "cache")
    report = cache.build([(p, "video") for p in paths], SPEC, workers=2)
    assert report.built == 3
    d0, d1, d2 = (report.digests[p] for p in paths)
    got = cache.get_many([d2, d0, d2, d1])
    assert [m.digest for m in got] == [d2, d0, d2, d1]
    assert [which_frames(m.frames)[0] for m in got] == [2, 0, 2, 1]
    with pytest.raises(KeyError, match="0000000000000000"):
        cache.get_many([d0, "0000000000000000"])
    with pytest.raises(KeyError, match="not-hex"):
        cache.get("not-hex")


def test_row_to_media_round_trip(tmp_path, video):
    cache = MediaCache(tmp_path / "cache")
    digest = cache.build([(video, "video")], SPEC).digests[video]
    (row,) = rows_with_frames(lance.dataset(cache.entries_uri))
    expected = cache.get(digest)
    media = row_to_media(row)
    assert media.frames.flags.writeable and np.array_equal(media.frames, expected.frames)
    assert {k: v for k, v in vars(media).items() if k != "frames"} == {
        k: v for k, v in vars(expected).items() if k != "frames"
    }
    # a Ray Data numpy row: numpy scalars and arrays instead of Python values
    ray_row = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in row.items()}
    ray_row.update(t=np.int64(row["t"]), frames=np.frombuffer(row["frames"], np.uint8))
    assert np.array_equal(row_to_media(ray_row, copy=False).frames, expected.frames)
    with pytest.raises(ValueError, match="do not match shape"):
        row_to_media({**row, "t": 7})


def test_duplicate_spellings_build_once_and_report_progress(tmp_path, video, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = MediaCache("cache")
    seen = []
    report = cache.build(
        [("clip.mp4", "video"), (video, "video")], SPEC, progress=lambda d, t: seen.append((d, t))
    )
    assert (report.built, report.hits) == (1, 0)
    assert report.digests == {"clip.mp4": report.digests[video], video: report.digests[video]}
    assert seen == [(1, 1)]
    assert MediaCache(str(tmp_path / "cache")).get(report.digests[video]).source == video


def test_builds_can_share_one_open_decode_pool(tmp_path, video):
    """Two builds decode in the same worker process of a pool the caller keeps open (the evaluation pipeline
    builds one small batch at a time); the pool outlives them, and a pool for another spec is refused."""
    second = coloured_video(tmp_path / "reversed.mp4", order=range(29, -1, -1))
    cache = MediaCache(tmp_path / "cache")
    with DecodePool(SPEC, workers=1, timeout_s=60) as pool:
        first = cache.build([(video, "video")], SPEC, pool=pool)
        (worker,) = [slot.proc for slot in pool._slots]
        report = cache.build([(second, "video")], SPEC, pool=pool)
        assert [slot.proc.pid for slot in pool._slots] == [worker.pid] and worker.is_alive()
        with pytest.raises(ValueError, match="spec"):
            cache.build([(video, "video")], MediaSpec(min_pixels=4 * 28 * 28, max_pixels=32 * 28 * 28), pool=pool)
    assert not worker.is_alive()
    assert (first.built, report.built) == (1, 1)
    assert which_frames(cache.get(report.digests[second]).frames) == [29 - i for i in SAMPLED]


def test_hanging_source_is_killed_and_recorded(tmp_path, video):
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)  # opening a FIFO with no writer blocks forever, as decord does on some files
    cache = MediaCache(tmp_path / "cache")
    report = cache.build([(str(fifo), "video"), (video, "video")], SPEC, workers=1, timeout_s=1.0)
    assert (report.built, report.failed) == (1, 1)
    (failure,) = report.failures
    assert failure["error"] == "DecodeTimeout" and str(fifo) in failure["message"]
    assert entry_digests(cache) == {report.digests[video]}


def test_decord_and_pyav_decode_the_same_frames(video):
    from cache_store.decode import decode_video

    by_decord = decode_video(video, SPEC, backend="decord")
    by_pyav = decode_video(video, SPEC, backend="pyav")
    assert by_decord.indices == by_pyav.indices == SAMPLED
    assert by_decord.total_frames == by_pyav.total_frames == 30
    assert np.array_equal(by_decord.frames, by_pyav.frames)


def test_root_can_be_a_file_uri(tmp_path, video):
    cache = MediaCache(f"file://{tmp_path}/store")
    assert cache.entries_uri == f"file://{tmp_path}/store/entries.lance"
    report = cache.build([(video, "video")], SPEC)
    assert sorted(os.listdir(tmp_path / "store")) == ["entries.lance", "failures.lance", "lineage.lance"]
    assert cache.get(report.digests[video]).indices == SAMPLED
