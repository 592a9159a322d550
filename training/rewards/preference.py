"""Pairwise preference (LLaVA-Critic style): which of two responses is better, or a tie.

Labels are ``"Response 1"``, ``"Response 2"`` and ``"Tie"``. A text is read as a label (``read_label``)
in two steps:

1. the whole text is a bare label: ``Response 1`` / ``Response A`` / ``1`` / ``A`` / ``first`` (and the
   same for 2 / B / second) or ``Tie``, ignoring case, surrounding ``*`` ``"`` ``'`` brackets, ``.`` ``:``;
2. else the LAST verdict phrase in it (a critique ends with its conclusion): ``[[A]]`` / ``[[B]]`` /
   ``[[C]]`` (MT-Bench; C is a tie), ``Overall Judgment: <label>``, ``Response 2 is (slightly|much …)
   better / preferred / superior / more <adjective>``, ``Response 1 is worse / inferior`` (the other
   one wins), ``I prefer Response 2``, ``it is a tie`` / ``both responses are equally good``.
   ``Response``, ``Answer``, ``Assistant`` and ``Output`` name a response.

The model's label is the first of ``tags.candidates(response)`` that reads as one; the ground truth
(its ``<answer>`` content if any) must read as one, else ValueError. Rule-based accuracy: 1.0 when
the labels are equal, else 0.0 (also when the response holds no label).

With a judge (``judge=``): the judge grades the model's whole critique against the reference
judgment (the ground truth text) with ``templates/judge_preference.jinja``; a failed judge gives
accuracy 0. Extras ``judge_used`` / ``judge_failed`` as in ``openended``.
"""

from __future__ import annotations

import re

from . import tags
from .judge import Judge, JudgeRequest, judged_scores, render_judge_request
from .registry import register_scorer

RESPONSE_1, RESPONSE_2, TIE = "Response 1", "Response 2", "Tie"
TEMPLATE = "judge_preference.jinja"

_BARE = {
    **dict.fromkeys(("response 1", "response a", "1", "a", "first"), RESPONSE_1),
    **dict.fromkeys(("response 2", "response b", "2", "b", "second"), RESPONSE_2),
    "tie": TIE,
}
_WINNER = {"1": RESPONSE_1, "a": RESPONSE_1, "2": RESPONSE_2, "b": RESPONSE_2, "c": TIE, "tie": TIE}
_LOSER = {"1": RESPONSE_2, "a": RESPONSE_2, "2": RESPONSE_1, "b": RESPONSE_1}
_STRIP = " \t\r\n*\"'`()[]{}.:!"
_NAME = r"\b(?:response|answer|assistant|output)\s*+([12ab])\b"
_DEGREE = r"(?:(?:slightly|much|clearly|significantly|far|overall|somewhat)\s++)?"
_IS = r"\s*+(?:is|was)\s++" + _DEGREE
_I = re.IGNORECASE
# (pattern, label table): the first non-empty group is looked up; a group-less pattern means a tie.
_VERDICTS = (
    (re.compile(r"\[\[\s*+(a|b|c|1|2|tie)\s*+\]\]", _I), _WINNER),
    (re.compile(r"overall\s*+judge?ment\s*+[:：]\s*+[*\s]*+(?:" + _NAME + r"|(tie)\b)", _I), _WINNER),
    (re.compile(_NAME + _IS + r"(?:better|preferred|superior|stronger|more\s++\w++)", _I), _WINNER),
    (re.compile(_NAME + _IS + r"(?:worse|inferior|weaker|less\s++\w++)", _I), _LOSER),
    (re.compile(r"\b(?:prefer|choose|pick|select)\s++(?:the\s++)?" + _NAME, _I), _WINNER),
    (re.compile(r"\bit(?:'s|\s++is)\s++a\s++tie\b|\b(?:are|is)\s++equally\s++(?:good|bad|helpful|"
                r"accurate|correct|valid|strong|weak)\b", _I), _WINNER),
)  # fmt: skip


def _verdict_label(match: re.Match[str], table: dict[str, str]) -> str:
    group = next((g for g in match.groups() if g), None)
    return TIE if group is None else table[group.lower()]


def read_label(text: str) -> str | None:
    """The label of ``text`` (rules 1 and 2 of the module docstring), or None.

    >>> read_label("[[B]]"), read_label("Response 1 is worse than Response 2."), read_label("tie")
    ('Response 2', 'Response 2', 'Tie')
    """
    bare = " ".join(text.strip(_STRIP).lower().split())
    if bare in _BARE:
        return _BARE[bare]
    best: tuple[int, str] | None = None
    for pattern, table in _VERDICTS:
        last = None
        for last in pattern.finditer(text):
            pass
        if last is not None and (best is None or last.start() >= best[0]):
            best = (last.start(), _verdict_label(last, table))
    return None if best is None else best[1]


def extract_label(response: str) -> str | None:
    """The model's label: the first candidate text that reads as one, or None."""
    for text in tags.candidates(response):
        label = read_label(text)
        if label is not None:
            return label
    return None


def parse_label_ground_truth(ground_truth: str) -> tuple[str, str]:
    """``(label, reference text)``; ValueError when the ground truth reads as no label."""
    content = tags.answer_content(ground_truth)
    reference = (ground_truth if content is None else content).strip()
    label = read_label(reference)
    if label is None:
        raise ValueError(
            f"preference ground truth {ground_truth!r} must be a label: 'Response 1', 'Response 2' or "
            "'Tie' (also 1/2, A/B, or a verdict such as 'Response 2 is better')"
        )
    return label, reference


def label_answer_is_valid(answer: str) -> bool:
    """Format check: the answer content reads as a label."""
    return read_label(answer) is not None


def judge_request(response: str, ground_truth: str, question: str | None = None) -> JudgeRequest | None:
    """The judge request grading the critique (None for an empty response: scored 0 unasked)."""
    _, reference = parse_label_ground_truth(ground_truth)
    critique = response.strip()
    if not critique:
        return None
    return render_judge_request(TEMPLATE, question=question, reference=reference, response=critique)


@register_scorer(
    "preference",
    aliases=("llava", "critic", "pairwise", "reward model"),
    answer_valid=label_answer_is_valid,
    judge_request=judge_request,
)
def preference(
    response: str, ground_truth: str, judge: Judge | None = None, question: str | None = None
) -> dict[str, float]:
    """Label match (rule-based) or the judge's grade of the critique (module docstring).

    >>> preference("<answer>Response 2 is better</answer>", "B")["accuracy"]
    1.0
    """
    label, _ = parse_label_ground_truth(ground_truth)
    if judge is not None:
        return judged_scores(judge_request(response, ground_truth, question), judge)
    accuracy = 1.0 if extract_label(response) == label else 0.0
    return {"accuracy": accuracy, "judge_used": 0.0, "judge_failed": 0.0}
