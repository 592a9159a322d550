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


_ADVANTAGE_ESTIMATORS: dict[str, AdvantageFn] = {}
_POLICY_LOSSES: dict[str, PolicyLossFn] = {}
_ADVANTAGE_SPECS: dict[str, AdvantageSpec] = {}
_POLICY_LOSS_SPECS: dict[str, PolicyLossSpec] = {}


def _check_name(name: object, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    return name


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
    _check_name(name, "advantage estimator")

    def decorator(fn: AdvantageFn) -> AdvantageFn:
        if name in _ADVANTAGE_ESTIMATORS:
            raise ValueError(f"advantage estimator {name!r} is already registered")
        wrapped = torch.no_grad()(fn)
        _ADVANTAGE_ESTIMATORS[name] = wrapped
        _ADVANTAGE_SPECS[name] = AdvantageSpec(greedy_baseline, min_group_size)
        return wrapped

    return decorator


def register_policy_loss(
    name: str, *, options: tuple[str, ...] = (), off_policy_mask: bool = False
) -> Callable[[PolicyLossFn], PolicyLossFn]:
    """Register ``fn(old_log_probs, log_probs, advantages, response_mask, ...) -> (loss, metrics)``, with
    what it needs from the step (``PolicyLossSpec``'s fields).

    Raises ``ValueError`` if ``name`` is taken.
    """
    _check_name(name, "policy loss")

    def decorator(fn: PolicyLossFn) -> PolicyLossFn:
        if name in _POLICY_LOSSES:
            raise ValueError(f"policy loss {name!r} is already registered")
        _POLICY_LOSSES[name] = fn
        _POLICY_LOSS_SPECS[name] = PolicyLossSpec(tuple(options), off_policy_mask)
        return fn

    return decorator


def advantage_estimator_names() -> list[str]:
    """Sorted names of every registered advantage estimator."""
    _ensure_builtins()
    return sorted(_ADVANTAGE_ESTIMATORS)


def policy_loss_names() -> list[str]:
    """Sorted names of every registered policy loss."""
    _ensure_builtins()
    return sorted(_POLICY_LOSSES)


def get_advantage_estimator(name: str) -> AdvantageFn:
    """The estimator registered as ``name``; unknown names raise ``ValueError`` listing the allowed."""
    _ensure_builtins()
    try:
        return _ADVANTAGE_ESTIMATORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown advantage estimator {name!r}; allowed: {', '.join(sorted(_ADVANTAGE_ESTIMATORS))}"
        ) from None


def get_policy_loss(name: str) -> PolicyLossFn:
    """The policy loss registered as ``name``; unknown names raise ``ValueError`` listing the allowed."""
    _ensure_builtins()
    try:
        return _POLICY_LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown policy loss {name!r}; allowed: {', '.join(sorted(_POLICY_LOSSES))}"
        ) from None


def advantage_estimator_spec(name: str) -> AdvantageSpec:
    """What the estimator registered as ``name`` needs from the step; unknown names raise ``ValueError``."""
    get_advantage_estimator(name)
    return _ADVANTAGE_SPECS.get(name, AdvantageSpec())


def policy_loss_spec(name: str) -> PolicyLossSpec:
    """What the loss registered as ``name`` needs from the step; unknown names raise ``ValueError``."""
    get_policy_loss(name)
    return _POLICY_LOSS_SPECS.get(name, PolicyLossSpec())


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
