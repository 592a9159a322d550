"""Format reward: did the response follow the tag schema, and is its answer of the right type?

Definition (EasyVideoR1's three levels, with EasyR1's optional think schema)::

    format = 0    if the tag schema is not met
           = 0.5  if it is met but the answer content has the wrong type for the problem
           = 1    if it is met and the answer content is valid for the problem type

Tag schema (whitespace around ``<``, ``/``, ``>`` forgiven, see ``tags``):

- ``require_answer`` only (default): a complete ``<answer>…</answer>`` block exists (EasyVideoR1;
  ``<think>`` is optional so Instruct and Thinking models are treated alike);
- ``require_think`` and ``require_answer``: the whole response is one ``<think>…</think>`` block then
  one ``<answer>…</answer>`` block (EasyR1 ``r1v``, Video-R1);
- ``require_think`` only: the response opens with a closed ``<think>…</think>`` block;
- neither: any text meets the schema, and only the answer's type is judged.

The answer content is the last ``<answer>`` block's content, or, when no block exists and none is
required, the text after ``</think>`` (else the whole response). What "valid" means belongs to each
problem type (MC letter readable, number parses, …) and is passed in as ``answer_valid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import tags


@dataclass(frozen=True)
class FormatSpec:
    """Which tags a response must contain (see the module docstring)."""

    require_answer: bool = True
    require_think: bool = False


def format_reward(response: str, spec: FormatSpec, answer_valid: Callable[[str], bool]) -> float:
    """0, 0.5 or 1 as defined in the module docstring.

    >>> is_letter = lambda a: a in ("A", "B")
    >>> [format_reward(r, FormatSpec(), is_letter) for r in ("<answer>B</answer>", "<answer>x</answer>", "B")]
    [1.0, 0.5, 0.0]
    """
    content = tags.answer_content(response)
    if spec.require_think and spec.require_answer:
        schema_met = tags.has_think_then_answer(response)
    elif spec.require_think:
        schema_met = (
            tags.THINK_OPEN.match(response.lstrip()) is not None and tags.after_think(response) is not None
        )
    else:
        schema_met = content is not None or not spec.require_answer
    if not schema_met:
        return 0.0
    if content is None:
        content = tags.after_think(response)
        content = response.strip() if content is None else content
    return 1.0 if answer_valid(content) else 0.5
