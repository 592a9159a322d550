"""Cache administration on real Lance datasets and real mp4/PNG files: show, history, stale, invalidate,
compact, and the lineage migration of stores written before lineage kept key lists."""

from __future__ import annotations

import os
import pickle
import threading
from datetime import UTC, datetime

import lance
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from cache_store import MediaCache, MediaSpec, write_video
from cache_store.describe import grid_thw, grids_by_family, visual_tokens
from cache_store.journal import Journals
from cache_store.legacy import LINEAGE_MIGRATION
from cache_store.schema import LINEAGE_SCHEMA

# 64x96 frames: factor 28 inside [4, 16] tokens -> 56x84; factor 32 -> 64x96 (already multiples of 32).
SPEC28 = MediaSpec(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
SPEC32 = MediaSpec(fps=1.0, factor=32, min_pixels=4 * 32 * 32, max_pixels=16 * 32 * 32)
# frame i has one flat colour; neighbours differ by 8 in R and G and 37 in B, far above codec error
COLOURS = np.array([[(8 * i) % 256, 255 - (8 * i) % 256, (37 * i) % 256] for i in range(30)], dtype=np.uint8)


def coloured_video(path, order=range(30), fps=10) -> str:
    frames = np.broadcast_to(COLOURS[list(order)][:, None, None, :], (len(order), 64, 96, 3)).copy()
    return str(write_video(path, frames, fps))


def which_frames(frames: np.ndarray) -> list[int]:
    means = frames.reshape(len(frames), -1, 3).mean(axis=1)
    return [int(np.abs(COLOURS.astype(float) - m).sum(axis=1).argmin()) for m in means]


def bump_mtime(path) -> None:
    st = os.stat(path)  # a rewrite inside one clock tick can keep (size, mtime): make the change certain
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def digests_in(cache: MediaCache) -> set[str]:
    return set(lance.dataset(cache.entries_uri).to_table(columns=["digest"]).column("digest").to_pylist())


def disk_bytes(uri: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(uri) for f in files)


def test_grid_helpers_by_hand():
    assert grid_thw(6, 56, 84, 14) == [3, 4, 6]
    assert grid_thw(5, 64, 96, 16) == [3, 4, 6]  # an odd T fills its last temporal patch by repetition
    assert grid_thw(1, 56, 112, 14) == [1, 4, 8]  # an image
    with pytest.raises(ValueError, match="multiples of 32"):
        grid_thw(6, 56, 84, 16)
    qwen3_grids = {f: [2, 4, 6] for f in ("qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")}
    assert grids_by_family(4, 64, 96, 32) == qwen3_grids
    assert grids_by_family(6, 56, 84, 28) == {"qwen2_vl": [3, 4, 6], "qwen2_5_vl": [3, 4, 6]}
    assert grids_by_family(6, 60, 90, 30) == {}
    assert visual_tokens([3, 4, 6]) == 18


def test_journal_of_the_running_build_is_found_from_helper_threads():
    journals = Journals()
    seen = []

    def helper():
        seen.append(journals.current())

    assert journals.current() is None
    with journals.recording() as first:
        first.added += ["b", "a", "b"]
        thread = threading.Thread(target=helper)
        thread.start()
        thread.join()
        with journals.recording() as second:  # two builds: a helper thread cannot tell whose it is
            thread = threading.Thread(target=helper)
            thread.start()
            thread.join()
            assert journals.current() is second
        assert journals.current() is first
    assert seen == [first, None] and journals.current() is None
    assert first.key_lists() == {
        "keys_added": ["a", "b"],
        "keys_replaced": [],
        "keys_removed": [],
        "keys_failed": [],
    }
    assert pickle.loads(pickle.dumps(journals)).current() is None


def test_show_is_exact_for_factor_28_and_32(tmp_path):
    from training.models.processor import VisionSettings, patchify

    video = coloured_video(tmp_path / "clip.mp4")
    image = tmp_path / "flat.png"
    Image.new("RGB", (100, 60), (10, 200, 30)).save(image)
    cache = MediaCache(tmp_path / "cache")
    first = cache.build([(video, "video"), (str(image), "image")], SPEC28)
    second = cache.build([(video, "video")], SPEC32)
    d28, d32, dimg = first.digests[video], second.digests[video], first.digests[str(image)]

    info = cache.show(d28)
    assert (info["digest"], info["source"], info["kind"]) == (d28, video, "video")
    assert info["key"] == {"fps": 2.0, "max_frames": 16, "max_pixels": 16 * 28 * 28}
    assert info["validity"] == {
        "min_pixels": 4 * 28 * 28,
        "min_frames": 4,
        "total_pixels": None,
        "factor": 28,
        "preprocess_version": "1",
    }
    st = os.stat(video)
    assert info["fingerprint"] == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": None}
    assert (info["stale"], info["stale_reasons"]) == (False, [])
    assert (info["t"], info["h"], info["w"], info["c"], info["bytes"]) == (6, 56, 84, 3, 6 * 56 * 84 * 3)
    # 30 frames at 10 fps sampled at 2 fps: 6 frames at linspace(0, 29, 6).round()
    assert info["indices"] == [0, 6, 12, 17, 23, 29]
    assert info["timestamps"] == pytest.approx([0.0, 0.6, 1.2, 1.7, 2.3, 2.9])
    assert (info["sample_fps"], info["source_fps"], info["total_frames"]) == (2.0, 10.0, 30)
    assert info["video_grid_thw"] == {"qwen2_vl": [3, 4, 6], "qwen2_5_vl": [3, 4, 6]}
    assert info["visual_tokens"] == {"qwen2_vl": 18, "qwen2_5_vl": 18}
    assert (info["build_id"], info["build_version"]) == (first.build_id, first.version)
    assert info["version"] == cache.version() == second.version
    assert [(e["action"], e["build_id"]) for e in info["history"]] == [("added", first.build_id)]

    qwen3 = cache.show(d32)
    # 3 s at 1 fps -> 3 frames, raised to min_frames 4: linspace(0, 29, 4).round() = [0, 10, 19, 29]
    assert qwen3["indices"] == [0, 10, 19, 29]
    assert qwen3["timestamps"] == pytest.approx([0.0, 1.0, 1.9, 2.9])
    assert qwen3["sample_fps"] == pytest.approx(4 / 30 * 10)
    assert (qwen3["t"], qwen3["h"], qwen3["w"]) == (4, 64, 96)
    assert qwen3["video_grid_thw"] == {
        f: [2, 4, 6] for f in ("qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")
    }
    assert qwen3["visual_tokens"]["qwen3_vl"] == 12
    frames32 = cache.get(d32).frames
    assert which_frames(frames32) == [0, 10, 19, 29]

    # the grid is the one the model-input code computes from the cached frames themselves
    mean_std = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    for digest, family, patch in ((d28, "qwen2_5_vl", 14), (d32, "qwen3_vl", 16)):
        _, grid = patchify(cache.get(digest).frames, VisionSettings(patch, 2, 2, *mean_std))
        assert cache.show(digest)["video_grid_thw"][family] == grid

    picture = cache.show(dimg)
    assert (picture["kind"], picture["t"], picture["h"], picture["w"]) == ("image", 1, 56, 112)
    assert picture["image_grid_thw"] == {"qwen2_vl": [1, 4, 8], "qwen2_5_vl": [1, 4, 8]}
    assert cache.show(str(image))["digest"] == dimg  # a source with one key resolves to it

    with pytest.raises(ValueError, match=f"2 cache entries: .*{min(d28, d32)}.*pass one of these digests"):
        cache.show(video)
    out = cache.dump_frames(d32, tmp_path / "dump" / "frames.npy")
    assert np.array_equal(np.load(out), frames32) and np.load(out).dtype == np.uint8
    with pytest.raises(KeyError, match="no cache entry .* `reelrl cache build`"):
        cache.show(tmp_path / "never-built.mp4")


def test_history_across_build_replace_break_fix_and_invalidate(tmp_path):
    video = coloured_video(tmp_path / "clip.mp4")
    cache = MediaCache(tmp_path / "cache")
    built = cache.build([(video, "video")], SPEC28)
    digest = built.digests[video]

    coloured_video(video, order=range(29, -1, -1))
    bump_mtime(video)
    replaced = cache.build([(video, "video")], SPEC28)
    with open(video, "wb") as f:
        f.write(np.random.default_rng(0).bytes(2048))
    broken = cache.build([(video, "video")], SPEC28)  # row deleted (removed) and failure recorded
    coloured_video(video)
    bump_mtime(video)
    fixed = cache.build([(video, "video")], SPEC28)
    hit = cache.build([(video, "video")], SPEC28)  # a hit is no event
    dropped = cache.invalidate(sources=[video])

    expected = [
        ("build", built.build_id, "added"),
        ("build", replaced.build_id, "replaced"),
        ("build", broken.build_id, "removed"),
        ("build", broken.build_id, "failed"),
        ("build", fixed.build_id, "added"),
        ("invalidate", dropped.invalidation_id, "removed"),
    ]
    by_source = cache.history(video)
    assert [(e["kind"], e["build_id"], e["action"]) for e in by_source] == expected
    assert {e["digest"] for e in by_source} == {digest}
    assert cache.history(digest) == by_source
    assert [e["entries_version"] for e in by_source][-1] == dropped.version
    lineage = cache.lineage()
    assert [row["kind"] for row in lineage] == ["build"] * 5 + ["invalidate"]
    assert lineage[4]["build_id"] == hit.build_id and lineage[4]["hits"] == 1
    assert (lineage[4]["keys_added"], lineage[4]["keys_replaced"]) == ([], [])
    assert (lineage[2]["keys_removed"], lineage[2]["keys_failed"]) == ([digest], [digest])
    # the source is gone from entries now, yet its history is still found (through the builds' specs)
    with pytest.raises(KeyError, match=f"invalidate {dropped.invalidation_id} removed it"):
        cache.show(video)
    assert cache.history(tmp_path / "other.mp4") == []


def test_stale_lists_modified_and_deleted_sources_with_reasons(tmp_path):
    keep, change, gone = (coloured_video(tmp_path / f"{n}.mp4") for n in ("keep", "change", "gone"))
    cache = MediaCache(tmp_path / "cache")
    report = cache.build([(p, "video") for p in (keep, change, gone)], SPEC28)
    assert cache.stale() == []

    coloured_video(change, order=range(29, -1, -1))
    bump_mtime(change)
    os.remove(gone)
    rows = {r["source"]: r for r in cache.stale()}
    assert set(rows) == {change, gone}
    assert rows[change]["reasons"] == ["source_changed"] and "mtime" in rows[change]["detail"]
    assert rows[gone]["reasons"] == ["source_missing"] and rows[gone]["detail"] == f"{gone} no longer exists"
    assert rows[change]["digest"] == report.digests[change] and rows[change]["build_id"] == report.build_id
    assert cache.lookup(change, "video", SPEC28) is None and cache.lookup(keep, "video", SPEC28) is not None

    qwen3 = MediaSpec(factor=32, min_pixels=4 * 32 * 32, max_pixels=SPEC28.max_pixels)  # same key fields
    by_spec = {r["source"]: r["reasons"] for r in cache.stale(spec=qwen3)}
    assert by_spec == {
        keep: ["spec_mismatch"],
        change: ["source_changed", "spec_mismatch"],
        gone: ["source_missing", "spec_mismatch"],
    }
    assert "factor 28 (spec 32)" in cache.show(keep, spec=qwen3)["stale_detail"]

    again = cache.build([(p, "video") for p in (keep, change, gone)], SPEC28)
    assert (again.hits, again.replaced, again.removed) == (1, 1, 1)
    assert cache.stale() == []


def test_invalidate_by_source_digest_and_parameters(tmp_path, monkeypatch):
    # a quote in the path must not break the SQL filters that select by source
    a, b = coloured_video(tmp_path / "it's.mp4"), coloured_video(tmp_path / "b.mp4", order=range(5, 25))
    fps1 = MediaSpec(fps=1.0, min_pixels=SPEC28.min_pixels, max_pixels=SPEC28.max_pixels)
    cache = MediaCache(tmp_path / "cache")
    at2 = cache.build([(a, "video"), (b, "video")], SPEC28).digests
    at1 = cache.build([(a, "video"), (b, "video")], fps1).digests
    assert len(digests_in(cache)) == 4

    preview = cache.invalidate(where={"fps": 2}, dry_run=True)
    assert preview.digests == sorted([at2[a], at2[b]]) and preview.removed == 0
    assert cache.version() == preview.version_before and len(digests_in(cache)) == 4

    monkeypatch.chdir(tmp_path)  # a relative spelling names the same source
    before = cache.version()
    by_source = cache.invalidate(sources=["it's.mp4", "nowhere.mp4"])
    assert by_source.removed == 2 and by_source.digests == sorted([at2[a], at1[a]])
    assert by_source.unmatched_sources == [str(tmp_path / "nowhere.mp4")]
    assert by_source.version == cache.version() == before + 1
    assert digests_in(cache) == {at2[b], at1[b]}
    row = cache.lineage()[-1]
    assert (row["kind"], row["build_id"], row["entries_version"]) == (
        "invalidate",
        by_source.invalidation_id,
        by_source.version,
    )
    assert row["keys_removed"] == by_source.digests and row["removed"] == 2 and row["spec_json"] is None

    by_digest = cache.invalidate(digests=[at1[b]])
    assert by_digest.digests == [at1[b]] and digests_in(cache) == {at2[b]}
    by_params = cache.invalidate(where={"fps": 2.0, "max_frames": 16, "factor": 28, "kind": "video"})
    assert by_params.digests == [at2[b]] and digests_in(cache) == set()
    nothing = cache.invalidate(where={"fps": 2.0})
    assert (nothing.removed, nothing.version) == (0, by_params.version)  # no match: no version, no lineage
    assert [r["kind"] for r in cache.lineage()].count("invalidate") == 3

    rebuilt = cache.build([(a, "video"), (b, "video")], SPEC28)
    assert rebuilt.built == 2 and rebuilt.digests == at2
    assert [e["action"] for e in cache.history(a)] == ["added", "added", "removed", "removed", "added"]

    with pytest.raises(ValueError, match="at least one selector"):
        cache.invalidate()
    with pytest.raises(ValueError, match="cannot select on 'colour'"):
        cache.invalidate(where={"colour": "red"})
    with pytest.raises(ValueError, match="not cache digests"):
        cache.invalidate(digests=["xyz"])
    for odd in ("many", 2.5, True):
        with pytest.raises(ValueError, match="is not int valued"):
            cache.invalidate(where={"max_frames": odd})
    with pytest.raises(ValueError, match="must be finite"):
        cache.invalidate(where={"fps": float("nan")})


def test_compact_keeps_data_readable_and_the_latest_lineage_version(tmp_path):
    paths = [coloured_video(tmp_path / f"v{i}.mp4", order=range(i, i + 20)) for i in range(3)]
    cache = MediaCache(tmp_path / "cache")
    digests = {}
    for p in paths:  # one build per source: several fragments and versions
        digests.update(cache.build([(p, "video")], SPEC28).digests)
    frames = {d: cache.get(d).frames for d in digests.values()}
    dropped = cache.invalidate(sources=[paths[0]])
    old = lance.dataset(cache.entries_uri)
    versions_before, fragments_before = len(old.versions()), len(old.get_fragments())
    assert fragments_before == 2  # v0's fragment held only deleted rows: Lance dropped it whole

    report = cache.compact(keep_versions=1)
    assert report.protected_version == dropped.version == cache.lineage()[-1]["entries_version"]
    entries = {t.table: t for t in report.tables}["entries"]
    assert (entries.versions_before, entries.fragments_before) == (versions_before, 2)
    assert entries.fragments_after == 1
    now = lance.dataset(cache.entries_uri)
    kept = [v["version"] for v in now.versions()]
    assert kept == [dropped.version, now.version] and entries.versions_after == 2
    assert set(entries.versions_removed).isdisjoint(kept) and 1 in entries.versions_removed
    for table in report.tables:
        uri = getattr(cache, f"{table.table}_uri")
        assert table.bytes_after == disk_bytes(uri)
        assert len(lance.dataset(uri).versions()) == table.versions_after
    with pytest.raises(ValueError):
        lance.dataset(cache.entries_uri, version=1)
    pinned = lance.dataset(cache.entries_uri, version=dropped.version).to_table(columns=["digest"])
    assert set(pinned.column("digest").to_pylist()) == set(frames) - set(dropped.digests)

    for p in paths[1:]:
        d = digests[p]
        assert np.array_equal(cache.get(d).frames, frames[d])
        assert cache.lookup(p, "video", SPEC28).digest == d
    assert "digest" in str(now.describe_indices())
    again = cache.build([(p, "video") for p in paths], SPEC28)
    assert (again.hits, again.built) == (2, 1)
    with pytest.raises(ValueError, match="keep_versions"):
        cache.compact(keep_versions=0)


def test_lineage_written_before_key_lists_is_migrated(tmp_path):
    root = tmp_path / "cache"
    old_schema = pa.schema([f for f in LINEAGE_SCHEMA if f.name not in LINEAGE_MIGRATION])
    old_row = {name: None for name in old_schema.names}
    old_row |= {"build_id": "0123456789abcdef", "time": datetime(2025, 1, 1, tzinfo=UTC), "added": 3}
    lance.write_dataset(pa.Table.from_pylist([old_row], schema=old_schema), str(root / "lineage.lance"))

    cache = MediaCache(root)
    assert set(lance.dataset(cache.lineage_uri).schema.names) == set(LINEAGE_SCHEMA.names)
    (row,) = cache.lineage()
    assert (row["build_id"], row["added"], row["kind"], row["keys_added"]) == (
        "0123456789abcdef",
        3,
        "build",
        None,
    )
    video = coloured_video(tmp_path / "clip.mp4")
    report = cache.build([(video, "video")], SPEC28)
    assert [r["kind"] for r in cache.lineage()] == ["build", "build"]
    assert [e["build_id"] for e in cache.history(video)] == [report.build_id]
    assert MediaCache(root).lineage()[-1]["keys_added"] == [report.digests[video]]  # reopening: no migration
    assert pickle.loads(pickle.dumps(cache)).history(video) == cache.history(video)  # Ray tasks pickle it
