"""Numerical (exact-within-tolerance) and regression (graded closeness) scorers.

Reading the prediction ``p`` (``extract_number``): the ``<answer>`` content's ``\\boxed{}`` number,
else its first number (the answer block should lead with the answer); failing that, the free text
(after ``</think>``, then the whole response) and its last ``\\boxed{}``, else its last number
(reasoning ends with its conclusion). Numbers are read by ``numbers.find_numbers``: decimals,
``1,000``, ``3/4``, ``50%`` (= 0.5), number words. No number gives accuracy 0.

The ground truth ``g`` must hold exactly one number (``<answer>``-wrapped allowed); else ValueError.
"""

from __future__ import annotations

import numpy as np

from . import tags
from .numbers import find_numbers, parse_number
from .registry import register_scorer

# The VSI-Bench thresholds θ exactly as the official script builds them, so "<=" ties (e.g.
# p=1.9, g=2.0, relative error 0.05000000000000004 vs 1-0.95 = 0.050000000000000044) agree.
_MRA_TOLERANCES = 1.0 - np.linspace(0.5, 0.95, 10)
_FLOAT_SLACK = 1e-9


def extract_number(response: str) -> float | None:
    """The predicted number (rules in the module docstring), or None."""
    content = tags.answer_content(response)
    for text in tags.candidates(response):
        boxed = tags.boxed_content(text)
        numbers = find_numbers(boxed) if boxed is not None else []
        if not numbers:
            numbers = find_numbers(text)
        if numbers:
            return numbers[0] if text == content else numbers[-1]
    return None


def parse_number_ground_truth(ground_truth: str) -> float:
    """The key's number; ValueError unless it holds exactly one finite number."""
    text = tags.answer_content(ground_truth)
    value = parse_number(ground_truth if text is None else text)
    if value is None:
        raise ValueError(f"numeric ground truth {ground_truth!r} must hold exactly one finite number")
    return value


def number_answer_is_valid(answer: str) -> bool:
    """Format check: the answer content is exactly one number (units and punctuation allowed)."""
    return parse_number(answer) is not None


@register_scorer("numerical", aliases=("number", "numeric"), answer_valid=number_answer_is_valid)
def numerical(response: str, ground_truth: str, abs_tol: float = 1e-2, rel_tol: float = 1e-4) -> float:
    """1.0 if ``|p − g| <= max(abs_tol, rel_tol·|g|)`` (plus 1e-9 float slack), else 0.0.

    Why these tolerances: numerical answers are exact answers (counts, read-off values), so the
    absolute 0.01 only forgives rounding to two decimals (``1/3`` vs ``0.33``) and the relative
    1e-4 only rounding of large values (for ``g = 1234567``, ``1234560`` is right, ``1234400`` wrong).
    Graded closeness is the regression family's job. (EasyVideoR1 uses ``|Δ| < 0.015`` absolute;
    Video-R1 equality after rounding to 2 decimals.)

    >>> numerical("<answer>0.33</answer>", "1/3"), numerical("<answer>1.02</answer>", "1")
    (1.0, 0.0)
    """
    g = parse_number_ground_truth(ground_truth)
    p = extract_number(response)
    if p is None:
        return 0.0
    return 1.0 if abs(p - g) <= max(abs_tol, rel_tol * abs(g)) + _FLOAT_SLACK else 0.0


def _relative_error(p: float, g: float) -> float:
    """``|p − g| / |g|``; for ``g == 0``: 0 when ``p == 0`` exactly, else infinity (no credit)."""
    if g == 0:
        return 0.0 if p == 0 else float("inf")
    return abs(p - g) / abs(g)


@register_scorer("regression", answer_valid=number_answer_is_valid)
def regression(response: str, ground_truth: str, mode: str = "mra") -> float:
    """Graded closeness of ``p`` to ``g`` with ``r = |p − g| / |g|``:

    - ``mode="mra"`` (default, VSI-Bench Mean Relative Accuracy, official ``<=``):
      ``MRA = mean over θ ∈ {0.50, 0.55, …, 0.95} of [r <= 1 − θ]``, so r ≤ 0.05 scores 1,
      r > 0.5 scores 0, steps of 0.1 between (EasyVideoR1's strict ``<`` is off by one step on ties);
    - ``mode="relative_error"`` (Video-R1 training): ``1 − clip(r, 0, 1)``.

    ``g == 0``: r is 0 when ``p == 0`` exactly, else infinite, so the score is 1 or 0 (the official
    script divides by zero; Video-R1's ``+1e-9`` gives 0 even for ``p == 0``).

    >>> regression("<answer>3</answer>", "4"), regression("<answer>3</answer>", "4", mode="relative_error")
    (0.6, 0.75)
    """
    if mode not in ("mra", "relative_error"):
        raise ValueError(f"regression mode must be 'mra' or 'relative_error', got {mode!r}")
    g = parse_number_ground_truth(ground_truth)
    p = extract_number(response)
    if p is None:
        return 0.0
    r = _relative_error(p, g)
    if mode == "relative_error":
        return 1.0 - min(max(r, 0.0), 1.0)
    return float(np.mean(r <= _MRA_TOLERANCES))
