"""Rollouts: prompts with cached media -> n completions each -> reward dicts.

Shared by the pass-rate filter, the RL trainer and anything else that samples from a policy, so the
prompt, the media and the scoring are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from training.data.items import TrainItem
from training.engines.base import Completion, GenerationEngine, GenerationRequest, SamplingParams
from training.engines.retry import FailedRequest, generate_isolating
from training.loop.timing import PhaseTimer
from training.rewards import FormatSpec, RewardWeights, get_scorer, score_batch
from training.rewards.judge import Judge

DEFAULT_FORMAT = FormatSpec()


@dataclass
class Rollout:
    """One scored response; ``item_index`` is its prompt's position in the batch (its group).
    ``off_policy`` marks an offline trajectory put in the group (mix-policy), not sampled from the policy."""

    item_index: int
    completion: Completion
    reward: dict[str, float]
    off_policy: bool = False


class StepPrompts:
    """Each item's prompt rendered and encoded (``processor.encode``: chat template, ids, patchified
    pixels) at most once: the rollout, the ReMax greedy pass and the policy update of one step all take
    it from here. Keyed by the item object (kept alive here, so its id is not reused); make one per step.
    ``encodes`` counts the encodes done."""

    def __init__(self, processor, template_path: str | None = None):
        self.processor, self.template_path = processor, template_path
        self._memo: dict[int, tuple[TrainItem, object]] = {}
        self.encodes = 0

    def __call__(self, item: TrainItem):
        hit = self._memo.get(id(item))
        if hit is None:
            encoded = self.processor.encode(
                item.prompt(self.template_path), item.media, sample_id=item.sample_id
            )
            hit = self._memo[id(item)] = (item, encoded)
            self.encodes += 1
        return hit[1]


class RolloutError(RuntimeError):
    """Generation failed for some prompts even after isolation and retries (and the caller keeps no list
    of failures to record them in)."""


def generate(
    engine: GenerationEngine,
    items: list[TrainItem],
    params: SamplingParams,
    template_path: str | None = None,
    retries: int = 2,
    encode: Callable[[TrainItem], object] | None = None,
) -> tuple[list[list[Completion] | None], list[FailedRequest]]:
    """Per item, its completions or ``None`` when generation failed; see ``engines.retry``. ``encode``
    (e.g. a ``StepPrompts``) gives each request its encoded prompt (``GenerationRequest.encoded``), for an
    engine that takes one."""
    requests = [
        GenerationRequest(
            it.sample_id, it.prompt(template_path), it.media, encoded=partial(encode, it) if encode else None
        )
        for it in items
    ]
    return generate_isolating(engine, requests, params, retries=retries)


def reward_item(item: TrainItem, text: str) -> dict:
    """The ``score_batch`` item of one response: the sample's fields, plus its question for the families
    that take one (the judge-graded ones show it to the judge)."""
    out = {
        "response": text,
        "ground_truth": item.answer,
        "problem_type": item.problem_type,
        "options": item.options or None,
        "data_type": item.data_type,
        "problem_id": item.sample_id,
    }
    if get_scorer(item.problem_type).takes("question"):
        out["question"] = item.problem
    return out


def rollout_and_score(
    engine: GenerationEngine,
    items: list[TrainItem],
    params: SamplingParams,
    weights: RewardWeights,
    template_path: str | None = None,
    format_spec: FormatSpec = DEFAULT_FORMAT,
    judge: Judge | None = None,
    retries: int = 2,
    failures: list[FailedRequest] | None = None,
    encode: Callable[[TrainItem], object] | None = None,
    timer: PhaseTimer | None = None,
) -> list[Rollout]:
    """``params.n`` rollouts per item, flattened item-major (all of item 0, then item 1, …), scored in one
    ``score_batch`` call (so a judge grades the whole batch concurrently).

    A prompt whose generation still fails after ``retries`` (``engines.retry``) gets no rollouts: its
    ``FailedRequest`` is appended to ``failures``, or, with ``failures=None``, ``RolloutError`` is raised
    naming every failed sample. It is never scored 0. ``encode``: as for ``generate``. ``timer``: adds the
    generation to its ``gen`` phase and the scoring to ``reward``."""
    timer = timer or PhaseTimer()
    with timer.phase("gen"):
        groups, failed = generate(engine, items, params, template_path, retries=retries, encode=encode)
    if failed and failures is None:
        named = "; ".join(f"{f.request_id} ({f.error})" for f in failed)
        raise RolloutError(
            f"generation failed for {len(failed)} of {len(items)} prompts after {retries} retries: {named}. "
            "Fix or drop these samples (their media or prompt), or pass a failures list to skip and record "
            "them"
        )
    if failures is not None:
        failures.extend(failed)
    pairs = [(i, c) for i, group in enumerate(groups) if group is not None for c in group]
    with timer.phase("reward"):
        rewards = score_batch(
            [reward_item(items[i], c.text) for i, c in pairs],
            weights=weights,
            format_spec=format_spec,
            judge=judge,
        )
    return [Rollout(i, c, r) for (i, c), r in zip(pairs, rewards, strict=True)]
