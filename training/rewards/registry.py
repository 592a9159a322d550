"""The one dispatch path from a sample's ``problem_type`` to its scorer (EasyR1 ``core_algos`` style).

A scorer family registers itself with a decorator::

    @register_scorer("boolean", aliases=("binary classification",), answer_valid=is_yes_no)
    def boolean(response: str, ground_truth: str) -> float: ...

- ``fn(response, ground_truth, **kwargs)`` returns the accuracy in [0, 1], or a mapping with
  ``"accuracy"`` plus extra per-sample metrics (all floats). It parses the ground truth first and
  raises ValueError on a malformed one (a data error); on any response string it must not raise.
- ``answer_valid(answer, **kwargs)`` says whether an ``<answer>`` content has the family's type
  (drives the format reward's half credit); default: non-empty.
- ``ground_truth_check(ground_truth, **kwargs)`` (optional) raises ValueError for a sample the scorer
  would still score but that is wrong as data (multiple choice: options with repeated labels);
  ``RegisteredScorer.validate`` runs it and then the scorer's own ground-truth parse.
- Keyword arguments reach a function only if its signature names them: ``options``,
  ``data_type`` and ``judge`` go to whoever takes them; any other keyword given to ``score`` must be
  taken by the scorer or its validator, else TypeError (a typo never silently changes a reward).
- A family graded by an LLM judge takes a ``judge`` keyword and registers
  ``judge_request(response, ground_truth, **kwargs) -> JudgeRequest | None`` (the request its scorer
  will send), so ``score_batch`` can send every item's request in one concurrent ``grade_many``.

Names match case-, whitespace-, underscore- and hyphen-insensitively, so "Multiple_Choice",
"multiple-choice" and " multiple choice " are one type; duplicates (after that folding) are
rejected, and an unknown type raises ``UnknownProblemTypeError`` instead of falling back to a
default scorer (EasyVideoR1 silently scores unknown types as open-ended).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from training.registry import Registry

from .format import FormatSpec, format_reward

if TYPE_CHECKING:
    from .judge import Judge, JudgeRequest, JudgeVerdict

ScorerFn = Callable[..., "float | Mapping[str, float]"]
ValidFn = Callable[..., bool]
RequestFn = Callable[..., "JudgeRequest | None"]

_COMMON_CONTEXT = frozenset({"options", "data_type", "judge"})
_RESERVED_KEYS = frozenset({"overall", "accuracy", "format"})
_ITEM_KEYS = frozenset({"response", "ground_truth", "problem_type", "problem_id"})


class UnknownProblemTypeError(ValueError):
    """A ``problem_type`` no scorer is registered for."""


@dataclass(frozen=True)
class RewardWeights:
    """``overall = accuracy·accuracy_score + format·format_score`` (EasyVideoR1 default 0.9 / 0.1).

    The weights need not sum to 1 (Video-R1 uses 1 + 1); they must be finite and non-negative.
    """

    accuracy: float = 0.9
    format: float = 0.1

    def __post_init__(self) -> None:
        for name in ("accuracy", "format"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"RewardWeights.{name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"RewardWeights.{name} must be >= 0, got {value}")


DEFAULT_WEIGHTS = RewardWeights()
DEFAULT_FORMAT = FormatSpec()


def _default_answer_valid(answer: str) -> bool:
    return bool(answer.strip())


def _keywords(fn: Callable[..., Any], positional: int) -> frozenset[str] | None:
    """Keyword names ``fn`` takes after its first ``positional`` arguments; None if it takes **kwargs."""
    params = list(inspect.signature(fn).parameters.values())
    leading = [p for p in params[:positional] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(leading) < positional:
        raise TypeError(f"{fn.__qualname__} must take {positional} positional argument(s) first")
    rest = params[positional:]
    if any(p.kind is p.VAR_KEYWORD for p in rest):
        return None
    return frozenset(p.name for p in rest if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _take(accepted: frozenset[str] | None, context: Mapping[str, Any]) -> dict[str, Any]:
    return dict(context) if accepted is None else {k: v for k, v in context.items() if k in accepted}


@dataclass(frozen=True)
class RegisteredScorer:
    """A registered family: canonical ``name``, its ``aliases``, scorer ``fn``, ``answer_valid`` and,
    for judge-graded families, ``judge_request``."""

    name: str
    aliases: tuple[str, ...]
    fn: ScorerFn
    answer_valid: ValidFn
    _fn_keywords: frozenset[str] | None
    _valid_keywords: frozenset[str] | None
    judge_request: RequestFn | None = None
    _request_keywords: frozenset[str] | None = None
    ground_truth_check: Callable[..., None] | None = None
    _check_keywords: frozenset[str] | None = None

    def validate(self, ground_truth: str, **context: Any) -> None:
        """ValueError when ``ground_truth`` (with its ``options``, …) is not valid data for this family: the
        family's ``ground_truth_check``, then its scorer on an empty response (every scorer parses the
        ground truth before it reads the response, so no model output is involved)."""
        if self.ground_truth_check is not None:
            self.ground_truth_check(ground_truth, **_take(self._check_keywords, context))
        self.accuracy("", ground_truth, **context)

    def build_judge_request(self, response: str, ground_truth: str, **context: Any) -> JudgeRequest | None:
        """The judge request ``fn`` would send for this sample (None: none needed, or no judge family)."""
        if self.judge_request is None:
            return None
        return self.judge_request(response, ground_truth, **_take(self._request_keywords, context))

    def takes(self, keyword: str) -> bool:
        """Whether the scorer or its validator accepts ``keyword`` (e.g. ``question`` for judged families)."""
        return any(
            accepted is None or keyword in accepted for accepted in (self._fn_keywords, self._valid_keywords)
        )

    def check_keywords(self, extra: Iterable[str]) -> None:
        """TypeError for a keyword (other than options/data_type/judge) neither function takes."""
        unknown = sorted(
            k
            for k in extra
            if k not in _COMMON_CONTEXT
            and all(
                accepted is not None and k not in accepted
                for accepted in (self._fn_keywords, self._valid_keywords)
            )
        )
        if unknown:
            takes = sorted((self._fn_keywords or frozenset()) | (self._valid_keywords or frozenset()))
            raise TypeError(f"scorer {self.name!r} takes no argument(s) {unknown}; it takes {takes}")

    def accuracy(self, response: str, ground_truth: str, **context: Any) -> dict[str, float]:
        """``{"accuracy": a, **extras}`` with every value checked finite and ``a`` in [0, 1]."""
        result = self.fn(response, ground_truth, **_take(self._fn_keywords, context))
        scores = {"accuracy": result} if not isinstance(result, Mapping) else dict(result)
        if "accuracy" not in scores or not _RESERVED_KEYS.isdisjoint(set(scores) - {"accuracy"}):
            raise RuntimeError(
                f"scorer {self.name!r} must return a float or a mapping with 'accuracy', "
                f"and no 'overall'/'format' keys; got keys {sorted(scores)}"
            )
        for key, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RuntimeError(f"scorer {self.name!r} returned {key}={value!r}, not a finite number")
            scores[key] = float(value)
        if not 0.0 <= scores["accuracy"] <= 1.0:
            raise RuntimeError(f"scorer {self.name!r} returned accuracy {scores['accuracy']} outside [0, 1]")
        return scores

    def is_valid_answer(self, answer: str, **context: Any) -> bool:
        return bool(self.answer_valid(answer, **_take(self._valid_keywords, context)))


_SEPARATORS = re.compile(r"[\s_\-]+")


def _fold(name: str) -> str:
    """Case/whitespace/underscore/hyphen-insensitive key: " Multiple_Choice " -> "multiple choice"."""
    return _SEPARATORS.sub(" ", name).strip().lower()


_SCORERS: Registry[RegisteredScorer] = Registry(
    "problem_type", fold=_fold, error=UnknownProblemTypeError, known="known types"
)


def register_scorer(
    name: str,
    *,
    aliases: Iterable[str] = (),
    answer_valid: ValidFn | None = None,
    judge_request: RequestFn | None = None,
    ground_truth_check: Callable[..., None] | None = None,
) -> Callable[[ScorerFn], ScorerFn]:
    """Decorator registering ``fn`` as the scorer of ``name`` and its ``aliases``; returns ``fn`` unchanged.

    Raises ValueError when the name or an alias (after folding) is already registered or empty, and
    TypeError when ``judge_request`` is given but ``fn`` takes no ``judge`` keyword.
    """
    aliases = tuple(aliases)

    def decorate(fn: ScorerFn) -> ScorerFn:
        valid = answer_valid or _default_answer_valid
        fn_keywords = _keywords(fn, 2)
        if judge_request is not None and (fn_keywords is None or "judge" not in fn_keywords):
            raise TypeError(f"scorer {name!r} registers a judge_request but takes no 'judge' keyword")
        request_keywords = None if judge_request is None else _keywords(judge_request, 2)
        check_keywords = None if ground_truth_check is None else _keywords(ground_truth_check, 1)
        scorer = RegisteredScorer(
            name, aliases, fn, valid, fn_keywords, _keywords(valid, 1), judge_request, request_keywords,
            ground_truth_check, check_keywords,
        )  # fmt: skip
        _SCORERS.add(name, scorer, aliases=aliases)
        return fn

    return decorate


def known_problem_types() -> dict[str, tuple[str, ...]]:
    """``{canonical name: aliases}`` of every registered family, sorted by name."""
    return {name: _SCORERS.aliases(name) for name in _SCORERS.names()}


def resolve_problem_type(name: str) -> str:
    """The canonical name for a dataset's ``problem_type`` spelling; UnknownProblemTypeError if none."""
    return _SCORERS.resolve(name)


