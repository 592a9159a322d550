"""Why the vLLM tests run Qwen3.5 (dense and MoE) only on a CUDA machine: what vLLM's CPU build does with
its Gated DeltaNet layers, asserted, so the skip reason in ``vllm_families.GDN_ON_CPU`` cannot go stale. When
a vLLM release fixes either failure this test fails, and the families move to ``vllm_families.ON_CPU``."""

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
