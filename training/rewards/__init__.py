"""Task-aware rewards: one registry ``problem_type -> scorer`` and one entry point, ``score``.

Importing the package registers the built-in families: multiple choice, numerical, regression,
temporal / spatial / spatial-temporal grounding, tracking, boolean, open-ended, math, OCR, preference,
code, svg-code, html-code
(``known_problem_types()`` lists them with their aliases). A family registers with
``@register_scorer`` in its own module, imported here.
"""

# register the built-in families
from . import (  # noqa: F401
    boolean,
    choice,
    code,
    grounding,
    markup,
    mathematics,
    numeric,
    ocr,
    openended,
    preference,
    tracking,
)
from .format import FormatSpec, format_reward
from .registry import (
    RegisteredScorer,
    RewardWeights,
    UnknownProblemTypeError,
    get_scorer,
    known_problem_types,
    register_scorer,
    resolve_problem_type,
    score,
    score_batch,
)


def validate_ground_truth(
    ground_truth: str, problem_type: str, *, options: list[str] | None = None, **scorer_kwargs
) -> None:
    """Raise ValueError (or UnknownProblemTypeError) when a sample's key cannot be scored, or is wrong
    as data for its family (``RegisteredScorer.validate``: multiple-choice options with repeated labels).

    For the dataset loader: every scorer parses its ground truth before reading the response, so
    scoring an empty response surfaces a malformed key without depending on any model output.
    """
    scorer = get_scorer(problem_type)
    scorer.check_keywords(scorer_kwargs)
    if not isinstance(ground_truth, str):
        raise TypeError(f"ground_truth must be str, got {type(ground_truth).__name__}")
    scorer.validate(ground_truth, options=options, **scorer_kwargs)


__all__ = [
    "FormatSpec",
    "RegisteredScorer",
    "RewardWeights",
    "UnknownProblemTypeError",
    "format_reward",
    "get_scorer",
    "known_problem_types",
    "register_scorer",
    "resolve_problem_type",
    "score",
    "score_batch",
    "validate_ground_truth",
]
