"""Learning, shown: one RL step moves every trainable parameter; the ``red_before_blue`` task is what it
claims; and (slow) ``benchmarks/learning.py --quick`` ends with GRPO above its SFT warm start, held out.

The smoke test uses the real tiny models, processor, rewards, advantages and optimizer; only generation is
scripted (one right and one wrong answer per prompt), so each group has advantages of both signs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cache_store.types import CachedMedia
from demo_kit.synthetic.render import PALETTE
from demo_kit.synthetic.tasks import TaskContext, red_before_blue
from training.config import load_config
from training.data.items import TrainItem
from training.engines.base import Completion
from training.loop.trainer import RLTrainer

ROOT = Path(__file__).resolve().parents[1]
YES, NO = "<answer>yes</answer>", "<answer>no</answer>"


class OneRightOneWrong:
    """A generation engine answering every prompt with "yes" then "no" (``params.n == 2``)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer

    def _completion(self, text: str) -> Completion:
        return Completion(
            text, self.tok(text, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id], "stop"
        )

    def generate(self, requests, params):
        assert params.n == 2
        return [[self._completion(YES), self._completion(NO)] for _ in requests]

    def close(self):
        pass


def _video_item(sample_id: str, answer: str, factor: int, seed: int) -> TrainItem:
    frames = np.random.default_rng(seed).integers(0, 256, (4, factor, factor, 3), dtype=np.uint8)
    media = CachedMedia(
        f"d{sample_id}", f"/{sample_id}.mp4", "video", frames, source_fps=8.0, total_frames=16,
        indices=[0, 5, 10, 15], timestamps=[0.0, 0.625, 1.25, 1.875], sample_fps=2.0,
    )  # fmt: skip
    return TrainItem(
        sample_id, "Does the red rectangle appear first?", "boolean", "video", answer, media=[media]
    )


@pytest.mark.parametrize(
    "family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"]
)
def test_one_rl_step_changes_every_trainable_parameter(tiny_models, tmp_path, family):
    # weight decay 0: AdamW's decay alone would move every parameter, gradient or not
    cfg = load_config(
        overrides=[
            f"model_path={tiny_models[family]}", "worker.rollout.n=2", "data.rollout_batch_size=2",
            "worker.actor.lr=1e-3", "worker.actor.weight_decay=0", "trainer.logger=[jsonl]",
        ]
    )  # fmt: skip
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    trainer.engine = trainer.maker.engine = OneRightOneWrong(trainer.processor.tokenizer)
    factor = trainer.processor.video.factor
    items = [_video_item("a", "yes", factor, 0), _video_item("b", "no", factor, 1)]
    trainable = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert len(trainable) == len(list(trainer.model.parameters()))  # full fine-tuning: nothing frozen

    metrics = trainer.step(items)

    # each group: one correct (overall 1.0) and one wrong but well-formed (overall 0.1) response
    assert metrics["reward/accuracy"] == 0.5 and metrics["reward/format"] == 1.0
    assert metrics["actor/grad_norm"] > 0
    after = dict(trainer.model.named_parameters())
    unchanged = [n for n, before in trainable.items() if torch.equal(after[n].detach(), before)]
    assert unchanged == [], f"did not change: {unchanged}"


def test_red_before_blue_answers_from_the_order_of_the_colours():
    ctx = TaskContext(size=(64, 64), fps=8)
    answers = []
    for i in range(12):
        sample = red_before_blue(np.random.default_rng([3, i]), TaskContext(ctx.size, ctx.fps, variant=i))
        video, truth = sample.media, sample.truth
        assert video.shape == (32, 64, 64, 3) and sample.problem_type == "boolean"
        for k, name in enumerate(truth["slots"]):  # each one-second slot shows its colour in its box only
            block = video[k * 8 : (k + 1) * 8]
            assert (block == block[0]).all()  # constant within the slot
            if name is None:
                assert truth["boxes"][k] is None and (block[0] == block[0, 0, 0]).all()
            else:
                x1, y1, x2, y2 = truth["boxes"][k]
                assert x2 - x1 >= 48 and y2 - y1 >= 48
                assert (block[0, y1:y2, x1:x2] == PALETTE[name]).all()
        red, blue = truth["slots"].index("red"), truth["slots"].index("blue")
        assert (red, blue) == (truth["red"], truth["blue"])
        assert sample.answer == ("yes" if red < blue else "no") == ("yes" if i % 2 == 0 else "no")
        # the same frames with the red and blue seconds exchanged give the other answer
        swapped = video.copy()
        swapped[red * 8 : (red + 1) * 8], swapped[blue * 8 : (blue + 1) * 8] = (
            video[blue * 8 : (blue + 1) * 8], video[red * 8 : (red + 1) * 8],
        )  # fmt: skip
        assert sorted(map(bytes, swapped)) == sorted(map(bytes, video))
        answers.append(sample.answer)
    assert answers.count("yes") == answers.count("no") == 6


@pytest.mark.slow
def test_quick_benchmark_grpo_beats_its_warm_start_on_held_out_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "learning.py"), "--quick", "--out", str(tmp_path / "out"),
         "--workdir", str(tmp_path / "work")],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results_quick.json").read_text())
    assert (tmp_path / "out" / "curves_quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = results["data"]
    assert data["heldout_videos_also_in_train"] == 0 and data["train_yes"] == data["heldout_yes"] == 0.5
    warm = results["summary"]["warm_start_accuracy"]
    (grpo,) = results["arms"]["grpo"]
    assert grpo["seed"] == 1 and grpo["curve"][0]["accuracy"] == warm and grpo["curve"][-1]["step"] == 30
    # measured (benchmarks/README.md): warm start 0.67; seed 1 reaches 0.97 at step 30, and every seed of
    # the full run is >= 0.77 there. 0.10 is the margin all of them clear.
    assert grpo["curve"][-1]["accuracy"] >= warm + 0.10, grpo["curve"]
    # temporal reliance: each checkpoint's ordered-frame accuracy is the one its curve ends on, minus its
    # accuracy on the same videos with shuffled frames
    for run, ordered in ((results["warm_start"], warm), (grpo, grpo["curve"][-1]["accuracy"])):
        reliance = run["temporal_reliance"]
        assert reliance["ordered"] == ordered and 0.0 <= reliance["shuffled"] <= 1.0
        assert reliance["reliance"] == pytest.approx(reliance["ordered"] - reliance["shuffled"])
    assert results["summary"]["grpo"]["temporal_reliance"]["mean"] == grpo["temporal_reliance"]["reliance"]


def test_the_temporal_reliance_measure_shuffles_every_held_out_video_the_same_way_each_time():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import learning

    items = [_video_item(str(i), "yes", 28, i) for i in range(3)]
    first, second = learning.shuffled_copy(items), learning.shuffled_copy(items)
    for item, a, b in zip(items, first, second, strict=True):
        (orig,), (ma,), (mb,) = item.media, a.media, b.media
        assert ma.digest == mb.digest != orig.digest and np.array_equal(ma.frames, mb.frames)
        assert not np.array_equal(ma.frames, orig.frames)
        assert sorted(map(bytes, ma.frames)) == sorted(map(bytes, orig.frames))  # same frames, other order
    image = TrainItem("img", "q", "boolean", "image", "yes", media=[])
    with pytest.raises(ValueError, match="every held-out item to be a video"):
        learning.shuffled_copy([*items, image])
