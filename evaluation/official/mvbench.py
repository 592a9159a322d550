"""MVBench answer check of VLMEvalKit (``vlmeval/dataset/utils/mvbench.py::check_ans``, called by
``vlmeval/dataset/mvbench.py::MVBench.evaluate``; no judge is involved).

The ground truth is written ``"(X) answer text"`` (``qa_template``: X is the letter of the *last*
candidate equal to the answer). ``check_ans(pred, gt)``, quirks included:

- ``pred.lower().strip().split(' ')[0]`` is the predicted "option": the first *space*-separated token
  (a newline does not split: "A\\nB" is one token ``"a\\nb"``);
- correct when that token with every "." removed is a substring of ``"(x)"``, or ``"(x)"`` is a
  substring of the token, or the ground truth ``"(X) text"`` occurs verbatim (case-sensitive) in the
  prediction;
- so an EMPTY (or all-whitespace) prediction is correct for every question (``"" in "(b)"``), and so
  are the tokens "(", ")", "b)", "(b", "b." for gt "(b) ...": "A" reads A, "(A)" reads A, "a." reads a,
  while "Answer: A" is wrong (token "answer:") and "The answer is (A)" is wrong unless it contains the
  whole "(A) text".

Older VLMEvalKit revisions (and OpenGVLab's MVBench notebook) split without ``strip()`` and lack the
third rule; this module follows the current code.
"""

from __future__ import annotations

from collections.abc import Mapping


def ground_truth(letter: str, text: str) -> str:
    """The official ground-truth string: ``"(A) text"``."""
    return f"({letter}) {text}"


def first_token(pred: str) -> str:
    """The token the check compares: first space-separated token, lower-cased, "." removed."""
    return pred.lower().strip().split(" ")[0].replace(".", "")


def check_ans(pred: str, gt: str) -> bool:
    """VLMEvalKit's MVBench ``check_ans``: is ``pred`` scored correct against ``gt`` ("(X) text")?

    >>> check_ans("", "(B) a cat"), check_ans("b) a dog", "(B) a cat"), check_ans("Answer: B", "(B) x")
    (True, True, False)
    """
    pred_option = pred.lower().strip().split(" ")[0]
    gt_option = gt.lower().strip().split(" ")[0]
    if pred_option.replace(".", "") in gt_option:
        return True
    if gt_option in pred_option:
        return True
    return gt in pred


def matching_letters(pred: str, gts: Mapping[str, str]) -> list[str]:
    """The option letters whose ground truth ``check_ans`` accepts for ``pred`` (``gts``: letter ->
    "(X) text"). One letter = the option the prediction names; all of them = no answer read (empty)."""
    return [letter for letter, gt in gts.items() if check_ans(pred, gt)]
