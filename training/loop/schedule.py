"""The learning-rate schedule of the actor (EasyR1's ``worker.actor.optim`` keys)."""

from __future__ import annotations

import math

import torch

SCHEDULER_KINDS = ("constant", "cosine")


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_ratio: float = 0.0,
    kind: str = "constant",
    min_lr_ratio: float = 0.0,
    warmup_steps: int | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """EasyR1's LR schedule (``worker.actor.optim``: ``lr_scheduler_type``, ``lr_warmup_ratio``,
    ``lr_warmup_steps``, ``min_lr_ratio``) as a ``LambdaLR`` multiplier on the optimizer's lr.

    Warmup lasts ``warmup_steps`` if given, else ``int(warmup_ratio * total_steps)``, rising linearly
    from 0: factor ``s / W`` at scheduler step ``s < W``. Then ``constant`` stays at 1; ``cosine``
    follows half a cosine from 1 down to ``min_lr_ratio`` at ``total_steps``:
    ``m + (1 - m) * (1 + cos(pi * p)) / 2`` with ``p = min(1, (s - W) / max(1, total_steps - W))``.
    Past ``total_steps`` the factor stays at ``min_lr_ratio``. Call ``scheduler.step()`` once per
    optimizer step, after it.
    """
    if kind not in SCHEDULER_KINDS:
        raise ValueError(f"unknown lr scheduler type {kind!r}; choose one of {SCHEDULER_KINDS}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    if not 0.0 <= warmup_ratio <= 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1], got {warmup_ratio}")
    warmup = int(warmup_steps) if warmup_steps is not None else int(warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
