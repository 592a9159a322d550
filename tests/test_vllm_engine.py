"""vLLM's offline engine (``VLLMEngine``, in-process, float32) against the HF engine and the trainer's own
log-probs, for every family, on media read out of a real Lance cache: the same prompt ids, the same greedy
tokens, the same log-probs of the same tokens (within 1e-4) for text, image, video (even, odd and long frame
counts), image+video and two-video prompts; weight sync through vLLM's reload path with every cache reset;
and vLLM's own M-RoPE position function against ``training.models.positions``. Run with ``make test-vllm``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from vllm_families import EXPERT_RELOAD_ON_CPU, vllm_families

from demo_kit.synthetic.engine_media import cached_media, cases
from training.engines.base import GenerationRequest, SamplingParams
from training.models.policy import token_logprobs

pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_env")]

FAMILIES = vllm_families()
TOLERANCE = 1e-4  # log-prob, float32 on both sides; measured ~1e-6
GREEDY = SamplingParams(n=1, temperature=0.0, max_new_tokens=12)
PROMPT = "What happens in this clip?"


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="module")
def engines(family, small_models, vllm_env):
    """(vLLM engine, HF engine) on the small checkpoint of ``family``; one vLLM engine alive at a time."""
    from training.engines.hf import HFEngine
    from training.engines.vllm import VLLMEngine

    path = small_models[family]
    vllm = VLLMEngine(path, dtype="float32", enforce_eager=True, max_model_len=4096)
    hf = HFEngine.from_pretrained(path)
    yield vllm, hf
    vllm.close()


@pytest.fixture(scope="module")
def media(engines, tmp_path_factory):
    return cases(cached_media(tmp_path_factory.mktemp("media"), engines[0].processor.video.factor))


def requests(media) -> list[GenerationRequest]:
    return [GenerationRequest(name, PROMPT, items) for name, items in media.items()]


def trainer_logprobs(model, processor, request, tokens) -> torch.Tensor:
    enc = processor.encode(request.prompt, request.media, sample_id=request.request_id)
    with torch.no_grad():
        logp, _ = token_logprobs(model, [enc], [tokens], processor.tokenizer.pad_token_id, processor.family)
    return logp[0, : len(tokens)]


def max_gap(model, processor, reqs, outs) -> dict[str, float]:
    """Per request: the largest |vLLM log-prob - trainer log-prob| over the generated tokens."""
    gaps = {}
    for req, (c,) in zip(reqs, outs):
        assert c.logprobs is not None and len(c.logprobs) == len(c.token_ids), req.request_id
        mine = trainer_logprobs(model, processor, req, c.token_ids)
        gaps[req.request_id] = float((mine - torch.tensor(c.logprobs)).abs().max())
    return gaps


def test_prompt_ids_greedy_tokens_and_logprobs_equal_the_hf_engine(engines, media):
    from vllm import SamplingParams as VSampling

    from training.engines.vllm import vllm_prompt, vllm_sampling_kwargs

    vllm, hf = engines
    proc = vllm.processor
    reqs = requests(media)
    raw = vllm.llm.generate(
        [vllm_prompt(proc, r) for r in reqs], VSampling(**vllm_sampling_kwargs(GREEDY, proc)), use_tqdm=False
    )
    for req, out in zip(reqs, raw):  # the prompt vLLM built (official processor) is the trainer's
        assert list(out.prompt_token_ids) == proc.encode(req.prompt, req.media).input_ids, req.request_id
    outs = vllm.generate(reqs, GREEDY)
    want = hf.generate(reqs, GREEDY)
    for req, (got,), (ref,) in zip(reqs, outs, want):
        assert got.token_ids == ref.token_ids, req.request_id
    gaps = max_gap(hf.model, proc, reqs, outs)
    assert max(gaps.values()) < TOLERANCE, gaps


def test_sampled_responses_carry_the_policys_logprobs(engines, media):
    """At temperature 1 with several responses per prompt, the log-probs vLLM reports for the tokens it
    sampled are the trainer's for those tokens (what the rollout/logprob_diff metrics watch)."""
    vllm, hf = engines
    reqs = requests(media)[:4]
    outs = vllm.generate(reqs, SamplingParams(n=3, temperature=1.0, max_new_tokens=10, seed=7))
    assert all(len(group) == 3 for group in outs)
    for req, group in zip(reqs, outs):
        for c in group:
            gap = (
                trainer_logprobs(hf.model, vllm.processor, req, c.token_ids) - torch.tensor(c.logprobs)
            ).abs()
            assert float(gap.max()) < TOLERANCE, req.request_id


