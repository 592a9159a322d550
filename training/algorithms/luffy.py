"""LUFFY's mixed on-/off-policy policy loss ("Learning to Reason under Off-Policy Guidance", Yan et al. 2025).

A GRPO group holds the policy's own rollouts (on-policy rows) plus expert/offline trajectories
(off-policy rows, e.g. a stronger model's solution) whose advantage comes from the same group
normalisation. Matched to ElliottYan/LUFFY ``luffy/verl/verl/mix_src/mix_core_alg.py``,
function ``compute_token_on_off_policy_loss`` (read via its mirror mcptest-user/LUFFY@f12773a), as
the actor calls it (``mix_src/mix_actor.py``) with the released ``exp_scripts/*/train.sh`` settings.

Notation as in ``losses.py`` (B rows, T padded response length, all tensors [B, T]); ``o_t`` is 1 on
off-policy tokens (``off_policy_mask`` broadcast to [B, T]; LUFFY's ``prefix_mask``), ``p_t =
exp(log_probs_t)`` the current policy's probability of the token.

  on-policy tokens (o_t = 0): the ``ppo`` loss, token for token:
      ``r = exp(clamp(log_probs - old_log_probs, ±20))``,
      ``l_t = max(-A r, -A clip(r, 1-ε_low, 1+ε_high))``, and for ``A < 0``: ``l_t = min(l_t, -A c)``.
      With ``loss_remove_clip=True``: ``l_t = -A r`` (no bound at all).
  off-policy tokens (o_t = 1): the behaviour probability is taken as 1 (the paper sets π_old = 1 for
      the expert), so the importance weight is ``p_t`` itself, reshaped by ``off_policy_reshape``:
      ``l_t = -A · f(p_t)``, no PPO clip. ``f`` ("policy shaping", w = ``off_policy_reshape_weight``,
      k = ``off_policy_reshape_pow_exp``):
        ``p_div_p_<γ>``: p / (p + γ)      (LUFFY's choice, γ = 0.1; LUFFY names 0.1, 0.3 and 0.5)
        ``no_reshape``:  p
        ``logp``:        w · log p        (an SFT-like objective, scaled)
        ``p_logp``:      p + w · log p
        ``square_root``: sqrt(p)
        ``pow``:         p ** k
      then optionally ``f = clamp(f, max=off_max_clip)`` and ``f = clamp(f, min=off_min_clip)``
      (LUFFY's order; both off by default, as in train.sh). ``d f / d log p = f'(p)·p`` is > 0 for
      every shape, so a positive advantage raises the expert token's log-probability; p/(p+γ) has
      ``d/dlog p = γp/(p+γ)²``, which boosts low-probability tokens relative to plain ``p``.
  loss = ``agg_loss(l, response_mask, loss_agg_mode)`` over on- and off-policy tokens together (one
      token-mean over all tokens by default, as LUFFY's ``masked_mean(pg_losses, eos_mask)``).
  ``all_max_clip`` (off by default) drops every token whose current ``p_t`` exceeds it from the
      loss and from its denominator (LUFFY's ``all_max_clip``).

Where this differs from LUFFY's code, on purpose:
  - On-policy tokens also get the dual clip ``c`` (LUFFY's older verl had none), so that with no
    off-policy token the loss, its gradient and the ppo metrics are exactly ``compute_ppo_loss``'s.
  - ``old_log_probs`` is never used on off-policy tokens (LUFFY only logs its KL there), so a caller
    may put anything there, NaN included; ``ppo_kl`` and ``ratio_mean`` cover on-policy tokens.
  - ``off_policy_mask=None`` means "no off-policy rows", so callers that pass only the ppo inputs work.
  - Defaults: ``off_policy_reshape="p_div_p_0.1"`` and ``off_policy_reshape_weight=0.1`` are what a
    LUFFY run uses (train.sh / mix_ppo_trainer.yaml; the bare function defaults are ``no_reshape``
    and 1.0). LUFFY's train.sh also sets ``loss_remove_clip=True`` (on-policy clipping removed) and
    ``loss_remove_token_mean=True`` (``Σ_tokens l / T``: ``seq-mean-token-sum-norm`` here, up to
    LUFFY's missing 1/B); the defaults here stay ppo's (clipped, ``token-mean``).
  - Not ported: ``on_policy_reshape`` (an ablation, default ``no_reshape``), ``target_probs`` (known
    behaviour probabilities), ``off_cliprange``/``off_normalize``/``off_abs_cliprange`` (accepted but
    unused by LUFFY itself). The entropy bonus (train.sh ``entropy_coeff=0.001``) and KL terms belong
    to the trainer, as for every loss here.
"""

