"""Cache keys, digests and MediaSpec validation."""

from __future__ import annotations

import hashlib
import os

import pytest

from cache_store import CacheKey, MediaSpec, canonical_source


def test_digest_is_stable_sha1_of_canonical_string():
    key = CacheKey("/data/a.mp4", 2.0, 16, 602112)
    assert key.canonical() == "v1|/data/a.mp4|fps=2.0|max_frames=16|max_pixels=602112"
    assert key.digest() == hashlib.sha1(key.canonical().encode()).hexdigest()[:16]
    assert key.digest() == "f37a9f7b684d0e12"  # pinned: a change here orphans every cached row
    assert CacheKey("/data/a.mp4", 2, 16, 602112).digest() == key.digest()  # int and float fps agree
    assert CacheKey("/data/a.mp4", 1.0, 16, 602112).digest() != key.digest()


def test_canonical_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert canonical_source("x/../clip.mp4") == os.path.join(str(tmp_path), "clip.mp4")
    assert canonical_source("s3://bucket/clip.mp4") == "s3://bucket/clip.mp4"
    assert canonical_source("file:///data/clip.mp4") == "file:///data/clip.mp4"


def test_spec_defaults_resolve_from_factor():
    spec = MediaSpec()
    assert (spec.fps, spec.max_frames, spec.min_frames, spec.factor) == (2.0, 16, 4, 28)
    assert (spec.min_pixels, spec.max_pixels) == (128 * 28 * 28, 768 * 28 * 28)
    assert (spec.image_min_pixels, spec.image_max_pixels) == (4 * 28 * 28, 16384 * 28 * 28)
    qwen3 = MediaSpec.for_model("Qwen/Qwen3-VL-2B-Instruct")
    assert (qwen3.factor, qwen3.min_pixels, qwen3.max_pixels) == (32, 128 * 32 * 32, 768 * 32 * 32)
    assert MediaSpec(max_pixels=768 * 28 * 28) == spec  # an explicit default is the same spec


def test_key_for_video_and_image(tmp_path):
    spec = MediaSpec(max_pixels=200704, image_max_pixels=50176)
    path = str(tmp_path / "a.mp4")
    assert spec.key_for(path, "video") == CacheKey(path, 2.0, 16, 200704)
    assert spec.key_for(path, "image") == CacheKey(path, 0.0, 1, 50176)
    # validity fields are not in the key: a different factor keeps the digest, changes validity
    other = MediaSpec(max_pixels=200704, image_max_pixels=50176, factor=32, min_pixels=3136)
    assert other.key_for(path, "video").digest() == spec.key_for(path, "video").digest()
    assert other.validity("video") != spec.validity("video")
    with pytest.raises(ValueError, match="kind must be one of"):
        spec.key_for(path, "audio")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"fps": 0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"max_frames": 1}, "max_frames"),
        ({"min_frames": 0}, "min_frames"),
        ({"min_frames": 20, "max_frames": 16}, "min_frames"),
        ({"max_pixels": 1000}, "max_pixels"),  # below the default min_pixels 100352
        ({"min_pixels": -1}, "min_pixels"),
        ({"image_min_pixels": 10, "image_max_pixels": 5}, "image_max_pixels"),
        ({"total_pixels": 0}, "total_pixels"),
        ({"factor": 0}, "factor"),
        ({"factor": True}, "factor"),
        ({"preprocess_version": ""}, "preprocess_version"),
    ],
)
def test_spec_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"MediaSpec.{field}"):
        MediaSpec(**kwargs)
