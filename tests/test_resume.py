"""Exact resume: a run killed with SIGKILL mid-training continues from its last checkpoint and ends with the
same weights and the same per-step metrics as a run that was never interrupted.

Each run is a separate Python process (the child script below) on a tiny Qwen2-VL with the real HF engine,
rewards and update; the batches are a fixed in-memory sequence that the trainer enters at its data position.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from safetensors.torch import load_file

from training.outputs.checkpoint import find_resume, list_checkpoints
from training.outputs.sinks import read_metrics

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np, torch
    from cache_store.types import CachedMedia
    from training.config import load_config
    from training.data.items import TrainItem
    from training.loop.trainer import RLTrainer

    torch.set_num_threads(1)
    model, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = load_config(overrides=[
        f"model_path={model}", "worker.rollout.n=3", "worker.rollout.max_new_tokens=6", "worker.actor.lr=1e-3",
        "data.rollout_batch_size=2", f"trainer.total_steps={steps}", "trainer.save_freq=1", "trainer.save_limit=2",
        "trainer.logger=[jsonl]", "worker.actor.lr_scheduler_type=cosine", "worker.actor.lr_warmup_ratio=0.25",
    ])
    trainer = RLTrainer(cfg, model, out).setup()
    rng = np.random.default_rng(0)
    fac = trainer.processor.video.factor

    def item(i):
        frames = rng.integers(0, 255, (4, fac, fac, 3), dtype=np.uint8)
        media = CachedMedia(f"d{i}", f"/v{i}.mp4", "video", frames, source_fps=8.0, total_frames=16,
                            indices=[0, 5, 10, 15], sample_fps=2.0)
        return TrainItem(f"s{i}", "Is there a red square?", "boolean", "video", ["yes", "no"][i % 2], media=[media])

    batches = [[item(2 * k), item(2 * k + 1)] for k in range(steps)]
    trainer.resume()
    trainer.train(lambda position: iter(batches[position:]), steps)
    """
)


def _run(script, model, out, steps, env):
    return subprocess.Popen([sys.executable, str(script), model, str(out), str(steps)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


@pytest.mark.timeout(600)
def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tiny_models, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    model, steps = tiny_models["qwen2_vl"], 4

    whole = _run(script, model, tmp_path / "whole", steps, env)
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()[-2000:]

    killed = _run(script, model, tmp_path / "killed", steps, env)
    root = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(s == 2 for s, _ in list_checkpoints(root)):
        assert killed.poll() is None, killed.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # somewhere in step 3
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert find_resume(root).name in ("global_step_2", "global_step_3")

    resumed = _run(script, model, tmp_path / "killed", steps, env)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]

    a = read_metrics(tmp_path / "whole" / "metrics.jsonl")
    b = read_metrics(tmp_path / "killed" / "metrics.jsonl")
    keys = ("reward/overall", "reward/accuracy", "response_length/mean", "actor/pg_loss", "actor/lr")
    assert [m["step"] for m in b] == [1, 2, 3, 4]
    assert [[m[k] for k in keys] for m in a] == [[m[k] for k in keys] for m in b]
    wa = load_file(tmp_path / "whole" / "checkpoints" / "global_step_4" / "model.safetensors")
    wb = load_file(tmp_path / "killed" / "checkpoints" / "global_step_4" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)
    assert [s for s, _ in list_checkpoints(tmp_path / "killed" / "checkpoints")] == [3, 4]  # save_limit=2


def test_a_checkpoint_with_the_old_data_position_key_resumes_the_run_at_its_position(tiny_models, tmp_path):
    """A checkpoint written before the data position was named ``batches_drawn`` (it said
    ``batches_consumed``) resumes the RL run with the data stream entered at that position."""
    import torch

    from training.config import load_config
    from training.loop.trainer import RLTrainer
    from training.outputs.checkpoint import STATE_FILE, save_state

    cfg = load_config(
        overrides=[f"model_path={tiny_models['qwen2_vl']}", "trainer.total_steps=3", "trainer.logger=[jsonl]"]
    )
    first = RLTrainer(cfg, cfg.model_path, tmp_path / "run").setup()
    ckpt = save_state(
        first.checkpoint_root,
        3,
        first.model,
        first.processor,
        first.optimizer,
        first.scheduler,
        batches_drawn=4,
    )
    state = torch.load(ckpt / STATE_FILE, weights_only=True)
    state["data_position"] = {"batches_consumed": 5}  # as the trainers wrote it before
    torch.save(state, ckpt / STATE_FILE)

    resumed = RLTrainer(cfg, cfg.model_path, tmp_path / "run").setup()
    assert resumed.resume() == 5 and resumed.global_step == 3
    asked = []
    resumed.train(lambda batches_drawn: asked.append(batches_drawn) or iter(()), steps=3)
    assert asked == [5]  # the stream starts at batch 5, not at the 4 or 0 a misread key would give
