"""One step's experience: rollouts, mixed offline slots, dynamic sampling, T-GRPO bonus, length shaping,
ReMax baseline.

Order, and why:

1. ``worker.rollout.n`` responses per prompt, scored in one ``score_batch`` (``rollout_and_score``).
2. Mix-policy (``worker.rollout.enable_mix_policy``): a prompt whose sample has an ``offline_output``
   (and no ``has_offline_trajectory: false``) gets it in the last slot of its group, tokenised with the
   model's EOS (``groups.offline_completion``), always or only when the online group's mean accuracy is
   below ``mix_policy_accuracy_threshold``; the slot is scored again and marked ``off_policy`` (LUFFY's
   importance shaping reads that mark; other losses treat it as on-policy, as EasyVideoR1 does).
3. Dynamic sampling (``algorithm.online_filtering``, DAPO): groups with ``filter_low < mean accuracy <
   filter_high`` are kept, more batches are drawn until ``data.rollout_batch_size`` groups are kept or
   ``trainer.max_try_make_batch`` batches were sampled. It sees the mixed groups (what is trained on).
4. T-GRPO (``algorithm.temporal``): the kept video prompts get ``n // 2`` responses on shuffled frames;
   the bonus enters ``overall`` after filtering (filtering reads accuracy before any bonus).
5. Length shaping of the kept groups (``ExperienceMaker.shape``): DAPO's overlong penalty
   (``worker.reward.overlong_buffer``) and Video-R1's length bonus (``worker.reward.length_bonus``), each
   stored under its own reward key and added to ``overall`` before advantages; accuracy is unchanged.
6. ReMax: one greedy response per kept prompt, its ``overall`` (with the overlong penalty when it is on)
   the baseline of every row of the group.

A prompt whose generation fails even after isolation and ``worker.rollout.retries`` (``engines.retry``) is
left out of the step and listed in the step's ``StepRecord.failures`` (the trainer writes them to
``failed_rollouts.jsonl``); a failed shuffled-frame group only costs that prompt its T-GRPO bonus
(``temporal/shuffled_failed``).

Each prompt is rendered and encoded once per step (``rollout.StepPrompts``): the HF engine generates from
that encoding, the ReMax greedy pass reuses it, and ``Experience.prompts`` carries it to the update.
``make`` returns a ``StepRecord``: the experience, the metrics, and the step's bookkeeping (batches drawn
from the stream, prompts sampled, failures); the maker keeps no counters between steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from training.algorithms import advantage_estimator_spec
from training.config import RLConfig
from training.data.items import TrainItem
from training.engines.base import SamplingParams
from training.loop.groups import (
    dynamic_sample,
    group_accuracy,
    length_group_bonus,
    offline_completion,
    response_length,
    shuffle_video_items,
    substitute_offline,
    temporal_group_bonus,
)
from training.loop.rollout import Rollout, StepPrompts, reward_item, rollout_and_score
from training.loop.timing import PhaseTimer
from training.loop.update import Experience
from training.rewards import FormatSpec, RewardWeights, score_batch
from training.rewards.shaping import overlong_penalty


def sampling_seed(run_seed: int, step: int, rank: int = 0, draw: int = 0) -> int:
    """The seed of one sampling call: rollouts of dynamic-sampling draw ``draw`` (0 for the first batch,
    also used for the step's T-GRPO shuffle and ReMax greedy pass) of step ``step`` on rank ``rank``.

    Why a function of these and not a running RNG: a resumed run samples exactly what the uninterrupted
    run sampled at the same step, whatever happened before. Why the spacing: each term moves the seed by a
    different prime (step 1, draw 7919, run seed 100_003, rank 1_000_003) so that another step or draw
    gets another stream (on one rank every (step, draw) pair is distinct while steps < 7919) and so do
    the Ray Train workers (ranks lie 1_000_003 apart, beyond any step and draw offset of a real run), so
    two workers do not sample the same responses."""
    return run_seed * 100_003 + step + 1_000_003 * rank + 7919 * draw


@dataclass
class StepRecord:
    """What ``ExperienceMaker.make`` did in one step. ``batches_drawn``: batches taken from the data stream
    (the first one included; the caller's data position advances by it); ``prompts_drawn``: prompts
    sampled (stage "rollout"); ``failures``: one record per prompt whose generation failed (stage,
    sample_id, error, attempts, rank)."""

    experience: Experience
    metrics: dict[str, float]
    batches_drawn: int = 1
    prompts_drawn: int = 0
    failures: list[dict] = field(default_factory=list)


def offline_text(item: TrainItem) -> str | None:
    """The offline trajectory; None without ``offline_output`` or when ``has_offline_trajectory`` is false."""
    if item.extra.get("has_offline_trajectory") is False:
        return None
    text = item.extra.get("offline_output")
    return text if isinstance(text, str) and text.strip() else None


class ExperienceMaker:
    """Builds ``Experience`` for the trainer from batches of ``TrainItem``s; holds no model state itself."""

    def __init__(self, cfg: RLConfig, engine, processor, judge=None, rank: int = 0):
        self.cfg, self.engine, self.processor, self.judge = cfg, engine, processor, judge
        self.rank = rank  # each Ray Train worker samples with its own seeds
        reward = cfg.worker.reward
        self.weights = RewardWeights(accuracy=reward.accuracy_weight, format=reward.format_weight)
        self.format_spec = FormatSpec(require_think=reward.require_think)
        self.template = cfg.data.prompt_template or None
        self._new_step()

    def _new_step(self, timer: PhaseTimer | None = None) -> None:
        """The per-step bookkeeping ``make`` returns in its ``StepRecord`` (and nothing carries over)."""
        self.prompts = StepPrompts(self.processor, self.template)  # each prompt encoded once per step
        self.timer = timer or PhaseTimer()  # gen, reward and (dynamic sampling's refills) data_wait
        self._failures: list[dict] = []
        self._prompts_drawn = 0

    def _params(self, seed: int, **changes) -> SamplingParams:
        ro = self.cfg.worker.rollout
        params = SamplingParams(
            n=ro.n, temperature=ro.temperature, top_p=ro.top_p, top_k=max(0, ro.top_k),
            max_new_tokens=ro.max_new_tokens, seed=seed,
        )  # fmt: skip
        return replace(params, **changes)

    def _score(self, items: list[TrainItem], params: SamplingParams, stage: str = "rollout") -> list[Rollout]:
        """Rollouts of ``items``; an item whose generation failed has none and is added to ``failures``."""
        failed: list = []
        rollouts = rollout_and_score(
            self.engine, items, params, self.weights, self.template, self.format_spec, self.judge,
            retries=self.cfg.worker.rollout.retries, failures=failed, encode=self.prompts, timer=self.timer,
        )  # fmt: skip
        for f in failed:
            self._failures.append(
                {"stage": stage, "sample_id": f.request_id, "error": f.error,
                 "attempts": f.attempts, "rank": self.rank}
            )  # fmt: skip
        return rollouts

    # ---- 1 + 2: sample a batch, with offline slots --------------------------------------------------
    def sample(self, items: list[TrainItem], seed: int, metrics: dict) -> list[Rollout]:
        self._prompts_drawn += len(items)
        rollouts = self._score(items, self._params(seed))
        if self.cfg.worker.rollout.enable_mix_policy:
            rollouts = self._mix(items, rollouts, metrics)
        return rollouts

    def _mix(self, items: list[TrainItem], rollouts: list[Rollout], metrics: dict) -> list[Rollout]:
        ro, proc = self.cfg.worker.rollout, self.processor
        threshold = ro.mix_policy_accuracy_threshold
        groups: dict[int, list[int]] = {}
        for j, r in enumerate(rollouts):
            groups.setdefault(r.item_index, []).append(j)
        accuracy = group_accuracy(rollouts)
        replaced: list[tuple[int, object]] = []  # (rollout position, offline completion)
        candidates = 0
        for i, item in enumerate(items):
            text = offline_text(item)
            if text is None:
                continue
            candidates += 1
            try:
                offline = offline_completion(text, proc.tokenizer, proc.eos_token_ids, ro.max_new_tokens)
            except ValueError as err:
                raise ValueError(f"sample {item.sample_id}: offline_output cannot be used: {err}") from None
            slots = groups.get(i)
            if slots is None:  # generation failed for this prompt: it is left out of the step
                continue
            sub = substitute_offline([rollouts[j].completion for j in slots], offline, accuracy[i], threshold)
            if sub.replaced:
                replaced.append((slots[-1], offline))
        if replaced:
            with self.timer.phase("reward"):
                rewards = score_batch(
                    [reward_item(items[rollouts[j].item_index], c.text) for j, c in replaced],
                    weights=self.weights, format_spec=self.format_spec, judge=self.judge,
                )  # fmt: skip
            rollouts = list(rollouts)
            for (j, completion), reward in zip(replaced, rewards, strict=True):
                rollouts[j] = Rollout(rollouts[j].item_index, completion, reward, off_policy=True)
        add = {
            "mix_policy/online_groups_evaluated": len(items),
            "mix_policy/offline_candidates": candidates,
            "mix_policy/offline_replaced_groups": len(replaced),
        }
        for k, v in add.items():
            metrics[k] = metrics.get(k, 0.0) + float(v)
        return rollouts

    # ---- the whole step -------------------------------------------------------------------------------
    def make(
        self,
        first: list[TrainItem],
        more: Iterable[list[TrainItem]],
        step: int,
        timer: PhaseTimer | None = None,
    ) -> StepRecord:
        """The experience of step ``step`` from batch ``first`` (drawn already) and, with dynamic sampling,
        further batches from ``more``; the record counts every batch used. ``timer`` gets the step's ``gen``,
        ``reward`` and the refills' ``data_wait`` phases."""
        cfg = self.cfg
        self._new_step(timer)
        seed = sampling_seed(cfg.trainer.seed, step, self.rank)
        metrics: dict[str, float] = {}
        drawn = [first]
        if cfg.algorithm.online_filtering:
            items, rollouts = self._dynamic_sample(first, more, drawn, step, metrics)
        else:
            items, rollouts = _keep(first, self.sample(first, seed, metrics), set())
        if items and cfg.algorithm.temporal:
            metrics.update(self._temporal_bonus(items, rollouts, seed))
        metrics.update(self.shape(rollouts))
        baselines = None
        if items and advantage_estimator_spec(cfg.algorithm.adv_estimator).greedy_baseline:
            items, rollouts, baselines = self._greedy_baselines(items, rollouts, seed, metrics)
        experience = Experience(items, rollouts, baselines, prompts=[self.prompts(it) for it in items])
        return StepRecord(experience, metrics, len(drawn), self._prompts_drawn, self._failures)

    def _dynamic_sample(
        self, first, more, drawn: list, step: int, metrics: dict
    ) -> tuple[list, list[Rollout]]:
        """DAPO dynamic sampling from ``first`` then ``more``, each draw seeded by its number; every batch
        taken from ``more`` is appended to ``drawn``."""
        cfg = self.cfg
        tries = itertools.count()

        def draw() -> Iterator[list[TrainItem]]:
            yield first
            batches = iter(more)
            while True:
                with self.timer.phase("data_wait"):  # a refill waits on the stream like the first batch
                    batch = next(batches, None)
                if batch is None:
                    return
                drawn.append(batch)
                yield batch

        def sample(items: list[TrainItem]) -> list[Rollout]:
            return self.sample(items, sampling_seed(cfg.trainer.seed, step, self.rank, next(tries)), metrics)

        dyn = dynamic_sample(
            sample, draw(), target_groups=cfg.data.rollout_batch_size, max_tries=cfg.trainer.max_try_make_batch,
            low=cfg.algorithm.filter_low, high=cfg.algorithm.filter_high,
        )  # fmt: skip
        metrics.update(dyn.report.metrics())
        return dyn.items, dyn.rollouts

    def _greedy_baselines(
        self, items: list[TrainItem], rollouts: list[Rollout], seed: int, metrics: dict
    ) -> tuple[list[TrainItem], list[Rollout], list[float]]:
        """ReMax: one greedy response per kept prompt; its ``overall`` (with the overlong penalty when that
        is on) is the baseline of every row of the group. A prompt whose greedy generation failed is left
        out of the step."""
        greedy = self._score(items, self._params(seed, n=1, temperature=0.0), stage="remax_greedy")
        if self.cfg.worker.reward.overlong_buffer.enable:  # a per-response rule: the baseline gets it too
            self._overlong(greedy)
        per_item = {g.item_index: float(g.reward["overall"]) for g in greedy}
        baselines = [per_item[r.item_index] for r in rollouts if r.item_index in per_item]
        items, rollouts = _keep(items, rollouts, set(range(len(items))) - set(per_item))  # order kept
        if per_item:
            metrics["remax/greedy_reward"] = sum(per_item.values()) / len(per_item)
        return items, rollouts, baselines

    def _temporal_bonus(self, items: list[TrainItem], rollouts: list[Rollout], seed: int) -> dict[str, float]:
        """T-GRPO (Video-R1): ``n // 2`` responses per video item on shuffled frames (``shuffle_frames``
        seeded by the step), scored but never trained on; each ordered rollout's ``temporal_bonus`` (from
        ``shaping.temporal_bonus``) is stored in its reward and ``weights.accuracy * bonus`` added to its
        ``overall`` (Video-R1 adds it to the accuracy reward, whose weight is 1 there). Returns metrics."""
        alg = self.cfg.algorithm
        shuffled_items, origin = shuffle_video_items(items, np.random.default_rng(seed))
        shuffled = []
        if shuffled_items:
            n = max(1, self.cfg.worker.rollout.n // 2)
            shuffled = self._score(shuffled_items, self._params(seed, n=n), stage="temporal_shuffled")
        answered = {origin[r.item_index] for r in shuffled}
        failed = [i for i in origin if i not in answered]
        result = temporal_group_bonus(
            rollouts,
            shuffled,
            [it.data_type for it in items],
            alpha=alg.temporal_alpha,
            mu=alg.temporal_mu,
            shuffled_origin=origin,
            bonus_mask=[i not in failed for i in range(len(items))],  # no shuffled group: no bonus
        )
        result.metrics["temporal/shuffled_failed"] = float(len(failed))
        for rollout, bonus in zip(rollouts, result.bonus, strict=True):
            rollout.reward["temporal_bonus"] = float(bonus)
            rollout.reward["overall"] += self.weights.accuracy * float(bonus)
        return result.metrics

    def shape(self, rollouts: list[Rollout]) -> dict[str, float]:
        """Length shaping of the step's rollouts (the kept groups), each term switched on by its key:

        - ``worker.reward.overlong_buffer`` (DAPO, verl ``DAPORewardManager``): ``shaping.overlong_penalty``
          with ``max_response_length = worker.rollout.max_new_tokens``, stored as
          ``reward["overlong_penalty"]``; metrics ``reward/overlong_penalty`` (batch mean) and
          ``reward/overlong_ratio`` (share of rollouts penalised).
        - ``worker.reward.length_bonus`` (Video-R1 ``--len_control``): ``groups.length_group_bonus`` per
          group, stored as ``reward["length_bonus"]``; metric ``reward/length_bonus`` (batch mean).

        Lengths are ``groups.response_length`` (response tokens, EOS included). Each term is added, unweighted,
        to ``reward["overall"]`` (the reward the advantages read), as verl and Video-R1 add them to the total
        reward; ``accuracy`` and ``format`` are unchanged, so the pass-rate filters, dynamic sampling (which
        ran before) and the accuracy metrics never see them. A term that is off leaves no key and no metric."""
        reward = self.cfg.worker.reward
        metrics: dict[str, float] = {}
        if not rollouts:
            return metrics
        if reward.overlong_buffer.enable:
            penalty = self._overlong(rollouts)
            metrics["reward/overlong_penalty"] = float(penalty.mean())
            metrics["reward/overlong_ratio"] = float((penalty < 0).mean())
        if reward.length_bonus.enable:
            lb = reward.length_bonus
            bonus = length_group_bonus(
                rollouts, min_length=lb.min_length, max_length=lb.max_length, bonus=lb.bonus
            )
            for rollout, term in zip(rollouts, bonus, strict=True):
                rollout.reward["length_bonus"] = float(term)
                rollout.reward["overall"] += float(term)
            metrics["reward/length_bonus"] = float(bonus.mean())
        return metrics

    def _overlong(self, rollouts: list[Rollout]) -> np.ndarray:
        """DAPO's overlong penalty of each rollout, stored as ``reward["overlong_penalty"]`` and added to
        ``reward["overall"]``; returned in rollout order."""
        over = self.cfg.worker.reward.overlong_buffer
        penalty = overlong_penalty(
            [response_length(r) for r in rollouts],
            max_response_length=self.cfg.worker.rollout.max_new_tokens,
            overlong_buffer_len=over.len,
            penalty_factor=over.penalty_factor,
        )
        for rollout, term in zip(rollouts, penalty, strict=True):
            rollout.reward["overlong_penalty"] = float(term)
            rollout.reward["overall"] += float(term)
        return penalty


def _keep(items: list[TrainItem], rollouts: list[Rollout], drop: set[int]) -> tuple[list, list[Rollout]]:
    """``items`` without those in ``drop`` or without rollouts (their generation failed), and the rollouts
    of the rest, in order, with ``item_index`` re-numbered to the kept positions."""
    has = {r.item_index for r in rollouts}
    new = {}
    for i in range(len(items)):
        if i in has and i not in drop:
            new[i] = len(new)
    if len(new) == len(items):
        return items, rollouts
    kept_rollouts = [replace(r, item_index=new[r.item_index]) for r in rollouts if r.item_index in new]
    return [items[i] for i in new], kept_rollouts
