"""OVO-Bench offline scoring of JoeLeelyf/OVO-Bench ``utils/OVOBenchScore.py`` (``OVOBenchOfflineScore``).

Reproduced, quirks included:

- backward / real-time multiple choice: ``int(gt_letter in response)``, a **substring** test on the
  raw response: "Answer: B" contains "A" and is correct for key A; "a" is wrong for key A;
  a response naming every letter ("A, B, C or D") is correct whatever the key;
- forward REC: every run of digits in the response concatenated, compared with ``str(count)``
  ("3" and "3 times" are right for 3; "I count 1, 2, 3" reads "123");
- forward SSR / CRR: correct when the response is exactly "N" (key 0) or "Y" (key 1), else when the
  case-sensitive substring "No" (key 0) / "Yes" (key 1) occurs ("Not now" is a no, "yes" is neither);
- aggregate: accuracy per task; per category (backward, realtime, forward) the mean of its task
  accuracies; the printed ``Total Avg.`` is the mean of **all task accuracies** (a 12-task macro
  mean on the full benchmark), not the mean of the three category means (EasyVideoR1 reports the
  latter as ``ovo_total``).

A response of None (the official inference failed) scores 0 there; responses here are strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

CATEGORIES = {
    "backward": ("EPM", "ASI", "HLD"),
    "realtime": ("STU", "OJR", "ATR", "ACR", "OCR", "FPD"),
    "forward": ("REC", "SSR", "CRR"),
}
TASK_CATEGORY = {task: cat for cat, tasks in CATEGORIES.items() for task in tasks}
_DIGITS = re.compile(r"\d+")


def choice_score(response: str, gt_letter: str) -> int:
    """Backward / real-time: 1 when the key letter occurs anywhere in the response.

    >>> choice_score("Answer: B", "A"), choice_score("a", "A")
    (1, 0)
    """
    return int(gt_letter in response)


def read_letter(response: str, gt_letter: str, letters: Sequence[str]) -> str:
    """The letter the substring test credits: the key when it occurs, else the option letter that occurs
    first (for reporting only: the official score is 0 then); "" when no option letter occurs."""
    if gt_letter in response:
        return gt_letter
    found = [(response.find(letter), letter) for letter in letters if letter in response]
    return min(found)[1] if found else ""


def rec_score(response: str, count: str) -> int:
    """REC: the response's digits concatenated equal ``str(count)`` (pass the count as the official
    ``str()`` prints it).

    >>> rec_score("3 times", "3"), rec_score("1, 2, 3", "3")
    (1, 0)
    """
    return int("".join(_DIGITS.findall(response)) == count)


def yes_no_score(response: str, key: int) -> int:
    """SSR / CRR with ``key`` 1 (the step is happening / the question is answerable now) or 0.

    >>> yes_no_score("Y", 1), yes_no_score("Not yet", 0), yes_no_score("yes", 1)
    (1, 1, 0)
    """
    if (response == "N" and key == 0) or (response == "Y" and key == 1):
        return 1
    return int(("No" if key == 0 else "Yes") in response)


def category_scores(task_accuracy: Mapping[str, float]) -> dict[str, float]:
    """Per category present, the mean of its tasks' accuracies."""
    out = {}
    for cat, tasks in CATEGORIES.items():
        accs = [task_accuracy[t] for t in tasks if t in task_accuracy]
        if accs:
            out[cat] = sum(accs) / len(accs)
    return out


def total(task_accuracy: Mapping[str, float]) -> float:
    """The official ``Total Avg.``: the mean of the task accuracies of every category."""
    return sum(task_accuracy.values()) / len(task_accuracy)
