"""The policy update of one RL step: scored rollouts -> tensors -> advantages -> policy-loss passes.

Given an ``Experience`` (the kept prompts and their item-major rollout groups):

1. responses are right-padded to [B, T] with their mask; each rollout's ``overall`` reward sits on its last
   token (``token_level_scores``);
2. old log-probs (current policy, before any update: veRL semantics, also for offline rows, whose
   behaviour probability nobody has) and, when KL is on, reference log-probs, once per micro-batch;
3. KL as a reward penalty (``use_kl_loss`` off, ``kl_coef`` > 0): ``scores - β·kld`` with a fixed or
   adaptive β (``algorithm.kl_type``), updated after the step;
4. advantages from the registered estimator with every input any estimator takes: token rewards, mask,
   the group of each row (its prompt's batch position, so a prompt drawn twice forms two groups),
   ReMax baselines, GDPO per-key scores;
5. ``worker.actor.ppo_epochs`` passes of the registered loss over micro-batches, gradients accumulated so
   the mini-batch loss is one token-mean (or sequence mean) over all rows, clipped, one optimizer step per
   pass; what a loss needs beyond the common inputs comes from its registration (``policy_loss_spec``:
   LUFFY's off-policy row mask and shaping options).

The prompts are the ones the rollout encoded (``Experience.prompts``), not encoded again.

Under ``torch.distributed`` (Ray Train workers, each with its own prompts) the token count and row count
that normalise the loss are summed over ranks and every gradient is summed with ``all_reduce`` before
clipping, so W workers take exactly the step one worker would take on the union of their rollouts
(a global token-mean, as veRL's). Parameters that got no gradient on a rank join with zeros. With a
sharded policy (``worker.actor.strategy=fsdp2``) FSDP2 sums the gradients itself (reduce-scatter), and
every rank runs as many micro-batch forwards and backwards as the busiest rank: the others add
zero-weighted padding passes (``sharding`` says why).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.distributed as dist

from training.algorithms import (
    apply_kl_penalty,
    compute_advantage,
    compute_policy_loss,
    kl_penalty,
    policy_loss_spec,
)
from training.algorithms.kl import get_kl_controller
from training.config import RLConfig
from training.data.items import TrainItem
from training.loop.rollout import Rollout, StepPrompts
from training.loop.timing import PhaseTimer
from training.models.policy import token_logprobs
from training.models.processor import EncodedPrompt
from training.parallel.fsdp import is_sharded, local_value, max_over_ranks

log = logging.getLogger(__name__)


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _sum_over_ranks(value: float) -> float:
    if _world() == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def sync_gradients(params) -> None:
    """Sum each gradient over ranks (missing ones as zeros); a no-op outside torch.distributed."""
    if _world() == 1:
        return
    for p in params:
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)


@dataclass
class Experience:
    """What one step trains on. ``rollouts[j].item_index`` indexes ``items``; groups are item-major.
    ``reward_baselines`` (ReMax): per rollout, the reward of the greedy response to its prompt.
    ``prompts``: per item, its prompt as encoded for the rollout (``rollout.StepPrompts``); None (an
    experience built by hand) has the update encode them."""

    items: list[TrainItem]
    rollouts: list[Rollout]
    reward_baselines: list[float] | None = None
    prompts: list[EncodedPrompt] | None = None


@dataclass
class StepBatch:
    """An experience as tensors, one row per rollout: its encoded prompt and response tokens, the response
    mask and token-level scores [B, T] (on the policy's device), the off-policy row mask [B] and the
    micro-batches (row indices, ``worker.actor.micro_batch_size`` each)."""

    rollouts: list[Rollout]
    prompts: list[EncodedPrompt]
    responses: list[list[int]]
    mask: torch.Tensor
    scores: torch.Tensor
    off_policy: torch.Tensor
    chunks: list[list[int]]


def response_tensors(
    rollouts: list[Rollout], eos_id: int
) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    """(response token lists, mask [B, T], token-level scores [B, T] with ``overall`` on the last token).
    An empty response becomes a lone EOS so every row has one token to carry its reward."""
    responses = [list(r.completion.token_ids) or [eos_id] for r in rollouts]
    width = max(len(x) for x in responses)
    mask = torch.zeros(len(responses), width)
    scores = torch.zeros(len(responses), width)
    for i, (r, resp) in enumerate(zip(rollouts, responses)):
        mask[i, : len(resp)] = 1
        scores[i, len(resp) - 1] = float(r.reward["overall"])
    return responses, mask, scores


def rollout_logprob_gap(rollouts: list[Rollout], old: list[torch.Tensor], chunks: list[list[int]]) -> dict:
    """``|engine log-prob - trainer log-prob|`` of the sampled tokens of on-policy rollouts whose engine
    reported log-probs (vLLM), as ``rollout/logprob_diff_{mean,max}`` (veRL logs the same gap as
    ``rollout_probs_diff``): near 0 when the engine and the trainer compute the same model on the same
    inputs, so a rise means they drifted apart (stale weights, other positions or pixels). ``old``: the
    trainer's log-probs per micro-batch ``chunks``."""
    gaps = []
    for chunk, logp in zip(chunks, old):
        for row, j in enumerate(chunk):
            engine = rollouts[j].completion.logprobs
            if engine is None or rollouts[j].off_policy:
                continue
            mine = logp[row, : len(engine)].double().cpu()
            gaps.append((mine - torch.tensor(engine, dtype=torch.float64)).abs())
    if not gaps:
        return {}
    gap = torch.cat(gaps)
    return {"rollout/logprob_diff_mean": [float(gap.mean())], "rollout/logprob_diff_max": [float(gap.max())]}


class PolicyUpdater:
    """Owns the optimizer step of the policy; ``update(experience)`` returns the step's metrics."""

    def __init__(self, cfg: RLConfig, model, processor, optimizer, scheduler=None, ref_model=None):
        self.cfg, self.model, self.processor = cfg, model, processor
        self.optimizer, self.scheduler, self.ref_model = optimizer, scheduler, ref_model
        alg = cfg.algorithm
        self.kl_in_reward = ref_model is not None and not alg.use_kl_loss
        self.kl_ctrl = get_kl_controller(alg.kl_type, alg.kl_coef, alg.kl_target, alg.kl_horizon)

    def _logprobs(self, model, prompts, responses, idx: list[int], router_aux: list | None = None):
        proc = self.processor
        return token_logprobs(
            model,
            [prompts[i] for i in idx],
            [responses[i] for i in idx],
            proc.tokenizer.pad_token_id,
            proc.family,
            self.cfg.worker.rollout.temperature,
            # distributed: a text-only micro-batch still gives every vision weight a (zero) gradient
            dummy_vision=_world() > 1,
            router_aux=router_aux,
        )

    def update(self, exp: Experience, timer: PhaseTimer | None = None) -> dict[str, float]:
        """The step's update; ``timer`` gets its phases ``old_log_prob``, ``ref``, ``adv``, ``update_actor``."""
        timer = timer or PhaseTimer()
        if not exp.rollouts:
            with timer.phase("update_actor"):
                return self._idle_update()
        batch = self._batch(exp)
        stats: dict[str, list[float]] = {}
        padding = self._padding_passes(len(batch.chunks))
        old, ref = self._fixed_logprobs(batch, padding, stats, timer)
        with timer.phase("adv"):
            token_rewards = self._token_rewards(batch, old, ref, stats)
            advantages = self._advantages(exp, batch, token_rewards)
        kl_loss_on = ref is not None and not self.kl_in_reward
        with timer.phase("update_actor"):
            total_tokens = max(1.0, _sum_over_ranks(batch.mask.sum().item()))  # over every rank's rollouts
            total_rows = max(1.0, _sum_over_ranks(len(batch.rollouts)))
            for _ in range(self.cfg.worker.actor.ppo_epochs):
                self.optimizer.zero_grad(set_to_none=True)
                for k in range(len(batch.chunks)):
                    ref_k = ref[k] if kl_loss_on else None
                    self._micro_batch(batch, k, old[k], ref_k, advantages, (total_tokens, total_rows), stats)
                self._pad(padding, train=True)
                self._optimizer_step(stats)
            if self.scheduler is not None:
                self.scheduler.step()
        return self._finish(stats, batch.off_policy)

    def _batch(self, exp: Experience) -> StepBatch:
        """The experience's rollouts as tensors on the policy's device, with their carried prompts."""
        rollouts, actor = exp.rollouts, self.cfg.worker.actor
        encoded = exp.prompts
        if encoded is None:
            encoded = list(map(StepPrompts(self.processor, self.cfg.data.prompt_template or None), exp.items))
        responses, mask, scores = response_tensors(rollouts, self.processor.eos_id)
        device = next(self.model.parameters()).device  # cuda when trainer.device says so
        chunks = [
            list(range(s, min(s + actor.micro_batch_size, len(rollouts))))
            for s in range(0, len(rollouts), actor.micro_batch_size)
        ]
        off_policy = torch.tensor([r.off_policy for r in rollouts], dtype=torch.bool, device=device)
        prompts = [encoded[r.item_index] for r in rollouts]
        return StepBatch(rollouts, prompts, responses, mask.to(device), scores.to(device), off_policy, chunks)

    def _fixed_logprobs(
        self, batch: StepBatch, padding: int, stats: dict, timer: PhaseTimer
    ) -> tuple[list, list | None]:
        """Per micro-batch, the log-probs the passes compare with: the current policy's before any update
        (``old``, timed as ``old_log_prob``) and, when KL is on, the reference model's (``ref``, else None;
        timed as ``ref``); no gradients."""
        chunks = batch.chunks
        with torch.no_grad():
            with timer.phase("old_log_prob"):
                old = [self._logprobs(self.model, batch.prompts, batch.responses, idx)[0] for idx in chunks]
                self._pad(padding, train=False)
            if self.cfg.worker.rollout.temperature == 1.0:  # the engine's log-probs are at temperature 1
                stats.update(rollout_logprob_gap(batch.rollouts, old, chunks))
            ref = None
            if self.ref_model is not None:
                with timer.phase("ref"):
                    ref = [
                        self._logprobs(self.ref_model, batch.prompts, batch.responses, idx)[0]
                        for idx in chunks
                    ]
        return old, ref

    def _token_rewards(self, batch: StepBatch, old: list, ref: list | None, stats: dict) -> torch.Tensor:
        """The token-level rewards advantages read: the scores, less ``β·kld`` when KL is a reward penalty
        (then β is logged and its controller updated)."""
        if not self.kl_in_reward:
            return batch.scores
        width = batch.mask.shape[1]
        old_full = torch.cat([torch.nn.functional.pad(o, (0, width - o.shape[1])) for o in old])
        ref_full = torch.cat([torch.nn.functional.pad(r, (0, width - r.shape[1])) for r in ref])
        token_rewards, current_kl = apply_kl_penalty(
            batch.scores, old_full, ref_full, batch.mask, self.kl_ctrl.kl_coef, self.cfg.algorithm.kl_penalty
        )
        stats["actor/reward_kl_penalty_coef"] = [self.kl_ctrl.kl_coef]
        stats["actor/reward_kl_penalty"] = [current_kl]
        self.kl_ctrl.update(current_kl, n_steps=len(batch.rollouts))
        return token_rewards

    def _advantages(self, exp: Experience, batch: StepBatch, token_rewards: torch.Tensor) -> torch.Tensor:
        """Advantages [B, T] from the registered estimator, given every input any estimator takes."""
        alg, rollouts = self.cfg.algorithm, batch.rollouts
        advantages, _ = compute_advantage(
            alg.adv_estimator,
            token_level_rewards=token_rewards,
            response_mask=batch.mask,
            index=[r.item_index for r in rollouts],
            norm_by_std=alg.norm_adv_by_std_in_grpo,
            reward_baselines=exp.reward_baselines,
            reward_scores={k: [float(r.reward.get(k, 0.0)) for r in rollouts] for k in alg.gdpo_reward_keys},
        )
        return advantages

    def _micro_batch(self, batch: StepBatch, k: int, old, ref, advantages, totals, stats: dict) -> None:
        """Forward and backward of micro-batch ``k``: the registered loss (with the inputs its registration
        asks for), plus ``kl_coef·KL`` to ``ref`` when KL is a loss term, scaled so the mini-batch loss is one
        token-mean over all rows (``totals``: tokens and rows over every rank), not a mean of means."""
        actor, idx = self.cfg.worker.actor, batch.chunks[k]
        router_aux: list[torch.Tensor] = []  # MoE: the routers' load-balancing loss of this forward
        logp, m = self._logprobs(self.model, batch.prompts, batch.responses, idx, router_aux)
        loss, pl_metrics = compute_policy_loss(
            actor.loss_type,
            old_log_probs=old,
            log_probs=logp,
            advantages=advantages[idx, : m.shape[1]],
            response_mask=m,
            clip_ratio_low=actor.clip_ratio_low,
            clip_ratio_high=actor.clip_ratio_high,
            clip_ratio_c=actor.clip_ratio_dual,
            loss_agg_mode=actor.loss_agg_mode,
            **self._loss_extras(batch, idx),
        )
        if router_aux:  # logged always; added to the loss when worker.actor.router_aux_loss_coef > 0
            stats.setdefault("actor/router_aux_loss", []).append(router_aux[0].detach().item())
            if actor.router_aux_loss_coef > 0:
                loss = loss + actor.router_aux_loss_coef * router_aux[0]
        if ref is not None:
            kl = kl_penalty(logp, ref, self.cfg.algorithm.kl_penalty)
            kl_value = (kl * m).sum() / m.sum().clamp(min=1)
            loss = loss + self.cfg.algorithm.kl_coef * kl_value
            stats.setdefault("actor/kl_loss", []).append(float(kl_value))
        total_tokens, total_rows = totals
        token_mean = actor.loss_agg_mode == "token-mean"
        scale = m.sum() / total_tokens if token_mean else len(idx) / total_rows
        (loss * scale).backward()
        stats.setdefault("actor/pg_loss", []).append(loss.item())
        for key, v in pl_metrics.items():
            stats.setdefault(f"actor/{key}", []).append(float(v))

    def _loss_extras(self, batch: StepBatch, idx: list[int]) -> dict:
        """The keyword arguments the configured loss declared it needs (``policy_loss_spec``): its options
        from ``worker.actor`` and, when asked for, the off-policy mask of the micro-batch's rows."""
        actor = self.cfg.worker.actor
        spec = policy_loss_spec(actor.loss_type)
        extra = {k: getattr(actor, k) for k in spec.options}
        if spec.off_policy_mask:
            extra["off_policy_mask"] = batch.off_policy[idx]
        return extra

    def _padding_passes(self, chunks: int) -> int:
        """How many zero-weighted micro-batches this rank adds so that its forward/backward count equals
        the busiest rank's (a sharded policy only: each of its forwards is a collective)."""
        if not is_sharded(self.model):
            return 0
        return max_over_ranks(chunks) - chunks

    def _pad(self, passes: int, train: bool) -> None:
        """``passes`` forwards (and, when ``train``, backwards) of a one-token text response, scaled by 0:
        they join the sharded model's all-gathers and reduce-scatters and add exactly nothing."""
        if not passes:
            return
        prompt = self.processor.encode("", [])
        for _ in range(passes):
            logp, _ = self._logprobs(self.model, [prompt], [[self.processor.eos_id]], [0])
            if train:
                (logp.sum() * 0.0).backward()

    def _optimizer_step(self, stats: dict[str, list[float]]) -> None:
        """Gradients summed over ranks, clipped, one optimizer step (skipped on a non-finite norm)."""
        if not is_sharded(self.model):  # FSDP2 reduce-scattered them in the backward already
            sync_gradients(self.model.parameters())
        max_norm = self.cfg.worker.actor.max_grad_norm
        grad_norm = local_value(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
        if torch.isfinite(grad_norm):
            self.optimizer.step()
        else:
            log.warning("non-finite grad norm, update skipped")
        stats.setdefault("actor/grad_norm", []).append(float(grad_norm))

    def _idle_update(self) -> dict[str, float]:
        """A rank with no rollouts this step (dynamic sampling kept none) still joins every collective
        and optimizer step with zero gradients, so all ranks keep identical weights."""
        padding = self._padding_passes(0)  # the same collectives, in the same order, as ``update``
        with torch.no_grad():
            self._pad(padding, train=False)
        _sum_over_ranks(0.0), _sum_over_ranks(0.0)
        stats: dict[str, list[float]] = {}
        for _ in range(self.cfg.worker.actor.ppo_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            self._pad(padding, train=True)
            self._optimizer_step(stats)
        if self.scheduler is not None:
            self.scheduler.step()
        return self._finish(stats, torch.zeros(0, dtype=torch.bool))

    def _finish(self, stats: dict[str, list[float]], off_policy: torch.Tensor) -> dict[str, float]:
        out = {k: sum(v) / len(v) for k, v in stats.items()}
        out["actor/lr"] = float(self.optimizer.param_groups[0]["lr"])
        out["actor/off_policy_frac"] = float(off_policy.float().mean()) if len(off_policy) else 0.0
        return out
