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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from training.config import RLConfig, to_dict
from training.data.items import TrainItem
from training.engines.hf import HFEngine
from training.hardware import resolve_device
from training.loop.experience import ExperienceMaker
from training.loop.rollout import RolloutError
from training.loop.schedule import make_scheduler
from training.loop.timing import PhaseTimer
from training.loop.update import PolicyUpdater
from training.models.lora import LoraSpec
from training.models.policy import load_policy
from training.outputs.checkpoint import (
    checkpoint_root,
    find_resume,
    is_complete,
    load_state,
    save_checkpoint,
    save_state,
    step_dir,
)
from training.outputs.sinks import Tracker, read_metrics
from training.parallel.fsdp import full_optimizer_state, full_state, is_sharded, shard_policy, wait_for_ranks
from training.rewards.judge import JudgeClient

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    checkpoint: str
    steps: int
    history: list[dict] = field(default_factory=list)


class RLTrainer:
    """GRPO-family trainer over one policy; ``setup`` loads, ``step`` updates, ``save`` checkpoints."""

    def __init__(
        self,
        cfg: RLConfig,
        model_path: str | Path,
        save_dir: str | Path,
        on_metrics: Callable | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.cfg = cfg
        self.model_path = Path(model_path)
        self.save_dir = Path(save_dir)
        self.on_metrics = on_metrics or (lambda m: None)
        self.history: list[dict] = []
        self.global_step = 0
        self.batches_drawn = 0  # batches taken from the data stream: the data position for resume
        self.rank, self.world_size = rank, world_size
        self.tracker: Tracker | None = None
        self.last_saved: Path | None = None  # the newest checkpoint this process wrote (or found complete)

    def setup(self) -> RLTrainer:
        torch.manual_seed(self.cfg.trainer.seed)
        actor = self.cfg.worker.actor
        lora = None
        if actor.lora_rank > 0:
            lora = LoraSpec(actor.lora_rank, actor.lora_alpha, target_modules=actor.lora_target_modules)
        device = resolve_device(self.cfg.trainer.device)
        self.model, self.processor = load_policy(
            self.model_path, device=device, freeze_vision_tower=actor.freeze_vision_tower, lora=lora
        )
        if actor.strategy == "fsdp2":  # before the optimizer: it must hold the shards
            shard_policy(self.model)
        self.model.train()
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=actor.lr,
            weight_decay=actor.weight_decay,
        )
        self.scheduler = make_scheduler(
            self.optimizer, self.cfg.trainer.total_steps, actor.lr_warmup_ratio, actor.lr_scheduler_type,
            actor.min_lr_ratio,
        )  # fmt: skip
        rollout = self.cfg.worker.rollout
        if rollout.engine == "vllm":  # its own copy of the weights, synced before each step's rollouts
            from training.engines.vllm import VLLMEngine

            self.engine = VLLMEngine(
                self.model_path, self.processor, gpu_memory_utilization=rollout.gpu_memory_utilization,
                dtype=rollout.dtype, enforce_eager=rollout.enforce_eager, seed=self.cfg.trainer.seed,
            )  # fmt: skip
        else:  # generates with the training model itself, or under FSDP2 with a full copy per rank
            generator = self.model
            if is_sharded(self.model):  # a generate loop's forward count differs by rank: no collectives
                generator = load_policy(self.model_path, device=device)[0].eval().requires_grad_(False)
            self.engine = HFEngine(
                generator, self.processor, batch_size=max(1, self.cfg.data.rollout_batch_size)
            )
        self.ref_model = None
        if self.cfg.algorithm.kl_coef > 0:  # as a loss term (use_kl_loss) or a reward penalty
            self.ref_model, _ = load_policy(self.model_path, device=device)
            self.ref_model.eval().requires_grad_(False)
        judge_config = self.cfg.worker.reward.judge_config()
        self.judge = None if judge_config is None else JudgeClient(judge_config)
        self.maker = ExperienceMaker(self.cfg, self.engine, self.processor, self.judge, rank=self.rank)
        self.updater = PolicyUpdater(
            self.cfg, self.model, self.processor, self.optimizer, self.scheduler, ref_model=self.ref_model
        )
        self.save_dir.mkdir(parents=True, exist_ok=True)
        return self

    # ---- resume --------------------------------------------------------------------------------
    @property
    def checkpoint_root(self) -> Path:
        return checkpoint_root(self.save_dir)

    def resume(self) -> int:
        """Load the newest complete checkpoint of this run (``trainer.find_last_checkpoint``); returns the
        data position (batches already drawn from the stream), 0 for a fresh run."""
        path = find_resume(self.checkpoint_root) if self.cfg.trainer.find_last_checkpoint else None
        return self.resume_from(path)

    def resume_from(self, path: str | Path | None) -> int:
        if not path:
            return 0
        state = load_state(path, self.model, self.optimizer, self.scheduler)
        self.global_step = int(state["global_step"])
        self.batches_drawn = state["batches_drawn"]
        if "kl_ctrl" in state["extra"]:
            self.updater.kl_ctrl.load_state_dict(state["extra"]["kl_ctrl"])
        metrics = self.save_dir / "metrics.jsonl"
        if metrics.exists():  # steps the killed run logged after its last checkpoint are done again
            self.history = [m for m in read_metrics(metrics) if m.get("step", 0) <= self.global_step]
        logged = self.history and self.history[-1].get("step") == self.global_step
        if not logged and "metrics" in state["extra"]:  # killed after the checkpoint, before its log line
            self._log(state["extra"]["metrics"])  # (its timing lacks the checkpoint's own time)
        log.info("resumed from %s at step %d (data position %d)", path, self.global_step, self.batches_drawn)
        return self.batches_drawn

    # ---- one RL step -------------------------------------------------------------------------
    def step(
        self,
        items: list[TrainItem],
        data_wait_s: float = 0.0,
        more: Iterable[list[TrainItem]] = (),
        save: bool = False,
    ) -> dict:
        """One RL step on batch ``items`` (and, with dynamic sampling, refill batches from ``more``), then a
        checkpoint when ``save``. ``data_wait_s``: how long the caller waited for ``items``. Logs the step's
        metrics with its ``timing_s/<phase>`` (``training.loop.timing``)."""
        timer = PhaseTimer()
        timer.add("data_wait", data_wait_s, before_start=True)
        if hasattr(self.engine, "sync_weights"):  # an engine with its own weights gets the policy's
            with timer.phase("weight_sync"):
                self.engine.sync_weights(self.model)
        record = self.maker.make(items, more, self.global_step, timer)
        exp = record.experience
        self.batches_drawn += record.batches_drawn
        failed = self._record_failures(record.failures, record.prompts_drawn)
        if exp.rollouts or self.world_size > 1:  # a rank with no rollouts still joins the gradient sum
            metrics = self.updater.update(exp, timer)
        else:  # dynamic sampling kept no group: nothing to learn from, the step still counts
            log.warning("step %d: no group kept by dynamic sampling; update skipped", self.global_step + 1)
            metrics = {}
        self.global_step += 1
        metrics.update(step_metrics(self.global_step, exp, record.metrics, failed))
        if save:  # the checkpoint carries the step's metrics: a kill before they are logged loses none
            with timer.phase("save_checkpoint"):
                self.last_saved = self.save_state(metrics={**metrics, **timer.metrics()})
        metrics.update(timer.metrics())
        self._log(metrics)
        return metrics

    def _log(self, metrics: dict) -> None:
        """Record one step's metrics: history, the tracker's sinks (rank 0) and ``on_metrics``."""
        self.history.append(metrics)
        if self.rank == 0:
            if self.tracker is None:
                cfg = self.cfg
                self.tracker = Tracker(
                    self.save_dir, cfg.trainer.logger, run_name=self.save_dir.name, config=to_dict(cfg),
                    total_steps=cfg.trainer.total_steps, start_step=metrics["step"] - 1,
                )  # fmt: skip
            self.tracker.log(metrics, metrics["step"])
        self.on_metrics(metrics)

    @property
    def failures_path(self) -> Path:
        """Prompts whose generation failed after retries, one JSON line each (per rank when distributed)."""
        name = "failed_rollouts.jsonl" if self.world_size == 1 else f"failed_rollouts.rank{self.rank}.jsonl"
        return self.save_dir / name

    def _record_failures(self, records: list[dict], drawn: int) -> list[dict]:
        """Append the step's failed prompts to ``failures_path``; raise ``RolloutError`` when every prompt
        the step drew (``drawn``) failed (a systemic fault, e.g. a cache built for another model family)."""
        for r in records:
            r["step"] = self.global_step + 1
        if records:
            with self.failures_path.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)
            log.warning(
                "step %d: generation failed for %d prompt(s), left out and recorded in %s: %s",
                self.global_step, len(records), self.failures_path,
                ", ".join(f"{r['sample_id']} ({r['error']})" for r in records[:3]),
            )  # fmt: skip
        if drawn and sum(r["stage"] == "rollout" for r in records) >= drawn:
            raise RolloutError(
                f"step {self.global_step + 1}: generation failed for all {drawn} prompts (first: "
                f"{records[0]['sample_id']}: {records[0]['error']}); see {self.failures_path}"
            )
        return records

    # ---- loop and checkpoint -----------------------------------------------------------------
    def train(self, batches: Iterable[list[TrainItem]] | Callable[[int], Iterable], steps: int) -> RunResult:
        """Steps until ``steps`` are done or the data ends. ``batches`` is an iterable of batches, or a
        function of the data position returning the stream from there (so a resumed run continues the
        same order: ``train(lambda drawn: stream_batches(..., batches_drawn=drawn), steps)`` after
        ``resume``)."""
        it = iter(batches(self.batches_drawn) if callable(batches) else batches)
        freq = self.cfg.trainer.save_freq
        self.last_saved = None
        try:
            while self.global_step < steps:
                t0 = time.perf_counter()
                try:
                    items = next(it)
                except StopIteration:
                    break
                after = self.global_step + 1  # saved inside the step, so its time is in the step's timing
                save = bool(freq and after % freq == 0) or after == steps
                self.step(items, data_wait_s=time.perf_counter() - t0, more=it, save=save)
            if self.last_saved is None or self.last_saved != step_dir(self.checkpoint_root, self.global_step):
                self.last_saved = self.save_state()  # the data ended early, or a finished run resumed
        finally:
            if self.tracker is not None:
                self.tracker.close()
                self.tracker = None
        return RunResult(checkpoint=str(self.last_saved), steps=self.global_step, history=self.history)

    def save_state(self, metrics: dict | None = None) -> Path:
        """Checkpoint ``checkpoints/global_step_<N>`` (HF weights + optimizer, scheduler, RNG, data position,
        and ``metrics``, the step's, when given), written by rank 0 only; returns its path on every rank once
        it is complete there."""
        path = step_dir(self.checkpoint_root, self.global_step)
        done = is_complete(path)  # a resumed, already finished run has it (same answer on every rank)
        gathered = {}
        if is_sharded(self.model) and not done:  # every rank joins the gathers; rank 0 gets the result
            gathered = {
                "weights": full_state(self.model, rank0_only=True),
                "optimizer_state": full_optimizer_state(self.model, self.optimizer),
            }
        if self.rank == 0 and not done:
            path = save_state(
                self.checkpoint_root, self.global_step, self.model, self.processor, self.optimizer,
                self.scheduler, batches_drawn=self.batches_drawn,
                extra={"kl_ctrl": self.updater.kl_ctrl.state_dict(), **({"metrics": metrics} if metrics else {})},
                save_limit=self.cfg.trainer.save_limit,
                **gathered,
            )  # fmt: skip
        wait_for_ranks()  # rank 1 returning before rank 0 finished writing would read a partial checkpoint
        return path

    def close(self) -> None:
        """Release the rollout engine (a vLLM engine holds its KV cache and model copy until closed)."""
        if getattr(self, "engine", None) is not None:
            self.engine.close()
            self.engine = None

    def save(self, out_dir: str | Path) -> Path:
        """The policy alone, as a plain Hugging Face checkpoint (sharded: every rank calls, rank 0 writes)."""
        weights = full_state(self.model, rank0_only=True) if is_sharded(self.model) else None
        if self.rank == 0:
            save_checkpoint(self.model, self.processor, out_dir, weights=weights)
        return Path(out_dir)


def step_metrics(step: int, exp, sampling: dict, failed: list) -> dict:
    """The step's reward, length and sampling metrics, and ``perf/total_num_tokens`` (prompt tokens, visual
    ones included, plus response tokens over every rollout: verl's name)."""
    rollouts = exp.rollouts
    prompt_tokens = [len(p.input_ids) for p in exp.prompts] if exp.prompts else [0] * len(exp.items)
    return {
        "step": step,
        "reward/overall": _mean(r.reward["overall"] for r in rollouts),
        "reward/accuracy": _mean(r.reward["accuracy"] for r in rollouts),
        "reward/format": _mean(r.reward["format"] for r in rollouts),
        "response_length/mean": _mean(len(r.completion.token_ids) for r in rollouts),
        "response/clip_ratio": _mean(r.completion.finish_reason == "length" for r in rollouts),
        **sampling,
        "rollout/failed_prompts": float(len(failed)),
        "perf/total_num_tokens": float(
            sum(prompt_tokens[r.item_index] + len(r.completion.token_ids) for r in rollouts)
        ),
    }


def _mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else 0.0
