"""OCR (text recognition): one minus the word error rate, computed with ``jiwer``.

Definition, with ``R`` the reference's words and ``H`` the prediction's words after normalising both
(lower-case, split on any whitespace run, so case, line breaks and extra spaces never count)::

    WER      = (substitutions + deletions + insertions) / max(1, |R|)     (word-level Levenshtein)
    accuracy = max(0, 1 − WER)

An empty reference scores 1 when the prediction is empty too, else 0 (its ``wer`` is then the
number of inserted words, as ``÷ max(1, |R|)`` says).

The prediction is the ``<answer>`` content (even if empty), else the text after ``</think>``, else
the whole response. The ground truth may be ``<answer>``-wrapped.

Punctuation is kept by default: a misread "3.5" for "35" or a missing hyphen is an OCR error, and
EasyVideoR1 and Video-R1 keep it too (lower-case, word WER ÷ max(1, |ref|), clipped at 0). With
``ignore_punctuation=True`` every Unicode punctuation character (category ``P*``) is deleted
before splitting, so ``"Hello, world!"`` reads as ``hello world`` (``"don't"`` as ``dont``).
"""

from __future__ import annotations

import unicodedata

import jiwer

from . import tags
from .registry import register_scorer


def _words(text: str, ignore_punctuation: bool) -> list[str]:
    text = text.lower()
    if ignore_punctuation:
        text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    return text.split()


def extract_text(response: str) -> str:
    """The recognised text (rules in the module docstring); an empty answer block reads as ``""``."""
    for text in (tags.answer_content(response), tags.after_think(response)):
        if text is not None:
            return text
    return response.strip()


def word_error_rate(reference: str, hypothesis: str, ignore_punctuation: bool = False) -> float:
    """``(S + D + I) / max(1, |R|)`` on lower-cased, whitespace-split words.

    >>> word_error_rate("The cat sat", "the bat sat down")
    0.6666666666666666
    """
    ref = _words(reference, ignore_punctuation)
    hyp = _words(hypothesis, ignore_punctuation)
    if not ref:
        return float(len(hyp))  # every predicted word is an insertion, divided by max(1, 0) = 1
    if not hyp:
        return 1.0  # every reference word is deleted
    return float(jiwer.wer(" ".join(ref), " ".join(hyp)))


def _reference(ground_truth: str) -> str:
    content = tags.answer_content(ground_truth)
    return ground_truth if content is None else content


@register_scorer("ocr", aliases=("text recognition", "optical character recognition"))
def ocr(response: str, ground_truth: str, ignore_punctuation: bool = False) -> dict[str, float]:
    """``{"accuracy": max(0, 1 − WER), "wer": WER}``; any string is a valid reference.

    >>> ocr("<answer>STOP here</answer>", "stop there")
    {'accuracy': 0.5, 'wer': 0.5}
    """
    reference = _reference(ground_truth)
    wer = word_error_rate(reference, extract_text(response), ignore_punctuation)
    if not _words(reference, ignore_punctuation):
        return {"accuracy": 1.0 if wer == 0 else 0.0, "wer": wer}
    return {"accuracy": max(0.0, 1.0 - wer), "wer": wer}
