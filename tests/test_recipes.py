"""Every recipe under ``recipes/`` trains: its resolved settings run two RL steps on the tiny model of its
family, and each recipe's distinguishing mechanism shows in the step's metrics.

The media are random frames (images and 4-frame videos at the model's resize factor) and the responses come
from a scripted engine that answers half of each group right, at lengths from 10 to 24 tokens, so dynamic
sampling keeps groups and the shaping terms have something to act on; tokenizer, processor, model, rewards,
advantages and the update are the real ones. The steps exercise the recipe's settings, not its learning; the
whole ``reelrl train`` path of a recipe (cache, filter, SFT, evaluation) runs in ``test_train_cli.py``."""

from pathlib import Path

import numpy as np
import pytest

from cache_store.types import CachedMedia
from pipelines.run_config import load_run_config
from training.data.items import TrainItem
from training.engines.base import Completion
from training.loop.trainer import RLTrainer

RECIPES = Path(__file__).parent.parent / "recipes"

# the metric keys only the recipe's mechanism produces (empty: the recipe's point is its loss settings)
SIGNATURE = {
    "easyvideor1": {"dynamic_sampling/kept", "dynamic_sampling/tries"},
    "video_r1": {"temporal/video_groups", "reward/length_bonus"},
    "dapo": {"dynamic_sampling/kept", "reward/overlong_penalty", "reward/overlong_ratio"},
    "gspo": set(),
    "luffy_mixed": {"mix_policy/offline_candidates", "mix_policy/offline_replaced_groups"},
    "joint_image_video": set(),
}


class HalfRightEngine:
    """Response ``i`` of a group: ``<answer>yes</answer>`` (right) for even ``i``, ``no`` for odd, padded to
    ``10 + 2 i`` tokens (at most the budget) ending in EOS."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.filler = tokenizer(" a", add_special_tokens=False)["input_ids"][-1]

    def _completion(self, i: int, budget: int) -> Completion:
        text = "<answer>yes</answer>" if i % 2 == 0 else "<answer>no</answer>"
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        length = min(10 + 2 * i, budget)
        ids = ids + [self.filler] * (length - len(ids) - 1) + [self.tok.eos_token_id]
        return Completion(text, ids, "stop")

    def generate(self, requests, params):
        return [[self._completion(i, params.max_new_tokens) for i in range(params.n)] for _ in requests]

    def close(self):
        pass


def items(factor: int, n: int, seed: int) -> list[TrainItem]:
    """Alternating video / image boolean prompts with an offline trajectory each."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        video = i % 2 == 0
        frames = rng.integers(0, 255, (4 if video else 1, factor, 2 * factor, 3), dtype=np.uint8)
        media = CachedMedia(
            f"d{seed}-{i}",
            f"/m{i}.{'mp4' if video else 'png'}",
            "video" if video else "image",
            frames,
            **(
                {"source_fps": 8.0, "total_frames": 16, "indices": [0, 5, 10, 15], "sample_fps": 2.0}
                if video
                else {}
            ),
        )
        out.append(
            TrainItem(
                f"s{seed}-{i}",
                "Is there a red square?",
                "boolean",
                "video" if video else "image",
                "yes",
                media=[media],
                extra={"offline_output": "<think>I look for red.</think><answer>yes</answer>"},
            )
        )
    return out


@pytest.mark.parametrize("name", sorted(SIGNATURE))
def test_recipe_trains_two_steps(name, tiny_models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recipe's files (the demo set) exist; their rows are not read here
    demo = tmp_path / ".reelrl" / "data" / "demo"
    demo.mkdir(parents=True)
    for f in ("train.jsonl", "val.jsonl"):
        (demo / f).write_text("")
    plan = load_run_config(RECIPES / f"{name}.yaml", ["trainer.max_steps=2", "data.max_response_length=24"])
    family = plan.ops["base_model"]["config"]["tiny_family"]
    cfg = plan.rl
    cfg.trainer.logger = ["jsonl"]
    cfg.worker.reward.length_bonus.min_length = min(cfg.worker.reward.length_bonus.min_length, 8)
    trainer = RLTrainer(cfg, tiny_models[family], tmp_path / "run").setup()
    trainer.engine = trainer.maker.engine = HalfRightEngine(trainer.processor.tokenizer)
    factor = trainer.processor.video.factor
    batches = [
        items(factor, cfg.data.rollout_batch_size, seed) for seed in range(2 * cfg.trainer.max_try_make_batch)
    ]
    try:
        result = trainer.train(batches, steps=2)
    finally:
        trainer.close()
    assert result.steps == 2
    for step in result.history:
        assert np.isfinite(step["actor/pg_loss"]) and np.isfinite(step["reward/overall"])
        assert SIGNATURE[name] <= set(step), f"{name}: missing {SIGNATURE[name] - set(step)}"
    assert Path(result.checkpoint, "config.json").exists()
