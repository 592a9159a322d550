"""What vLLM's CPU build cannot do with the newer families, asserted, so the skip reasons in
``vllm_families`` cannot go stale: Qwen3.5's Gated DeltaNet layers (dense and MoE: ``GDN_ON_CPU``) and
Qwen3-VL-MoE's weight sync (``EXPERT_RELOAD_ON_CPU``). When a vLLM release fixes one, its test here fails and
the skip goes."""

from __future__ import annotations

import math

import pytest
import torch
from vllm_families import GATED_DELTANET

from training.engines.base import GenerationRequest, SamplingParams
from training.models.policy import load_policy, token_logprobs

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.usefixtures("vllm_env"),
    pytest.mark.skipif(torch.cuda.is_available(), reason="documents vLLM's CPU build; this machine has CUDA"),
]

GREEDY = SamplingParams(n=1, temperature=0.0, max_new_tokens=4)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("family", GATED_DELTANET)
def test_vllm_cpu_refuses_float32_and_returns_nan_logprobs_in_bfloat16(small_models, family):
    from training.engines.vllm import VLLMEngine

    path = small_models[family]
    request = GenerationRequest("text", "What is two plus two?", [])
    engine = VLLMEngine(path, dtype="float32", enforce_eager=True, max_model_len=1024)
    try:
        with pytest.raises(AssertionError, match="CPU GDN attention requires BF16"):
            engine.generate([request], GREEDY)
    finally:
        engine.close()
    engine = VLLMEngine(path, dtype="bfloat16", enforce_eager=True, max_model_len=1024)
    try:
        ((out,),) = engine.generate([request], GREEDY)
    finally:
        engine.close()
    assert out.logprobs and all(math.isnan(x) for x in out.logprobs), out
    # transformers' own bfloat16 forward of the same checkpoint and prompt is finite
    model, proc = load_policy(path, dtype=torch.bfloat16)
    enc = proc.encode(request.prompt, [])
    with torch.no_grad():
        logp, _ = token_logprobs(model, [enc], [out.token_ids], proc.tokenizer.pad_token_id, proc.family)
    assert torch.isfinite(logp[0, : len(out.token_ids)]).all()


@pytest.mark.timeout(900)
def test_vllm_cpu_reloads_qwen3_vl_moe_experts_wrongly(small_models):
    from training.engines.hf import HFEngine
    from training.engines.vllm import VLLMEngine

    path = small_models["qwen3_vl_moe"]
    request = GenerationRequest("text", "What is two plus two?", [])
    policy = HFEngine.from_pretrained(path).model
    engine = VLLMEngine(path, dtype="float32", enforce_eager=True, max_model_len=1024)

    def gap() -> float:
        ((out,),) = engine.generate([request], SamplingParams(n=1, temperature=0.0, max_new_tokens=6))
        enc = engine.processor.encode(request.prompt, [])
        with torch.no_grad():
            logp, _ = token_logprobs(
                policy, [enc], [out.token_ids], engine.processor.tokenizer.pad_token_id, "qwen3_vl_moe"
            )
        return float((logp[0, : len(out.token_ids)] - torch.tensor(out.logprobs)).abs().max())

    try:
        assert gap() < 1e-4  # loaded from the checkpoint: exact
        engine.sync_weights(policy)  # the same weights again
        assert gap() > 1.0
    finally:
        engine.close()
