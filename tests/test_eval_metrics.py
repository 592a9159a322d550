"""Exact values of the pure evaluation metrics, computed by hand."""

import pytest

from evaluation import metrics


def test_interval_iou_hand_values():
    assert metrics.interval_iou((2.0, 6.0), (4.0, 8.0)) == pytest.approx(2 / 6)  # overlap 2, hull 6
    assert metrics.interval_iou((0.0, 10.0), (2.0, 4.0)) == pytest.approx(0.2)  # contained: 2 / 10
    assert metrics.interval_iou((1.5, 3.5), (1.5, 3.5)) == 1.0
    assert metrics.interval_iou((0.0, 2.0), (2.0, 4.0)) == 0.0  # touching
    assert (
        metrics.interval_iou((0.0, 1.0), (5.0, 9.0)) == 0.0
    )  # disjoint: hull, not union, in the denominator
    assert metrics.interval_iou((3.0, 3.0), (3.0, 3.0)) == 0.0  # zero hull: 0, not ZeroDivisionError


def test_recall_at_iou_is_inclusive_and_a_fraction():
    ious = [0.3, 0.5, 0.69, 0.7, 0.0]
    assert metrics.recall_at_iou(ious, 0.3) == pytest.approx(4 / 5)
    assert metrics.recall_at_iou(ious, 0.5) == pytest.approx(3 / 5)
    assert metrics.recall_at_iou(ious, 0.7) == pytest.approx(1 / 5)
    assert metrics.recall_at_iou([], 0.5) is None


def test_mean_iou_and_accuracy():
    assert metrics.mean_iou([0.25, 0.5, 0.0, 1.0]) == pytest.approx(0.4375)
    assert metrics.mean_iou([]) is None
    assert metrics.accuracy([True, False, True, True]) == 0.75
    assert metrics.accuracy([1.0, 0.0, 0.5]) == 0.5
    assert metrics.accuracy([]) is None


def test_category_means_and_macro_mean():
    per = metrics.category_means([1, 0, 1, 1, 0.5], ["short", "long", "short", "long", "medium"])
    assert per == {"long": 0.5, "medium": 0.5, "short": 1.0}
    assert list(per) == ["long", "medium", "short"]
    # macro (task mean) differs from micro: (0.5 + 0.5 + 1.0) / 3 vs 3.5 / 5
    assert metrics.macro_mean(per) == pytest.approx(2 / 3)
    assert metrics.accuracy([1, 0, 1, 1, 0.5]) == pytest.approx(0.7)
    assert metrics.macro_mean({}) is None
    with pytest.raises(ValueError, match="2 values but 1 category"):
        metrics.category_means([1, 0], ["a"])
