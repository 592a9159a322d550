"""The vLLM engine's translation of requests, sampling settings and outputs (real processors of the tiny
models), everywhere. vLLM itself runs in the ``vllm``-marked tests (``tests/test_vllm_*.py``, make test-vllm)."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

from cache_store.types import CachedMedia
from demo_kit.tiny_models import FAMILIES
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


@pytest.mark.parametrize("family", FAMILIES)
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
    # Qwen3-VL's timestamps and Qwen2.5-VL's second_per_grid_ts come from the metadata alone: a per-video
    # fps list is refused by vLLM's processor call, so none is passed
    assert prompt["mm_processor_kwargs"] == {"do_resize": False, "do_sample_frames": False}


def test_a_video_without_a_known_source_rate_is_described_as_the_official_processor_assumes(tiny_models):
    proc = QwenVLProcessor(tiny_models["qwen2_5_vl"])
    video = _video(proc.video.factor)
    video.source_fps = 0.0
    _, meta = vllm_prompt(proc, GenerationRequest("s", "?", [video]))["multi_modal_data"]["video"]
    assert meta["fps"] is None and "duration" not in meta
    enc = proc.encode("?", [video])
    assert enc.second_per_grid_ts == [2 / 24.0]  # transformers' VideoMetadata.sampled_fps falls back to 24


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
    assert (
        sampled["logprobs"] == 0 and sampled["detokenize"] is False
    )  # log-prob per token; text from the ids


def _decode(ids):
    return "-".join(map(str, ids))


def test_completions_end_with_the_eos_they_stopped_on():
    eos = [2, 9]

    def out(tokens, finish, stop_reason=None):
        return SimpleNamespace(
            text="x", token_ids=tokens, finish_reason=finish, stop_reason=stop_reason, logprobs=None
        )

    assert to_completion(out([5, 6, 2], "stop"), eos, _decode).token_ids == [5, 6, 2]
    assert to_completion(out([5, 6], "stop", stop_reason=9), eos, _decode).token_ids == [5, 6, 9]
    assert to_completion(out([5, 6], "stop"), eos, _decode).token_ids == [5, 6, 2]
    length = to_completion(out([5, 6], "length"), eos, _decode)
    assert length.token_ids == [5, 6] and length.finish_reason == "length"
    assert length.text == "5-6"  # the text is decoded from the ids (vLLM's own text is not used)


def test_completions_keep_the_logprob_of_each_sampled_token():
    def step(token, value):  # vLLM's per-position dict: token id -> Logprob (the sampled one at least)
        return {token: SimpleNamespace(logprob=value), 99: SimpleNamespace(logprob=-9.0)}

    output = SimpleNamespace(
        text="x", token_ids=[5, 2], finish_reason="stop", stop_reason=None,
        logprobs=[step(5, -0.25), step(2, -1.5)],
    )  # fmt: skip
    assert to_completion(output, [2], _decode).logprobs == [-0.25, -1.5]
    output.token_ids, output.logprobs = (
        [5],
        [step(5, -0.25)],
    )  # EOS not returned: appended, no log-prob for it
    done = to_completion(output, [2], _decode)
    assert done.token_ids == [5, 2] and done.logprobs is None


def test_engine_setting_is_checked_at_load():
    from training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"worker.rollout.engine='sglang'; allowed: \('hf', 'vllm'\)"):
        load_config(overrides=["worker.rollout.engine=sglang"])
    with pytest.raises(ConfigError, match="gpu_memory_utilization must be in"):
        load_config(overrides=["worker.rollout.gpu_memory_utilization=1.5"])
    with pytest.raises(ConfigError, match=r"worker.rollout.dtype='fp8'; allowed"):
        load_config(overrides=["worker.rollout.dtype=fp8"])
    assert load_config(overrides=["worker.rollout.engine=hf"]).worker.rollout.engine == "hf"


VLLM_MISSING = "engine=vllm needs vLLM, which this environment lacks: .*make setup-vllm"


@pytest.mark.parametrize("installed", [False, True])
def test_engine_vllm_is_checked_against_the_environment(monkeypatch, installed):
    # Both answers on every machine: find_spec("vllm") is what the check asks (vLLM's CPU build counts).
    from training import hardware
    from training.config import ConfigError, load_config

    find_spec = importlib.util.find_spec
    fake = SimpleNamespace(name="vllm") if installed else None
    monkeypatch.setattr(
        hardware.importlib.util, "find_spec", lambda name, *a: fake if name == "vllm" else find_spec(name, *a)
    )
    if installed:
        assert load_config(overrides=["worker.rollout.engine=vllm"]).worker.rollout.engine == "vllm"
    else:
        with pytest.raises(ConfigError, match=VLLM_MISSING):
            load_config(overrides=["worker.rollout.engine=vllm"])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_engine_vllm_without_vllm_is_a_clear_error():
    from training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=VLLM_MISSING):
        load_config(overrides=["worker.rollout.engine=vllm"])


@pytest.mark.vllm
@pytest.mark.usefixtures("vllm_env")  # make test-vllm: a missing vLLM fails this
def test_engine_vllm_loads_where_vllm_is_installed():
    from training.config import load_config

    assert load_config(overrides=["worker.rollout.engine=vllm"]).worker.rollout.engine == "vllm"