def _train_vision_and_text(model, processor, req) -> None:
    """A few AdamW steps that raise the log-prob of a fixed answer to a video prompt: every weight on the
    path moves, the vision tower's included, without collapsing the model to one token."""
    enc = processor.encode(req.prompt, req.media)
    answer = processor.tokenizer("<answer>A</answer>", add_special_tokens=False)["input_ids"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(3):
        logp, _ = token_logprobs(model, [enc], [answer], processor.tokenizer.pad_token_id, processor.family)
        opt.zero_grad()
        (-logp.sum()).backward()
        opt.step()
    model.eval()


def test_sync_weights_reloads_text_and_vision_and_drops_stale_vision_features(engines, media, small_models):
    from training.engines.hf import HFEngine
    from training.models.vision import vision_tower

    vllm, _ = engines
    proc = vllm.processor
    if proc.family == "qwen3_vl_moe" and not torch.cuda.is_available():
        pytest.skip(EXPERT_RELOAD_ON_CPU)
    reqs = requests(media)
    vllm.generate(reqs, GREEDY)  # the engine's encoder cache now holds these media's old vision features
    policy = HFEngine.from_pretrained(small_models[proc.family]).model
    tower_before = [p.detach().clone() for p in vision_tower(policy).parameters()]
    _train_vision_and_text(policy, proc, reqs[2])
    moved = [
        float((a - p.detach()).abs().max()) for a, p in zip(tower_before, vision_tower(policy).parameters())
    ]
    assert min(moved) > 0, "every vision weight trained"
    stale = max_gap(policy, proc, reqs, vllm.generate(reqs, GREEDY))
    assert min(stale[k] for k in ("image", "video_even", "two_videos")) > 1e-3, stale  # the change is visible
    vllm.sync_weights(policy)
    outs = vllm.generate(reqs, GREEDY)
    gaps = max_gap(policy, proc, reqs, outs)
    assert max(gaps.values()) < TOLERANCE, gaps
    greedy = HFEngine(policy, proc).generate(reqs, GREEDY)
    assert [o[0].token_ids for o in outs] == [g[0].token_ids for g in greedy]
    assert len({tuple(o[0].token_ids) for o in outs}) > 1, "the trained model still answers differently"
    vllm.sync_weights(HFEngine.from_pretrained(small_models[proc.family]).model)  # back for the next tests


@pytest.mark.parametrize(
    "items",
    [
        [("image", (1, 4, 6), None)],
        [("video", (8, 4, 6), 1.0)],  # temporal ids run past the spatial ones: 14 > 2
        [("video", (3, 4, 4), 4.0), ("image", (1, 4, 4), None), ("video", (5, 2, 2), 0.7)],
        [("video", (2, 8, 8), 1 / 3), ("video", (7, 2, 4), 2 / 0.6)],  # float32 products near integers
    ],
)
def test_positions_equal_vllms_mrope_function(small_models, items):
    """``rope_index`` (installed on the trainer's Qwen2/2.5-VL models) against vLLM's own
    ``get_mrope_input_positions``, called on the same tokens, grids and ``second_per_grid_ts``."""
    from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VLForConditionalGeneration as VLLMQwen25

    from training.models.policy import load_policy

    model, _ = load_policy(small_models["qwen2_5_vl"])
    merge = model.config.vision_config.spatial_merge_size
    tokens, types, features = [1, 2, 3], [0, 0, 0], []
    grids: dict[str, list] = {"image": [], "video": []}
    seconds = []
    for kind, (t, h, w), sec in items:
        data = {f"{kind}_grid_thw": SimpleNamespace(data=torch.tensor([t, h, w]))}
        if kind == "video":
            data["second_per_grid_ts"] = SimpleNamespace(data=torch.tensor(sec, dtype=torch.float32))
            seconds.append(sec)
        grids[kind].append([t, h, w])
        features.append(
            SimpleNamespace(modality=kind, mm_position=SimpleNamespace(offset=len(tokens)), data=data)
        )
        n = t * h * w // merge**2
        tokens += [9] * n + [4, 5]
        types += [1 if kind == "image" else 2] * n + [0, 0]
    fake = SimpleNamespace(config=model.config)
    fake.iter_mm_grid_thw = lambda feats: VLLMQwen25.iter_mm_grid_thw(fake, feats)
    want, want_delta = VLLMQwen25.get_mrope_input_positions(fake, tokens, features)
    got, delta = model.model.get_rope_index(
        torch.tensor([tokens]), torch.tensor([types]),
        image_grid_thw=torch.tensor(grids["image"]) if grids["image"] else None,
        video_grid_thw=torch.tensor(grids["video"]) if grids["video"] else None,
        second_per_grid_ts=torch.tensor(seconds, dtype=torch.float32) if seconds else None,
    )  # fmt: skip
    assert np.array_equal(got[:, 0].numpy(), want.numpy()) and int(delta) == want_delta