def get_scorer(name: str) -> RegisteredScorer:
    """The registered family for ``name`` (any alias or spelling)."""
    return _SCORERS.get(name)


def score(
    response: str,
    ground_truth: str,
    problem_type: str,
    *,
    options: list[str] | None = None,
    data_type: str = "video",
    weights: RewardWeights = DEFAULT_WEIGHTS,
    format_spec: FormatSpec = DEFAULT_FORMAT,
    judge: Judge | None = None,
    **scorer_kwargs: Any,
) -> dict[str, float]:
    """Score one response: ``{"overall", "accuracy", "format", …scorer extras}``.

    ``overall = weights.accuracy·accuracy + weights.format·format``; ``accuracy`` comes from the
    problem type's scorer, ``format`` from ``format_reward`` with the type's answer check.
    ``judge`` reaches only scorers that take it (others ignore it); ``scorer_kwargs`` are the
    family's own options (e.g. ``mode=`` for regression).
    """
    if not isinstance(response, str) or not isinstance(ground_truth, str):
        raise TypeError(
            "response and ground_truth must be str, "
            f"got {type(response).__name__} and {type(ground_truth).__name__}"
        )
    scorer = get_scorer(problem_type)
    scorer.check_keywords(scorer_kwargs)
    context = {"options": options, "data_type": data_type, **scorer_kwargs}
    if judge is not None:
        context["judge"] = judge
    scores = scorer.accuracy(response, ground_truth, **context)
    fmt = format_reward(response, format_spec, lambda answer: scorer.is_valid_answer(answer, **context))
    overall = weights.accuracy * scores["accuracy"] + weights.format * fmt
    return {"overall": overall, "accuracy": scores["accuracy"], "format": fmt, **scores}


