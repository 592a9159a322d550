"""Temporal (1D hull IoU) and spatial (box IoU, pixel or 0-1000 coordinates) grounding."""

import pytest

from training.rewards import score
from training.rewards.grounding import (
    box_iou,
    extract_box,
    extract_span,
    spatial_grounding,
    temporal_grounding,
    temporal_iou,
)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 10), (5, 15), 5 / 15),
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (2, 4), 0.2),  # contained
        ((0, 2), (4, 6), 0.0),  # disjoint: 0 whatever the gap (union = hull)
        ((3, 3), (3, 3), 0.0),  # empty hull
    ],
)
def test_temporal_iou(a, b, expected):
    assert temporal_iou(a, b) == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ('<answer>{"time": [2.5, 7.5]}</answer>', (2.5, 7.5)),
        ("<answer>```json\n{'time': [1, 4]}\n```</answer>", (1.0, 4.0)),  # fences and single quotes
        ('<answer>{"time": [9, 3]}</answer>', (3.0, 9.0)),  # swapped bounds fixed
        ("The event happens from 2.5 to 7.5 seconds.", (2.5, 7.5)),
        ("<answer>2s - 6s</answer>", (2.0, 6.0)),
        ("between 4 and 8", (4.0, 8.0)),
        ('<answer>{"time": [NaN, 3]}</answer>', None),
        ('<answer>{"time": [1e999, 3]}</answer>', None),  # overflow is no number
        ("no time here", None),
    ],
)
def test_extract_span(response, expected):
    assert extract_span(response) == expected


def test_temporal_grounding_scores():
    assert temporal_grounding('<answer>{"time": [2.5, 7.5]}</answer>', '{"time": [0, 5]}') == 2.5 / 7.5
    assert temporal_grounding("from 2.5 to 7.5 seconds", "[0, 5]") == 2.5 / 7.5
    assert temporal_grounding('<answer>{"time": [15, 5]}</answer>', "0 to 10") == 5 / 15
    assert temporal_grounding("<answer>soon</answer>", "[0, 5]") == 0.0


@pytest.mark.parametrize("truth", ["", "[5, 1]", "[3, 3]", '{"time": "early"}', "[1e999, 2]"])
def test_malformed_span_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="time span ground truth"):
        temporal_grounding('<answer>{"time": [0, 1]}</answer>', truth)


def test_temporal_format():
    assert score('<answer>{"time": [1, 2]}</answer>', "[1, 2]", "temporal_grounding")["format"] == 1.0
    # The text form earns accuracy but not the JSON schema's full format credit.
    result = score("<answer>1 to 2 seconds</answer>", "[1, 2]", "Temporal Grounding")
    assert (result["accuracy"], result["format"]) == (1.0, 0.5)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
        ((0, 0, 10, 10), (20, 0, 30, 10), 0.0),  # apart in x only: no overlap, whatever y does
        ((0, 0, 10, 10), (0, 20, 10, 30), 0.0),  # apart in y only
        ((0, 0, 10, 10), (9.5, 0, 19.5, 10), 5 / 195),  # an overlap narrower than 1
        ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100),
        ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),  # zero area
    ],
)
def test_box_iou(a, b, expected):
    assert box_iou(a, b) == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ('<answer>{"boxes": [10, 20, 30, 40]}</answer>', (10.0, 20.0, 30.0, 40.0)),
        ('<answer>{"boxes": [[10, 20, 30, 40]]}</answer>', (10.0, 20.0, 30.0, 40.0)),
        ('<answer>[{"bbox_2d": [10, 20, 30, 40], "label": "cat"}]</answer>', (10.0, 20.0, 30.0, 40.0)),
        ('<answer>{"boxes": [30, 40, 10, 20]}</answer>', (10.0, 20.0, 30.0, 40.0)),  # corners swapped
        ('<answer>{"boxes": [1, 2, 3]}</answer>', None),
        ("<answer>[10, 20, 30, 40]</answer>", None),  # a bare list is not the schema
    ],
)
def test_extract_box(response, expected):
    assert extract_box(response) == expected


def test_spatial_grounding_pixels_and_norm1000():
    truth = '{"boxes": [0, 0, 100, 50]}'
    assert spatial_grounding('<answer>{"boxes": [0, 0, 100, 50]}</answer>', truth) == 1.0
    assert spatial_grounding('<answer>{"boxes": [50, 0, 150, 50]}</answer>', truth) == 2500 / 7500
    # Qwen3-VL style: 0-1000 of a 200x100 image; [0, 0, 500, 500] is [0, 0, 100, 50] in pixels.
    norm = '<answer>{"boxes": [0, 0, 500, 500]}</answer>'
    assert spatial_grounding(norm, truth, coords="norm1000", image_width=200, image_height=100) == 1.0
    assert spatial_grounding(norm, truth) == 5000 / 250000  # read as pixels: the GT box inside a 500² box
    # each corner scaled on its own axis: [100, 200, 300, 400] of a 2000x1000 image is [200, 200, 600, 400]
    skewed = '<answer>{"boxes": [100, 200, 300, 400]}</answer>'
    assert (
        spatial_grounding(
            skewed, "[200, 200, 600, 400]", coords="norm1000", image_width=2000, image_height=1000
        )
        == 1.0
    )
    assert score(norm, truth, "spatial grounding", coords="norm1000", image_width=200, image_height=100)[
        "overall"
    ] == pytest.approx(1.0, abs=1e-15)


def test_spatial_grounding_configuration_errors():
    with pytest.raises(ValueError, match="needs positive image_width"):
        spatial_grounding("<answer></answer>", "[0, 0, 1, 1]", coords="norm1000")
    with pytest.raises(ValueError, match="coords"):
        spatial_grounding("<answer></answer>", "[0, 0, 1, 1]", coords="percent")


@pytest.mark.parametrize("truth", ["", "[0, 0, 1]", "[5, 5, 1, 1]", '{"boxes": "x"}'])
def test_malformed_box_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="box ground truth"):
        spatial_grounding('<answer>{"boxes": [0, 0, 1, 1]}</answer>', truth)


def test_spatial_format():
    assert (
        score('<answer>{"boxes": [0, 0, 1, 1]}</answer>', "[0, 0, 1, 1]", "spatial grounding")["format"]
        == 1.0
    )
    assert score("<answer>[0, 0, 1, 1]</answer>", "[0, 0, 1, 1]", "spatial grounding")["format"] == 0.5
