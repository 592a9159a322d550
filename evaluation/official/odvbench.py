"""ODV-Bench answer matching of MCG-NJU/StreamForest ``lmms_eval/tasks/odvbench/utils.py``.

ODV-Bench's release (HF ``MCG-NJU/ODV-Bench``) is scored by the StreamForest authors' lmms-eval task
(commit 81cbd38e). Reproduced from ``mcq_acc`` / ``odvbench_process_results`` /
``odvbench_aggregate_results``, quirks included:

- the key is the letter of the **first** candidate equal to the ``answer`` text;
- ``process(text)``: if the stripped text matches ``^([A-E])\\.\\s*(.+)$`` (case-insensitive, one
  line) its letter, upper-cased ("b. a car" -> B, and "e.g. B" -> E); otherwise newlines/tabs become
  spaces, punctuation from a fixed list is deleted (when it touches a space, or whenever the text has
  a "d,d" number) or replaced by a space, up to 32 dots not followed by a digit are deleted (the
  script passes ``re.UNICODE`` = 32 as ``re.sub``'s count), quotes and parentheses are stripped at
  the ends, the text is lower-cased and the first standalone letter a-e is returned upper-cased
  ("I think it is a car, B" -> A: the article counts); no such letter: the processed text itself;
- score = ``process(response) == process(key_letter)``;
- aggregate: only responses that are not the empty string count (an empty response leaves the
  denominator); accuracy overall and per task / subtask / subsubtask over those, in percent.
"""

from __future__ import annotations

import re

_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
_PUNCT = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_OPTION = re.compile(r"^([A-E])\.\s*(.+)$", re.IGNORECASE)
_LETTER = re.compile(r"\b([A-E])\b", re.IGNORECASE)


def _process_punctuation(text: str) -> str:
    out = text
    has_number_comma = _COMMA_STRIP.search(text) is not None
    for p in _PUNCT:
        if p + " " in text or " " + p in text or has_number_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=32)


def process(text: str) -> str:
    """The official ``process``: an option letter when one is read, else the normalised text.

    >>> process("B. a red car"), process("The answer is (C)."), process("I see a car")
    ('B', 'C', 'A')
    """
    match = _OPTION.match(text.strip())
    if match:
        return match.group(1).upper()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    text = _process_punctuation(text)
    text = text.strip("'").strip('"').strip(")").strip("(").strip().lower()
    letter = _LETTER.search(text)
    return letter.group(1).upper() if letter else text


def score(response: str, key_letter: str) -> int:
    """1 when the response and the key letter process to the same string."""
    return int(process(response) == process(key_letter))


def read_choice(response: str, key_letter: str) -> str:
    """The letter the official match credits: the key when it scores, else the letter read (A-E) or ""."""
    if score(response, key_letter):
        return key_letter
    read = process(response)
    return read if len(read) == 1 and "A" <= read <= "E" else ""
