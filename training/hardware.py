"""What this machine can run: the trainer's device and the rollout engine, checked when a config loads.

``trainer.device`` (auto/cpu/cuda) places the policy, its rollout copy and the reference model;
``worker.rollout.engine`` picks the generation engine (``hf`` everywhere; ``vllm`` wherever vLLM imports: the
``gpu`` extra on a CUDA machine, or the CPU build in ``.venv-vllm``, ``make setup-vllm``). The ``*_problem`` functions return the message a bad setting fails with, or None.
"""

from __future__ import annotations

import importlib.util

import torch

ENGINES = ("hf", "vllm")  # worker.rollout.engine
ENGINE_DTYPES = ("auto", "float32", "bfloat16", "float16")  # worker.rollout.dtype (vllm)
DEVICES = ("auto", "cpu", "cuda")  # trainer.device


def resolve_device(device: str) -> str:
    """``trainer.device`` as a torch device type: ``auto`` is cuda when torch sees a GPU, else cpu."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def device_problem(device: str) -> str | None:
    if device not in DEVICES:
        return f"trainer.device={device!r}; allowed: {DEVICES}"
    if device == "cuda" and not torch.cuda.is_available():
        return "trainer.device=cuda but torch sees no CUDA GPU here; use trainer.device=auto or cpu"
    return None


def engine_problem(engine: str, gpu_memory_utilization: float, dtype: str = "auto") -> str | None:
    """``worker.rollout.engine`` is one of ``ENGINES``; vllm needs vLLM importable (a GPU build with CUDA, or
    the CPU build)."""
    if engine not in ENGINES:
        return f"worker.rollout.engine={engine!r}; allowed: {ENGINES}"
    if not 0 < gpu_memory_utilization <= 1:
        return f"worker.rollout.gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}"
    if dtype not in ENGINE_DTYPES:
        return f"worker.rollout.dtype={dtype!r}; allowed: {ENGINE_DTYPES}"
    if engine == "vllm" and importlib.util.find_spec("vllm") is None:
        return (
            "worker.rollout.engine=vllm needs vLLM, which this environment lacks: pip install '.[gpu]' on a "
            "CUDA machine, or `make setup-vllm` (vLLM's CPU build in .venv-vllm); or use worker.rollout.engine=hf"
        )
    return None
