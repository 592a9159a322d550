"""Masked reductions, loss aggregation and the registered policy-gradient losses.

Notation (shapes follow verl / EasyR1 ``core_algos``):
    B = rows in the batch (one response each), T = padded response length.
    log_probs, old_log_probs: [B, T] log pi(y_t | ...) under the current / rollout-time policy.
    advantages:               [B, T] (outcome estimators broadcast one value per row).
    response_mask:            [B, T] 1 for response tokens (up to and including EOS), 0 for padding.
    r_t = exp(log_probs - old_log_probs), the per-token importance ratio.

Every policy loss returns ``(loss, metrics)``: ``loss`` is a scalar tensor to minimise, metrics are
python floats (token means over the mask) for logging.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .registry import register_policy_loss

# ---------------------------------------------------------------------------------------------
# masked reductions
# ---------------------------------------------------------------------------------------------


def masked_mean(
    values: torch.Tensor, mask: torch.Tensor, dim: int | None = None, eps: float = 1e-8
) -> torch.Tensor:
    """``Σ values·mask / (Σ mask + eps)`` over ``dim`` (all elements when ``dim`` is None).

    The ``eps`` (EasyR1's) keeps an all-padding row at 0 instead of NaN.
    """
    mask = mask.to(values.dtype)
    return (values * mask).sum(dim=dim) / (mask.sum(dim=dim) + eps)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over the masked elements of the whole tensor.

    ``unbiased`` applies Bessel's correction ``N/(N-1)`` with ``N = Σ mask``; with ``N <= 1``
    there is nothing to correct and the biased value (0 for one element) is returned, as EasyR1.
    """
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        n = mask.to(values.dtype).sum()
        if n > 1:
            var = var * n / (n - 1)
    return var


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """``(values - μ) / sqrt(σ² + eps)`` with μ, σ² the masked mean and unbiased variance.

    Statistics come from masked elements only; padded positions are transformed too (callers
    multiply by the mask). ``shift_mean=False`` adds μ back (scale only), as verl.
    """
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    return whitened if shift_mean else whitened + mean


# ---------------------------------------------------------------------------------------------
# loss aggregation (veRL loss_agg_mode)
# ---------------------------------------------------------------------------------------------


def _token_mean(loss_mat, mask, scale):
    return masked_mean(loss_mat, mask)


def _seq_mean_token_mean(loss_mat, mask, scale):
    return masked_mean(loss_mat, mask, dim=-1).mean()


def _seq_mean_token_sum(loss_mat, mask, scale):
    return (loss_mat * mask).sum(dim=-1).mean()


def _seq_mean_token_sum_norm(loss_mat, mask, scale):
    norm = float(mask.shape[-1]) if scale is None else float(scale)
    return ((loss_mat * mask).sum(dim=-1) / norm).mean()


_AGG_MODES: dict[str, Callable[..., torch.Tensor]] = {
    "token-mean": _token_mean,
    "seq-mean-token-mean": _seq_mean_token_mean,
    "seq-mean-token-sum": _seq_mean_token_sum,
    "seq-mean-token-sum-norm": _seq_mean_token_sum_norm,
}
# EasyR1 spells the first two `worker.actor.loss_avg_mode=token|seq`.
_AGG_ALIASES = {"token": "token-mean", "seq": "seq-mean-token-mean"}
AGG_MODES = tuple(_AGG_MODES) + tuple(_AGG_ALIASES)


def agg_loss(
    loss_mat: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token-mean",
    loss_scale_factor: float | None = None,
) -> torch.Tensor:
    """Reduce a per-token loss ``loss_mat`` [B, T] over ``mask`` [B, T] to a scalar.

    Modes (veRL ``loss_agg_mode``; ``L_i = Σ_t loss·mask`` is row i's token sum, ``n_i = Σ_t mask``):
      - ``token-mean``:              ``Σ_i L_i / Σ_i n_i`` -- every token weighs the same (DAPO).
      - ``seq-mean-token-mean``:     ``mean_i (L_i / n_i)`` -- every sequence weighs the same
                                      (original GRPO; GSPO's recommendation).
      - ``seq-mean-token-sum``:      ``mean_i L_i`` -- longer sequences weigh more.
      - ``seq-mean-token-sum-norm``: ``mean_i (L_i / C)``, ``C = loss_scale_factor`` or T
                                      (Dr.GRPO: a constant divisor, so no length bias).
    Aliases ``token`` and ``seq`` are EasyR1's names for the first two. Denominators carry a 1e-8
    (EasyR1), so an all-padding row adds 0 but is still counted by the seq means.
    Note: veRL before its ``loss_scale_factor`` change computed ``Σ_i L_i / T`` (no 1/B) for
    ``seq-mean-token-sum-norm``; here it is a mean over sequences, as the mode's name says and as
    current veRL and Dr.GRPO's ``Σ/(B·max_len)`` do.
    """
    fn = _AGG_MODES.get(_AGG_ALIASES.get(mode, mode))
    if fn is None:
        raise ValueError(f"unknown loss aggregation mode {mode!r}; allowed: {', '.join(AGG_MODES)}")
    if loss_mat.shape != mask.shape:
        raise ValueError(
            f"loss_mat {tuple(loss_mat.shape)} and mask {tuple(mask.shape)} must have the same shape"
        )
    return fn(loss_mat, mask.to(loss_mat.dtype), loss_scale_factor)


# ---------------------------------------------------------------------------------------------
# policy losses
# ---------------------------------------------------------------------------------------------


def _check_inputs(old_log_probs, log_probs, advantages, response_mask) -> torch.Tensor:
    shapes = {t.shape for t in (old_log_probs, log_probs, advantages, response_mask)}
    if len(shapes) != 1 or log_probs.dim() != 2:
        raise ValueError(
            "old_log_probs, log_probs, advantages and response_mask must all be [B, T]; got "
            f"{tuple(old_log_probs.shape)}, {tuple(log_probs.shape)}, {tuple(advantages.shape)}, "
            f"{tuple(response_mask.shape)}"
        )
    return response_mask.to(log_probs.dtype)


def log_clip_bounds(clip_ratio_low: float, clip_ratio_high: float) -> tuple[float, float]:
    """``[log(1-ε_low), log(1+ε_high)]``; ``ε_low >= 1`` means no lower bound (-inf)."""
    if clip_ratio_low < 0 or clip_ratio_high < 0:
        raise ValueError(f"clip ratios must be >= 0, got low={clip_ratio_low}, high={clip_ratio_high}")
    low = math.log(1.0 - clip_ratio_low) if clip_ratio_low < 1.0 else -math.inf
    return low, math.log(1.0 + clip_ratio_high)


def _clipped_surrogate(
    log_ratio,
    old_log_probs,
    log_probs,
    advantages,
    mask,
    clip_ratio_low,
    clip_ratio_high,
    clip_ratio_c,
    loss_agg_mode,
):
    """PPO/DAPO clipped surrogate with dual clip, on a given log-ratio (token or sequence level).

    ``ratio = exp(clamp(log_ratio, -20, 20))`` (the clamp keeps exp and its gradient finite);
    ``clip(ratio) = exp(clamp(log_ratio, log(1-ε_low), log(1+ε_high)))`` -- clipping in log space,
    as EasyR1, equals clamping the ratio to ``[1-ε_low, 1+ε_high]``.
    per token: ``l = max(-A·r, -A·clip(r))``; where ``A < 0`` also ``l = min(l, -A·c)`` (dual clip:
    bounds the loss of a negative-advantage token whose ratio exploded).
    """
    if clip_ratio_c <= 1.0:
        raise ValueError(f"clip_ratio_c (dual clip) must be > 1, got {clip_ratio_c}")
    lo, hi = log_clip_bounds(clip_ratio_low, clip_ratio_high)
    ratio = torch.exp(torch.clamp(log_ratio, -20.0, 20.0))
    clipped_ratio = torch.exp(torch.clamp(log_ratio, lo, hi))

    loss1 = -advantages * ratio
    loss2 = -advantages * clipped_ratio
    loss3 = -advantages * clip_ratio_c
    clip_loss = torch.maximum(loss1, loss2)
    dual_loss = torch.minimum(clip_loss, loss3)
    negative = advantages < 0
    per_token = torch.where(negative, dual_loss, clip_loss)

    with torch.no_grad():
        metrics = {
            # fraction of tokens where the PPO bound replaced the unclipped term
            "clipfrac": masked_mean((loss2 > loss1).to(mask.dtype), mask).item(),
            # ... of which the upper bound 1+ε_high (A > 0, ratio above it: what clip-higher widens)
            "clipfrac_high": masked_mean(((loss2 > loss1) & (advantages > 0)).to(mask.dtype), mask).item(),
            # fraction where the dual clip bound (A < 0); EasyR1's pg_clipfrac_lower
            "clipfrac_dual": masked_mean(((clip_loss > loss3) & negative).to(mask.dtype), mask).item(),
            # k1 estimate of KL(pi_old || pi) on the sampled tokens
            "ppo_kl": masked_mean(old_log_probs - log_probs, mask).item(),
            "ratio_mean": masked_mean(ratio, mask).item(),
        }
    return agg_loss(per_token, mask, loss_agg_mode), metrics


@register_policy_loss("ppo")
def compute_ppo_loss(
    old_log_probs: torch.Tensor,
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    clip_ratio_low: float = 0.2,
    clip_ratio_high: float = 0.3,
    clip_ratio_c: float = 3.0,
    loss_agg_mode: str = "token-mean",
    **unused,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO clipped surrogate with separate low/high clip (DAPO clip-higher) and dual clip.

    Args (all [B, T]): old_log_probs, log_probs, advantages, response_mask.
    ``r = exp(clamp(log_probs - old_log_probs, ±20))``;
    ``l_t = max(-A r, -A clip(r, 1-ε_low, 1+ε_high))``, and for ``A < 0``: ``l_t = min(l_t, -A c)``;
    loss = ``agg_loss(l, mask, loss_agg_mode)``. Defaults are EasyR1's (0.2 / 0.3 / 3.0; EasyR1
    calls ``clip_ratio_c`` ``clip_ratio_dual``); DAPO uses 0.2 / 0.28.
    Metrics: clipfrac (either PPO bound active), clipfrac_high (upper bound), clipfrac_dual,
    ppo_kl (k1 of KL(π_old||π)), ratio_mean.
    """
    mask = _check_inputs(old_log_probs, log_probs, advantages, response_mask)
    log_ratio = log_probs - old_log_probs
    return _clipped_surrogate(
        log_ratio,
        old_log_probs,
        log_probs,
        advantages,
        mask,
        clip_ratio_low,
        clip_ratio_high,
        clip_ratio_c,
        loss_agg_mode,
    )


def _sequence_log_ratio(old_log_probs, log_probs, mask) -> torch.Tensor:
    """[B] token-mean of ``log_probs - old_log_probs`` per row: log of GSPO's ``(π/π_old)^(1/|y|)``."""
    return masked_mean(log_probs - old_log_probs, mask, dim=-1)


@register_policy_loss("gspo")
def compute_gspo_loss(
    old_log_probs: torch.Tensor,
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    clip_ratio_low: float = 3e-4,
    clip_ratio_high: float = 4e-4,
    clip_ratio_c: float = 3.0,
    loss_agg_mode: str = "seq-mean-token-mean",
    **unused,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GSPO: the clipped surrogate on a sequence-level ratio.

    ``log s_i = (1/|y_i|) Σ_t mask·(log_probs - old_log_probs)`` is broadcast to every token of row
    i (times the mask, as EasyR1) and goes through the same clip/dual-clip as ``ppo``. Gradients
    flow through ``s_i``, i.e. each token gets ``s_i/|y_i| · ∇log π``. Defaults follow EasyR1's
    GSPO example (clip 3e-4 / 4e-4, sequence-mean aggregation).
    """
    mask = _check_inputs(old_log_probs, log_probs, advantages, response_mask)
    log_ratio = _sequence_log_ratio(old_log_probs, log_probs, mask).unsqueeze(-1) * mask
    return _clipped_surrogate(
        log_ratio,
        old_log_probs,
        log_probs,
        advantages,
        mask,
        clip_ratio_low,
        clip_ratio_high,
        clip_ratio_c,
        loss_agg_mode,
    )


@register_policy_loss("gspo_token")
def compute_gspo_token_loss(
    old_log_probs: torch.Tensor,
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    clip_ratio_low: float = 3e-4,
    clip_ratio_high: float = 4e-4,
    clip_ratio_c: float = 3.0,
    loss_agg_mode: str = "seq-mean-token-mean",
    **unused,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GSPO-token: ``log s_{i,t} = sg(log s_i) + log_probs_t - sg(log_probs_t)``.

    Same value as ``gspo`` at every token, but each token's gradient is ``s_i · ∇log π_t`` (not
    divided by |y_i|), which allows token-level advantages (GSPO paper, eq. GSPO-token).
    """
    mask = _check_inputs(old_log_probs, log_probs, advantages, response_mask)
    seq = _sequence_log_ratio(old_log_probs, log_probs, mask).detach().unsqueeze(-1)
    log_ratio = seq + log_probs - log_probs.detach()
    return _clipped_surrogate(
        log_ratio,
        old_log_probs,
        log_probs,
        advantages,
        mask,
        clip_ratio_low,
        clip_ratio_high,
        clip_ratio_c,
        loss_agg_mode,
    )


@register_policy_loss("cispo")
def compute_cispo_loss(
    old_log_probs: torch.Tensor,
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    clip_ratio_low: float = 1.0,
    clip_ratio_high: float = 4.0,
    loss_agg_mode: str = "token-mean",
    **unused,
) -> tuple[torch.Tensor, dict[str, float]]:
    """CISPO (MiniMax-M1): ``l_t = -A · sg(clip(r_t, 1-ε_low, 1+ε_high)) · log_probs_t``.

    The importance weight is clipped and detached, so every token keeps a gradient (PPO's clip
    zeroes the gradient of clipped tokens). Clipping is in log space as in EasyR1. The paper sets
    no lower bound: that is ``clip_ratio_low >= 1`` here (the default). EasyR1's example uses
    ``clip_ratio_low=0``, which clamps the weight to ``[1, 1+ε_high]``.
    Metrics: clipfrac (weight changed by the clip), ppo_kl, ratio_mean.
    """
    mask = _check_inputs(old_log_probs, log_probs, advantages, response_mask)
    lo, hi = log_clip_bounds(clip_ratio_low, clip_ratio_high)
    log_ratio = log_probs - old_log_probs
    weight = torch.exp(torch.clamp(log_ratio, lo, hi)).detach()
    per_token = -advantages * weight * log_probs
    with torch.no_grad():
        clipped = (log_ratio < lo) | (log_ratio > hi)
        metrics = {
            "clipfrac": masked_mean(clipped.to(mask.dtype), mask).item(),
            "ppo_kl": masked_mean(-log_ratio, mask).item(),
            "ratio_mean": masked_mean(torch.exp(torch.clamp(log_ratio, -20.0, 20.0)), mask).item(),
        }
    return agg_loss(per_token, mask, loss_agg_mode), metrics
