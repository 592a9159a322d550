"""Boolean (yes/no) scoring.

A text's polarity: its first word if that is one of ``yes/true/no/false`` (case-insensitive,
punctuation ignored: "Yes, the ball is red." is yes), else the word after the last
"answer is"/"answer:". Candidates as everywhere (``<answer>`` content, text after ``</think>``, whole
response). Words map ``{yes, true} -> True`` and ``{no, false} -> False``; the ground truth may
also be ``1``/``0`` (EasyVideoR1's sets).
"""

from __future__ import annotations

import re

from . import tags
from .registry import register_scorer

_WORDS = {"yes": True, "true": True, "no": False, "false": False}
_TRUTH_WORDS = {**_WORDS, "1": True, "0": False}
_FIRST_WORD = re.compile(r"[\s\"'*`(\[]*+([A-Za-z]++)")
_ANSWER_IS = re.compile(r"\b(?i:answer)(?:\s++(?i:is))?\s*+[:：]?\s*+[\"'*`(\[]*+([A-Za-z]++)")


def _polarity(text: str) -> bool | None:
    first = _FIRST_WORD.match(text)
    if first is not None and first.group(1).lower() in _WORDS:
        return _WORDS[first.group(1).lower()]
    polarity = None
    for match in _ANSWER_IS.finditer(text):
        polarity = _WORDS.get(match.group(1).lower(), polarity)
    return polarity


def extract_polarity(response: str) -> bool | None:
    """True for yes/true, False for no/false, None when the response commits to neither."""
    for text in tags.candidates(response):
        polarity = _polarity(text)
        if polarity is not None:
            return polarity
    return None


def parse_boolean_ground_truth(ground_truth: str) -> bool:
    text = tags.answer_content(ground_truth)
    word = (ground_truth if text is None else text).strip().strip(".!").strip().lower()
    if word not in _TRUTH_WORDS:
        raise ValueError(f"boolean ground truth {ground_truth!r} must be one of {sorted(_TRUTH_WORDS)}")
    return _TRUTH_WORDS[word]


def boolean_answer_is_valid(answer: str) -> bool:
    """Format check: the answer content starts with yes/no/true/false."""
    first = _FIRST_WORD.match(answer)
    return first is not None and first.group(1).lower() in _WORDS


@register_scorer(
    "boolean",
    aliases=("binary classification", "yes/no", "yes or no", "bool"),
    answer_valid=boolean_answer_is_valid,
)
def boolean(response: str, ground_truth: str) -> float:
    """1.0 when the response's polarity equals the key's, else 0.0 (also when it has none).

    >>> boolean("<answer>Yes.</answer>", "true"), boolean("<answer>maybe</answer>", "no")
    (1.0, 0.0)
    """
    truth = parse_boolean_ground_truth(ground_truth)
    return 1.0 if extract_polarity(response) is truth else 0.0