from __future__ import annotations

import math

import torch

from .losses import agg_loss, log_clip_bounds, masked_mean
from .registry import register_policy_loss

OFF_POLICY_RESHAPES = ("p_div_p_<gamma>", "no_reshape", "logp", "p_logp", "square_root", "pow")
_P_DIV_P = "p_div_p_"


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def reshape_gamma(off_policy_reshape: object) -> float | None:
    """γ of a ``p_div_p_<γ>`` name, None for the other valid names; ValueError for unknown names."""
    if isinstance(off_policy_reshape, str) and off_policy_reshape.startswith(_P_DIV_P):
        try:
            gamma = float(off_policy_reshape[len(_P_DIV_P) :])
        except ValueError:
            gamma = math.nan
        if math.isfinite(gamma) and gamma > 0:
            return gamma
    elif off_policy_reshape in OFF_POLICY_RESHAPES[1:]:
        return None
    raise ValueError(
        f"unknown off_policy_reshape {off_policy_reshape!r}; allowed: {', '.join(OFF_POLICY_RESHAPES)} "
        "(γ a finite number > 0, e.g. p_div_p_0.1)"
    )


def _shape_off_policy(log_p: torch.Tensor, name: str, gamma: float | None, weight: float, k: float):
    """``f(p)`` of the module docstring, computed from ``log p`` (sqrt/pow via exp keep gradients finite at p=0)."""
    if gamma is not None:
        p = torch.exp(log_p)
        return p / (p + gamma)
    if name == "no_reshape":
        return torch.exp(log_p)
    if name == "logp":
        return weight * log_p
    if name == "p_logp":
        return torch.exp(log_p) + weight * log_p
    if name == "square_root":
        return torch.exp(0.5 * log_p)
    return torch.exp(k * log_p)  # pow


def _check_tensors(old_log_probs, log_probs, advantages, response_mask, off_policy_mask) -> torch.Tensor:
    """Validate shapes/dtypes; return the [B, T] bool mask of rows/tokens that are off-policy."""
    named = {"old_log_probs": old_log_probs, "log_probs": log_probs, "advantages": advantages}
    for name, t in [*named.items(), ("response_mask", response_mask)]:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    for name, t in named.items():
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be [B, T], got shape {tuple(log_probs.shape)}")
    for name, t in [*named.items(), ("response_mask", response_mask)]:
        if t.shape != log_probs.shape:
            raise ValueError(
                f"{name} must have the shape of log_probs {tuple(log_probs.shape)}, got {tuple(t.shape)}"
            )
    if off_policy_mask is None:
        return torch.zeros(log_probs.shape, dtype=torch.bool, device=log_probs.device)
    if not isinstance(off_policy_mask, torch.Tensor) or off_policy_mask.dtype != torch.bool:
        got = off_policy_mask.dtype if isinstance(off_policy_mask, torch.Tensor) else type(off_policy_mask)
        raise ValueError(f"off_policy_mask must be a bool tensor, got {got}")
    if off_policy_mask.shape == log_probs.shape[:1]:
        return off_policy_mask.unsqueeze(-1).expand(log_probs.shape)
    if off_policy_mask.shape == log_probs.shape:
        return off_policy_mask
    raise ValueError(
        f"off_policy_mask must be [B] or [B, T] with [B, T] = {tuple(log_probs.shape)}, "
        f"got {tuple(off_policy_mask.shape)}"
    )


