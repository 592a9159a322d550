"""Math answers compared with math-verify (``parse`` then ``verify``), in bounded time without signals.

Definition: accuracy = 1 if ``verify(parse(g), parse(p))`` else 0, where

- ``p`` (``extract_math_answer``) is the ``<answer>`` content (its ``\\boxed{}`` content if it has
  one), else the last ``\\boxed{}`` of the response, else the text after ``</think>``; no answer,
  or one longer than ``MAX_ANSWER_CHARS``, scores 0;
- ``g`` is the ground truth, read the same way (``<answer>``/``\\boxed{}`` wrappers allowed); one
  math-verify cannot parse (or that the ``math_guards`` refuse) raises ValueError.

A text is handed to math-verify as LaTeX: wrapped in ``$…$`` unless it already has ``$``, ``\\(`` or
``\\[``, with ``a**b`` written ``a^{b}``. math-verify then equates ``\\frac{1}{2}``, ``0.5`` and
``1/2``, ``2x+1`` and ``1+2x``, intervals, sets, ``50\\%`` and ``50``, ``x = 3`` and ``3``.

Bounded time without signals (math-verify's own timeouts use ``signal.alarm``, main thread only;
EasyVideoR1 grades with mathruler under a 10 s SIGALRM): ``math_guards`` refuses texts and parsed
trees that would build huge numbers, and a deadline (``timeout_s``, default 5 s) ends slow
pure-Python work from any thread; an answer refused or out of time scores 0. See ``math_guards``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import sympy
from math_verify import parse, verify
from sympy.matrices import MatrixBase

from . import tags
from .math_guards import MAX_ANSWER_CHARS, Measure, call_with_deadline, logs_are_tame, measure, text_is_tame
from .registry import register_scorer

_PYTHON_POWER = re.compile(r"\*\*\s*+([-+]?[\w.]++)")


# ---------------------------------------------------------------------------------------- parsing


def _latex(text: str) -> str:
    text = _PYTHON_POWER.sub(r"^{\1}", text.strip())
    return text if any(d in text for d in ("$", "\\(", "\\[")) else f"${text}$"


def _parse(text: str) -> tuple[list[Any], list[Measure]] | None:
    if not text.strip() or not text_is_tame(text):
        return None
    try:
        parsed = parse(_latex(text), parsing_timeout=None)
    except Exception:  # noqa: BLE001 - parse catches its own errors; this is a second net
        return None
    measures = [measure(p) for p in parsed if isinstance(p, (sympy.Basic, MatrixBase))]
    tame = [m for m in measures if m is not None]
    if not tame or len(tame) < len(measures) or not logs_are_tame(tame):
        return None
    return parsed, tame


def parse_math(text: str) -> list[Any] | None:
    """math-verify's parse of ``text`` (as LaTeX), or None when a guard refuses it or nothing
    parses to a SymPy object. No deadline here: callers wrap it in ``call_with_deadline``."""
    found = _parse(text)
    return None if found is None else found[0]


def _unwrap(text: str) -> str:
    boxed = tags.boxed_content(text)
    return text if boxed is None else boxed


def extract_math_answer(response: str) -> str | None:
    """The answer text (rules in the module docstring), or None."""
    content = tags.answer_content(response)
    if content is not None:
        return _unwrap(content)
    boxed = tags.boxed_content(response)
    return boxed if boxed is not None else tags.after_think(response)


@functools.lru_cache(maxsize=1024)
def _parse_key(ground_truth: str, timeout_s: float) -> tuple[list[Any], list[Measure]]:
    content = tags.answer_content(ground_truth)
    text = _unwrap(ground_truth if content is None else content)
    found = call_with_deadline(lambda: _parse(text), timeout_s)
    if found is None:
        raise ValueError(
            f"math ground truth {ground_truth!r} does not parse with math-verify (or is refused by the "
            f"size guards: at most {MAX_ANSWER_CHARS} characters, no huge numbers; "
            "see training.rewards.math_guards)"
        )
    return found


def parse_math_ground_truth(ground_truth: str, timeout_s: float = 5.0) -> list[Any]:
    """The parsed key (cached: a group of rollouts shares it); ValueError if it does not parse."""
    return _parse_key(ground_truth, timeout_s)[0]


def math_answer_is_valid(answer: str, timeout_s: float = 5.0) -> bool:
    """Format check: the answer content (or its ``\\boxed{}``) parses to a math expression."""
    return call_with_deadline(lambda: _parse(_unwrap(answer)), timeout_s) is not None


@register_scorer("math", aliases=("mathematics", "math word problem"), answer_valid=math_answer_is_valid)
def mathematics(response: str, ground_truth: str, timeout_s: float = 5.0) -> float:
    """1.0 when math-verify finds the answer equal to the key, else 0.0 (also on a timeout).

    >>> mathematics(r"<answer>\\frac{1}{2}</answer>", "0.5"), mathematics("<answer>0.4</answer>", "1/2")
    (1.0, 0.0)
    """
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < 3600:
        raise ValueError(f"math timeout_s must be a number of seconds in (0, 3600), got {timeout_s!r}")
    gold, gold_measures = _parse_key(ground_truth, float(timeout_s))
    answer = extract_math_answer(response)
    if answer is None:
        return 0.0

    def compare() -> bool:  # verify returns False on its own errors (raise_on_error=False)
        found = _parse(answer)
        if found is None or not logs_are_tame(gold_measures + found[1]):
            return False
        return verify(gold, found[0], timeout_seconds=None)

    return 1.0 if call_with_deadline(compare, timeout_s) else 0.0
