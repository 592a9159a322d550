"""Format reward: tag schema (answer required, think optional or required) and the answer's type."""

import pytest

from training.rewards import FormatSpec, format_reward, score
from training.rewards.tags import answer_content, candidates, has_think_then_answer


def is_letter(answer: str) -> bool:
    return answer in ("A", "B")


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<answer>B</answer>", 1.0),
        ("<think>hmm</think>\n<answer>B</answer>", 1.0),
        ("< answer > B </ answer >", 1.0),  # whitespace around tag delimiters is forgiven
        ("<answer>\nB\n</answer>\n", 1.0),
        ("<answer>x</answer>", 0.5),  # right tags, wrong type
        ("<answer></answer>", 0.5),
        ("B", 0.0),
        ("<answer>B", 0.0),  # unclosed
        ("B</answer>", 0.0),
        ("<ANSWER>B</ANSWER>", 0.0),  # tag names are case-sensitive
        ("", 0.0),
    ],
)
def test_default_spec_requires_only_the_answer(response, expected):
    assert format_reward(response, FormatSpec(), is_letter) == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<think>hmm</think><answer>B</answer>", 1.0),
        ("  <think>hmm</think>\n\n<answer>B</answer>  ", 1.0),
        ("<think>hmm</think><answer>x</answer>", 0.5),
        ("<answer>B</answer>", 0.0),  # think missing
        ("<think>hmm</think><answer>B</answer> trailing", 0.0),  # nothing after the answer
        ("intro <think>hmm</think><answer>B</answer>", 0.0),  # nothing before the think
        ("<think>hmm</think> text <answer>B</answer>", 0.0),
        ("<think>hmm<answer>B</answer>", 0.0),  # think never closed
    ],
)
def test_think_and_answer_required(response, expected):
    assert format_reward(response, FormatSpec(require_think=True), is_letter) == expected


def test_think_only_and_no_requirement():
    think_only = FormatSpec(require_answer=False, require_think=True)
    assert format_reward("<think>hmm</think> B", think_only, is_letter) == 1.0
    assert format_reward("<think>hmm</think> maybe", think_only, is_letter) == 0.5
    assert format_reward("B", think_only, is_letter) == 0.0
    nothing = FormatSpec(require_answer=False)
    assert format_reward("B", nothing, is_letter) == 1.0
    assert format_reward("maybe", nothing, is_letter) == 0.5
    assert format_reward("<answer>B</answer> trailing", nothing, is_letter) == 1.0


def test_tag_helpers():
    assert answer_content("<answer>A</answer> later <answer> D </answer>") == "D"
    assert answer_content("<answer><answer>B</answer>") == "B"
    assert answer_content("</answer><answer>") is None
    assert has_think_then_answer("<think>a</think><answer>b</answer>")
    assert not has_think_then_answer("<think>a</think><answer>b</answer><answer>c</answer>")
    assert candidates("<think>t</think> x <answer>B</answer>") == [
        "B",
        "x <answer>B</answer>",
        "<think>t</think> x <answer>B</answer>",
    ]
    assert candidates("   ") == []


def test_format_through_score_uses_the_type_check_and_spec():
    spec = FormatSpec(require_think=True)
    assert score("<think>t</think><answer>B</answer>", "B", "mc", format_spec=spec)["format"] == 1.0
    assert score("<answer>B</answer>", "B", "mc", format_spec=spec)["format"] == 0.0
    # MC validity sees the options: option text counts as a readable letter.
    assert score("<answer>blue</answer>", "B", "mc", options=["A. red", "B. blue"])["format"] == 1.0
    assert score("<answer>blue</answer>", "B", "mc")["format"] == 0.5
