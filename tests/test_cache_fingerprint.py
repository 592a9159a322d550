"""Source fingerprints: size + mtime by default, a SHA-256 of the content with ``content_hash=True``.

Uncompressed BMP images make the interesting case exact: two colours of the same size are two files of the
same byte length, so a rewrite can keep size and mtime and change only the content.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import lance
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from cache_store import MediaCache, MediaSpec
from cache_store.keys import Fingerprint, source_fingerprint
from cache_store.schema import ENTRIES_FILE_FORMAT, ENTRIES_SCHEMA

SPEC = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)


def bmp(path, colour) -> str:
    Image.new("RGB", (56, 56), colour).save(path, format="BMP")
    return str(path)


def rewrite_keeping_size_and_mtime(path, colour) -> None:
    st = os.stat(path)
    bmp(path, colour)
    assert os.stat(path).st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def touch_later(path) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def pixel(cache, digest) -> list[int]:
    return cache.get(digest).frames[0, 0, 0].tolist()


@pytest.mark.parametrize(
    "stored, expected",
    [
        ((10, 5, None), True),  # no hash on either side: size and mtime
        ((10, 6, None), False),
        ((11, 5, "aa"), False),  # size always counts
        ((10, 6, "aa"), True),  # both hashed: the hash decides, mtime is ignored
        ((10, 5, "bb"), False),
    ],
)
def test_fingerprint_matches(stored, expected):
    assert Fingerprint(10, 5, "aa").matches(*stored) is expected


def test_unhashed_fingerprint_ignores_a_stored_hash():
    assert Fingerprint(10, 5).matches(10, 5, "aa") and not Fingerprint(10, 5).matches(10, 6, "aa")


def test_source_fingerprint_hashes_the_bytes(tmp_path):
    path = bmp(tmp_path / "a.bmp", (1, 2, 3))
    fp = source_fingerprint(path, content_hash=True)
    assert fp.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert (fp.size, fp.mtime_ns) == (os.stat(path).st_size, os.stat(path).st_mtime_ns)
    assert source_fingerprint(path).sha256 is None


def test_content_hash_sees_a_rewrite_that_keeps_size_and_mtime(tmp_path):
    path = bmp(tmp_path / "a.bmp", (200, 10, 10))
    hashed = MediaCache(tmp_path / "hashed", content_hash=True)
    plain = MediaCache(tmp_path / "plain")
    digest = hashed.build([(path, "image")], SPEC).digests[path]
    plain.build([(path, "image")], SPEC)
    assert hashed.show(path)["fingerprint"]["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()

    rewrite_keeping_size_and_mtime(path, (10, 10, 200))
    assert plain.lookup(path, "image", SPEC) is not None  # size + mtime cannot see it (the documented limit)
    assert hashed.lookup(path, "image", SPEC) is None
    (row,) = hashed.stale()
    assert row["reasons"] == ["source_changed"] and "sha256" in row["detail"]

    report = hashed.build([(path, "image")], SPEC)
    assert (report.hits, report.replaced) == (0, 1)
    assert pixel(hashed, digest)[2] > 150  # the new blue image, not the cached red one
    assert hashed.stale() == []


def test_content_hash_keeps_a_touched_file_a_hit(tmp_path):
    path = bmp(tmp_path / "a.bmp", (200, 10, 10))
    hashed = MediaCache(tmp_path / "hashed", content_hash=True)
    plain = MediaCache(tmp_path / "plain")
    hashed.build([(path, "image")], SPEC)
    plain.build([(path, "image")], SPEC)

    touch_later(path)
    assert plain.lookup(path, "image", SPEC) is None and plain.stale()[0]["reasons"] == ["source_changed"]
    assert hashed.lookup(path, "image", SPEC) is not None and hashed.stale() == []
    assert hashed.build([(path, "image")], SPEC).hits == 1


def test_rows_built_without_a_hash_fall_back_to_mtime(tmp_path):
    path = bmp(tmp_path / "a.bmp", (200, 10, 10))
    MediaCache(tmp_path / "c").build([(path, "image")], SPEC)
    hashed = MediaCache(tmp_path / "c", content_hash=True)
    assert hashed.lookup(path, "image", SPEC) is not None
    touch_later(path)
    assert hashed.lookup(path, "image", SPEC) is None


def test_a_store_without_the_hash_column_is_migrated(tmp_path):
    """Stores written before ``source_sha256`` existed open, gain the column (null) and keep working."""
    root = tmp_path / "old"
    old_schema = pa.schema([f for f in ENTRIES_SCHEMA if f.name != "source_sha256"])
    root.mkdir()
    lance.write_dataset(
        old_schema.empty_table(), str(root / "entries.lance"), data_storage_version=ENTRIES_FILE_FORMAT
    )
    path = bmp(tmp_path / "a.bmp", (200, 10, 10))
    cache = MediaCache(root, content_hash=True)
    assert "source_sha256" in lance.dataset(cache.entries_uri).schema.names
    digest = cache.build([(path, "image")], SPEC).digests[path]
    assert cache.show(path)["fingerprint"]["sha256"] is not None
    assert np.array_equal(cache.get(digest).frames[0, 0, 0], [200, 10, 10])
