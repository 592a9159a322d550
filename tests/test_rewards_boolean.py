"""Boolean (yes/no/true/false) scoring."""

import pytest

from training.rewards import score
from training.rewards.boolean import boolean, extract_polarity


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<answer>yes</answer>", True),
        ("<answer>No.</answer>", False),
        ("<answer>TRUE</answer>", True),
        ("<answer>**False**</answer>", False),
        ("Yes, the ball is red.", True),
        ("<think>Is it red? It looks red.</think> The answer is yes.", True),
        ("<answer>Nope</answer>", None),
        ("<answer>Not sure</answer>", None),  # "not" is not "no"
        ("<answer>maybe</answer>", None),
        ("", None),
    ],
)
def test_extract_polarity(response, expected):
    assert extract_polarity(response) is expected


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        ("<answer>yes</answer>", "Yes", 1.0),
        ("<answer>yes</answer>", "true", 1.0),
        ("<answer>true</answer>", "1", 1.0),
        ("<answer>no</answer>", "0", 1.0),
        ("<answer>no</answer>", "yes", 0.0),
        ("<answer>maybe</answer>", "no", 0.0),
        ("<answer>yes</answer>", "<answer>No.</answer>", 0.0),
    ],
)
def test_boolean(response, truth, expected):
    assert boolean(response, truth) == expected


@pytest.mark.parametrize("truth", ["", "maybe", "yes no"])
def test_malformed_boolean_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="boolean ground truth"):
        boolean("<answer>yes</answer>", truth)


def test_boolean_format_and_aliases():
    assert score("<answer>Yes</answer>", "yes", "binary_classification") == {
        "overall": 1.0, "accuracy": 1.0, "format": 1.0,
    }  # fmt: skip
    result = score("<answer>maybe</answer>", "yes", "Yes/No")
    assert (result["accuracy"], result["format"]) == (0.0, 0.5)
    assert result["overall"] == 0.05
