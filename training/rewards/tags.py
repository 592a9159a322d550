"""Locating the ``<think>`` and ``<answer>`` blocks of a response, in linear time.

Every scorer and the format reward read responses through these helpers so that "the answer" means
the same thing everywhere. Whitespace inside and around tag delimiters is forgiven the way
EasyVideoR1 does it (``re.sub(r"\\s*(<|>|/)\\s*", r"\\1", text)`` before matching), so
``< answer >B</ answer >`` counts as ``<answer>B</answer>``; tag names stay case-sensitive.

Why no ``<answer>(.*?)</answer>`` regex: on a 100 KB response made of unclosed ``<answer>`` tags a
lazy group rescans the tail from every opening tag (quadratic time). Here each tag kind is found
by one ``finditer`` pass and the blocks are paired by position, so the cost is linear in the length.
"""

from __future__ import annotations

import re

# A tag with optional whitespace after "<", around "/" and before ">" (EasyVideoR1's normalisation).
# Possessive quantifiers: a failed tag attempt never backtracks through a long whitespace run.
ANSWER_OPEN = re.compile(r"<\s*+answer\s*+>")
ANSWER_CLOSE = re.compile(r"<\s*+/\s*+answer\s*+>")
THINK_OPEN = re.compile(r"<\s*+think\s*+>")
THINK_CLOSE = re.compile(r"<\s*+/\s*+think\s*+>")


def _last(pattern: re.Pattern[str], text: str, end: int | None = None) -> re.Match[str] | None:
    last = None
    for match in pattern.finditer(text, 0, len(text) if end is None else end):
        last = match
    return last


def answer_span(response: str) -> tuple[int, int] | None:
    """``(start, end)`` of the content of the last complete ``<answer>…</answer>`` block, or None.

    The last block is the final answer: a model that restates or corrects itself ends with the
    answer it means. The opening tag is the last one before the last closing tag, so nested or
    repeated openings (``<answer><answer>B</answer>``) resolve to the innermost content ``B``.
    """
    close = _last(ANSWER_CLOSE, response)
    if close is None:
        return None
    opening = _last(ANSWER_OPEN, response, close.start())
    if opening is None:
        return None
    return opening.end(), close.start()


def answer_content(response: str) -> str | None:
    """The stripped content of the last ``<answer>`` block, or None when there is no complete block.

    >>> answer_content("<think>hm</think> <answer> B </answer>")
    'B'
    >>> answer_content("B") is None
    True
    """
    span = answer_span(response)
    return None if span is None else response[span[0] : span[1]].strip()


def after_think(response: str) -> str | None:
    """The text after the last ``</think>``, stripped, or None when no think block was closed."""
    close = _last(THINK_CLOSE, response)
    return None if close is None else response[close.end() :].strip()


def has_think_then_answer(response: str) -> bool:
    """True when the response is exactly ``<think>…</think>`` then ``<answer>…</answer>``.

    This is EasyR1's ``r1v`` schema (fullmatch ``<think>.*?</think>\\s*<answer>.*?</answer>``) with
    surrounding whitespace allowed: one think block first, one answer block last, nothing else
    outside them.
    """
    text = response.strip()
    think_open = THINK_OPEN.match(text)
    if think_open is None:
        return False
    think_close = THINK_CLOSE.search(text, think_open.end())
    if think_close is None:
        return False
    answer_open = ANSWER_OPEN.match(text, _skip_space(text, think_close.end()))
    if answer_open is None:
        return False
    answer_close = ANSWER_CLOSE.search(text, answer_open.end())
    return answer_close is not None and answer_close.end() == len(text)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def boxed_content(text: str) -> str | None:
    """The stripped content of the last ``\\boxed{…}`` (balanced braces), or None.

    >>> boxed_content(r"so \\boxed{\\frac{3}{4}}.")
    '\\\\frac{3}{4}'
    """
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth = 0
    begin = start + len("\\boxed{")
    for pos in range(begin, len(text)):
        char = text[pos]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return text[begin:pos].strip()
            depth -= 1
    return None


def candidates(response: str) -> list[str]:
    """Texts to search for an answer, most trusted first: answer block, text after think, whole.

    Scorers try each in turn so that a response whose ``<answer>`` holds no parsable answer can still
    be read from its free text (the format reward, not the accuracy, penalises the missing schema).
    Empty and repeated candidates are dropped.
    """
    found: list[str] = []
    for text in (answer_content(response), after_think(response), response.strip()):
        if text and text not in found:
            found.append(text)
    return found
