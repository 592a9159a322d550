"""Name -> function registries for advantage estimators and policy losses.

One registry per kind, filled by decorators in ``advantages.py`` and ``losses.py``, read through
one dispatch path each (``compute_advantage`` / ``compute_policy_loss``). This is the EasyR1 /
verl ``core_algos`` pattern: the config names an algorithm (``algorithm.adv_estimator=grpo``,
``worker.actor.loss_type=gspo``) and the trainer never branches on it.

Each registration also declares what the RL step must supply beyond the common inputs
(``AdvantageSpec``: a greedy baseline, a group size; ``PolicyLossSpec``: its config options, the
off-policy row mask), so the trainer reads ``advantage_estimator_spec(name)`` /
``policy_loss_spec(name)`` instead of comparing names.

Why duplicates are an error: a second ``register_advantage_estimator("grpo")`` would silently
replace the first, and a run would train with a different formula than its config says.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from training.registry import Registry

AdvantageFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
PolicyLossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]


@dataclass(frozen=True)
class AdvantageSpec:
    """What an advantage estimator needs from the RL step besides token rewards, mask and groups.

    ``greedy_baseline``: one greedy (temperature 0) response per kept prompt, whose reward is passed
    per row as ``reward_baselines`` (ReMax). ``min_group_size``: ``worker.rollout.n`` must be at least
    this (a group of one has no spread to compare with)."""

    greedy_baseline: bool = False
    min_group_size: int = 1


@dataclass(frozen=True)
class PolicyLossSpec:
    """What a policy loss needs from the RL step besides the common inputs (log-probs, advantages,
    mask, clip ratios, aggregation mode).

    ``options``: ``worker.actor`` keys passed to the loss as keyword arguments of the same name.
    ``off_policy_mask``: the loss gets ``off_policy_mask`` [B] (rows that are offline trajectories)."""

    options: tuple[str, ...] = ()
    off_policy_mask: bool = False


@dataclass(frozen=True)
class _Registered:
    fn: Callable[..., Any]
    spec: AdvantageSpec | PolicyLossSpec


_ADVANTAGE_ESTIMATORS: Registry[_Registered] = Registry(
    "advantage estimator", error=ValueError, known="allowed"
)
_POLICY_LOSSES: Registry[_Registered] = Registry("policy loss", error=ValueError, known="allowed")


def _ensure_builtins() -> None:
    # Importing the modules runs their decorators. Done lazily so that `from registry import
    # get_policy_loss` works even when nobody imported `training.algorithms` first.
    importlib.import_module(f"{__package__}.advantages")
    importlib.import_module(f"{__package__}.losses")


def register_advantage_estimator(
    name: str, *, greedy_baseline: bool = False, min_group_size: int = 1
) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register ``fn(token_level_rewards, response_mask, ...) -> (advantages, returns)``, with what it
    needs from the step (``AdvantageSpec``'s fields).

    The stored (and returned) function runs under ``torch.no_grad()``: advantages are targets,
    never something to differentiate through. Raises ``ValueError`` if ``name`` is taken.
    """
    _ADVANTAGE_ESTIMATORS.check_name(name)

    def decorator(fn: AdvantageFn) -> AdvantageFn:
        wrapped = torch.no_grad()(fn)
        _ADVANTAGE_ESTIMATORS.add(name, _Registered(wrapped, AdvantageSpec(greedy_baseline, min_group_size)))
        return wrapped

    return decorator


def register_policy_loss(
    name: str, *, options: tuple[str, ...] = (), off_policy_mask: bool = False
) -> Callable[[PolicyLossFn], PolicyLossFn]:
    """Register ``fn(old_log_probs, log_probs, advantages, response_mask, ...) -> (loss, metrics)``, with
    what it needs from the step (``PolicyLossSpec``'s fields).

    Raises ``ValueError`` if ``name`` is taken.
    """
    _POLICY_LOSSES.check_name(name)

    def decorator(fn: PolicyLossFn) -> PolicyLossFn:
        _POLICY_LOSSES.add(name, _Registered(fn, PolicyLossSpec(tuple(options), off_policy_mask)))
        return fn

    return decorator


def advantage_estimator_names() -> list[str]:
    """Sorted names of every registered advantage estimator."""
    _ensure_builtins()
    return _ADVANTAGE_ESTIMATORS.names()


def policy_loss_names() -> list[str]:
    """Sorted names of every registered policy loss."""
    _ensure_builtins()
    return _POLICY_LOSSES.names()


def get_advantage_estimator(name: str) -> AdvantageFn:
    """The estimator registered as ``name``; unknown names raise ``ValueError`` listing the allowed."""
    _ensure_builtins()
    return _ADVANTAGE_ESTIMATORS.get(name).fn


def get_policy_loss(name: str) -> PolicyLossFn:
    """The policy loss registered as ``name``; unknown names raise ``ValueError`` listing the allowed."""
    _ensure_builtins()
    return _POLICY_LOSSES.get(name).fn


def advantage_estimator_spec(name: str) -> AdvantageSpec:
    """What the estimator registered as ``name`` needs from the step; unknown names raise ``ValueError``."""
    _ensure_builtins()
    return _ADVANTAGE_ESTIMATORS.get(name).spec


def policy_loss_spec(name: str) -> PolicyLossSpec:
    """What the loss registered as ``name`` needs from the step; unknown names raise ``ValueError``."""
    _ensure_builtins()
    return _POLICY_LOSSES.get(name).spec


def compute_advantage(name: str, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The one dispatch path for advantages: ``get_advantage_estimator(name)(**kwargs)`` under no_grad.

    Returns ``(advantages [B, T], returns [B, T])``. Estimators ignore keyword arguments they do
    not use (as in EasyR1), so one call site can pass the union of inputs for every estimator.
    """
    fn = get_advantage_estimator(name)
    with torch.no_grad():
        return fn(**kwargs)


def compute_policy_loss(name: str, **kwargs: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """The one dispatch path for policy losses: ``get_policy_loss(name)(**kwargs)``.

    Returns ``(loss scalar with grad, metrics of python floats)``.
    """
    return get_policy_loss(name)(**kwargs)
