"""The RL loop: rollout -> reward -> advantage -> policy update -> metrics -> Hugging Face checkpoint.

One step on a batch of prompts (``TrainItem``s streamed from the Lance cache by Ray Data):

1. ``worker.rollout.n`` responses per prompt from the current policy (the engine shares its weights);
2. reward dicts from the reward library; the scalar ``overall`` sits on the last response token;
3. advantages from the registered estimator (``algorithm.adv_estimator``), grouped by prompt;
4. ``worker.actor.ppo_epochs`` passes of the registered policy loss (``worker.actor.loss_type``) over
   micro-batches, old log-probs computed once before the first update (veRL semantics);
5. metrics appended to ``metrics.jsonl``; the final policy saved with ``save_pretrained`` next to the
   tokenizer and processor configs, so plain transformers (or this trainer) can load it.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from training.algorithms import compute_advantage, compute_policy_loss, kl_penalty
from training.config import RLConfig
from training.engines.base import SamplingParams
from training.engines.hf import HFEngine
from training.groups import shuffle_video_items, temporal_group_bonus
from training.models.policy import load_policy, token_logprobs
from training.rewards import FormatSpec, RewardWeights
from training.rewards.judge import JudgeClient
from training.rollout import Rollout, TrainItem, rollout_and_score

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
        if self.cfg.algorithm.use_kl_loss and self.cfg.algorithm.kl_coef > 0:
            self.ref_model, _ = load_policy(self.model_path)
            self.ref_model.eval().requires_grad_(False)
        judge_config = self.cfg.worker.reward.judge_config()
        self.judge = None if judge_config is None else JudgeClient(judge_config)
        self.save_dir.mkdir(parents=True, exist_ok=True)
        return self

    # ---- one RL step -------------------------------------------------------------------------
    def step(self, items: list[TrainItem], data_wait_s: float = 0.0) -> dict:
        cfg, t0 = self.cfg, time.perf_counter()
        ro = cfg.worker.rollout
        params = SamplingParams(
            n=ro.n,
            temperature=ro.temperature,
            top_p=ro.top_p,
            max_new_tokens=ro.max_new_tokens,
            seed=cfg.trainer.seed * 100_003 + self.global_step,
        )
        weights = RewardWeights(
            accuracy=cfg.worker.reward.accuracy_weight, format=cfg.worker.reward.format_weight
        )
        format_spec = FormatSpec(require_think=cfg.worker.reward.require_think)
        rollouts = rollout_and_score(
            self.engine, items, params, weights, cfg.data.prompt_template or None, format_spec, self.judge
        )
        temporal = {}
        if cfg.algorithm.temporal:
            temporal = self._temporal_bonus(items, rollouts, params, weights, format_spec)
        t_rollout = time.perf_counter() - t0
        metrics = self._update(items, rollouts)
        self.global_step += 1
        metrics.update(
            {
                "step": self.global_step,
                "reward/overall": _mean(r.reward["overall"] for r in rollouts),
                "reward/accuracy": _mean(r.reward["accuracy"] for r in rollouts),
                "reward/format": _mean(r.reward["format"] for r in rollouts),
                "response_length/mean": _mean(len(r.completion.token_ids) for r in rollouts),
                "response/clip_ratio": _mean(r.completion.finish_reason == "length" for r in rollouts),
                **temporal,
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

    def _temporal_bonus(self, items, rollouts, params, weights, format_spec) -> dict[str, float]:
        """T-GRPO (Video-R1): ``n // 2`` responses per video item on shuffled frames (``groups.shuffle_frames``,
        seeded by the step), scored but never trained on; each ordered rollout's ``temporal_bonus`` (from
        ``shaping.temporal_bonus``) is stored in its reward and ``weights.accuracy * bonus`` added to its
        ``overall`` (Video-R1 adds it to the accuracy reward, whose weight is 1 there). Returns metrics."""
        cfg = self.cfg.algorithm
        rng = np.random.default_rng(self.cfg.trainer.seed * 100_003 + self.global_step)
        shuffled_items, origin = shuffle_video_items(items, rng)
        shuffled = []
        if shuffled_items:
            shuffled = rollout_and_score(
                self.engine, shuffled_items, replace(params, n=max(1, params.n // 2)), weights,
                self.cfg.data.prompt_template or None, format_spec, self.judge,
            )  # fmt: skip
        result = temporal_group_bonus(
            rollouts, shuffled, [it.data_type for it in items], alpha=cfg.temporal_alpha, mu=cfg.temporal_mu,
            shuffled_origin=origin,
        )  # fmt: skip
        for rollout, bonus in zip(rollouts, result.bonus, strict=True):
            rollout.reward["temporal_bonus"] = float(bonus)
            rollout.reward["overall"] += weights.accuracy * float(bonus)
        return result.metrics

    def _update(self, items: list[TrainItem], rollouts: list[Rollout]) -> dict:
        cfg, actor = self.cfg, self.cfg.worker.actor
        proc = self.processor
        t0 = time.perf_counter()
        # encode each prompt once; its n rollouts share the tensors
        encoded = [
            proc.encode(it.prompt(cfg.data.prompt_template or None), it.media, sample_id=it.sample_id)
            for it in items
        ]
        prompts = [encoded[r.item_index] for r in rollouts]
        responses = [r.completion.token_ids or [proc.tokenizer.eos_token_id] for r in rollouts]
        width = max(len(x) for x in responses)
        mask = torch.zeros(len(responses), width)
        token_rewards = torch.zeros(len(responses), width)
        for i, (r, resp) in enumerate(zip(rollouts, responses)):
            mask[i, : len(resp)] = 1
            token_rewards[i, len(resp) - 1] = r.reward["overall"]
        index = [items[r.item_index].sample_id for r in rollouts]
        advantages, _ = compute_advantage(
            cfg.algorithm.adv_estimator,
            token_level_rewards=token_rewards,
            response_mask=mask,
            index=index,
            norm_by_std=cfg.algorithm.norm_adv_by_std_in_grpo,
        )
        chunks = [
            list(range(s, min(s + actor.micro_batch_size, len(rollouts))))
            for s in range(0, len(rollouts), actor.micro_batch_size)
        ]

        def logprobs(model, idx: list[int]):
            return token_logprobs(
                model,
                [prompts[i] for i in idx],
                [responses[i] for i in idx],
                proc.tokenizer.pad_token_id,
                proc.family,
                cfg.worker.rollout.temperature,
            )

        with torch.no_grad():
            old = [logprobs(self.model, idx)[0] for idx in chunks]
            ref = [logprobs(self.ref_model, idx)[0] for idx in chunks] if self.ref_model is not None else None
        total_tokens = mask.sum().clamp(min=1)
        stats: dict[str, list[float]] = {}
        for _ in range(actor.ppo_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            for k, idx in enumerate(chunks):
                logp, m = logprobs(self.model, idx)
                w = m.shape[1]
                adv = advantages[idx, :w]
                loss, pl_metrics = compute_policy_loss(
                    actor.loss_type,
                    old_log_probs=old[k],
                    log_probs=logp,
                    advantages=adv,
                    response_mask=m,
                    clip_ratio_low=actor.clip_ratio_low,
                    clip_ratio_high=actor.clip_ratio_high,
                    clip_ratio_c=actor.clip_ratio_dual,
                    loss_agg_mode=actor.loss_agg_mode,
                )
                if ref is not None:
                    kl = kl_penalty(logp, ref[k], cfg.algorithm.kl_penalty)
                    kl_loss = (kl * m).sum() / m.sum().clamp(min=1)
                    loss = loss + cfg.algorithm.kl_coef * kl_loss
                    stats.setdefault("actor/kl_loss", []).append(float(kl_loss))
                # token-mean over the whole mini-batch, not a mean of micro-batch means
                scale = (
                    m.sum() / total_tokens
                    if actor.loss_agg_mode == "token-mean"
                    else len(idx) / len(rollouts)
                )
                (loss * scale).backward()
                stats.setdefault("actor/pg_loss", []).append(loss.item())
                for key, v in pl_metrics.items():
                    stats.setdefault(f"actor/{key}", []).append(float(v))
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), actor.max_grad_norm)
            if torch.isfinite(grad_norm):
                self.optimizer.step()
            else:
                log.warning("step %d: non-finite grad norm, update skipped", self.global_step + 1)
            stats.setdefault("actor/grad_norm", []).append(float(grad_norm))
        out = {k: sum(v) / len(v) for k, v in stats.items()}
        out["time/update_s"] = time.perf_counter() - t0
        return out

    # ---- loop and checkpoint -----------------------------------------------------------------
    def train(self, batches: Iterable[list[TrainItem]], steps: int) -> RunResult:
        it = iter(batches)
        while self.global_step < steps:
            t0 = time.perf_counter()
            try:
                items = next(it)
            except StopIteration:
                break
            self.step(items, data_wait_s=time.perf_counter() - t0)
        ckpt = self.save(self.save_dir / "checkpoint")
        return RunResult(checkpoint=str(ckpt), steps=self.global_step, history=self.history)

    def save(self, out_dir: str | Path) -> Path:
        return save_checkpoint(self.model, self.processor, out_dir)


def _mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else 0.0
