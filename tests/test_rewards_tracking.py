"""Spatial-temporal grounding (0.5·tIoU + 0.5·mean box IoU) and tracking (mean box IoU per frame)."""

import doctest
import json
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import training.rewards.tracking as tracking_module
from training.rewards import score
from training.rewards.tracking import (
    find_object,
    frame_key,
    spatial_temporal_grounding,
    stvg_answer_is_valid,
    tracking,
    tracking_answer_is_valid,
)

A = [0, 0, 10, 10]
STVG_TRUTH = json.dumps({"time": [2, 6], "boxes": {"2": A, "4": A}})


def stvg_answer(time_span, boxes) -> str:
    return "<answer>" + json.dumps({"time": time_span, "boxes": boxes}) + "</answer>"


@pytest.mark.parametrize(
    "key, expected",
    [("3", 3.0), ("3.0", 3.0), (" 3 ", 3.0), (3, 3.0), ("2.5", 2.5), ("3s", None), ("nan", None),
     ("inf", None), (True, None), ("", None)],
)  # fmt: skip
def test_frame_key(key, expected):
    assert frame_key(key) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"boxes": {"1": [1, 2, 3, 4]}}', {"boxes": {"1": [1, 2, 3, 4]}}),
        ('```json\n{"boxes": {}}\n```', {"boxes": {}}),  # code fence
        ("The track is {'boxes': {'1': [1, 2, 3, 4]}} as asked.", {"boxes": {"1": [1, 2, 3, 4]}}),  # quotes
        ('{not json} {"x": 1} {"boxes": {}}', {"boxes": {}}),  # earlier braces skipped
        ('{"answer": {"boxes": {}}}', {"boxes": {}}),  # nested object found
        ('[{"label": "cat", "boxes": {}}]', {"label": "cat", "boxes": {}}),
        ('{"boxes": {"1": [1, 2', None),  # never closed
        ("no braces", None),
    ],
)
def test_find_object(text, expected):
    assert find_object(text, ("boxes",)) == expected


# GT: time [2, 6], boxes at 2 and 4 (both A, area 100). Hand-computed:
#   time [4, 8]: intersection 2, hull [2, 8] = 6          -> tIoU 2/6
#   [0, 0, 10, 5] vs A: intersection 50, union 100        -> IoU 0.5
@pytest.mark.parametrize(
    "response, accuracy, tiou, mean_iou",
    [
        (stvg_answer([2, 6], {"2": A, "4": A}), 1.0, 1.0, 1.0),
        (stvg_answer([4, 8], {"2.0": [0, 0, 10, 5], "5": A}), 0.5 * (2 / 6) + 0.5 * 0.5, 2 / 6, 0.5),
        (stvg_answer([8, 4], {"2": [10, 10, 0, 0]}), 0.5 * (2 / 6) + 0.5 * 1.0, 2 / 6, 1.0),  # both swapped
        (stvg_answer([2, 6], {"3": A}), 0.5, 1.0, 0.0),  # no common frame: box part 0
        # [[…]] is read as one box; a 3-number box is dropped
        (stvg_answer([2, 6], {"2": [[0, 0, 10, 5]], "4": [1, 2, 3]}), 0.5 + 0.5 * 0.5, 1.0, 0.5),
        ('<answer>{"time": [2, 6]}</answer>', 0.5, 1.0, 0.0),  # boxes missing
        ('<answer>{"boxes": {"2": [0, 0, 10, 10]}}</answer>', 0.5, 0.0, 1.0),  # time missing
        ("<answer>{'time': [2, 6], 'boxes': {' 4 ': [0, 0, 10, 10]}}</answer>", 1.0, 1.0, 1.0),
        ("<think>hm</think>```json\n" + json.dumps({"time": [2, 4], "boxes": {"4": A}}) + "\n```",
         0.5 * 0.5 + 0.5, 0.5, 1.0),
        ('<answer>{"time": [NaN, 6], "boxes": {"2": [0, 0, Infinity, 10]}}</answer>', 0.0, 0.0, 0.0),
        ("<answer>from 2 to 6 seconds</answer>", 0.0, 0.0, 0.0),
    ],
)  # fmt: skip
def test_spatial_temporal_grounding(response, accuracy, tiou, mean_iou):
    assert spatial_temporal_grounding(response, STVG_TRUTH) == {
        "accuracy": accuracy, "tiou": tiou, "box_iou": mean_iou,
    }  # fmt: skip