def score_batch(
    items: Iterable[Mapping[str, Any]],
    *,
    weights: RewardWeights = DEFAULT_WEIGHTS,
    format_spec: FormatSpec = DEFAULT_FORMAT,
    judge: Judge | None = None,
) -> list[dict[str, float]]:
    """``score`` over items, each a mapping of ``score``'s arguments (``response``, ``ground_truth``,
    ``problem_type`` required; ``options``, ``data_type`` and scorer keywords optional;
    ``problem_id`` is allowed and only used to name the item in errors).

    With a ``judge``, the judge requests of every item whose family takes one are collected first and
    sent in one ``judge.grade_many`` call (concurrent); each item is then scored from those verdicts.
    Families without a judge ignore it.

    An error is re-raised with a note naming the item's index (and ``problem_id`` if present).
    """
    items = list(items)
    for index, item in enumerate(items):
        missing = [key for key in ("response", "ground_truth", "problem_type") if key not in item]
        if missing:
            err = KeyError(f"score_batch item {index} lacks {missing}")
            err.add_note(f"in score_batch item {index} (problem_id={item.get('problem_id')!r})")
            raise err
    graded = None if judge is None else grade_ahead(items, judge)
    results = []
    for index, item in enumerate(items):
        try:
            kwargs = {k: v for k, v in item.items() if k not in _ITEM_KEYS}
            results.append(
                score(item["response"], item["ground_truth"], item["problem_type"],
                      weights=weights, format_spec=format_spec, judge=graded, **kwargs)
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            err.add_note(f"in score_batch item {index} (problem_id={item.get('problem_id')!r})")
            raise
    return results


class _Graded:
    """A judge whose verdicts for one batch's requests are already known; other requests go to ``judge``."""

    def __init__(self, judge: Judge, verdicts: dict[JudgeRequest, JudgeVerdict]):
        self.judge = judge
        self.verdicts = verdicts

    def grade_many(self, requests: list[JudgeRequest]) -> list[JudgeVerdict]:
        unknown = [r for r in requests if r not in self.verdicts]
        if unknown:
            self.verdicts.update(zip(unknown, self.judge.grade_many(unknown), strict=True))
        return [self.verdicts[r] for r in requests]


def grade_ahead(items: list[Mapping[str, Any]], judge: Judge) -> Judge:
    """A judge that already knows the verdicts of every judge request of ``items`` (``score_batch``
    items; duplicates sent once), graded in one ``grade_many`` call; other requests go to ``judge``."""
    requests: dict[JudgeRequest, None] = {}
    for index, item in enumerate(items):
        try:
            scorer = get_scorer(item["problem_type"])
            context = {k: v for k, v in item.items() if k not in _ITEM_KEYS}
            scorer.check_keywords(context)
            request = scorer.build_judge_request(item["response"], item["ground_truth"],
                                                 **{"data_type": "video", **context})  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            err.add_note(f"in score_batch item {index} (problem_id={item.get('problem_id')!r})")
            raise
        if request is not None:
            requests[request] = None
    verdicts = judge.grade_many(list(requests)) if requests else []
    return _Graded(judge, dict(zip(requests, verdicts, strict=True)))
