"""Registry and dispatcher: aliases, duplicates, unknown types, keyword routing, weights, batches."""

import doctest
import importlib

import pytest

from training import rewards
from training.rewards import (
    FormatSpec,
    RewardWeights,
    UnknownProblemTypeError,
    get_scorer,
    known_problem_types,
    register_scorer,
    registry,
    resolve_problem_type,
    score,
    score_batch,
    validate_ground_truth,
)

BUILT_IN = {
    "math",
    "ocr",
    "spatial-temporal grounding",
    "tracking",
    "code",
    "html-code",
    "open-ended",
    "preference",
    "svg-code",
    "boolean",
    "multiple choice",
    "numerical",
    "regression",
    "spatial grounding",
    "temporal grounding",
}


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test vanish after it (the module-level tables are copied)."""
    monkeypatch.setattr(registry, "_SCORERS", registry._SCORERS.copy())


def test_built_in_families_are_registered():
    assert set(known_problem_types()) == BUILT_IN
    assert known_problem_types()["multiple choice"] == ("multiple_choice", "mc", "mcq")


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("multiple choice", "multiple choice"),
        ("Multiple_Choice", "multiple choice"),
        ("  multiple-choice ", "multiple choice"),
        ("MC", "multiple choice"),
        ("number", "numerical"),
        ("temporal_grounding", "temporal grounding"),
        ("Spatial-Grounding", "spatial grounding"),
        ("binary classification", "boolean"),
        ("regression", "regression"),
    ],
)
def test_resolve_problem_type(spelling, canonical):
    assert resolve_problem_type(spelling) == canonical
    assert get_scorer(spelling).name == canonical


def test_unknown_problem_type_lists_known_types():
    with pytest.raises(UnknownProblemTypeError) as info:
        resolve_problem_type("interpretive dance")
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert (
        "'interpretive dance'" in message and "multiple choice (aliases: multiple_choice, mc, mcq)" in message
    )
    with pytest.raises(UnknownProblemTypeError):
        score("<answer>x</answer>", "x", "haiku")
    with pytest.raises(UnknownProblemTypeError):
        resolve_problem_type(None)


def test_new_family_is_one_decorator_away(scratch_registry):
    @register_scorer("exact match", aliases=("exact",))
    def exact(response: str, ground_truth: str) -> float:
        return 1.0 if response.strip() == ground_truth else 0.0

    assert resolve_problem_type("Exact_Match") == "exact match"
    assert score("cat", "cat", "exact") == {
        "overall": pytest.approx(0.9, abs=1e-15),
        "accuracy": 1.0,
        "format": 0.0,
    }
    # Default answer check: non-empty content.
    assert score("<answer>dog</answer>", "cat", "exact")["format"] == 1.0
    assert score("<answer> </answer>", "cat", "exact")["format"] == 0.5


@pytest.mark.parametrize(
    "name, aliases", [("MC", ()), ("choices", ("multiple-choice",)), ("x", ("Boolean",))]
)
def test_duplicate_names_and_aliases_rejected(scratch_registry, name, aliases):
    with pytest.raises(ValueError, match="already registered"):
        register_scorer(name, aliases=aliases)(lambda response, ground_truth: 0.0)


def test_empty_name_rejected_and_signature_checked(scratch_registry):
    with pytest.raises(ValueError, match="non-empty"):
        register_scorer(" _ ")(lambda response, ground_truth: 0.0)
    with pytest.raises(TypeError, match="positional"):
        register_scorer("one argument")(lambda response: 0.0)


def test_scorer_contract_violations_are_bugs_not_zeros(scratch_registry):
    register_scorer("too big")(lambda response, ground_truth: 1.5)
    register_scorer("not finite")(lambda response, ground_truth: float("nan"))
    register_scorer("no accuracy")(lambda response, ground_truth: {"iou": 0.5})
    with pytest.raises(RuntimeError, match="outside"):
        score("", "", "too big")
    with pytest.raises(RuntimeError, match="finite"):
        score("", "", "not finite")
    with pytest.raises(RuntimeError, match="accuracy"):
        score("", "", "no accuracy")


def test_extra_metrics_and_keyword_routing(scratch_registry):
    seen = {}

    def check(answer: str, strict: bool = False) -> bool:
        seen["strict"] = strict
        return True

    @register_scorer("with extras", answer_valid=check)
    def with_extras(response, ground_truth, options=None, scale: float = 1.0):
        seen["options"], seen["scale"] = options, scale
        return {"accuracy": 0.5, "iou": 0.25 * scale}

    result = score("<answer>x</answer>", "y", "with extras", options=["A. a"], scale=2.0, strict=True)
    assert result == {"overall": 0.9 * 0.5 + 0.1, "accuracy": 0.5, "format": 1.0, "iou": 0.5}
    assert seen == {"options": ["A. a"], "scale": 2.0, "strict": True}
    with pytest.raises(TypeError, match=r"takes no argument\(s\) \['scal'\]"):
        score("<answer>x</answer>", "y", "with extras", scal=2.0)


def test_unknown_keyword_for_built_in_scorer():
    with pytest.raises(TypeError, match="mode"):
        score("<answer>1</answer>", "1", "numerical", mode="mra")
    # options and data_type are common context: accepted for every type, passed where taken.
    assert (
        score("<answer>yes</answer>", "yes", "boolean", options=["A. x"], data_type="image")["accuracy"]
        == 1.0
    )


def test_weights():
    response = "<answer>maybe</answer>"  # accuracy 0, format 0.5
    assert score(response, "yes", "boolean")["overall"] == 0.1 * 0.5
    assert (
        score(response, "yes", "boolean", weights=RewardWeights(accuracy=0.5, format=0.5))["overall"] == 0.25
    )
    both = score("<answer>yes</answer>", "yes", "boolean", weights=RewardWeights(accuracy=1.0, format=1.0))
    assert both["overall"] == 2.0  # weights need not sum to 1 (Video-R1: accuracy + format)
    for bad in (-0.1, float("nan"), float("inf"), "0.9", True):
        with pytest.raises(ValueError, match="RewardWeights.accuracy"):
            RewardWeights(accuracy=bad)


def test_non_string_response_is_a_type_error():
    with pytest.raises(TypeError, match="must be str"):
        score(None, "B", "mc")


def test_score_batch():
    items = [
        {
            "response": "<answer>B</answer>",
            "ground_truth": "B",
            "problem_type": "mc",
            "options": ["A. x", "B. y"],
        },
        {
            "response": "<answer>3</answer>",
            "ground_truth": "4",
            "problem_type": "regression",
            "mode": "relative_error",
        },
        {"response": "yes", "ground_truth": "yes", "problem_type": "boolean", "problem_id": 7},
    ]
    results = score_batch(items, weights=RewardWeights(accuracy=1.0, format=0.0))
    assert [r["accuracy"] for r in results] == [1.0, 0.75, 1.0]
    assert [r["overall"] for r in results] == [1.0, 0.75, 1.0]
    assert [r["format"] for r in results] == [1.0, 1.0, 0.0]
    assert score_batch(items[:1], format_spec=FormatSpec(require_think=True))[0]["format"] == 0.0
    assert score_batch([]) == []


def test_score_batch_names_the_bad_item():
    items = [
        {"response": "yes", "ground_truth": "yes", "problem_type": "boolean"},
        {"response": "yes", "ground_truth": "perhaps", "problem_type": "boolean", "problem_id": "q-17"},
    ]
    with pytest.raises(ValueError) as info:
        score_batch(items)
    assert "in score_batch item 1 (problem_id='q-17')" in info.value.__notes__
    with pytest.raises(KeyError, match="lacks"):
        score_batch([{"response": "yes", "problem_type": "boolean"}])


def test_validate_ground_truth():
    validate_ground_truth("B. blue", "mc", options=["A. red", "B. blue"])
    validate_ground_truth('{"time": [1, 2]}', "temporal grounding")
    with pytest.raises(ValueError, match="multiple-choice ground truth"):
        validate_ground_truth("E", "mc", options=["A. red", "B. blue"])
    with pytest.raises(ValueError, match="exactly one finite number"):
        validate_ground_truth("lots", "numerical")
    with pytest.raises(UnknownProblemTypeError):
        validate_ground_truth("x", "interpretive dance")
    # options the scorer would renumber or could not show: wrong as data, though a score exists
    validate_ground_truth("A", "mc", options=["red", "blue"])
    with pytest.raises(ValueError, match=r"options repeat the label\(s\) \['A'\]"):
        validate_ground_truth("A", "mc", options=["A. red", "A. blue"])
    with pytest.raises(ValueError, match=r"option\(s\) \[0, 1\] \(0-based\) are empty"):
        validate_ground_truth("A", "mc", options=[" ", "B."])
    assert score("", "A", "mc", options=["A. red", "A. blue"])["accuracy"] == 0.0  # scoring is unchanged


def test_public_api():
    exported = ["score", "score_batch", "resolve_problem_type", "register_scorer", "get_scorer"]
    exported += ["known_problem_types", "RewardWeights", "FormatSpec", "UnknownProblemTypeError"]
    for name in exported:
        assert name in rewards.__all__ and hasattr(rewards, name)


@pytest.mark.parametrize("module", ["tags", "numbers", "choice", "numeric", "grounding", "boolean", "format"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"training.rewards.{module}"))
    assert result.failed == 0 and result.attempted > 0