def test_stvg_without_truth_boxes_is_tiou_alone():
    truth = '<answer>{"time": [0, 4], "boxes": {}}</answer>'
    assert spatial_temporal_grounding(stvg_answer([0, 2], {"1": A}), truth) == {
        "accuracy": 0.5, "tiou": 0.5, "box_iou": 0.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "truth",
    [
        "", "[2, 6]", '{"time": [2, 6]}', '{"boxes": {"2": [0, 0, 1, 1]}}', '{"time": [6, 2], "boxes": {}}',
        '{"time": [2, 2], "boxes": {}}', '{"time": [2, "6"], "boxes": {}}',
        '{"time": [2, 6], "boxes": [0, 0, 1, 1]}',
        '{"time": [2, 6], "boxes": {"2": [0, 0, 1]}}', '{"time": [2, 6], "boxes": {"2": [0, 0, 0, 1]}}',
        '{"time": [2, 6], "boxes": {"two": [0, 0, 1, 1]}}',
        '{"time": [2, 6], "boxes": {"3": [0, 0, 1, 1], "3.0": [0, 0, 2, 2]}}',
    ],
)  # fmt: skip
def test_malformed_stvg_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="spatial-temporal grounding ground truth"):
        spatial_temporal_grounding(stvg_answer([2, 6], {}), truth)


@pytest.mark.parametrize(
    "answer, valid",
    [
        ('{"time": [2, 6], "boxes": {"2": [0, 0, 1, 1]}}', True),
        ('{"time": [2, 6], "boxes": {}}', True),
        ('{"time": [2, 6]}', False),
        ('{"time": [2, 6], "boxes": {"2": [0, 0, 1]}}', False),
        ('{"time": [2, 6], "boxes": {"x": [0, 0, 1, 1]}}', False),
        ('{"time": "2-6", "boxes": {}}', False),
        ("2 to 6", False),
    ],
)
def test_stvg_answer_is_valid(answer, valid):
    assert stvg_answer_is_valid(answer) is valid


def test_stvg_through_score_and_aliases():
    for name in ("spatial-temporal grounding", "spatial temporal grounding", "Spatio-Temporal Grounding",
                 "STVG", "st_grounding"):  # fmt: skip
        result = score(stvg_answer([2, 6], {"2": A, "4": A}), STVG_TRUTH, name)
        assert result == {"overall": 1.0, "accuracy": 1.0, "format": 1.0, "tiou": 1.0, "box_iou": 1.0}
    assert score('<answer>{"time": [2, 6]}</answer>', STVG_TRUTH, "stvg")["format"] == 0.5


# ------------------------------------------------------------------------------------------ tracking

TRACK_TRUTH = json.dumps({"boxes": {"0": A, "1": A, "2": A, "3": A}})


def track_answer(boxes) -> str:
    return "<answer>" + json.dumps({"boxes": boxes}) + "</answer>"


@pytest.mark.parametrize(
    "response, over_truth, over_common",
    [
        (track_answer({"0": A, "1": A, "2": A, "3": A}), 1.0, 1.0),
        (track_answer({"0": A}), 1 / 4, 1.0),  # one easy frame: EasyVideoR1 would give 1
        (track_answer({"0": A, "1.0": [0, 0, 10, 5], "9": A}), (1 + 0.5) / 4, (1 + 0.5) / 2),  # 9: extra
        (track_answer({"0": [1, 2, 3], "1": A}), 1 / 4, 1.0),  # malformed box: frame missing
        (track_answer({"7": A}), 0.0, 0.0),  # no common frame
        (track_answer({}), 0.0, 0.0),
        ("<answer>the object moves left</answer>", 0.0, 0.0),
    ],
)
def test_tracking(response, over_truth, over_common):
    assert tracking(response, TRACK_TRUTH) == over_truth
    assert tracking(response, TRACK_TRUTH, frames="common") == over_common


