"""EasyVideoR1's answer extraction and reward (evaluation.official.easyvideor1).

Expected values were produced by running the original functions of cyuQ1n/EasyVideoR1
eval/code/AsyncLLMEngine_eval_videobench_qwen3vl_multi_task.py (``extract_answer``, ``reward_fn``,
``mean_relative_accuracy`` under torch 2.13 float32) on the same inputs.
"""

import pytest

from evaluation.official.easyvideor1 import (
    extract_answer,
    mean_relative_accuracy,
    normalize_number,
    reward_fn,
)


@pytest.mark.parametrize(
    "response,letter",
    [
        ("C", "C"),
        ("c", "C"),
        ("Therefore, the final answer is: C", "C"),
        ("The answer is a dog", "A"),  # re.IGNORECASE: [A-J] also matches "a"
        ("so the answer is: e.g. maybe", "E"),
        ("Based on the video, the answer is (B).", ""),  # "(B)" is not a letter after "is "
        ("Best option: (B) dog", ""),
        ("<answer>B</answer>", "B"),
        ("<answer>b.</answer>", "B"),
        ("<answer>AB</answer>", "AB"),  # a substring test against "ABCDEFGHIJ"
        ("<answer>.</answer> The answer is C", ""),  # "" is a substring too: extraction stops
        ("<answer>(C)</answer>", ""),  # 3 characters: the tag is ignored, nothing else matches
        ("the answer is A. Therefore, the final answer is: B", "B"),  # "Therefore ..." is tried first
        ("Hmm.</think>I think B", "I"),  # a capital letter + space at the start after </think>
        ("<think>x</think>\nB. dog", "B"),
        ("</think>The correct answer is D", "D"),
        ("Let me select a few frames.", "A"),  # "select a" (case-insensitive)
        ("Option B", "B"),  # a short last line ending in a letter
        ("答案是C", "C"),
        ("A\n\nthat is all", "A"),
        ("x\ny\nz\nw\nv\nB\n" + "q r s t u v w x y z " * 3, "B"),  # long last line skipped
        ("1\n2\n3\n4\n5\nB\n6\n7\n8\n9\n10", ""),  # only the last 5 lines are looked at
        ("", ""),
    ],
)
def test_multiple_choice_extraction(response, letter):
    assert extract_answer(response) == letter
    assert extract_answer(response, "multiple choice") == letter


@pytest.mark.parametrize(
    "response,problem_type,expected",
    [
        ("<answer>3.5</answer>", "numerical", "3.5"),
        ("Therefore, the final answer is: 12 apples", "numerical", "12 apples"),
        ("<think>3</think>7", "numerical", "7"),
        ("", "numerical", ""),
        ('<answer>{"time": [1, 2]}</answer>', "temporal grounding", '{"time": [1, 2]}'),
        ('<think>{"time": [1,2]} more }</think> x', "temporal grounding", '{"time": [1,2]} more }'),
        ('<think>a</think> pre {"time":[3,4]} post', "temporal grounding", '{"time":[3,4]}'),
        ("no json", "temporal grounding", "no json"),
        ("<think>t</think>", "spatial-temporal grounding", "<think>t</think>"),
        ("<THINK>a</Think> rest", "open-ended", "rest"),
    ],
)
def test_other_types_extraction(response, problem_type, expected):
    assert extract_answer(response, problem_type) == expected


@pytest.mark.parametrize(
    "pred,target,mra",
    [
        (1, 2, 0.0),  # official VSI-Bench (<=) gives 0.1
        (3, 4, 0.5),  # official 0.6
        (1.9, 2.0, 0.8999999761581421),  # official 1.0; float32 0.9 as a Python float
        (9, 10, 0.8999999761581421),  # float32 0.1 < 1 - float32(0.9): 9 of 10 thresholds pass
        (10, 10, 1.0),
    ],
)
def test_mra_float32(pred, target, mra):
    assert mean_relative_accuracy(pred, target) == mra


def test_mra_edge_values():
    assert mean_relative_accuracy(0, 0) == 1.0  # eps keeps the denominator positive
    assert mean_relative_accuracy(1e39, 5) == 0.0  # beyond float32: inf, as torch
    assert mean_relative_accuracy(5, 1e39) == 0.0  # inf / inf = nan: no threshold passes
    assert mean_relative_accuracy(-3, -4) == 0.5


@pytest.mark.parametrize(
    "text,number",
    [
        ("3.5", 3.5),
        ("abc1,000.5xyz", 1000.5),
        ("-.5", -0.5),
        ("about 12 apples", 12.0),
        ("1e5", 100000.0),
        ("12 apples and 3", None),  # "12 apples and 3" keeps its middle: float() fails
        ("1.2.3", None),
        ("", None),
    ],
)
def test_normalize_number(text, number):
    assert normalize_number(text) == number


@pytest.mark.parametrize(
    "solution,response,problem_type,reward",
    [
        ("<answer>C</answer>", "c", "multiple choice", 1.0),
        ("<answer>C</answer>", "Therefore, the final answer is: C", "multiple choice", 1.0),
        ("<answer>C</answer>", "nothing", "multiple choice", 0.0),
        ("C", "<answer>C</answer>", "multiple choice", 1.0),  # a bare key works too
        ("<answer>3</answer>", "3.0", "numerical", 0.0),  # decimal presence must agree
        ("<answer>3.0</answer>", "3", "numerical", 0.0),
        ("<answer>1,000</answer>", "the answer is 1000.001", "numerical", 1.0),  # "," counts as decimal
        ("<answer>2.5</answer>", "about 2.499", "numerical", 1.0),  # round(., 2)
        ("<answer>2.5</answer>", "about 2.494", "numerical", 0.0),
        ("<answer>4</answer>", "3", "regression", 0.5),
        ("<answer>10</answer>", "<answer>9 meters</answer>", "regression", 0.8999999761581421),
        ("<answer>0</answer>", "0", "regression", 1.0),
        ("<answer>4</answer>", "no number", "regression", 0.0),
        (
            '<answer>{"time": [0, 10]}</answer>',
            '<answer>{"time": [5, 15]}</answer>',
            "temporal grounding",
            1 / 3,
        ),
        ('<answer>{"time": [0, 10]}</answer>', "<answer>not json</answer>", "temporal grounding", 0.0),
        ("<answer>x</answer>", "<answer>x</answer>", "open-ended", 0.0),
    ],
)
def test_reward(solution, response, problem_type, reward):
    assert reward_fn(response, solution, problem_type) == pytest.approx(reward, abs=0, rel=1e-15)


def test_spatial_temporal_reward():
    gt = '<answer>{"time": [0, 4], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}</answer>'
    pred = '<answer>{"time": [0, 2], "boxes": {"1": [0, 0, 10, 10], "3": [0, 0, 1, 1]}}</answer>'
    assert reward_fn(pred, gt, "spatial-temporal grounding") == 0.5 * 0.5 + 0.5 * 1.0
    no_boxes = '<answer>{"time": [0, 4]}</answer>'
    assert reward_fn(pred, no_boxes, "spatial-temporal grounding") == 0.5


def test_linear_time_on_unclosed_tags():
    response = "<think><answer>" * 20000 + "{"
    assert extract_answer(response, "temporal grounding").startswith("<think><answer>")
    assert extract_answer(response) == ""
