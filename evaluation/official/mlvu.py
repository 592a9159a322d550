"""MLVU multiple-choice check of the official dev scorer ``choice_bench.py`` (JUNJIE99/MLVU
``evaluation/multiple_choice_evaluation/choice_bench.py``). The test split has no local scorer: its
``Evaluation_Test/test_bench.py`` submits ``pred[:pred.index(")")].strip()`` (everything before the first
")") to the MLVU server; the adapter applies the dev rule below to both splits.

The ground truth is ``"(X) answer text"`` (``qa_template``: X is the letter of the *last* candidate
equal to the answer). ``check_ans(pred, gt)``:

- the gt option is the text between the first "(" and the first ")" of the ground truth;
- if the prediction contains ")", only the ONE character just before its first ")" is kept
  ("B) text" -> "B", "(B)" -> "B", "Answer: (B)" -> "B", ")" at the start -> "");
- otherwise the WHOLE prediction must equal the letter: "B" is right, "B." or "B\\n" or "The answer
  is B" is wrong;
- the comparison is exact and case-sensitive ("b)" is wrong).

The official inference scripts ``.strip()`` the decoded output before ``check_ans``; the adapter does
the same. The score is the mean of the per-task accuracies (M-avg).
"""

from __future__ import annotations


def read_option(pred: str) -> str:
    """What ``check_ans`` compares with the gt letter: the character before the first ")" when the
    prediction has one, else the whole prediction.

    >>> read_option("B) a dog"), read_option("(C)"), read_option("B."), read_option(")x")
    ('B', 'C', 'B.', '')
    """
    if ")" in pred:
        index = pred.index(")")
        return pred[index - 1 : index]  # index 0: pred[-1:0] == ""
    return pred


def check_ans(pred: str, gt: str) -> bool:
    """The official ``check_ans``: ``read_option(pred)`` equals the letter inside ``gt``'s parentheses."""
    gt_option = gt[gt.index("(") + 1 : gt.index(")")]
    return read_option(pred) == gt_option
