"""Number reading, the numerical scorer's tolerance and the regression scorer (VSI-Bench MRA)."""

import pytest

from training.rewards import score
from training.rewards.numbers import find_numbers, parse_number
from training.rewards.numeric import extract_number, numerical, regression


@pytest.mark.parametrize(
    "text, expected",
    [
        ("42", [42.0]),
        ("-3.5 and +2", [-3.5, 2.0]),
        ("\u22124", [-4.0]),  # unicode minus
        (".5", [0.5]),
        ("1,000", [1000.0]),
        ("1,234,567.5 m", [1234567.5]),
        ("1,2,3", [1.0, 2.0, 3.0]),  # a list, not a thousands group
        ("3/4", [0.75]),
        ("3 / 4", [0.75]),
        ("1/0", []),  # zero denominator: no number
        ("50%", [0.5]),
        ("12.5 %", [0.125]),
        ("1e3", [1000.0]),
        ("2-5", [2.0, 5.0]),  # a range, not 2 and -5
        ("x2 v1.2.3", []),  # glued to words or other numbers
        ("three", [3.0]),
        ("Twenty-one", [21.0]),
        ("one hundred and five", [105.0]),
        ("two thousand three hundred", [2300.0]),
        ("one two", [1.0, 2.0]),
        ("someone has none", []),
        ("nan inf 1e999", []),  # non-finite values are not numbers
        ("", []),
    ],
)
def test_find_numbers(text, expected):
    assert find_numbers(text) == expected


def test_parse_number_needs_exactly_one():
    assert parse_number("about 2.5 meters") == 2.5
    assert parse_number("2 or 3") is None
    assert parse_number("none") is None


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<answer>7</answer>", 7.0),
        ("<answer>7 (3 + 4)</answer>", 7.0),  # first number of the answer block
        ("<think>3 + 4</think> so 7", 7.0),  # last number of free text
        (r"<think>3 + 4</think> \boxed{7} was 3 + 4", 7.0),  # boxed beats last
        ("<answer>seven</answer>", 7.0),
        ("<think>I count 7</think><answer>many</answer>", 7.0),  # block has none: text after think
        ("no digits here", None),
    ],
)
def test_extract_number(response, expected):
    assert extract_number(response) == expected


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        ("<answer>3/4</answer>", "0.75", 1.0),
        ("<answer>1,000</answer>", "1000", 1.0),
        ("<answer>three</answer>", "3", 1.0),
        ("<answer>50%</answer>", "0.5", 1.0),
        ("<answer>0.33</answer>", "1/3", 1.0),  # |Δ| = 0.0033 <= 0.01
        ("<answer>1.01</answer>", "1", 1.0),  # the tolerance is inclusive
        ("<answer>1.02</answer>", "1", 0.0),
        ("<answer>1234560</answer>", "1234567", 1.0),  # |Δ| = 7 <= 1e-4 * 1234567
        ("<answer>1234400</answer>", "1234567", 0.0),  # |Δ| = 167 > 123.5
        ("<answer>4</answer>", "<answer>4</answer>", 1.0),  # wrapped key
        ("<answer></answer>", "4", 0.0),
    ],
)
def test_numerical(response, truth, expected):
    assert numerical(response, truth) == expected


def test_numerical_tolerance_is_configurable_through_score():
    assert score("<answer>1.02</answer>", "1", "numerical", abs_tol=0.05)["accuracy"] == 1.0


# Official VSI-Bench values (np.linspace thresholds, "<="), hand-checked: r = |p-g|/|g| counts the
# tolerances 0.50, 0.45, ..., 0.05 it does not exceed.
@pytest.mark.parametrize(
    "p, g, expected",
    [
        ("1", "2", 0.1),  # r = 0.5: only θ = 0.50
        ("3", "4", 0.6),  # r = 0.25: θ = 0.50 ... 0.75
        ("9", "10", 0.9),  # r = 0.1: all but θ = 0.95
        ("1.9", "2.0", 1.0),  # r = 0.05 (float ties with 1 - 0.95 resolved as the official script)
        ("10", "10", 1.0),
        ("0.4", "1", 0.0),  # r = 0.6
        ("-2", "-2", 1.0),  # |g| in the denominator
        ("0", "0", 1.0),  # g == 0: exact zero scores 1
        ("0.001", "0", 0.0),  # g == 0: anything else scores 0
    ],
)
def test_regression_mra(p, g, expected):
    assert regression(f"<answer>{p}</answer>", g) == expected


@pytest.mark.parametrize(
    "p, g, expected",
    [("3", "4", 0.75), ("5", "4", 0.75), ("9", "4", 0.0), ("4", "4", 1.0), ("0", "0", 1.0), ("1", "0", 0.0)],
)
def test_regression_relative_error(p, g, expected):
    assert regression(f"<answer>{p}</answer>", g, mode="relative_error") == expected


def test_regression_mode_is_checked():
    with pytest.raises(ValueError, match="mode"):
        regression("<answer>1</answer>", "1", mode="mse")
    assert score("<answer>3</answer>", "4", "regression", mode="relative_error")["accuracy"] == 0.75


@pytest.mark.parametrize("truth", ["", "many", "2 or 3", "nan", "1e999"])
def test_malformed_numeric_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="exactly one finite number"):
        numerical("<answer>1</answer>", truth)
    with pytest.raises(ValueError, match="exactly one finite number"):
        regression("<answer>1</answer>", truth)


def test_numeric_format_half_credit():
    assert score("<answer>3 meters</answer>", "3", "numerical")["format"] == 1.0
    assert score("<answer>2 or 3</answer>", "3", "numerical")["format"] == 0.5
    assert score("<answer>many</answer>", "3", "regression")["format"] == 0.5


UNIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
              "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS_WORDS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
WORD_VALUES = [
    *zip(UNIT_WORDS, range(20)), *zip(TENS_WORDS, range(20, 100, 10)),
    ("one thousand", 1e3), ("one million", 1e6), ("one billion", 1e9),
    ("three billion two hundred and one", 3_000_000_201),
]  # fmt: skip


@pytest.mark.parametrize(("words", "value"), WORD_VALUES)
def test_every_number_word_has_its_value(words, value):
    """Each word of the documented vocabulary, read alone (a wrong table entry changes every answer using it)."""
    assert find_numbers(f"I count {words} of them") == [float(value)]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("one hundred and twelve", [112.0]), ("ninety nine", [99.0]), ("twenty-one", [21.0]),
        ("five hundred thousand", [500000.0]), ("two thousand fifteen", [2015.0]),
        ("one two", [1.0, 2.0]), ("twenty twelve", [20.0, 12.0]), ("nineteen twenty", [19.0, 20.0]),
        ("twenty\none", [20.0, 1.0]), ("one hundred, and five", [100.0, 5.0]),
        ("three thousand and two", [3000.0, 2.0]), ("one hundred and", [100.0]), ("a hundred", []),
        ("one hundred hundred", [100.0]), ("twelve hundred", [1200.0]), ("one hundred zero hundred", [100.0]),
        ("twenty ten", [20.0, 10.0]), ("one hundred\nfive", [100.0, 5.0]), ("one hundred\nand five", [100.0, 5.0]),
    ],
)  # fmt: skip
def test_number_word_runs_join_and_break_as_documented(text, numbers):
    """A run continues over spaces, hyphens and an "and" right after "hundred"; it breaks at a newline, at
    punctuation, and when a word cannot extend the number being read."""
    assert find_numbers(text) == numbers
