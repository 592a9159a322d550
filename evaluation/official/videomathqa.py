"""VideoMathQA's official answer extraction (lmms-eval ``lmms_eval/tasks/videomathqa/utils.py``).

Reproduces ``extract_characters_regex`` of EvolvingLMMs-Lab/lmms-eval (commit 1741440), used for both the
MCQ and the multi-binary (MBin) tasks:

- the response is stripped and every occurrence of "The best answer is", "The correct answer is",
  "The answer is", "The answer" is deleted, and (missing commas in the original list) the concatenations
  "The best option isThe correct option is" and "Best answer:Best option:";
- more than 10 words and no capital A-E anywhere -> "";
- else the first capital A-E anywhere in what is left (case-sensitive): "Answer: B" -> "A" (the A of
  "Answer"), "(C) because" -> "C", "Explanation first ... E" -> "E" of "Explanation".

MBin (``videomathqa_multi_binary_aggregate_results``): the binary items of one question (same
``question_id``) count as one question, correct only when every item is.
"""

from __future__ import annotations

import re

_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)
_LETTER = re.compile(r"[ABCDE]")


def extract_letter(response: str) -> str:
    """The letter lmms-eval reads from ``response``; "" when it reads none.

    >>> extract_letter("The best answer is: C"), extract_letter("Answer: B"), extract_letter("c")
    ('C', 'A', '')
    """
    s = response.strip()
    for prefix in _PREFIXES:
        s = s.replace(prefix, "")
    m = _LETTER.search(s)
    if len(s.split()) > 10 and m is None:
        return ""
    return m.group(0) if m else ""
