"""KL estimators between the policy and the reference model, and the KL coefficient controllers.

KL is used one of two ways (EasyR1 ``algorithm.use_kl_loss``):
  - as a loss: ``loss += kl_coef · agg_loss(kl_penalty(log_probs, ref_log_probs, kind), mask)``
    (``kl_loss``; GRPO / Video-R1 style, usually ``low_var_kl``), or
  - as a reward penalty: ``token_level_rewards = token_level_scores - β · kld`` before the
    advantage (``apply_kl_penalty``; PPO / RLHF style), with ``β`` from a fixed or adaptive
    controller that the trainer updates with the measured KL every step.

All estimators are per token on the sampled tokens: ``x = log π(y_t) - log π_ref(y_t)`` [B, T].
Schulman's notation (http://joschu.net/blog/kl-approx.html) with ``ρ = π_ref/π = exp(-x)``:
  - ``k1`` / ``kl``:           ``x``                       unbiased, high variance, can be < 0.
  - ``abs``:                   ``|x|``
  - ``k2`` / ``mse``:          ``½ x²``                    low variance, biased.
  - ``k3`` / ``low_var_kl``:   ``ρ - log ρ - 1 = exp(-x) + x - 1``, with ``-x`` clamped to ±20
                               before exp and the result clamped to ±10 (EasyR1/verl), because
                               one token with a huge ratio would otherwise dominate the loss.
veRL's ``full`` (KL over the whole vocabulary) needs full distributions and is not offered here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .losses import agg_loss, masked_mean


def _k1(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return logp - ref


def _abs(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (logp - ref).abs()


def _k2(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return 0.5 * (logp - ref).square()


def _k3(logp: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    log_rho = (ref - logp).clamp(-20.0, 20.0)
    return (log_rho.exp() - log_rho - 1.0).clamp(-10.0, 10.0)


_KL_KINDS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "k1": _k1,
    "kl": _k1,
    "abs": _abs,
    "k2": _k2,
    "mse": _k2,
    "k3": _k3,
    "low_var_kl": _k3,
}
KL_KINDS = tuple(_KL_KINDS)


def kl_penalty(
    log_probs: torch.Tensor, ref_log_probs: torch.Tensor, kind: str = "low_var_kl"
) -> torch.Tensor:
    """Per-token KL estimate [B, T] of ``KL(π || π_ref)`` from sampled-token log-probs [B, T].

    ``kind`` is one of k1/kl, abs, k2/mse, k3/low_var_kl (see the module docstring). Computed
    in float32 whatever the input dtype (bf16 log-prob differences lose too many digits).
    """
    fn = _KL_KINDS.get(kind)
    if fn is None:
        raise ValueError(f"unknown KL penalty kind {kind!r}; allowed: {', '.join(KL_KINDS)}")
    if log_probs.shape != ref_log_probs.shape:
        raise ValueError(
            f"log_probs {tuple(log_probs.shape)} and ref_log_probs {tuple(ref_log_probs.shape)} must match"
        )
    return fn(log_probs.float(), ref_log_probs.float())


def kl_loss(
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    response_mask: torch.Tensor,
    kind: str = "low_var_kl",
    loss_agg_mode: str = "token-mean",
) -> torch.Tensor:
    """KL as a loss term: ``agg_loss(kl_penalty(log_probs, ref_log_probs, kind), mask, mode)``.

    The caller multiplies by ``kl_coef`` and adds it to the policy loss.
    """
    return agg_loss(kl_penalty(log_probs, ref_log_probs, kind), response_mask, loss_agg_mode)


def apply_kl_penalty(
    token_level_scores: torch.Tensor,
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    response_mask: torch.Tensor,
    kl_coef: float,
    kind: str = "kl",
) -> tuple[torch.Tensor, float]:
    """KL in the reward: ``token_level_rewards = token_level_scores - kl_coef · kld · mask``.

    Returns ``(token_level_rewards [B, T], current_kl)`` where ``current_kl`` is the batch mean
    of per-sequence token means of ``kld`` (EasyR1); feed it to ``controller.update(current_kl,
    n_steps=B)`` and use ``controller.kl_coef`` next step.
    """
    mask = response_mask.to(torch.float32)
    kld = kl_penalty(log_probs, ref_log_probs, kind) * mask
    rewards = token_level_scores - kl_coef * kld
    current_kl = masked_mean(kld, mask, dim=-1).mean().item()
    return rewards, current_kl


class FixedKLController:
    """Constant coefficient: ``update`` does nothing (EasyR1/verl/TRL ``FixedKLController``)."""

    def __init__(self, kl_coef: float):
        if kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        self.kl_coef = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        return None

    def state_dict(self) -> dict[str, float]:
        return {"kl_coef": self.kl_coef}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.kl_coef = float(state["kl_coef"])


class AdaptiveKLController(FixedKLController):
    """Adaptive coefficient of Ziegler et al. 2019 (https://arxiv.org/abs/1909.08593), as verl/TRL.

    ``e = clip(current_kl / target_kl - 1, -0.2, 0.2)``;
    ``kl_coef ← kl_coef · (1 + e · n_steps / horizon)``.
    Above target, β grows; below, it shrinks; ``horizon`` (samples) sets how fast. EasyR1
    defaults: target 0.1, horizon 10000. The coefficient is state: save it with the checkpoint
    (``state_dict``) or a resumed run follows a different trajectory.
    """

    def __init__(self, init_kl_coef: float, target_kl: float = 0.1, horizon: float = 10000.0):
        super().__init__(init_kl_coef)
        if target_kl <= 0:
            raise ValueError(f"target_kl must be > 0, got {target_kl}")
        if horizon <= 0:
            raise ValueError(f"horizon must be > 0, got {horizon}")
        self.target = float(target_kl)
        self.horizon = float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.kl_coef *= 1.0 + error * n_steps / self.horizon


def get_kl_controller(
    kl_type: str, kl_coef: float, kl_target: float = 0.1, kl_horizon: float = 10000.0
) -> FixedKLController:
    """``algorithm.kl_type`` -> controller: ``fixed`` or ``adaptive`` (ValueError otherwise)."""
    if kl_type == "fixed":
        return FixedKLController(kl_coef)
    if kl_type == "adaptive":
        return AdaptiveKLController(kl_coef, kl_target, kl_horizon)
    raise ValueError(f"unknown kl_type {kl_type!r}; allowed: fixed, adaptive")
