"""The vLLM engine: request and sampling translation everywhere (real processors of the tiny models), and
generation with vLLM itself only where vLLM imports and CUDA exists (marked ``gpu``; skipped here)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cache_store.types import CachedMedia
from training.engines.base import GenerationRequest, SamplingParams
from training.engines.vllm import BANNED_BIAS, to_completion, vllm_prompt, vllm_sampling_kwargs
from training.models.processor import QwenVLProcessor

WRAPPED = "<|vision_start|><|video_pad|><|vision_end|>"


def _video(factor: int) -> CachedMedia:
    frames = np.random.default_rng(0).integers(0, 255, (4, factor, 2 * factor, 3), dtype=np.uint8)
    return CachedMedia(
        "dv", "/v.mp4", "video", frames, source_fps=30.0, total_frames=120, indices=[0, 40, 80, 119],
        timestamps=[0.0, 1.33, 2.67, 3.97], sample_fps=1.0,
    )  # fmt: skip


def _image(factor: int) -> CachedMedia:
    return CachedMedia("di", "/i.png", "image", np.zeros((1, factor, factor, 3), np.uint8))


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_a_request_becomes_one_placeholder_per_media_with_the_cached_frames(tiny_models, family):
    proc = QwenVLProcessor(tiny_models[family])
    video, image = _video(proc.video.factor), _image(proc.image.factor)
    prompt = vllm_prompt(proc, GenerationRequest("s1", "What happens?", [image, video]))
    text = prompt["prompt"]
    assert text.count(WRAPPED) == 1 and text.count("<|vision_start|><|image_pad|><|vision_end|>") == 1
    assert text.endswith("<|im_start|>assistant\n") and "What happens?" in text
    data = prompt["multi_modal_data"]
    assert data["image"] is image.frames[0] or np.array_equal(data["image"], image.frames[0])
    frames, meta = data["video"]
    assert np.array_equal(frames, video.frames) and frames.shape == (
        4,
        proc.video.factor,
        2 * proc.video.factor,
        3,
    )
    assert (
        meta["fps"] == 30.0 and meta["frames_indices"] == [0, 40, 80, 119] and meta["total_num_frames"] == 120
    )
    assert meta["duration"] == 4.0
    kwargs = prompt["mm_processor_kwargs"]
    assert kwargs["do_resize"] is False and kwargs["do_sample_frames"] is False
    if family == "qwen3_vl":  # timestamps come from the metadata
        assert "fps" not in kwargs
    else:  # second_per_grid_ts = temporal_patch_size / fps, as the trainer's processor computes it
        assert kwargs["fps"] == 1.0


def test_a_text_only_request_has_no_media(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen2_vl"])
    assert set(vllm_prompt(proc, GenerationRequest("t", "2+2?"))) == {"prompt"}


def test_sampling_settings(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen2_5_vl"])
    greedy = vllm_sampling_kwargs(SamplingParams(n=1, temperature=0.0, top_p=0.5, top_k=5), proc)
    assert (greedy["temperature"], greedy["top_p"], greedy["top_k"]) == (0.0, 1.0, -1)
    sampled = vllm_sampling_kwargs(
        SamplingParams(n=4, temperature=0.7, top_p=0.9, max_new_tokens=32, seed=3), proc
    )
    assert sampled["n"] == 4 and sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9
    assert sampled["top_k"] == -1 and sampled["max_tokens"] == 32 and sampled["seed"] == 3
    assert sampled["stop_token_ids"] == proc.eos_token_ids
    vision = {proc.vision_start_id, proc.vision_end_id, proc.image_token_id, proc.video_token_id}
    assert sampled["logit_bias"] == dict.fromkeys(vision, BANNED_BIAS)


def test_completions_end_with_the_eos_they_stopped_on():
    eos = [2, 9]

    def out(tokens, finish, stop_reason=None):
        return SimpleNamespace(text="x", token_ids=tokens, finish_reason=finish, stop_reason=stop_reason)

    assert to_completion(out([5, 6, 2], "stop"), eos).token_ids == [5, 6, 2]
    assert to_completion(out([5, 6], "stop", stop_reason=9), eos).token_ids == [5, 6, 9]
    assert to_completion(out([5, 6], "stop"), eos).token_ids == [5, 6, 2]
    length = to_completion(out([5, 6], "length"), eos)
    assert length.token_ids == [5, 6] and length.finish_reason == "length"


@pytest.mark.gpu
def test_vllm_generates_and_takes_the_trainers_weights(tiny_models, monkeypatch):
    pytest.importorskip("vllm")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from training.engines.hf import HFEngine
    from training.engines.vllm import VLLMEngine

    path = tiny_models["qwen2_5_vl"]
    engine = VLLMEngine(path, enforce_eager=True, gpu_memory_utilization=0.2, dtype="float32")
    proc = engine.processor
    req = GenerationRequest("v", "What happens?", [_video(proc.video.factor)])
    (group,) = engine.generate([req], SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=0))
    assert len(group) == 2 and all(c.token_ids for c in group)
    hf = HFEngine.from_pretrained(path, device="cuda")
    with torch.no_grad():
        for p in hf.model.parameters():
            p.mul_(0.5)  # weights the engine has not seen
    engine.sync_weights(hf.model)
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=8)
    assert engine.generate([req], greedy)[0][0].token_ids == hf.generate([req], greedy)[0][0].token_ids


@pytest.mark.gpu
def test_the_async_engine_matches_the_offline_one_and_takes_batches_without_waiting(tiny_models):
    """VLLMAsyncEngine (AsyncLLM): greedy output equals the offline engine's for the same request, ``submit``
    returns before generation ends, and futures of two submissions both complete."""
    pytest.importorskip("vllm")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from training.engines.vllm import VLLMEngine
    from training.engines.vllm_async import VLLMAsyncEngine

    path = tiny_models["qwen2_5_vl"]
    options = {"enforce_eager": True, "gpu_memory_utilization": 0.2, "dtype": "float32"}
    engine = VLLMAsyncEngine(path, **options)
    try:
        proc = engine.processor
        reqs = [GenerationRequest(f"r{i}", f"What happens {i}?", [_video(proc.video.factor)]) for i in range(3)]
        greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=16)
        first, second = engine.submit(reqs[:2], greedy), engine.submit(reqs[2:], greedy)
        outs = first.result(timeout=300) + second.result(timeout=300)
        assert len(outs) == 3 and all(len(o) == 1 and o[0].token_ids for o in outs)
        assert engine.generate(reqs[:1], SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=0))[0][1]
    finally:
        engine.close()
    offline = VLLMEngine(path, **options)
    assert [o[0].token_ids for o in offline.generate(reqs, greedy)] == [o[0].token_ids for o in outs]


def test_engine_setting_is_checked_at_load():
    import importlib.util

    import torch

    from training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"worker.rollout.engine='sglang'; allowed: \('hf', 'vllm'\)"):
        load_config(overrides=["worker.rollout.engine=sglang"])
    with pytest.raises(ConfigError, match="gpu_memory_utilization must be in"):
        load_config(overrides=["worker.rollout.gpu_memory_utilization=1.5"])
    if importlib.util.find_spec("vllm") is None or not torch.cuda.is_available():
        with pytest.raises(
            ConfigError, match="engine=vllm needs vLLM .* and a CUDA GPU; use worker.rollout.engine=hf"
        ):
            load_config(overrides=["worker.rollout.engine=vllm"])
    assert load_config(overrides=["worker.rollout.engine=hf"]).worker.rollout.engine == "hf"
