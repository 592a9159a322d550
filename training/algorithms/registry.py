"""Name -> function registries for advantage estimators and policy losses.

One registry per kind, filled by decorators in ``advantages.py`` and ``losses.py``, read through
one dispatch path each (``compute_advantage`` / ``compute_policy_loss``). This is the EasyR1 /
verl ``core_algos`` pattern: the config names an algorithm (``algorithm.adv_estimator=grpo``,
``worker.actor.loss_type=gspo``) and the trainer never branches on it.

Why duplicates are an error: a second ``register_advantage_estimator("grpo")`` would silently
replace the first, and a run would train with a different formula than its config says.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

AdvantageFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
PolicyLossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]

_ADVANTAGE_ESTIMATORS: dict[str, AdvantageFn] = {}
_POLICY_LOSSES: dict[str, PolicyLossFn] = {}


def _check_name(name: object, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    return name


def _ensure_builtins() -> None:
    # Importing the modules runs their decorators. Done lazily so that `from registry import
    # get_policy_loss` works even when nobody imported `training.algorithms` first.
    importlib.import_module(f"{__package__}.advantages")
    importlib.import_module(f"{__package__}.losses")


def register_advantage_estimator(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register ``fn(token_level_rewards, response_mask, ...) -> (advantages, returns)``.

    The stored (and returned) function runs under ``torch.no_grad()``: advantages are targets,
    never something to differentiate through. Raises ``ValueError`` if ``name`` is taken.
    """
    _check_name(name, "advantage estimator")

    def decorator(fn: AdvantageFn) -> AdvantageFn:
        if name in _ADVANTAGE_ESTIMATORS:
            raise ValueError(f"advantage estimator {name!r} is already registered")
        wrapped = torch.no_grad()(fn)
        _ADVANTAGE_ESTIMATORS[name] = wrapped
        return wrapped

    return decorator


def register_policy_loss(name: str) -> Callable[[PolicyLossFn], PolicyLossFn]:
    """Register ``fn(old_log_probs, log_probs, advantages, response_mask, ...) -> (loss, metrics)``.

    Raises ``ValueError`` if ``name`` is taken.
    """
    _check_name(name, "policy loss")

    def decorator(fn: PolicyLossFn) -> PolicyLossFn:
        if name in _POLICY_LOSSES:
            raise ValueError(f"policy loss {name!r} is already registered")
        _POLICY_LOSSES[name] = fn
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
