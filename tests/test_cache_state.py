"""``MediaCache.state``: the fingerprint of the rows a dataset uses moves exactly when what it would read
moves (a real Lance cache and real mp4 files)."""

from __future__ import annotations

from test_cache_admin import SPEC28, bump_mtime, coloured_video

from cache_store import MediaCache


def test_fingerprint_moves_only_with_the_rows_used(tmp_path):
    a, b, other = (
        coloured_video(tmp_path / f"{n}.mp4", order=range(k, k + 10))
        for n, k in (("a", 0), ("b", 5), ("o", 9))
    )
    cache = MediaCache(str(tmp_path / "cache"))
    report = cache.build([(a, "video"), (b, "video")], SPEC28)
    used = [report.digests[a], report.digests[b]]

    first = cache.state(used, SPEC28)
    assert (first.digests, first.present, first.servable, first.stale, first.missing) == (2, 2, 2, [], [])
    assert first.version == cache.version()
    assert cache.state(list(reversed(used)) + used, SPEC28).fingerprint == first.fingerprint  # a set

    cache.build([(a, "video"), (b, "video")], SPEC28)  # all hits
    cache.build([(other, "video")], SPEC28)  # rows the dataset does not use
    assert cache.state(used, SPEC28).fingerprint == first.fingerprint

    bump_mtime(a)  # the source changed on disk: the row is still there but lookup would refuse it
    edited = cache.state(used, SPEC28)
    assert edited.fingerprint != first.fingerprint
    assert [(s["digest"], s["reasons"]) for s in edited.stale] == [(report.digests[a], ["source_changed"])]

    cache.build([(a, "video")], SPEC28)  # rebuilt: a new build_id, servable again, still a new version
    rebuilt = cache.state(used, SPEC28)
    assert rebuilt.stale == [] and rebuilt.fingerprint not in (first.fingerprint, edited.fingerprint)

    cache.invalidate(sources=[b])
    gone = cache.state(used, SPEC28)
    assert gone.missing == [report.digests[b]] and gone.present == 1 and gone.servable == 1
    assert gone.fingerprint != rebuilt.fingerprint