def _check_clip_options(off_max_clip, off_min_clip, all_max_clip, clip_ratio_c) -> None:
    if clip_ratio_c <= 1.0:
        raise ValueError(f"clip_ratio_c (dual clip) must be > 1, got {clip_ratio_c}")
    for name, value in (("off_max_clip", off_max_clip), ("off_min_clip", off_min_clip)):
        if value is not None and (not isinstance(value, int | float) or not math.isfinite(value)):
            raise ValueError(f"{name} must be None or a finite number, got {value!r}")
    if off_max_clip is not None and off_min_clip is not None and off_min_clip > off_max_clip:
        raise ValueError(f"off_min_clip ({off_min_clip}) must be <= off_max_clip ({off_max_clip})")
    if all_max_clip is not None and not (isinstance(all_max_clip, int | float) and 0 < all_max_clip <= 1):
        raise ValueError(f"all_max_clip must be None or a probability in (0, 1], got {all_max_clip!r}")


def _on_policy_loss(ratio, log_ratio, advantages, off, log_bounds, clip_ratio_c, loss_remove_clip):
    """ppo's dual-clipped surrogate per token (or the plain ``-A·ratio`` with ``loss_remove_clip``), and its
    clip indicators ``(loss, clipped, clipped_high, dual)``."""
    loss1 = -advantages * ratio
    if loss_remove_clip:
        none = torch.zeros_like(off)
        return loss1, none, none, none
    lo, hi = log_bounds
    loss2 = -advantages * torch.exp(torch.clamp(log_ratio, lo, hi))
    loss3 = -advantages * clip_ratio_c
    clip_loss = torch.maximum(loss1, loss2)
    negative = advantages < 0
    on_loss = torch.where(negative, torch.minimum(clip_loss, loss3), clip_loss)
    clipped, clipped_high, dual = loss2 > loss1, (loss2 > loss1) & (advantages > 0), clip_loss > loss3
    return on_loss, clipped, clipped_high, dual & negative


def _clamp_shaped(shaped, off, off_max_clip, off_min_clip):
    """``f(p)`` clamped to ``[off_min_clip, off_max_clip]`` (each optional, max first, LUFFY's order), with
    the masks of the tokens at each bound (computed before that clamp): ``(shaped, at_max, at_min)``."""
    with torch.no_grad():
        at_max = shaped >= off_max_clip if off_max_clip is not None else torch.zeros_like(off)
    if off_max_clip is not None:
        shaped = torch.clamp(shaped, max=off_max_clip)
    with torch.no_grad():
        at_min = shaped <= off_min_clip if off_min_clip is not None else torch.zeros_like(off)
    if off_min_clip is not None:
        shaped = torch.clamp(shaped, min=off_min_clip)
    return shaped, at_max, at_min


# The off-policy shaping keys a run sets under worker.actor (the RL step passes them to the loss).
LUFFY_OPTIONS = (
    "off_policy_reshape",
    "off_policy_reshape_weight",
    "off_policy_reshape_pow_exp",
    "off_max_clip",
    "off_min_clip",
    "all_max_clip",
    "loss_remove_clip",
)


