"""Shared fixtures: tiny offline Qwen-VL checkpoints (built once per session, no network)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    from reelrl.tiny_models import build_tiny_model

    root = tmp_path_factory.mktemp("tiny_models")
    return {fam: str(build_tiny_model(fam, root / fam, seed=0)) for fam in FAMILIES}
