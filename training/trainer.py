"""The RL loop: experience -> policy update -> metrics -> checkpoint, one step per batch of prompts.

One step on a batch of prompts (``TrainItem``s streamed from the Lance cache by Ray Data):

1. ``experience.ExperienceMaker``: ``worker.rollout.n`` responses per prompt from the current policy (the
   engine shares its weights), scored by the reward library; mixed offline slots, DAPO dynamic sampling
   (drawing more batches from the stream), the T-GRPO bonus and the ReMax baseline when configured;
2. ``update.PolicyUpdater``: advantages from the registered estimator, ``worker.actor.ppo_epochs`` passes
   of the registered policy loss over micro-batches, KL as loss or reward penalty;
3. metrics appended to ``metrics.jsonl``; the final policy saved with ``save_pretrained`` next to the
   tokenizer and processor configs, so plain transformers (or this trainer) can load it.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from training.config import RLConfig
from training.engines.hf import HFEngine
from training.experience import ExperienceMaker
from training.models.policy import load_policy
from training.rewards.judge import JudgeClient
from training.rollout import TrainItem
from training.update import PolicyUpdater

log = logging.getLogger(__name__)
PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "chat_template.jinja")


@dataclass
class RunResult:
    checkpoint: str
    steps: int
    history: list[dict] = field(default_factory=list)


def save_checkpoint(model, processor, out_dir: str | Path) -> Path:
    """``save_pretrained`` the model and tokenizer, and copy the processor configs beside them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.tokenizer.save_pretrained(out)
    for name in PROCESSOR_FILES:
        src = processor.path / name
        if src.exists() and not (out / name).exists():
            shutil.copy2(src, out / name)
    return out


class RLTrainer:
    """GRPO-family trainer over one policy; ``setup`` loads, ``step`` updates, ``save`` checkpoints."""

    def __init__(
        self, cfg: RLConfig, model_path: str | Path, save_dir: str | Path, on_metrics: Callable | None = None
    ):
        self.cfg = cfg
        self.model_path = Path(model_path)
        self.save_dir = Path(save_dir)
        self.on_metrics = on_metrics or (lambda m: None)
        self.history: list[dict] = []
        self.global_step = 0

    def setup(self) -> RLTrainer:
        torch.manual_seed(self.cfg.trainer.seed)
        self.model, self.processor = load_policy(self.model_path)
        self.model.train()
        actor = self.cfg.worker.actor
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=actor.lr, weight_decay=actor.weight_decay
        )
        self.engine = HFEngine(
            self.model, self.processor, batch_size=max(1, self.cfg.data.rollout_batch_size)
        )
        self.ref_model = None
        if self.cfg.algorithm.kl_coef > 0:  # as a loss term (use_kl_loss) or a reward penalty
            self.ref_model, _ = load_policy(self.model_path)
            self.ref_model.eval().requires_grad_(False)
        judge_config = self.cfg.worker.reward.judge_config()
        self.judge = None if judge_config is None else JudgeClient(judge_config)
        self.maker = ExperienceMaker(self.cfg, self.engine, self.processor, self.judge)
        self.updater = PolicyUpdater(
            self.cfg, self.model, self.processor, self.optimizer, ref_model=self.ref_model
        )
        self.save_dir.mkdir(parents=True, exist_ok=True)
        return self

    # ---- one RL step -------------------------------------------------------------------------
    def step(
        self, items: list[TrainItem], data_wait_s: float = 0.0, more: Iterable[list[TrainItem]] = ()
    ) -> dict:
        """One RL step on batch ``items`` (and, with dynamic sampling, refill batches from ``more``)."""
        t0 = time.perf_counter()
        exp, sampling = self.maker.make(items, more, self.global_step)
        t_rollout = time.perf_counter() - t0
        if exp.rollouts:
            metrics = self.updater.update(exp)
        else:  # dynamic sampling kept no group: nothing to learn from, the step still counts
            log.warning("step %d: no group kept by dynamic sampling; update skipped", self.global_step + 1)
            metrics = {}
        self.global_step += 1
        rollouts = exp.rollouts
        metrics.update(
            {
                "step": self.global_step,
                "reward/overall": _mean(r.reward["overall"] for r in rollouts),
                "reward/accuracy": _mean(r.reward["accuracy"] for r in rollouts),
                "reward/format": _mean(r.reward["format"] for r in rollouts),
                "response_length/mean": _mean(len(r.completion.token_ids) for r in rollouts),
                "response/clip_ratio": _mean(r.completion.finish_reason == "length" for r in rollouts),
                **sampling,
                "time/data_wait_s": data_wait_s,
                "time/rollout_s": t_rollout,
                "time/step_s": time.perf_counter() - t0 + data_wait_s,
            }
        )
        self.history.append(metrics)
        with open(self.save_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(metrics) + "\n")
        self.on_metrics(metrics)
        return metrics

    # ---- loop and checkpoint -----------------------------------------------------------------
    def train(self, batches: Iterable[list[TrainItem]], steps: int) -> RunResult:
        it = iter(batches)
        while self.global_step < steps:
            t0 = time.perf_counter()
            try:
                items = next(it)
            except StopIteration:
                break
            self.step(items, data_wait_s=time.perf_counter() - t0, more=it)
        ckpt = self.save(self.save_dir / "checkpoint")
        return RunResult(checkpoint=str(ckpt), steps=self.global_step, history=self.history)

    def save(self, out_dir: str | Path) -> Path:
        return save_checkpoint(self.model, self.processor, out_dir)


def _mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else 0.0
