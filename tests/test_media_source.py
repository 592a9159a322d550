"""``data.media_source``: cache, prefer_cache and decode hand the trainer and the pass-rate filter the same
tensors (real videos, a real Lance cache, the real Ray Data reader, the real trainer and filter)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cache_store import MediaCache, MediaSpec, write_video
from training.config import ConfigError, load_config
from training.data.media_source import MediaFetcher, MediaSource
from training.data.stream import stream_batches

SPEC = MediaSpec(fps=2.0, max_frames=4, max_pixels=56 * 84, min_pixels=28 * 28, factor=28)
MODES = ("cache", "prefer_cache", "decode")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three 4 s videos (distinct moving content, odd size so the resize really resamples), two of them in a
    Lance cache; the rows name all three with their digests, as the media_cache asset writes them."""
    root = tmp_path_factory.mktemp("media_source")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        frames = rng.integers(0, 255, (16, 70, 110, 3), dtype=np.uint8)
        frames[:, 10:30, 5 + 4 * i : 25 + 4 * i] = (255, 0, 0)
        paths.append(str(write_video(root / f"v{i}.mp4", frames, fps=4)))
    cache_root = str(root / "cache")
    report = MediaCache(cache_root).build([(p, "video") for p in paths[:2]], SPEC)
    digests = {p: report.digests.get(p) or SPEC.key_for(p, "video").digest() for p in paths}
    rows = [
        {
            "sample_id": f"s{i}",
            "problem": "Is there a red square?",
            "problem_type": "boolean",
            "data_type": "video",
            "answer": "yes",
            "options": [],
            "media": [{"source": p, "kind": "video", "digest": digests[p]}],
        }
        for i, p in enumerate(paths)
    ]
    return cache_root, rows


def _fields(media) -> dict:
    """Everything a ``CachedMedia`` carries, frames as bytes plus shape (bit-identical means equal here)."""
    out = dataclasses.asdict(media)
    out["frames"] = (media.frames.shape, media.frames.dtype.str, media.frames.tobytes())
    return out


def test_the_three_modes_fetch_bit_identical_media(corpus):
    cache_root, rows = corpus
    cached_rows = rows[:2]
    fetched = {}
    for mode in MODES:
        fetcher = MediaFetcher(cache_root, MediaSource(mode, SPEC))
        fetched[mode] = [_fields(m) for r in cached_rows for m in fetcher.fetch(r["sample_id"], r["media"])]
        assert fetcher.decoded == (2 if mode == "decode" else 0)
    assert fetched["cache"] == fetched["prefer_cache"] == fetched["decode"]
    assert fetched["cache"][0]["frames"][0] == (4, 28, 84, 3)  # really sampled and resized


def test_prefer_cache_decodes_only_what_the_cache_lacks(corpus):
    cache_root, rows = corpus
    fetcher = MediaFetcher(cache_root, MediaSource("prefer_cache", SPEC))
    got = [fetcher.fetch(r["sample_id"], r["media"])[0] for r in rows]
    assert fetcher.decoded == 1  # v2 was never built
    decoded = MediaFetcher(None, MediaSource("decode", SPEC))
    assert [_fields(m) for m in got] == [_fields(decoded.fetch(r["sample_id"], r["media"])[0]) for r in rows]


def test_cache_mode_names_the_sample_and_the_fix_for_a_missing_entry(corpus):
    cache_root, rows = corpus
    with pytest.raises(
        KeyError, match=r"sample s2: media not in the cache .*v2\.mp4.*data.media_source=prefer_cache"
    ):
        MediaFetcher(cache_root, MediaSource("cache", SPEC)).fetch("s2", rows[2]["media"])


def test_decode_mode_never_opens_the_cache(corpus, tmp_path):
    _, rows = corpus
    absent = tmp_path / "no_cache_here"
    fetcher = MediaFetcher(str(absent), MediaSource("decode", SPEC))
    assert fetcher.cache is None and fetcher.fetch("s0", rows[0]["media"])[0].frames.shape == (4, 28, 84, 3)
    assert not absent.exists()
    no_digest = [{k: v for k, v in rows[0]["media"][0].items() if k != "digest"}]  # rows never cached
    assert fetcher.fetch("s0", no_digest)[0].digest == rows[0]["media"][0]["digest"]


def test_rows_cached_under_other_settings_are_refused_not_decoded_differently(corpus):
    cache_root, rows = corpus
    other = dataclasses.replace(SPEC, max_frames=6)
    with pytest.raises(ValueError, match="sample s2: .*v2.mp4 has digest .* the rows were cached with other"):
        MediaFetcher(cache_root, MediaSource("prefer_cache", other)).fetch("s2", rows[2]["media"])


