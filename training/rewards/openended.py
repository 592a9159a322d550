"""Open-ended answers (video QA, free-form, description, caption): rule-based or LLM-judged accuracy.

The answer ``a`` is the content of the last complete ``<answer>`` block (even when empty: an empty
answer block is an empty answer), else the text after ``</think>``, else the whole response, with
leftover ``<answer>``/``<think>`` tags removed (a tag is not a word of the answer). The reference
``g`` is the ground truth's ``<answer>`` content if it has one, else the whole ground truth,
stripped. An empty ``g`` is a malformed key (ValueError); an empty ``a`` scores 0.

Rule-based (no judge configured):

- ``len(g) <= 10`` characters (EasyVideoR1's threshold): exact match after ``normalize`` (lower case,
  punctuation made spaces, whitespace collapsed), 1 or 0. (EasyVideoR1 falls back to ROUGE when a short
  answer does not match exactly; here a short reference is an exact-answer question.)
- longer: ``clip((F1(ROUGE-1) + F1(ROUGE-2) + F1(ROUGE-L)) / 3, 0, 1)`` from ``rouge_score`` with the
  Porter stemmer (EasyVideoR1, Video-R1). Its tokenizer keeps only ``[a-z0-9]`` runs after lower
  casing, so a reference with no such token (e.g. Chinese) is scored by the exact-match rule instead.

With a judge (``judge=`` a ``JudgeClient``): the accuracy is the judge's verdict on
``templates/judge_open_ended.jinja`` rendered with ``question`` (optional), ``g`` and ``a``. If the
judge fails (endpoint error or unparseable reply) the accuracy is 0, not the rule-based score: the
fallback is only for "no judge configured", so a broken judge cannot silently change the reward.

Extras: ``judge_used`` is 1.0 when a judge was asked for this sample, ``judge_failed`` 1.0 when it
failed; the rule-based path reports 0.0 for both. An empty answer is not sent to the judge.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rouge_score import rouge_scorer, tokenize

from . import tags
from .judge import Judge, JudgeRequest, judged_scores, render_judge_request
from .registry import register_scorer

SHORT_REFERENCE_CHARS = 10
TEMPLATE = "judge_open_ended.jinja"
_SPACES = re.compile(r"\s++")
_TAG = re.compile(r"<\s*+/?\s*+(?:answer|think)\s*+>")


def normalize(text: str) -> str:
    """Lower case, each Unicode punctuation mark made a space, whitespace collapsed.

    >>> normalize(" A  red-car! ")
    'a red car'
    """
    spaced = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text.lower())
    return _SPACES.sub(" ", spaced).strip()


@lru_cache(maxsize=1)
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge_mean(reference: str, answer: str) -> float:
    """``(F1(ROUGE-1) + F1(ROUGE-2) + F1(ROUGE-L)) / 3`` clipped to [0, 1] (``rouge_score``, stemmed)."""
    scores = _rouge().score(reference, answer)
    mean = (scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3.0
    return min(1.0, max(0.0, float(mean)))


def _has_rouge_tokens(text: str) -> bool:
    return bool(tokenize.tokenize(text, None))  # rouge_score's own tokenizer, unstemmed


def extract_answer(response: str) -> str:
    """The answer text (module docstring), tag markup removed; "" when there is none.

    >>> extract_answer("<think>hmm</think> <answer> a dog </answer>"), extract_answer("<answer></answer>")
    ('a dog', '')
    """
    text = tags.answer_content(response)
    if text is None:
        text = tags.after_think(response)
    if text is None:
        text = response
    return _TAG.sub(" ", text).strip()


def parse_reference(ground_truth: str) -> str:
    """The reference text; ValueError when it is empty."""
    content = tags.answer_content(ground_truth)
    reference = (ground_truth if content is None else content).strip()
    if not reference:
        raise ValueError(f"open-ended ground truth {ground_truth!r} holds no reference text")
    return reference


def rule_accuracy(answer: str, reference: str) -> float:
    """The rule-based score of the module docstring (exact match for short references, else ROUGE)."""
    if not answer:
        return 0.0
    if len(reference) <= SHORT_REFERENCE_CHARS or not _has_rouge_tokens(reference):
        return 1.0 if normalize(answer) == normalize(reference) else 0.0
    return rouge_mean(reference, answer)


def judge_request(response: str, ground_truth: str, question: str | None = None) -> JudgeRequest | None:
    """The judge request for this sample, or None when the answer is empty (scored 0 unasked)."""
    reference = parse_reference(ground_truth)
    answer = extract_answer(response)
    if not answer:
        return None
    return render_judge_request(TEMPLATE, question=question, reference=reference, response=answer)


@register_scorer(
    "open-ended",
    aliases=(
        "open ended",
        "video qa",
        "free-form",
        "free form",
        "video description",
        "description",
        "caption",
    ),
    judge_request=judge_request,
)
def open_ended(
    response: str, ground_truth: str, judge: Judge | None = None, question: str | None = None
) -> dict[str, float]:
    """Accuracy by the judge when one is given, else by ``rule_accuracy`` (module docstring).

    >>> open_ended("<answer>Red.</answer>", "red")["accuracy"]
    1.0
    """
    reference = parse_reference(ground_truth)
    if judge is not None:
        return judged_scores(judge_request(response, ground_truth, question), judge)
    accuracy = rule_accuracy(extract_answer(response), reference)
    return {"accuracy": accuracy, "judge_used": 0.0, "judge_failed": 0.0}
