"""Outcome advantage estimators, registered by name (EasyR1 ``algorithm.adv_estimator``).

Inputs, as in verl / EasyR1 ``core_algos``:
    token_level_rewards: [B, T] reward per response token; outcome rewards sit on the last
                         response token, so a row's score is ``s_i = Σ_t token_level_rewards[i, t]``.
    response_mask:       [B, T] 1 on response tokens (through EOS), 0 on padding.
    index:               [B] group id per row (the prompt's uid): strings, ints, any hashable, as a
                         list, numpy array or int tensor. Rows with the same id form a group G.
Every estimator returns ``(advantages [B, T], returns [B, T])``, both zero on padding, and
accepts (and ignores) extra keyword arguments so one call site can serve every estimator.
Estimators run under ``torch.no_grad()`` (the registry wraps them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .losses import masked_whiten
from .registry import register_advantage_estimator


def _check_rewards(token_level_rewards: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    if token_level_rewards.dim() != 2 or token_level_rewards.shape != response_mask.shape:
        raise ValueError(
            f"token_level_rewards {tuple(token_level_rewards.shape)} and response_mask "
            f"{tuple(response_mask.shape)} must both be [B, T]"
        )
    return response_mask.to(torch.float32)


def _group_inverse(
    index: Any, batch_size: int, device: torch.device | None = None
) -> tuple[torch.Tensor, list]:
    """Map group ids to ``(inverse [B] long in 0..G-1, keys [G] in first-seen order)``.

    Tensors and arrays are turned into python values first: a 0-d tensor hashes by identity,
    so two rows with uid 7 would otherwise land in different groups.
    """
    keys = index.tolist() if isinstance(index, (torch.Tensor, np.ndarray)) else list(index)
    if len(keys) != batch_size:
        raise ValueError(f"index has {len(keys)} entries but the batch has {batch_size} rows")
    slots: dict = {}
    try:
        inverse = [slots.setdefault(k, len(slots)) for k in keys]
    except TypeError as err:
        raise ValueError(f"index entries must be hashable group ids (e.g. uid strings): {err}") from None
    return torch.tensor(inverse, dtype=torch.long, device=device), list(slots)


def _group_mean_std(scores: torch.Tensor, inverse: torch.Tensor, n_groups: int):
    """Per-row group ``(mean, unbiased std, size)`` [B]; singleton groups get mean 0, std 1.

    Unbiased std (``/(n-1)``) is what ``torch.std`` gives and what EasyR1/verl use. For a group of
    one there is no spread to normalise by; verl then uses μ=0, σ=1 (the row keeps its raw score)
    where EasyR1 asserts n > 1. We follow verl so a group shrunk to one row (mix-policy, filtering)
    does not crash a run.
    """
    counts = torch.bincount(inverse, minlength=n_groups).to(scores.dtype)
    mean = scores.new_zeros(n_groups).index_add_(0, inverse, scores) / counts
    sq = scores.new_zeros(n_groups).index_add_(0, inverse, (scores - mean[inverse]) ** 2)
    std = torch.sqrt(sq / (counts - 1).clamp(min=1))
    single = counts == 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    std = torch.where(single, torch.ones_like(std), std)
    return mean[inverse], std[inverse], counts[inverse]


def _grpo_scores(scores: torch.Tensor, index: Any, eps: float, norm_by_std: bool) -> torch.Tensor:
    inverse, keys = _group_inverse(index, scores.shape[0], scores.device)
    mean, std, _ = _group_mean_std(scores, inverse, len(keys))
    centered = scores - mean
    return centered / (std + eps) if norm_by_std else centered


@register_advantage_estimator("grpo", min_group_size=2)
def compute_grpo_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Sequence | np.ndarray | torch.Tensor,
    eps: float = 1e-6,
    norm_by_std: bool = True,
    **unused,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO: ``A_i = (s_i - μ_G) / (σ_G + eps)`` broadcast over row i's response tokens.

    μ_G, σ_G: mean and unbiased std (``torch.std``) of the scores in row i's group; a group of
    one row uses μ=0, σ=1 (verl). ``norm_by_std=False`` gives Dr.GRPO's ``A_i = s_i - μ_G``
    (dividing by σ_G over-weights groups that are almost all right or all wrong).
    Video-R1 uses ``eps=1e-4``. Shapes: [B, T], [B, T], [B] -> ([B, T], [B, T]).
    """
    mask = _check_rewards(token_level_rewards, response_mask)
    scores = token_level_rewards.float().sum(dim=-1)
    adv = _grpo_scores(scores, index, eps, norm_by_std).unsqueeze(-1) * mask
    return adv, adv


