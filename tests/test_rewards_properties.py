"""Every scorer on any response: a finite score in [0, 1], no exception, bounded time.

Two kinds of input: hypothesis-generated text (arbitrary unicode, and tag/JSON/number fragments
glued together so the parsers' deeper paths are reached), and 100 KB adversarial strings built to
make a backtracking regex explode (unclosed tags, digit runs, repeated prefixes).
"""

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.rewards import FormatSpec, known_problem_types, score

OPTIONS = ["A. a cat", "B. a dog", "C. red", "D. blue"]
GROUND_TRUTH = {
    "multiple choice": "B",
    "numerical": "3",
    "regression": "3",
    "temporal grounding": '{"time": [1, 2]}',
    "spatial grounding": '{"boxes": [0, 0, 10, 10]}',
    "boolean": "yes",
    "open-ended": "the cat sat on the mat",
    "preference": "Response 2",
    "code": '{"tests": ["assert add(1, 2) == 3"]}',
    "svg-code": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>',
    "html-code": "<div><p>a</p></div>",
    "math": "\\frac{1}{2}",
    "ocr": "the quick brown fox",
    "spatial-temporal grounding": '{"time": [1, 2], "boxes": {"1": [0, 0, 10, 10]}}',
    "tracking": '{"boxes": {"1": [0, 0, 10, 10]}}',
}
FRAGMENTS = [
    "<answer>", "</answer>", "<think>", "</think>", "< answer >", "</ answer>", "{", "}", "[", "]", ",", ":",
    '"time"', '"boxes"', "'bbox_2d'", "1", "0", "-3.5", "1e999", "NaN", "inf", "1,000", "3/4", "0/0", "%",
    "\\boxed{", "**", "(B)", "B.", "a dog", "A", "the answer is", "Answer:", "答案是", "yes", "No", "to",
    "seconds", " ", "\n", "twenty-one", "hundred", "\u2212", "\x00", "é", "🙂",
]  # fmt: skip
fragment_text = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=300), fragment_text)


def test_every_family_is_covered():
    assert set(GROUND_TRUTH) == set(known_problem_types())


def check(result: dict) -> None:
    for key, value in result.items():
        assert isinstance(value, float) and math.isfinite(value), (key, value)
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["format"] in (0.0, 0.5, 1.0)
    assert 0.0 <= result["overall"] <= 1.0  # default weights 0.9 / 0.1


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(response=any_text, problem_type=st.sampled_from(sorted(GROUND_TRUTH)), think=st.booleans())
def test_any_response_scores_in_range(response, problem_type, think):
    options = OPTIONS if problem_type == "multiple choice" else None
    check(score(response, GROUND_TRUTH[problem_type], problem_type, options=options,
                format_spec=FormatSpec(require_think=think)))  # fmt: skip


@settings(max_examples=60, deadline=None, database=None)
@given(response=any_text)
def test_norm1000_and_relative_error_in_range(response):
    box = score(response, GROUND_TRUTH["spatial grounding"], "spatial grounding",
                coords="norm1000", image_width=64, image_height=48)  # fmt: skip
    check(box)
    check(score(response, "3", "regression", mode="relative_error"))


ADVERSARIAL_UNITS = [
    "<answer>", "</answer>", "<think>", "< answer", "<answer>B", "<answer>1 to ", "1", "9", "1,", "1/",
    "1 to ",
    "[1, ", '"time": [', '{"boxes": [[1, 2, 3,', "answer is ", "**", "(", "\\boxed{", "\\boxed{{", "a ",
    "one ", "twenty-", " ", "\n", "é", "(A) ", "A. ", "1e", "-", "1.1.", "yes ", "答案",
]  # fmt: skip


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    for problem_type, truth in GROUND_TRUTH.items():
        options = OPTIONS if problem_type == "multiple choice" else None
        check(score(response, truth, problem_type, options=options))


@pytest.mark.slow
@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_100kb_adversarial_responses_are_linear(unit):
    # Linear parsing takes ~0.1 s for the text families here (code and svg start a sandboxed process;
    # ~3 s in all on a loaded 2-core machine); a quadratic regex takes minutes.
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    assert time.perf_counter() - start < 10.0
