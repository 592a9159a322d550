"""Storage layout of the entries table (schema.py docstring) and the zero-copy read contract of ``get``."""

from __future__ import annotations

import lance
import numpy as np
import pytest

from cache_store import MediaCache, MediaSpec, write_video
from cache_store.blobs import is_blob_field, rows_with_frames
from cache_store.legacy import ENTRIES_SCHEMA_INLINE
from cache_store.reads import read_blob_rows
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
    assert total > 25e6 and cache.storage.session.size_bytes() < 3e6


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


def assert_reads_match_lance(cache: MediaCache) -> int:
    """Every sample read by positioned reads equals the bytes Lance's own blob reader returns."""
    rows = rows_with_frames(lance.dataset(cache.entries_uri))
    got = {m.digest: m for m in cache.get_many([r["digest"] for r in rows])}
    for row in rows:
        expected = np.frombuffer(row["frames"], np.uint8).reshape(row["t"], row["h"], row["w"], row["c"])
        assert np.array_equal(got[row["digest"]].frames, expected), row["source"]
    return len(rows)


def test_frames_are_blobs_read_by_position_through_upserts_deletes_and_compaction(tmp_path):
    cache = MediaCache(tmp_path / "c", flush_rows=1)  # one fragment per sample
    ds = lance.dataset(cache.entries_uri)
    assert is_blob_field(ds) and ds.to_table(columns=["frames"]).schema.field("frames").type.num_fields == 2
    paths = videos(tmp_path, 4)
    digests = cache.build(paths, SPEC).digests
    assert assert_reads_match_lance(cache) == 4
    # replace one entry (its source changed), delete another
    frames = np.full((30, 64, 96, 3), 200, np.uint8)
    write_video(paths[0][0], frames, 10)
    assert cache.build(paths, SPEC).replaced == 1
    cache.invalidate(sources=[paths[1][0]])
    assert assert_reads_match_lance(cache) == 3
    assert cache.get(digests[paths[0][0]]).frames.mean() > 190
    cache.compact()  # rewrites the data files: descriptions point into the new ones
    assert len(lance.dataset(cache.entries_uri).get_fragments()) == 1
    assert assert_reads_match_lance(cache) == 3


def test_blob_reads_fall_back_to_lance_when_the_file_is_not_local(tmp_path):
    cache = MediaCache(tmp_path / "c")
    digests = list(cache.build(videos(tmp_path, 3), SPEC).digests.values())
    ds = lance.dataset(cache.entries_uri)
    fast = read_blob_rows(ds, digests, copy=False, local_root=cache.entries_uri)
    slow = read_blob_rows(ds, digests, copy=True, local_root=None)  # Lance's read_blobs serves every row
    assert sorted(fast) == sorted(slow) == sorted(digests)
    for d in digests:
        assert np.array_equal(fast[d].frames, slow[d].frames)
        assert not fast[d].frames.flags.writeable and slow[d].frames.flags.writeable


def test_a_store_with_inline_frames_is_still_read_and_written(tmp_path):
    """Stores created before the blob layout keep inline frames: reads and upserts use that layout."""
    root = tmp_path / "old"
    root.mkdir()
    lance.write_dataset(
        ENTRIES_SCHEMA_INLINE.empty_table(), str(root / "entries.lance"), data_storage_version="2.0"
    )
    cache = MediaCache(root)
    assert not is_blob_field(lance.dataset(cache.entries_uri))
    paths = videos(tmp_path, 2)
    digests = cache.build(paths, SPEC).digests
    rows = lance.dataset(cache.entries_uri).to_table().to_pylist()
    assert all(isinstance(r["frames"], bytes) for r in rows)
    assert assert_reads_match_lance(cache) == 2
    assert cache.get(digests[paths[0][0]]).frames.shape == (6, 56, 84, 3)
