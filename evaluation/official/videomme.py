"""Answer extraction and group scoring of the official Video-MME and Video-MME-v2 scripts.

Video-MME: ``extract_characters_regex`` of BradyFU/Video-MME ``evaluation/eval_your_results.py``
(commit 4e7566d3; lmms-eval ``tasks/videomme/utils.py`` carries the same function), quirks included:

- the response is stripped, then the prefixes "The best answer is", "The correct answer is",
  "The answer is", "The answer" are deleted *everywhere* (``str.replace``, case-sensitive); two list
  entries lack a separating comma, so Python concatenates them and the script deletes only
  "The best option isThe correct option is" and "Best answer:Best option:" (never "The best option is"
  or "Best answer:" alone);
- more than 10 whitespace-separated words and no capital A-D anywhere -> "" (no answer);
- otherwise the first capital A, B, C or D *anywhere* in what is left: "Answer: B" -> "A" (the A of
  "Answer"), "Based on the video, (C)" -> "B" (of "Based"), "The answer is (B)" -> "B";
- an empty extraction is left out of both the correct count and the denominator (accuracy =
  correct / answered).

Video-MME-v2: MME-Benchmarks/Video-MME-v2 ``evaluation/test_video_mme_v2.py`` (commit 013b6c92; VLMEvalKit
``vlmeval/dataset/utils/videomme_v2.py`` is identical):

- ``extract_characters_regex_v2``: prefixes "Final Answer:", "The best answer is", "The correct answer
  is", "The answer is", "The answer", "The best option is", "The correct option is", "Best answer:",
  "Best option:", "Answer:", "Option:" deleted in that order (case-sensitive: "Final answer: B" -> "F");
  then the first capital A-H anywhere, with the same >10-words rule;
- per question score 1 (correct), 0 (wrong) or **-1 (nothing extracted)**;
- groups of 4 consecutive rows; a relevance group scores ``{0: 0, 1: 100/16, 2: 400/16, 3: 900/16,
  4: 100}[sum]`` (a -1 lowers the sum; a sum below 0 scores 0) and a linear ``25 * sum`` (negative
  possible); a logic group scores the length of the leading run of *truthy* scores (-1 is truthy, so
  an unreadable answer continues the chain) through the table of its ``group_structure``:
  ``[1, 2, 3, 4]`` -> /16 table above; ``[1, [2, 3], 4]`` -> {1: 100/12, 2: 400/12, 3: 700/12, 4: 100},
  a run of exactly 1 becomes 2 when question 3 is truthy; ``[[1, 2], 3, 4]`` -> {1: 10, 2: 20, 3: 50,
  4: 100}, a run of 0 becomes 1 when question 2 is truthy.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

# Two entries of the official list lack a comma, so Python joins the adjacent literals into one.
_V1_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",  # the official list misses a comma here
    "Best answer:Best option:",  # and here
)
_V2_PREFIXES = (
    "Final Answer:",
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
    "Answer:",
    "Option:",
)
_V1_LETTER = re.compile(r"[ABCD]")
_V2_LETTER = re.compile(r"[A-H]")

#: group score tables of the official ``cal_relevance`` / ``cal_logic`` (index = correct count / run length)
RELEVANCE_TABLE = (0.0, 100.0 / 16, 100.0 * 4 / 16, 100.0 * 9 / 16, 100.0)
LOGIC_TABLES: dict[str, tuple[float, ...]] = {
    "[1, 2, 3, 4]": RELEVANCE_TABLE,
    "[1, [2, 3], 4]": (0.0, 100.0 / 12, 100.0 * 4 / 12, 100.0 * 7 / 12, 100.0),
    "[[1, 2], 3, 4]": (0.0, 100.0 / 10, 100.0 * 2 / 10, 100.0 * 5 / 10, 100.0),
}


def _extract(response: str, prefixes: Sequence[str], letter: re.Pattern[str]) -> str:
    s = response.strip()
    for prefix in prefixes:
        s = s.replace(prefix, "")
    m = letter.search(s)
    if len(s.split()) > 10 and m is None:  # the official long-answer rule (same result as no match)
        return ""
    return "" if m is None else m.group(0)


def extract_characters_regex(response: str) -> str:
    """The letter Video-MME's official script reads ("" = none, excluded from the denominator).

    >>> extract_characters_regex("Answer: B")
    'A'
    >>> extract_characters_regex("The answer is (B).")
    'B'
    """
    return _extract(response, _V1_PREFIXES, _V1_LETTER)


def extract_characters_regex_v2(response: str) -> str:
    """The letter A-H Video-MME-v2's official script reads ("" = none, scored -1).

    >>> extract_characters_regex_v2("Final Answer: G.")
    'G'
    >>> extract_characters_regex_v2("Final answer: G")
    'F'
    """
    return _extract(response, _V2_PREFIXES, _V2_LETTER)


def v2_question_score(extracted: str, answer: str) -> int:
    """The official per-question score: 1 correct, 0 wrong, -1 when nothing was extracted."""
    return int(extracted == answer) if extracted else -1


def group_structure_key(structure: Any) -> str:
    """The canonical text of a logic ``group_structure`` ("[1, [2, 3], 4]"); the official script parses
    the string with ``ast.literal_eval``. Raises ValueError for any other structure."""
    try:
        value = ast.literal_eval(structure) if isinstance(structure, str) else structure
    except (ValueError, SyntaxError):
        raise ValueError(f"group_structure {structure!r} is not a Python literal") from None
    key = repr(_plain(value))
    if key not in LOGIC_TABLES:
        raise ValueError(f"unknown group_structure {structure!r}; known: {sorted(LOGIC_TABLES)}")
    return key


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [_plain(v) for v in value]
    return value


def relevance_scores(scores: Sequence[int]) -> tuple[float, float]:
    """``(non-linear, linear)`` score of a relevance group of 1/0/-1 question scores."""
    total = sum(scores)
    exp = RELEVANCE_TABLE[total] if 0 <= total < len(RELEVANCE_TABLE) else 0.0
    return exp, 25.0 * total


def logic_score(scores: Sequence[int], structure: str) -> float:
    """Score of a logic group: the leading run of truthy question scores (-1 counts) through the table
    of ``structure`` (a key of ``LOGIC_TABLES`` or anything ``group_structure_key`` accepts)."""
    key = group_structure_key(structure)
    run = 0
    for s in scores:
        if not s:
            break
        run += 1
    if key == "[1, [2, 3], 4]" and run == 1 and scores[2]:
        run = 2
    elif key == "[[1, 2], 3, 4]" and run == 0 and scores[1]:
        run = 1
    table = LOGIC_TABLES[key]
    return table[run] if run < len(table) else 0.0
