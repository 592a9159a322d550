"""Multiple-choice answer parsing of lmms-eval (EvolvingLMMs-Lab/lmms-eval), quirks included.

``extract_mcq_answer``: the shared ``lmms_eval/tasks/_task_utils/mcq_extract.py`` (the priority-ranked
version, commit c228e273, the one described in shared/research/evaluation.md §1b). lmms-eval later
replaced it with a conservative parser that abstains on ambiguous text (commit 00a12d40); that rewrite
is not reproduced here. Behaviour:

- the response is stripped, then its ends are stripped of ",", ".", "!", "?", ";", ":", "'", '"' one
  character kind after the other (so "B.'" keeps its "."), and padded with a space on both sides;
- candidates per allowed letter X (case-sensitive, default A-H), each at its *last* occurrence:
  "(X)" parentheses, "X." period, "X:" colon, "X)" right_paren, "X " space; for every answer phrase
  ("the answer is", "i choose", "答案是", ... matched case-insensitively at its first occurrence) *every*
  letter found anywhere after it (even inside a word: "the answer is B, Dog" offers B and D); "start":
  the text starts with X not followed by a letter; "end": it ends with X not preceded by a letter;
  only when nothing matched, "fallback": any X anywhere;
- the winner has the highest format priority (start 10 > end 9 > phrase 7 > parentheses 6 > period 5
  > colon 4 > right_paren 3 > space 2 > fallback 0), ties broken by the later position. Hence
  "A dog runs. Correct answer: B" -> "A" (start beats end).

``parse_longvideobench``: ``parse_multi_choice_response`` of lmms-eval
``lmms_eval/tasks/longvideobench/utils.py`` (commit 03a5823f), the LongVideoBench paper's parser: the
prefixes "The best answer is", "The correct answer is", "The answer is", "The answer", "The best option
is", "The correct option is", "Best answer:", "Best option:" are deleted everywhere (case-sensitive),
then the first capital A-E anywhere is the answer (even when the question has only 4 options). When
there is none (or more than 10 words and no A-E), the official code answers ``random.choice`` of the
question's letters, so its numbers change from run to run. **Deviation:** here the fallback choice is
drawn from ``random.Random(seed)`` with the record id as seed (``random`` seeds a str through SHA-512:
the same choice on every run, machine and PYTHONHASHSEED), and it is reported as a parse failure.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

DEFAULT_CHOICES = ("A", "B", "C", "D", "E", "F", "G", "H")

_ANSWER_PHRASES = (
    "the answer is",
    "answer is",
    "the correct answer is",
    "correct answer is",
    "the best answer is",
    "best answer is",
    "the correct option is",
    "correct option is",
    "the best option is",
    "best option is",
    "the choice is",
    "choice is",
    "the correct choice is",
    "correct choice is",
    "i choose",
    "i select",
    "i pick",
    "my answer is",
    "my choice is",
    "옵션",
    "정답은",
    "답은",
    "답:",
    "答案是",
    "答案为",
    "选",
    "答えは",
)
_PRIORITY = {
    "start": 10,
    "end": 9,
    "phrase": 7,
    "parentheses": 6,
    "period": 5,
    "colon": 4,
    "right_paren": 3,
    "space": 2,
    "fallback": 0,
}
# format name -> the pattern of letter X whose last occurrence is a candidate
_MARKED = (
    ("parentheses", "({})"),
    ("period", "{}."),
    ("colon", "{}:"),
    ("right_paren", "{})"),
    ("space", "{} "),
)
_EDGE_CHARS = (",", ".", "!", "?", ";", ":", "'", '"')

_LVB_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)
_LVB_LETTER = re.compile(r"[ABCDE]")


def extract_mcq_answer(response: str, choices: Sequence[str] | None = None) -> str:
    """The letter lmms-eval's shared MCQ extractor reads ("" = none); ``choices`` default to A-H.

    >>> extract_mcq_answer("The correct answer is (B).")
    'B'
    >>> extract_mcq_answer("A dog runs. Correct answer: B")
    'A'
    """
    if not response or not response.strip():
        return ""
    letters = list(choices) if choices else list(DEFAULT_CHOICES)
    text = response.strip()
    for ch in _EDGE_CHARS:
        text = text.strip(ch)
    text = f" {text} "

    found: list[tuple[int, int, str]] = []  # (priority, position, letter)
    for name, pattern in _MARKED:
        for x in letters:
            pos = text.rfind(pattern.format(x))
            if pos != -1:
                found.append((_PRIORITY[name], pos, x))
    lowered = text.lower()
    for phrase in _ANSWER_PHRASES:
        at = lowered.find(phrase)
        if at == -1:
            continue
        for x in letters:
            pos = text.find(x, at + len(phrase))
            if pos != -1:
                found.append((_PRIORITY["phrase"], pos, x))
    core = text.strip()
    for x in letters:
        if core.startswith(x) and (len(core) == 1 or not core[1].isalpha()):
            found.append((_PRIORITY["start"], 0, x))
        if core.endswith(x) and (len(core) == 1 or not core[-2].isalpha()):
            found.append((_PRIORITY["end"], len(text) - 1, x))
    if not found:
        found = [(_PRIORITY["fallback"], text.rfind(x), x) for x in letters if x in text]
    if not found:
        return ""
    # highest priority, then latest position (two letters never share both)
    return max(found, key=lambda c: (c[0], c[1]))[2]


def parse_longvideobench(response: str, choices: Sequence[str], seed: str) -> tuple[str, bool]:
    """``(letter, guessed)``: the LongVideoBench letter, and True when the parse failed and the letter
    is the (seeded, deterministic) random pick among ``choices``.

    >>> parse_longvideobench("The best answer is C.", ["A", "B", "C", "D"], "q1")
    ('C', False)
    """
    s = response.strip()
    for prefix in _LVB_PREFIXES:
        s = s.replace(prefix, "")
    m = _LVB_LETTER.search(s)
    if m is not None:
        return m.group(0), False
    if not choices:
        raise ValueError("parse_longvideobench needs the question's choice letters for its fallback")
    return random.Random(seed).choice(list(choices)), True