def test_tracking_frames_is_checked_and_passed_through_score():
    with pytest.raises(ValueError, match="frames"):
        tracking(track_answer({}), TRACK_TRUTH, frames="all")
    assert score(track_answer({"0": A}), TRACK_TRUTH, "object tracking", frames="common")["accuracy"] == 1.0
    assert score(track_answer({"0": A}), TRACK_TRUTH, "Single_Object_Tracking")["accuracy"] == 0.25
    assert score(track_answer({"0": A}), TRACK_TRUTH, "video tracking")["format"] == 1.0
    assert score('<answer>{"boxes": [0, 0, 1, 1]}</answer>', TRACK_TRUTH, "tracking")["format"] == 0.5


@pytest.mark.parametrize(
    "truth",
    ["", '{"boxes": {}}', '{"boxes": [0, 0, 1, 1]}', '{"track": {"0": [0, 0, 1, 1]}}',
     '{"boxes": {"0": [0, 0, 1, 1], "0.0": [0, 0, 1, 1]}}', '{"boxes": {"0": [5, 5, 1, 1]}}'],
)  # fmt: skip
def test_malformed_tracking_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="tracking ground truth"):
        tracking(track_answer({}), truth)


@pytest.mark.parametrize(
    "answer, valid",
    [('{"boxes": {"0": [0, 0, 1, 1]}}', True), ('{"boxes": {}}', True), ('{"boxes": [0, 0, 1, 1]}', False),
     ('{"boxes": {"0": [0, 0, 1, "1"]}}', False), ("[0, 0, 1, 1]", False)],
)  # fmt: skip
def test_tracking_answer_is_valid(answer, valid):
    assert tracking_answer_is_valid(answer) is valid


def test_doctests():
    assert doctest.testmod(tracking_module).failed == 0


# ------------------------------------------------------------------------------- robustness

FRAGMENTS = [
    "<answer>", "</answer>", "</think>", "{", "}", "[", "]", ",", ":", '"time"', '"boxes"', "'boxes'", '"2"',
    "'4'", "2", "6", "-1", "1e999", "NaN", "Infinity", "null", "true", '"', "'", "\\", "```json", " ",
    "\n", "é", "🙂", "[0, 0, 10, 10]", '{"2": [0, 0, 10, 10]}',
]  # fmt: skip
any_text = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
CASES = [("spatial-temporal grounding", STVG_TRUTH), ("tracking", TRACK_TRUTH)]


def check(result: dict) -> None:
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values()), result
    assert 0.0 <= result["accuracy"] <= 1.0 and result["format"] in (0.0, 0.5, 1.0)


@settings(max_examples=150, deadline=None, database=None)
@given(response=any_text, case=st.sampled_from(CASES), common=st.booleans())
def test_any_response_scores_in_range(response, case, common):
    problem_type, truth = case
    kwargs = {"frames": "common" if common else "ground_truth"} if problem_type == "tracking" else {}
    check(score(response, truth, problem_type, **kwargs))


UNITS = ["{", '{"boxes": {"1": [', '{"time": [1, ', "[", "[[", "'", '"', '{"a": ', "<answer>{", "9",
         "{'boxes': ", '{"boxes": {}} ', "\\", "}"]  # fmt: skip


@pytest.mark.parametrize("unit", UNITS)
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    for problem_type, truth in CASES:
        check(score(response, truth, problem_type))


@pytest.mark.slow
@pytest.mark.parametrize("unit", UNITS)
def test_100kb_adversarial_responses_are_fast(unit):
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    assert time.perf_counter() - start < 3.0  # ~0.06 s; a quadratic scan takes minutes