def test_media_source_and_config_validation():
    with pytest.raises(
        ValueError, match=r"data.media_source='disk'; allowed: \['cache', 'prefer_cache', 'decode'\]"
    ):
        MediaSource("disk", SPEC)
    with pytest.raises(ValueError, match="data.media_source=decode decodes media on the fly and needs"):
        MediaSource("decode")
    assert load_config().data.media_source == "cache"
    assert load_config(overrides=["data.media_source=prefer_cache"]).data.media_source == "prefer_cache"
    with pytest.raises(
        ConfigError, match=r"data.media_source='realtime'; allowed: \['cache', 'prefer_cache'"
    ):
        load_config(overrides=["data.media_source=realtime"])


def test_the_ray_data_stream_gives_identical_batches_in_every_mode(corpus):
    cache_root, rows = corpus
    rows = rows[:2]
    seen = {}
    for mode in MODES:
        batches = stream_batches(
            rows, cache_root, batch_size=2, shuffle=False, epochs=1, media=MediaSource(mode, SPEC)
        )
        seen[mode] = [(it.sample_id, [_fields(m) for m in it.media]) for b in batches for it in b]
    assert seen["cache"] == seen["prefer_cache"] == seen["decode"]
    assert [s for s, _ in seen["cache"]] == ["s0", "s1"]


def test_fetch_ahead_zero_fetches_each_batch_when_asked_in_the_consumers_thread(corpus, monkeypatch):
    """``fetch_ahead=0`` (step_bench's ``inline`` arm): the same batches, each fetched in the thread that asks
    for it; by default Ray Data's formatting threads fetch ahead of the consumer."""
    import threading

    cache_root, rows = corpus
    rows = rows[:2]
    threads: list[int] = []
    real = MediaFetcher.fetch_rows

    def recording(self, *args, **kwargs):
        threads.append(threading.get_ident())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MediaFetcher, "fetch_rows", recording)
    seen = {}
    for ahead in (None, 0):
        threads.clear()
        stream = stream_batches(
            rows, cache_root, 1, shuffle=False, epochs=1, media=MediaSource("decode", SPEC), fetch_ahead=ahead
        )
        seen[ahead] = [(it.sample_id, [_fields(m) for m in it.media]) for b in stream for it in b]
        assert len(threads) == 2
        on_consumer = [t == threading.get_ident() for t in threads]
        assert on_consumer == ([True, True] if ahead == 0 else [False, False]), (ahead, on_consumer)
    assert seen[None] == seen[0] and [s for s, _ in seen[0]] == ["s0", "s1"]


def _batch(cache_root, rows, mode):
    return next(
        iter(stream_batches(rows, cache_root, 2, shuffle=False, epochs=1, media=MediaSource(mode, SPEC)))
    )


def test_first_rl_step_and_processor_inputs_are_identical_in_every_mode(corpus, tiny_models, tmp_path):
    from training.loop.trainer import RLTrainer

    cache_root, rows = corpus
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=6",
            "worker.actor.lr=1e-2", "trainer.logger=[jsonl]",
        ]
    )  # fmt: skip
    metrics, grids = {}, {}
    for mode in MODES:
        items = _batch(cache_root, rows[:2], mode)
        trainer = RLTrainer(cfg, cfg.model_path, tmp_path / mode).setup()
        encoded = [trainer.processor.encode(it.prompt(), it.media) for it in items]
        grids[mode] = [
            (e.video_grid_thw, e.input_ids, e.pixel_values_videos.numpy().tobytes()) for e in encoded
        ]
        step = trainer.step(items)
        trainer.close()
        metrics[mode] = {k: v for k, v in step.items() if not k.startswith("timing_s/")}
        assert step["timing_s/step"] > 0 and step["timing_s/gen"] > 0
    assert grids["cache"] == grids["prefer_cache"] == grids["decode"]
    assert metrics["cache"] == metrics["prefer_cache"] == metrics["decode"]
    assert metrics["cache"]["perf/total_num_tokens"] > 0 and "actor/pg_loss" in metrics["cache"]


def test_pass_rates_are_identical_in_every_mode(corpus, tiny_models):
    from training.filtering.pass_rates import compute_pass_rates

    cache_root, rows = corpus
    rates = {
        mode: compute_pass_rates(
            tiny_models["qwen2_vl"], [_batch(cache_root, rows[:2], mode)], k=3, max_new_tokens=4, seed=5
        )
        for mode in MODES
    }
    assert rates["cache"] == rates["prefer_cache"] == rates["decode"] and len(rates["cache"]) == 2
