"""Multiple-choice extraction and scoring: exact letters for each rule of ``training.rewards.choice``."""

import pytest

from training.rewards import score
from training.rewards.choice import extract_choice, multiple_choice, parse_choice_ground_truth, parse_options

OPTIONS = ["A. a cat", "B. a dog", "C. red", "D. blue"]


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<answer>B</answer>", "B"),
        ("<think>A or C?</think>\n<answer> (C) </answer>", "C"),
        ("<answer>b.</answer>", "B"),  # lone lower-case letter: the only place lower case counts
        ("the answer is (B).", "B"),
        ("The correct answer is: D", "D"),
        ("Answer: C", "C"),
        ("I choose C.", "C"),
        ("答案是C", "C"),
        (r"So the result is \boxed{C}.", "C"),
        (r"\boxed{(D)}", "D"),
        ("**B**", "B"),
        ("After watching, **B.** a dog barks.", "B"),
        ("B. a dog", "B"),
        ("(D) blue", "D"),
        ("I think (C) fits best", "C"),  # one parenthesised letter, unanimous
        ("Option A is wrong.\nOption C is right.", "C"),  # last phrase wins
        ("line one\nline two\nB. a dog\n", "B"),  # leading rule on the whole text fails, last lines read it
        ("The answer is A.", "A"),
        ("The answer is A, because it purrs.", "A"),
        ("<think>the answer is A</think><answer>C</answer>", "C"),  # the answer block is trusted first
        ("<think>the answer is A</think>", "A"),  # no answer block: fall back to the text
        ("<answer>not sure</answer> so the answer is B", "B"),  # block holds no letter: free text
        ("<answer>A</answer> then <answer>D</answer>", "D"),  # the last answer block is the final one
    ],
)
def test_extract_choice_rules(response, expected):
    assert extract_choice(response, OPTIONS) == expected


@pytest.mark.parametrize(
    "response, options",
    [
        ("a dog", None),  # the article, not option A
        ("A dog", None),
        ("Answer: A dog is sitting", None),
        ("Answer: A dog is sitting", OPTIONS),  # not the whole option text either
        ("<answer>a dog runs</answer>", OPTIONS),
        ("The answer is E", OPTIONS),  # E is not an option
        ("Between (B) and (C) it is hard", OPTIONS),  # disagreeing parenthesised letters
        ("", OPTIONS),
        ("<answer></answer>", OPTIONS),
        ("I have no idea", OPTIONS),
    ],
)
def test_extract_choice_refuses_non_letters(response, options):
    assert extract_choice(response, options) is None


def test_option_text_maps_to_its_letter():
    assert extract_choice("<answer>a dog</answer>", OPTIONS) == "B"
    assert extract_choice("<answer>Blue.</answer>", OPTIONS) == "D"
    assert extract_choice("a dog", None) is None  # without options the text means nothing


def test_option_text_shared_by_two_options_matches_neither():
    assert extract_choice("<answer>red</answer>", ["A. red", "B. Red!", "C. blue"]) is None
    assert extract_choice("<answer>blue</answer>", ["A. red", "B. Red!", "C. blue"]) == "C"


def test_line_fallback_reads_the_last_line_first():
    # Rules 1-7 find nothing in the whole text (it starts with a word); of the lines, the last wins.
    assert extract_choice("Let me look again.\nB. blue\nC. green\n") == "C"
    assert extract_choice("Let me look again.\nB. blue\nno wait\n") == "B"


def test_without_options_letters_a_to_j_are_valid():
    assert extract_choice("<answer>J</answer>") == "J"
    assert extract_choice("<answer>K</answer>") is None
    assert extract_choice("<answer>E</answer>", OPTIONS) is None


def test_parse_options_forms():
    assert parse_options(["A. red", "(B) blue", "C: green"]) == {"A": "red", "B": "blue", "C": "green"}
    assert parse_options(["red", "blue"]) == {"A": "red", "B": "blue"}
    assert parse_options(None) == {}
    # Letters that repeat are not letters of the options: fall back to positions.
    assert parse_options(["A. x", "A. y"]) == {"A": "A. x", "B": "A. y"}


@pytest.mark.parametrize(
    "truth, expected",
    [("B", "B"), ("(B)", "B"), ("b", "B"), ("B. a dog", "B"), ("<answer>C</answer>", "C"), ("blue", "D")],
)
def test_ground_truth_forms(truth, expected):
    assert parse_choice_ground_truth(truth, OPTIONS) == expected


@pytest.mark.parametrize("truth, options", [("E", OPTIONS), ("green", OPTIONS), ("", None), ("dog", None)])
def test_malformed_ground_truth_raises(truth, options):
    with pytest.raises(ValueError, match="multiple-choice ground truth"):
        multiple_choice("<answer>A</answer>", truth, options=options)


def test_multiple_choice_scores():
    assert multiple_choice("<answer>B</answer>", "B. a dog", options=OPTIONS) == 1.0
    assert multiple_choice("<answer>a dog</answer>", "B", options=OPTIONS) == 1.0
    assert multiple_choice("<answer>A</answer>", "B", options=OPTIONS) == 0.0
    assert multiple_choice("a dog", "A", options=None) == 0.0  # never "A" from the article


def test_multiple_choice_through_score_with_format():
    assert score("<answer>B</answer>", "B", "multiple_choice", options=OPTIONS) == {
        "overall": 1.0, "accuracy": 1.0, "format": 1.0,
    }  # fmt: skip
    # Right letter from free text, but no answer block: accuracy counts, format does not.
    result = score("the answer is (B)", "B", "MC", options=OPTIONS)
    assert (result["accuracy"], result["format"]) == (1.0, 0.0)
    assert result["overall"] == pytest.approx(0.9, abs=1e-15)
    # Answer block without a letter: half format credit; the letter in free text still counts.
    result = score("<answer>not sure</answer> answer: B", "B", "multiple choice", options=OPTIONS)
    assert (result["accuracy"], result["format"]) == (1.0, 0.5)
