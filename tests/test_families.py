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
from training.filtering import select_partial_success
from training.passrate import compute_pass_rates
from training.rollout import TrainItem
from training.sft import run_sft
from training.trainer import RLTrainer

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


@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", FAMILIES)
def test_rl_steps_resume_exactly_and_reload_with_plain_transformers(tiny_models, tmp_path, family):
    from transformers import AutoModelForImageTextToText

    straight = _trainer(tiny_models[family], tmp_path / "a")
    batches = [_items(straight.processor.video.factor, f"s{k}") for k in range(2)]
    whole = straight.train(lambda pos: iter(batches[pos:]), steps=2)
    first = _trainer(tiny_models[family], tmp_path / "b")
    first.train(lambda pos: iter(batches[pos:]), steps=1)
    again = _trainer(tiny_models[family], tmp_path / "b")
    assert again.resume() == 1 and again.global_step == 1
    resumed = again.train(lambda pos: iter(batches[pos:]), steps=2)

    keys = ("reward/overall", "response_length/mean", "actor/pg_loss", "actor/grad_norm")
    assert [[m[k] for k in keys] for m in whole.history] == [[m[k] for k in keys] for m in resumed.history]
    a = _weights(tmp_path / "a" / "checkpoints" / "global_step_2")
    b = _weights(tmp_path / "b" / "checkpoints" / "global_step_2")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    # plain transformers reads the trained checkpoint: the family's own class, every weight as saved
    plain = AutoModelForImageTextToText.from_pretrained(whole.checkpoint)
    assert plain.config.model_type == family
    state = plain.state_dict()
    assert {k: v for k, v in straight.model.state_dict().items()}.keys() == state.keys()
    assert all(state[k].equal(v) for k, v in straight.model.state_dict().items())
    start = load_file(Path(tiny_models[family]) / "model.safetensors")
    assert any(not start[k].equal(a[k]) for k in start if k in a)  # the steps moved something


@pytest.mark.parametrize("family", FAMILIES)
def test_sft_learns_and_resumes_on_the_same_data_order(tiny_models, tmp_path, family):
    model = tiny_models[family]
    factor = 32 if family not in ("qwen2_vl", "qwen2_5_vl") else 28
    data = [_items(factor, f"f{k}", n=1 + k % 2) for k in range(3)]  # batches differ: position matters
    straight = run_sft(model, lambda pos: data[pos:], steps=3, save_dir=tmp_path / "a", lr=1e-2, save_freq=1)
    run_sft(model, lambda pos: data[pos:], steps=2, save_dir=tmp_path / "b", lr=1e-2, save_freq=1)
    resumed = run_sft(model, lambda pos: data[pos:], steps=3, save_dir=tmp_path / "b", lr=1e-2, save_freq=1)
    assert [h["sft/loss"] for h in resumed.history] == [h["sft/loss"] for h in straight.history]
    a, b = _weights(tmp_path / "a" / "checkpoint"), _weights(tmp_path / "b" / "checkpoint")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    # the same batch three times more: its loss falls
    again = run_sft(model, [data[0]] * 4, steps=4, save_dir=tmp_path / "c", lr=1e-2)
    losses = [h["sft/loss"] for h in again.history]
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("family", FAMILIES)
def test_pass_rates_feed_the_filter(tiny_models, family):
    factor = 32 if family not in ("qwen2_vl", "qwen2_5_vl") else 28
    items = _items(factor, "p", n=3)
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


@pytest.mark.parametrize("family", FAMILIES)
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
    factor = 28 if family in ("qwen2_vl", "qwen2_5_vl") else 32
    assert manifest["settings"]["media_spec"]["factor"] == factor  # the family's resize factor
    assert set(doc["aggregates"]) == set(doc["modes"]) == {"official", "robust"}
    for mode, agg in doc["aggregates"].items():  # a random model scores something in range, per mode
        numbers = [v for v in agg.values() if isinstance(v, float)]
        assert numbers and all(np.isfinite(numbers)), (mode, agg)
    assert main(argv) == 0  # a second run generates nothing again
    json_docs(capsys.readouterr().out)
    results = json.loads((Path(doc["out_dir"]) / "results.json").read_text())
    assert results["generated_this_run"] == 0 and results["resumed"] == 2
