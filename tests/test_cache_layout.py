"""Storage layout of the entries table (schema.py docstring) and the zero-copy read contract of ``get``."""

from __future__ import annotations

import lance
import numpy as np
import pytest

from cache_store import MediaCache, MediaSpec, write_video
from cache_store.schema import ENTRIES_FILE_FORMAT

SPEC = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)  # 64x96 -> 6 frames of 56x84


def videos(tmp_path, n, size=(64, 96)):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        frames = np.broadcast_to(rng.integers(0, 255, (30, 1, 1, 3), dtype=np.uint8), (30, *size, 3)).copy()
        paths.append((str(write_video(tmp_path / f"v{i}_{size[0]}.mp4", frames, 10)), "video"))
    return paths


def test_entries_use_the_measured_file_format_and_other_tables_the_default(tmp_path):
    cache = MediaCache(tmp_path / "c")
    assert lance.dataset(cache.entries_uri).data_storage_version == ENTRIES_FILE_FORMAT == "2.0"
    assert lance.dataset(cache.lineage_uri).data_storage_version != "2.0"
    cache.build(videos(tmp_path, 2), SPEC)
    cache.compact()
    assert lance.dataset(cache.entries_uri).data_storage_version == "2.0"  # compaction keeps it


def test_reads_do_not_keep_frame_bytes_in_the_lance_session(tmp_path):
    """With format 2.2 a one-sample page became a constant page held in page metadata, and the session's
    metadata cache kept every sample read (247 MB after one pass over the benchmark store)."""
    big = MediaSpec(max_pixels=1008 * 1008)  # 10 MB per sample
    cache = MediaCache(tmp_path / "big")
    digests = list(cache.build(videos(tmp_path, 3, size=(1008, 1008)), big).digests.values())
    total = sum(m.frames.nbytes for m in cache.get_many(digests))
    for digest in digests:
        cache.get(digest)
    assert total > 25e6 and cache._session.size_bytes() < 3e6


def test_get_returns_read_only_views_unless_asked_to_copy(tmp_path):
    cache = MediaCache(tmp_path / "c")
    digest = next(iter(cache.build(videos(tmp_path, 1), SPEC).digests.values()))
    view = cache.get(digest)
    assert not view.frames.flags.writeable and view.frames.shape == (6, 56, 84, 3)
    with pytest.raises(ValueError):
        view.frames[0, 0, 0, 0] = 1
    copied = cache.get(digest, copy=True)
    assert copied.frames.flags.writeable and np.array_equal(copied.frames, view.frames)
    [again] = cache.get_many([digest], copy=True)
    assert again.frames.flags.writeable


def test_scan_yields_every_entry_once_in_storage_order(tmp_path):
    cache = MediaCache(tmp_path / "c")
    digests = set(cache.build(videos(tmp_path, 3), SPEC).digests.values())
    seen = [m.digest for m in cache.scan(chunk=2)]
    assert sorted(seen) == sorted(digests)
    for media in cache.scan():
        assert np.array_equal(media.frames, cache.get(media.digest).frames)
