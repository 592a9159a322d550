"""The training and evaluation stages on every model family's tiny checkpoint, with the same assertions:
RL steps with the real HF engine, resume from a checkpoint (same weights and metrics as a straight run),
the checkpoint read back by plain transformers, the SFT warm start and its resume, offline pass rates and
the filter they feed, and ``reelrl eval run`` on a video benchmark.

The other stages per family are elsewhere: processor parity (test_processor_parity), log-probs and
placeholders (test_models_policy), micro-batches, dummy vision pass, frozen tower and LoRA
(test_models_batches), one step moving every parameter (test_learning), FSDP2 (test_sharding), the
Dagster graph (test_pipeline), vLLM (test_vllm_*).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_output import json_docs
from safetensors.torch import load_file

from cache_store.types import CachedMedia
from demo_kit.synthetic import make_charades_standins
from demo_kit.tiny_models import FAMILIES
from reelrl.cli import main
from training.config import load_config
from training.data.items import TrainItem
from training.filtering.pass_rates import compute_pass_rates
from training.filtering.rules import select_partial_success
from training.loop.trainer import RLTrainer
from training.sft import run_sft

CHARADES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "charades_sta"


def _items(factor: int, tag: str, n: int = 2) -> list[TrainItem]:
    rng = np.random.default_rng(len(tag))
    return [
        TrainItem(
            f"{tag}{i}", "Is there a red square?", "boolean", "video", ["yes", "no"][i % 2],
            media=[
                CachedMedia(
                    f"d{tag}{i}", f"/{tag}{i}.mp4", "video",
                    rng.integers(0, 255, (4, factor, factor, 3), dtype=np.uint8),
                    source_fps=8.0, total_frames=16, indices=[0, 5, 10, 15], sample_fps=2.0,
                )
            ],
            extra={"process": "<think>I look for red.</think>"},
        )
        for i in range(n)
    ]  # fmt: skip


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return load_file(ckpt / "model.safetensors")


def _trainer(model: str, out: Path) -> RLTrainer:
    cfg = load_config(
        overrides=[
            f"model_path={model}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=4",
            "worker.actor.lr=1e-2", "data.rollout_batch_size=2", "trainer.save_freq=1",
            "trainer.logger=[jsonl]",
        ]
    )  # fmt: skip
    return RLTrainer(cfg, model, out).setup()


# The three original families run these stages in the default suite elsewhere (test_resume, test_training_loop,
# test_eval_cli); here they are in ``-m slow`` to keep the default suite short, the newer ones in both.
NEWER = ("qwen3_5", "qwen3_5_moe", "qwen3_vl_moe")
STAGE_FAMILIES = [f if f in NEWER else pytest.param(f, marks=pytest.mark.slow) for f in FAMILIES]


def _factor(family: str) -> int:
    return 28 if family in ("qwen2_vl", "qwen2_5_vl") else 32


@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", STAGE_FAMILIES)
def test_rl_steps_resume_exactly_and_reload_with_plain_transformers(tiny_models, tmp_path, family):
    from transformers import AutoModelForImageTextToText

    batches = [_items(_factor(family), f"s{k}") for k in range(2)]
    straight = _trainer(tiny_models[family], tmp_path / "a")
    whole = straight.train(lambda pos: iter(batches[pos:]), steps=2)
    # a fresh trainer resumed from the straight run's step-1 checkpoint (rollouts with the real HF engine)
    again = _trainer(tiny_models[family], tmp_path / "b")
    assert again.resume_from(tmp_path / "a" / "checkpoints" / "global_step_1") == 1 and again.global_step == 1
    resumed = again.train(lambda pos: iter(batches[pos:]), steps=2)

    keys = ("reward/overall", "response_length/mean", "actor/pg_loss", "actor/grad_norm")
    assert [resumed.history[-1][k] for k in keys] == [whole.history[-1][k] for k in keys]
    a = _weights(tmp_path / "a" / "checkpoints" / "global_step_2")
    b = _weights(tmp_path / "b" / "checkpoints" / "global_step_2")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    # plain transformers reads the trained checkpoint: the family's own class, every weight as trained
    plain = AutoModelForImageTextToText.from_pretrained(whole.checkpoint)
    assert plain.config.model_type == family
    state, trained = plain.state_dict(), straight.model.state_dict()
    assert state.keys() == trained.keys() and all(state[k].equal(v) for k, v in trained.items())
    start = load_file(Path(tiny_models[family]) / "model.safetensors")
    assert any(not start[k].equal(a[k]) for k in start if k in a)  # the steps moved something


@pytest.mark.parametrize("family", STAGE_FAMILIES)
def test_sft_learns_and_resumes_exactly(tiny_models, tmp_path, family):
    model, batch = tiny_models[family], _items(_factor(family), "f")
    straight = run_sft(model, [batch, batch], steps=2, save_dir=tmp_path / "a", lr=1e-2, save_freq=1)
    losses = [h["sft/loss"] for h in straight.history]
    assert losses[1] < losses[0], losses  # the same batch again, after one step on it
    # a run that stopped after step 1 (its checkpoint) resumes there and ends where the straight run did
    shutil.copytree(
        tmp_path / "a" / "checkpoints" / "global_step_1", tmp_path / "b" / "checkpoints" / "global_step_1"
    )
    resumed = run_sft(model, lambda pos: [batch, batch][pos:], steps=2, save_dir=tmp_path / "b", lr=1e-2)
    assert [h["step"] for h in resumed.history] == [2] and resumed.history[0]["sft/loss"] == losses[1]
    a, b = _weights(tmp_path / "a" / "checkpoint"), _weights(tmp_path / "b" / "checkpoint")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


@pytest.mark.parametrize("family", FAMILIES)
def test_pass_rates_feed_the_filter(tiny_models, family):
    items = _items(_factor(family), "p", n=3)
    rows = compute_pass_rates(tiny_models[family], [items[:2], items[2:]], k=3, max_new_tokens=4, seed=5)
    assert [r["sample_id"] for r in rows] == ["p0", "p1", "p2"]
    for r in rows:  # success = accuracy 1.0 (boolean answers score 0 or 1)
        assert r["k"] == 3 and len(r["accuracies"]) == 3 and set(r["accuracies"]) <= {0.0, 1.0}
        assert r["pass_rate"] == sum(a == 1.0 for a in r["accuracies"]) / 3
    ids = [r["sample_id"] for r in rows for _ in range(3)]
    accs = [a for r in rows for a in r["accuracies"]]
    assert select_partial_success(ids, accs) == [r["sample_id"] for r in rows if 0 < r["pass_rate"] < 1]
    # the same seed samples the same rollouts
    assert (
        compute_pass_rates(tiny_models[family], [items[:2], items[2:]], k=3, max_new_tokens=4, seed=5) == rows
    )


@pytest.mark.parametrize("family", STAGE_FAMILIES)
def test_eval_run_on_a_video_benchmark_scores_every_record_and_resumes(capsys, tmp_path, tiny_models, family):
    ann = tmp_path / "charades.txt"
    ann.write_text("".join((CHARADES / "charades_sta_test.sample.txt").read_text().splitlines(True)[:2]))
    videos = tmp_path / "videos"
    make_charades_standins(ann, videos)
    argv = [
        "eval", "run", "--model", tiny_models[family], "--benchmark", "charades_sta", "--annotations", str(ann),
        "--media-root", str(videos), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "evals"),
        "--max-new-tokens", "6", "--batch-size", "2", "--max-frames", "2", "--min-frames", "2",
        "--max-pixels", str(64 * 64), "--min-pixels", str(28 * 28), "--json", "--media-workers", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    (doc,) = json_docs(capsys.readouterr().out)
    assert doc["counts"]["scored"] == 2 and doc["partial"] is False
    manifest = json.loads((Path(doc["out_dir"]) / "manifest.json").read_text())
    assert manifest["settings"]["media_spec"]["factor"] == _factor(family)  # the family's resize factor
    assert set(doc["aggregates"]) == {"official", "robust"}
    for mode, agg in doc["aggregates"].items():  # a random model scores something in range, per mode
        numbers = [v for v in agg.values() if isinstance(v, float)]
        assert numbers and all(np.isfinite(numbers)), (mode, agg)
    assert main(argv) == 0  # a second run generates nothing again
    json_docs(capsys.readouterr().out)
    results = json.loads((Path(doc["out_dir"]) / "results.json").read_text())
    assert results["generated_this_run"] == 0 and results["resumed"] == 2
