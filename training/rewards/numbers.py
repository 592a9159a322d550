"""Reading numbers out of free text: digits, decimals, thousands separators, fractions, percents, words.

Definitions (shared by the numerical, regression and grounding scorers):

- a digit number is ``[-+]?`` then digits with optional ``,ddd`` thousands groups and an optional
  decimal part (``1,000.5``), or a bare decimal (``.5``), with an optional exponent (``1e3``);
  a sign only counts when it is not glued to a preceding word or number, so ``2-5`` is 2 and 5;
- ``p/q`` (spaces allowed around ``/``) is the fraction p÷q; a zero denominator is no number;
- a trailing ``%`` divides by 100 (EasyVideoR1's rule), so ``50%`` equals ``0.5``;
- English number words up to the billions (``three``, ``twenty-one``, ``one hundred and five``);
- only finite values count: ``nan``, ``inf`` and overflowing literals are not numbers.

Every pattern is possessive or anchored by a literal so that no input backtracks catastrophically
(the reward runs on arbitrary model output, 100 KB of digits included).
"""

from __future__ import annotations

import math
import re

# Unicode minus and dashes that models emit in place of "-".
_MINUSES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})

_NUMBER = re.compile(
    r"(?<![\w.])"  # not glued to a word or to another number ("x2", "1.2.3")
    r"(?P<num>[-+]?(?:\d++(?:,\d{3}+(?!\d))*+(?:\.\d++)?|\.\d++)(?:[eE][-+]?\d++)?)"
    r"(?:\s*+/\s*+(?P<den>\d++(?:\.\d++)?))?"
    r"(?P<pct>\s*+%)?"
)

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD = re.compile(r"[A-Za-z]++")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _digit_value(match: re.Match[str]) -> float | None:
    try:
        value = float(match["num"].replace(",", ""))
        if match["den"] is not None:
            denominator = float(match["den"])
            if denominator == 0:
                return None
            value /= denominator
    except (ValueError, OverflowError):
        return None
    if match["pct"] is not None:
        value /= 100.0
    return _finite(value)


def _word_numbers(text: str) -> list[tuple[int, float]]:
    """``(position, value)`` of each run of number words, e.g. "twenty-one" -> 21.

    A run continues over whitespace, hyphens and an "and" after "hundred"; it breaks when a word
    cannot extend the number being read ("one two" is two numbers, not three).
    """
    found: list[tuple[int, float]] = []
    total = current = 0
    start = -1
    last_kind = ""  # "unit", "tens", "hundred", "scale" of the previous word in the run
    last_end = 0

    def flush() -> None:
        nonlocal total, current, start, last_kind
        if start >= 0:
            found.append((start, float(total + current)))
        total = current = 0
        start = -1
        last_kind = ""

    for match in _WORD.finditer(text):
        word = match.group().lower()
        gap = text[last_end : match.start()]
        joined = gap.strip(" -") == "" and "\n" not in gap  # "twenty-one", "two thousand"
        and_after_hundred = word == "and" and last_kind == "hundred" and gap.strip() == "" and "\n" not in gap
        if start >= 0 and not joined and not and_after_hundred:
            flush()
        if word == "and" and last_kind == "hundred":
            last_end = match.end()
            continue
        if word in _UNITS:
            if last_kind in ("unit",) or (last_kind == "tens" and _UNITS[word] >= 10):
                flush()
            if start < 0:
                start = match.start()
            current += _UNITS[word]
            kind = "unit"
        elif word in _TENS:
            if last_kind in ("unit", "tens"):
                flush()
            if start < 0:
                start = match.start()
            current += _TENS[word]
            kind = "tens"
        elif word == "hundred" and start >= 0 and last_kind in ("unit", "tens") and current < 100:
            current *= 100
            kind = "hundred"
        elif word in _SCALES and start >= 0 and last_kind in ("unit", "tens", "hundred"):
            total += current * _SCALES[word]
            current = 0
            kind = "scale"
        else:
            flush()
            last_end = match.end()
            continue
        last_kind = kind
        last_end = match.end()
    flush()
    return found


def find_numbers(text: str) -> list[float]:
    """All numbers in ``text`` in reading order (see the module docstring for what counts).

    >>> find_numbers("1,000 apples, 3/4 of them red, 50% ripe, twenty-one bad")
    [1000.0, 0.75, 0.5, 21.0]
    """
    text = text.translate(_MINUSES)
    found = [(m.start(), v) for m in _NUMBER.finditer(text) if (v := _digit_value(m)) is not None]
    found += _word_numbers(text)
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def parse_number(text: str) -> float | None:
    """The number ``text`` consists of (surrounding punctuation and units allowed), else None.

    Exactly one number must appear: ``"3 meters"`` is 3, ``"between 2 and 3"`` is None.

    >>> parse_number("1/4"), parse_number("about 2.5 m"), parse_number("two or 3")
    (0.25, 2.5, None)
    """
    numbers = find_numbers(text)
    return numbers[0] if len(numbers) == 1 else None