@register_policy_loss("luffy", options=LUFFY_OPTIONS, off_policy_mask=True)
def compute_luffy_loss(
    old_log_probs: torch.Tensor,
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    off_policy_mask: torch.Tensor | None = None,
    clip_ratio_low: float = 0.2,
    clip_ratio_high: float = 0.3,
    clip_ratio_c: float = 3.0,
    loss_agg_mode: str = "token-mean",
    off_policy_reshape: str = "p_div_p_0.1",
    off_policy_reshape_weight: float = 0.1,
    off_policy_reshape_pow_exp: float = 0.5,
    off_max_clip: float | None = None,
    off_min_clip: float | None = None,
    all_max_clip: float | None = None,
    loss_remove_clip: bool = False,
    **unused,
) -> tuple[torch.Tensor, dict[str, float]]:
    """LUFFY loss: ppo on on-policy tokens, ``-A·f(π_θ)`` (no clip) on off-policy tokens; see the module doc.

    Args: old_log_probs, log_probs, advantages, response_mask: [B, T] as for ``ppo``;
    off_policy_mask: [B] bool (whole rows are offline trajectories) or [B, T] bool (token level, e.g.
    an expert prefix), None = no off-policy token. Returns ``(loss scalar, metrics)``.
    Metrics (python floats, token means over the response mask):
      clipfrac, clipfrac_high, clipfrac_dual, ppo_kl, ratio_mean: as ``ppo``, over on-policy tokens;
      on_pg_loss / off_pg_loss: mean per-token loss over on- / off-policy tokens;
      on_policy_prob: mean ``exp(old_log_probs)`` on on-policy tokens, off_policy_prob: mean ``p_t`` on
      off-policy tokens (LUFFY's); off_ratio_mean: mean ``f(p_t)`` after its clamps;
      off_ratio_max_clip_frac / off_ratio_min_clip_frac: off-policy tokens at the clamp bound;
      off_policy_frac: share of response tokens that are off-policy; all_max_clip_frac: share dropped.
    Raises ValueError naming the argument on a bad shape, dtype, reshape name or option (TypeError
    for a non-tensor input).
    """
    off = _check_tensors(old_log_probs, log_probs, advantages, response_mask, off_policy_mask)
    gamma = reshape_gamma(off_policy_reshape)
    weight = _check_positive("off_policy_reshape_weight", off_policy_reshape_weight)
    pow_exp = _check_positive("off_policy_reshape_pow_exp", off_policy_reshape_pow_exp)
    _check_clip_options(off_max_clip, off_min_clip, all_max_clip, clip_ratio_c)
    lo, hi = log_clip_bounds(clip_ratio_low, clip_ratio_high)

    full_mask = mask = response_mask.to(log_probs.dtype)
    dropped = torch.zeros_like(mask)
    if all_max_clip is not None:
        with torch.no_grad():
            dropped = mask * (torch.exp(log_probs) > all_max_clip).to(mask.dtype)
        mask = mask - dropped
    off_w = mask * off.to(mask.dtype)
    on_w = mask - off_w

    # on-policy branch: the ppo surrogate. Off-policy positions get log-ratio 0 through torch.where
    # (a select: NaN/inf in old_log_probs there reach neither the loss nor the gradient)
    zeros = torch.zeros_like(log_probs)
    log_ratio = torch.where(off, zeros, log_probs - old_log_probs)
    ratio = torch.exp(torch.clamp(log_ratio, -20.0, 20.0))
    on_loss, clipped, clipped_high, dual = _on_policy_loss(
        ratio, log_ratio, advantages, off, (lo, hi), clip_ratio_c, loss_remove_clip
    )

    # off-policy branch: f(p); log p outside off-policy response tokens is replaced by 0 so that
    # padding values (-inf, NaN) cannot reach the loss or its gradient through torch.where
    safe_log_p = torch.where(off & response_mask.bool(), log_probs, zeros)
    shaped = _shape_off_policy(safe_log_p, off_policy_reshape, gamma, weight, pow_exp)
    shaped, at_max, at_min = _clamp_shaped(shaped, off, off_max_clip, off_min_clip)
    off_loss = -advantages * shaped

    per_token = torch.where(off, off_loss, on_loss)
    loss = agg_loss(per_token, mask, loss_agg_mode)

    with torch.no_grad():

        def mean(values: torch.Tensor, weights: torch.Tensor) -> float:
            return masked_mean(values.to(mask.dtype), weights).item()

        metrics = {
            "clipfrac": mean(clipped, on_w),
            "clipfrac_high": mean(clipped_high, on_w),
            "clipfrac_dual": mean(dual, on_w),
            "ppo_kl": mean(-log_ratio, on_w),
            "ratio_mean": mean(ratio, on_w),
            "on_pg_loss": mean(on_loss, on_w),
            "off_pg_loss": mean(off_loss, off_w),
            "on_policy_prob": mean(torch.exp(torch.where(off, zeros, old_log_probs)), on_w),
            "off_policy_prob": mean(torch.exp(safe_log_p), off_w),
            "off_ratio_mean": mean(shaped, off_w),
            "off_ratio_max_clip_frac": mean(at_max, off_w),
            "off_ratio_min_clip_frac": mean(at_min, off_w),
            "off_policy_frac": mean(off, mask),
            "all_max_clip_frac": mean(dropped, full_mask),
        }
    return loss, metrics