@register_advantage_estimator("grpo_passk")
def compute_grpo_passk_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Sequence | np.ndarray | torch.Tensor,
    eps: float = 1e-6,
    **unused,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pass@k training (https://arxiv.org/abs/2503.19595), as EasyR1 ``grpo_passk``.

    Only the best row of each group gets a non-zero advantage: ``A_best = (r_1 - r_2) / (σ_G + eps)``
    with r_1, r_2 the largest and second-largest scores and σ_G the group's unbiased std; every
    other row gets 0. On a tie for the top the first row (batch order) is "best" and its advantage
    is 0. Groups need >= 2 rows (ValueError otherwise). Note: EasyR1 writes the best row's value
    into the score tensor in place, leaving other rows at their raw score; EasyVideoR1 and verl
    start from zeros, which is the formula and what is done here.
    """
    mask = _check_rewards(token_level_rewards, response_mask)
    scores = token_level_rewards.float().sum(dim=-1)
    inverse, keys = _group_inverse(index, scores.shape[0], scores.device)
    adv = torch.zeros_like(scores)
    for g, key in enumerate(keys):
        rows = (inverse == g).nonzero().flatten()
        if rows.numel() < 2:
            raise ValueError(f"grpo_passk needs >= 2 rollouts per group; group {key!r} has {rows.numel()}")
        group = scores[rows]
        top2 = torch.topk(group, k=2).values
        best = rows[torch.argmax(group)]  # argmax returns the first maximum
        adv[best] = (top2[0] - top2[1]) / (torch.std(group) + eps)
    adv = adv.unsqueeze(-1) * mask
    return adv, adv


@register_advantage_estimator("rloo", min_group_size=2)
def compute_rloo_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Sequence | np.ndarray | torch.Tensor,
    **unused,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RLOO (https://arxiv.org/abs/2402.14740): ``A_i = s_i - (Σ_G s - s_i) / (n_G - 1)``.

    The baseline is the mean of the *other* rows of the group, so it is independent of row i.
    Equals ``n/(n-1) · (s_i - μ_G)``. A group of one has no other rows: baseline 0 (verl; EasyR1
    asserts n > 1). Shapes: [B, T], [B, T], [B] -> ([B, T], [B, T]).
    """
    mask = _check_rewards(token_level_rewards, response_mask)
    scores = token_level_rewards.float().sum(dim=-1)
    inverse, keys = _group_inverse(index, scores.shape[0], scores.device)
    sums = scores.new_zeros(len(keys)).index_add_(0, inverse, scores)[inverse]
    counts = torch.bincount(inverse, minlength=len(keys)).to(scores.dtype)[inverse]
    baseline = torch.where(counts > 1, (sums - scores) / (counts - 1).clamp(min=1), torch.zeros_like(scores))
    adv = (scores - baseline).unsqueeze(-1) * mask
    return adv, adv


@register_advantage_estimator("reinforce_plus_plus")
def compute_reinforce_plus_plus_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    gamma: float = 1.0,
    **unused,
) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE++ (https://arxiv.org/abs/2501.03262): discounted returns, then batch whitening.

    ``G_t = r_t + γ · G_{t+1}``, run backwards over each row and reset to 0 after every masked-out
    position (so padding beyond EOS never leaks into the response); then
    ``A = masked_whiten(G, mask) · mask`` with mean/unbiased variance over all response tokens of
    the batch. No group needed. Returns ``(A, G·mask)``. EasyR1 leaves whitened values on padding;
    here padding is zeroed as in verl (it is masked out of every loss anyway).
    """
    mask = _check_rewards(token_level_rewards, response_mask)
    rewards = token_level_rewards.float()
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]
    adv = masked_whiten(returns, mask) * mask
    return adv, returns * mask


@register_advantage_estimator("remax", greedy_baseline=True)
def compute_remax_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    reward_baselines: torch.Tensor,
    **unused,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ReMax (https://arxiv.org/abs/2310.10505): ``A_i = s_i - b_i``, ``b_i`` = reward of a greedy
    (temperature 0) response to the same prompt, given per row in ``reward_baselines`` [B].

    Returns ``(A broadcast · mask, reverse cumulative sum of masked rewards)`` as EasyR1.
    """
    mask = _check_rewards(token_level_rewards, response_mask)
    baselines = torch.as_tensor(reward_baselines, dtype=torch.float32, device=token_level_rewards.device)
    if baselines.shape != (token_level_rewards.shape[0],):
        raise ValueError(
            f"reward_baselines must be [B]={token_level_rewards.shape[0]}, got {tuple(baselines.shape)}"
        )
    rewards = token_level_rewards.float() * mask
    adv = (rewards.sum(dim=-1) - baselines).unsqueeze(-1) * mask
    returns = rewards.flip(dims=(-1,)).cumsum(dim=-1).flip(dims=(-1,))
    return adv, returns


@register_advantage_estimator("gdpo", min_group_size=2)
def compute_gdpo_outcome_advantage(
    reward_scores: Mapping[str, torch.Tensor | Sequence[float]],
    response_mask: torch.Tensor,
    index: Sequence | np.ndarray | torch.Tensor,
    weights: Mapping[str, float] | None = None,
    eps: float = 1e-6,
    norm_by_std: bool = True,
    **unused,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GDPO (EasyVideoR1 ``adv_estimator=gdpo``): group-normalise each reward key, sum, whiten.

    ``reward_scores``: key -> [B] score per row (e.g. ``{"accuracy": ..., "format": ...}``, EasyR1
    ``gdpo_reward_keys``). For each key k: ``a_k = GRPO(score_k)`` per group (same μ/σ/eps and
    singleton rule as ``grpo``); ``A = masked_whiten(Σ_k w_k · a_k broadcast · mask, mask) · mask``
    with ``w_k = weights[k]`` (default 1, veRL ``gdpo_reward_weights``). Why: summing raw rewards
    first lets the high-variance key drown the other; normalising each keeps both signals. The
    whitening is over tokens (as the source), so long responses weigh more in its mean/variance.
    Shapes: {k: [B]}, [B, T], [B] -> ([B, T], [B, T]).
    """
    if not reward_scores:
        raise ValueError("gdpo needs at least one reward key in reward_scores")
    weights = dict(weights or {})
    unknown = set(weights) - set(reward_scores)
    if unknown:
        raise ValueError(f"gdpo weights name keys not in reward_scores: {sorted(unknown)}")
    mask = response_mask.to(torch.float32)
    batch = mask.shape[0]
    total = torch.zeros(batch, dtype=torch.float32, device=mask.device)
    for key, values in reward_scores.items():
        scores = torch.as_tensor(values, dtype=torch.float32, device=mask.device)
        if scores.shape != (batch,):
            raise ValueError(
                f"gdpo reward key {key!r} must have shape [B]={batch}, got {tuple(scores.shape)}"
            )
        total = total + weights.get(key, 1.0) * _grpo_scores(scores, index, eps, norm_by_std)
    adv = masked_whiten(total.unsqueeze(-1) * mask, mask) * mask
    return adv, adv
