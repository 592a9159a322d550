"""The RL trainer on a CUDA GPU (``trainer.device``): replicated and FSDP2 with one GPU (a one-rank NCCL
group), whole steps through the HF engine, a checkpoint and an exact resume. Skips without CUDA; run on a
lent GPU with ``pytest -m gpu``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cache_store.types import CachedMedia
from training.config import load_config
from training.data.items import TrainItem

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _batches(factor: int) -> list[list[TrainItem]]:
    frames = np.random.default_rng(0).integers(0, 255, (4, factor, factor, 3), dtype=np.uint8)
    media = CachedMedia(
        "d0",
        "/v0.mp4",
        "video",
        frames,
        source_fps=8.0,
        total_frames=16,
        indices=[0, 5, 10, 15],
        sample_fps=2.0,
    )
    video = TrainItem("v", "Is there a red square?", "boolean", "video", "yes", media=[media])
    text = TrainItem("t", "Is two more than one?", "boolean", "text", "yes")
    return [[video, text], [text, video], [video, text]]


def _trainer(path: str, out, strategy: str, steps: int):
    from training.loop.trainer import RLTrainer

    cfg = load_config(
        overrides=[
            f"model_path={path}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=8",
            "data.rollout_batch_size=2", "worker.actor.lr=1e-2", "worker.actor.micro_batch_size=2",
            "trainer.device=cuda", f"worker.actor.strategy={strategy}", f"trainer.total_steps={steps}",
            "trainer.save_freq=1", "trainer.logger=[jsonl]",
        ]
    )  # fmt: skip
    return RLTrainer(cfg, path, out).setup()


@pytest.mark.parametrize("strategy", ["replicate", "fsdp2"])
def test_steps_on_cuda_checkpoint_and_resume_exactly(tiny_models, tmp_path, strategy):
    from training.parallel.fsdp import full_state

    path = tiny_models["qwen2_5_vl"]
    straight = _trainer(path, tmp_path / "straight", strategy, 3)
    assert {p.device.type for p in straight.model.parameters()} == {"cuda"}
    factor = straight.processor.video.factor
    result = straight.train(_batches(factor), steps=3)
    assert result.steps == 3 and all(np.isfinite(m["actor/pg_loss"]) for m in result.history)
    expected = {k: v.detach().cpu() for k, v in full_state(straight.model).items()}
    # a second run stopped after step 2, then resumed from its checkpoint: the same weights at step 3
    first = _trainer(path, tmp_path / "resumed", strategy, 2)
    first.train(_batches(factor), steps=2)
    again = _trainer(path, tmp_path / "resumed", strategy, 3)
    position = again.resume()
    assert again.global_step == 2
    again.train(_batches(factor)[position:], steps=3)
    got = {k: v.detach().cpu() for k, v in full_state(again.model).items()}
    # CUDA kernels may sum in another order from run to run: equal to float noise, not bit for bit
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)

    from transformers import AutoModelForImageTextToText

    plain = AutoModelForImageTextToText.from_pretrained(result.checkpoint)
    assert plain.config.model_type == "qwen2_5_vl"
