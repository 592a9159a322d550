"""Ray Train: the RL loop on two TorchTrainer CPU workers (gloo), each fed its own Ray Data shard from a real
Lance cache; gradients summed over ranks keep the weights identical (replicate) or one sharded copy (FSDP2);
a second call resumes and extends."""

from __future__ import annotations

import numpy as np
import pytest

from cache_store import MediaCache, MediaSpec, write_video
from training.config import load_config
from training.data.stream import BatchLayout
from training.outputs.checkpoint import find_resume
from training.outputs.sinks import read_metrics
from training.parallel.ray_train import train_on_ray


def test_each_worker_reads_its_slice_of_every_global_batch_of_the_one_layout():
    rows = [{"sample_id": str(i)} for i in range(6)]
    layout = BatchLayout(rows, batch_size=4, seed=0, shuffle=False)
    r0 = layout.batch_rows(1, 2, world=2, rank=0)
    r1 = layout.batch_rows(1, 2, world=2, rank=1)
    # global batches 1 and 2 over the repeated epochs 0 1 2 3 4 5 | 0 1 2 3 4 5: [4 5 0 1] [2 3 4 5]
    assert [r["sample_id"] for r in r0] == ["4", "5", "2", "3"]
    assert [r["sample_id"] for r in r1] == ["0", "1", "4", "5"]
    assert [r["sample_id"] for r in layout.batch_rows(1, 2)] == ["4", "5", "0", "1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="multiple of the 3 workers"):
        layout.batch_rows(0, 1, world=3, rank=0)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("strategy", ["replicate", "fsdp2"])
def test_two_gloo_workers_train_resume_and_stay_identical(tiny_models, tmp_path, strategy):
    frames = [np.full((4, 56, 56, 3), 40 * (i + 1), np.uint8) for i in range(4)]
    paths = [write_video(tmp_path / f"v{i}.mp4", f, fps=4) for i, f in enumerate(frames)]
    cache = MediaCache(str(tmp_path / "cache"))
    report = cache.build([(str(p), "video") for p in paths], MediaSpec(fps=2.0, max_frames=4, max_pixels=56 * 56, min_pixels=28 * 28))
    rows = [
        {"sample_id": f"s{i}", "problem": "Is there a red square?", "problem_type": "boolean", "data_type": "video",
         "answer": "yes", "media": [{"source": str(p), "kind": "video", "digest": report.digests[str(p)]}]}
        for i, p in enumerate(paths)
    ]  # fmt: skip
    overrides = [
        f"model_path={tiny_models['qwen2_vl']}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=4",
        "data.rollout_batch_size=2", "worker.actor.lr=1e-3", "trainer.save_freq=1", "trainer.logger=[jsonl]",
        f"worker.actor.strategy={strategy}",
    ]  # fmt: skip
    out = train_on_ray(load_config(overrides=[*overrides, "trainer.total_steps=1"]), rows, str(tmp_path / "cache"),
                       tmp_path / "run", num_workers=2)  # fmt: skip
    assert out["steps"] == 1 and out["checkpoint"].endswith("global_step_1")
    out = train_on_ray(load_config(overrides=[*overrides, "trainer.total_steps=2"]), rows, str(tmp_path / "cache"),
                       tmp_path / "run", num_workers=2)  # fmt: skip
    assert out["steps"] == 2 and find_resume(tmp_path / "run" / "checkpoints").name == "global_step_2"
    assert [m["step"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2]
    # rank 0 logged its own group (n=2 rollouts of one prompt); replicate: every rank passed check_ranks_agree;
    # fsdp2: the shards were gathered into one plain checkpoint
    from transformers import AutoModelForImageTextToText

    assert AutoModelForImageTextToText.from_pretrained(out["checkpoint"]).config.model_type == "qwen2_vl"
