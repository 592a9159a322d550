"""Offline pass rates: k rollouts per training sample with the RL starting policy.

EasyVideoR1 keeps only samples the base model sometimes solves (0 < pass rate < 1): always-solved and
never-solved prompts give GRPO groups with zero advantage. The pass rate counts a rollout as a success
when its *accuracy* reaches ``success_threshold`` (not ``overall``: a formatted but wrong answer would
otherwise look partially successful).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from training.data.items import TrainItem
from training.engines.base import SamplingParams
from training.engines.hf import HFEngine
from training.filtering.rules import group_pass_rates
from training.loop.rollout import rollout_and_score
from training.rewards import RewardWeights


def compute_pass_rates(
    model_path: str | Path,
    batches: Iterable[list[TrainItem]],
    k: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    success_threshold: float = 1.0,
    seed: int = 0,
    template_path: str | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> list[dict]:
    """One row per sample: ``{sample_id, problem_type, k, pass_rate, accuracies, mean_overall}``."""
    engine = HFEngine.from_pretrained(model_path)
    rows, t0 = [], time.perf_counter()
    for b, items in enumerate(batches):
        params = SamplingParams(n=k, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed + b)
        rollouts = rollout_and_score(engine, items, params, RewardWeights(), template_path)
        rates = group_pass_rates(
            [items[r.item_index].sample_id for r in rollouts],
            [float(r.reward["accuracy"]) for r in rollouts],
            success_threshold,
            expected_k=k,
        )
        for i, item in enumerate(items):
            group = [r.reward for r in rollouts if r.item_index == i]
            rows.append(
                {
                    "sample_id": item.sample_id,
                    "problem_type": item.problem_type,
                    "k": k,
                    "pass_rate": rates[item.sample_id],
                    "accuracies": [float(g["accuracy"]) for g in group],
                    "mean_overall": sum(g["overall"] for g in group) / k,
                }
            )
        if progress:
            progress(len(rows), time.perf_counter() - t0)
    engine.close()
    return rows
