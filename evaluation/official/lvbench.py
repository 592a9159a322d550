"""LVBench and MotionBench official scoring (THUDM), reproduced as pure functions.

Sources: THUDM/LVBench ``lvbench/utils/answer_util.py`` (``polish_answer``) and
``lvbench/metrics/compute_accuracy.py`` (commit dd7d99db); THUDM/MotionBench
``motionbench/utils/answer_util.py`` and ``motionbench/metrics/compute_accuracy.py`` (commit 8c131ac7).
Both benchmarks read a model's answer file ``{uid: text}`` through ``polish_answer`` and compare the
result with the annotation's letter by exact (case-sensitive) string equality.

``polish_answer`` quirks: strip; keep the text before the first ")"; if a "(" remains, keep what follows
the first "("; keep the text before the first *space* (not tab or newline); return its first character.
So "(B) dog" -> "B", "B. dog" -> "B", "The answer is (C)" -> "C", but "The answer is C" -> "T",
"Answer:\\nB" -> "A", "b" -> "b" (wrong against "B"), "" -> "".

LVBench ``compute_accuracy``: only uids present in the answer file count (missing uids are left out
of every denominator; an empty answer is present, hence wrong); a question counts once in each of its
``question_type`` labels; ``acc`` = right / answered.

MotionBench ``compute_accuracy``: every question of the meta file counts in ``total_qa_num`` except an
*answered* question whose answer is "NA" (the hidden test split; the ``continue`` skips its count), so
unanswered dev questions are wrong; ``answered_acc`` = right / answered (answered "NA" items included).
Per category, the published script re-wraps the video's ``question_type`` in a list for every answered
question, so a second answered question of a video makes it raise ``TypeError`` (a list is not
hashable); here each answered non-"NA" question counts once in its video's ``question_type``, the
evident intent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NA = "NA"


def polish_answer(answer: str) -> str:
    """The official answer normalisation (see the module docstring).

    >>> polish_answer("(B) a dog")
    'B'
    >>> polish_answer("The answer is C")
    'T'
    """
    text = answer.strip().split(")")[0].strip()
    if "(" in text:
        text = text.split("(")[1].strip()
    text = text.split(" ")[0]
    return text[:1]


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def lvbench_accuracy(items: Iterable[tuple[Iterable[str], bool]]) -> dict[str, float | None]:
    """``{category: accuracy, ..., "acc": accuracy}`` (fractions) over answered questions, each given as
    ``(question_types, correct)``; a question counts in each of its types. ``acc`` is None when no
    question was answered (the official script divides by zero)."""
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    n_right = n = 0
    for types, correct in items:
        for t in types:
            total[t] = total.get(t, 0) + 1
            right[t] = right.get(t, 0) + int(correct)
        n_right += int(correct)
        n += 1
    out: dict[str, float | None] = {t: right[t] / total[t] for t in total}
    out["acc"] = _ratio(n_right, n)
    return out


def lvbench_compute_accuracy(
    meta: Iterable[Mapping[str, Any]], answers: Mapping[str, str]
) -> dict[str, float | None]:
    """The official ``compute_accuracy`` on parsed ``video_info.meta.jsonl`` rows and an answer file
    ``{uid: polished letter}``."""
    items = []
    for video in meta:
        for qa in video["qa"]:
            uid = str(qa["uid"])
            if uid in answers:
                items.append((list(qa["question_type"]), answers[uid] == qa["answer"]))
    return lvbench_accuracy(items)


def motionbench_compute_accuracy(
    meta: Iterable[Mapping[str, Any]], answers: Mapping[str, str]
) -> dict[str, float | int | None]:
    """The official MotionBench ``compute_accuracy`` (category counting as intended, see the module
    docstring) on parsed ``video_info.meta.jsonl`` rows and ``{uid: polished letter}``. Keys: each
    category, ``acc``, ``answered_acc``, ``total_qa_num``, ``total_answered_num``, ``right_num``."""
    total_qa = answered = n_right = 0
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    for video in meta:
        category = str(video["question_type"])
        for qa in video["qa"]:
            uid = str(qa["uid"])
            if uid in answers:
                answered += 1
                if qa["answer"] == NA:
                    continue  # the official ``continue`` also skips ``total_qa_num``
                correct = answers[uid] == qa["answer"]
                total[category] = total.get(category, 0) + 1
                right[category] = right.get(category, 0) + int(correct)
                n_right += int(correct)
            total_qa += 1
    out: dict[str, float | int | None] = {c: right[c] / total[c] for c in total}
    out.update(
        {
            "acc": _ratio(n_right, total_qa),
            "answered_acc": _ratio(n_right, answered),
            "total_qa_num": total_qa,
            "total_answered_num": answered,
            "right_num": n_right,
        }
    )
    return out
