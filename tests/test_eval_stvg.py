"""STVG adapter: the real EasyVideoR1 sample, HC-STVG metrics with integer seconds as frames (official),
EasyVideoR1's 0.5·tIoU + 0.5·box IoU through the reward library (robust), aggregates and bad input."""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official import stvg

SAMPLE = (
    Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "stvg" / "easyvideor1_stvg.sample.json"
)
GT = {"time": [1.0, 3.0], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10], "3": [0, 0, 10, 10]}}


@pytest.fixture
def adapter():
    return get_adapter("stvg")


def _row(**overrides):
    row = {
        "data_type": "video",
        "data_source": "stvg",
        "problem_type": "spatial-temporal grounding",
        "path": "123.mp4",
        "problem": "When does the man in red run?",
        "problem_id": 5,
        "options": [],
        "solution": "<answer>" + json.dumps(GT) + "</answer>",
    }
    row.update(overrides)
    return row


def _load(adapter, tmp_path, rows):
    (tmp_path / "stvg.json").write_text(json.dumps(rows))
    return adapter.load(tmp_path / "stvg.json", tmp_path)


def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20 and recs[0].id == "84" and recs[-1].id == "1978"
    first = recs[0]  # time [0.5005, 2.9363], boxes at seconds 1 and 2
    assert first.problem_type == "spatial-temporal grounding" and first.media == [
        str(tmp_path / "2588643984.mp4")
    ]
    assert first.extra["span"] == [0.5005000000000001, 2.9362666666666666] and first.extra["frames"] == 2
    assert json.loads(first.answer)["boxes"]["2"] == [368, 193, 399, 249]
    assert next(r for r in recs if r.id == "451").extra["frames"] == 9
    # the ground truth itself scores 1 in both modes on every record
    for mode in ("official", "robust"):
        scores = [adapter.score_sample(r, f"<answer>{r.answer}</answer>", mode) for r in recs]
        assert adapter.aggregate(recs, scores, mode)["overall"] == pytest.approx(100.0)


def test_official_and_robust_scores(adapter, tmp_path):
    (rec,) = _load(adapter, tmp_path, [_row()])
    pred = {"time": [2.0, 5.0], "boxes": {"2": [0, 0, 10, 10], "3": [5, 0, 15, 10], "4": [0, 0, 1, 1]}}
    response = "<think>he runs late</think><answer>" + json.dumps(pred) + "</answer>"
    off = adapter.score_sample(rec, response, "official")
    # tIoU = 1 / (2 + 3 - 1); frames in the union [1, 5]: 5; in the intersection [2, 3]: IoU 1 and 1/3
    assert off == {
        "score": pytest.approx((1 + 1 / 3) / 5),
        "tiou": pytest.approx(0.25),
        "viou": pytest.approx((1 + 1 / 3) / 5),
        "pred": [2.0, 5.0],
        "extraction_failed": False,
    }
    rob = adapter.score_sample(rec, response, "robust")
    # EasyVideoR1: 0.5 * tIoU (hull 4) + 0.5 * mean IoU over the seconds both box (2, 3)
    assert rob["score"] == pytest.approx(0.5 * 0.25 + 0.5 * (1 + 1 / 3) / 2)
    assert (rob["tiou"], rob["box_iou"]) == (pytest.approx(0.25), pytest.approx(2 / 3))


def test_official_missing_boxes_and_unparsable(adapter, tmp_path):
    (rec,) = _load(adapter, tmp_path, [_row()])
    # right span, boxes only for second 1: vIoU = 1 / 3 frames
    only_first = adapter.score_sample(rec, '{"time": [1, 3], "boxes": {"1": [0, 0, 10, 10]}}', "official")
    assert only_first["viou"] == pytest.approx(1 / 3) and only_first["tiou"] == pytest.approx(1.0)
    assert adapter.score_sample(rec, "from 1 to 3 seconds", "official") == {
        "score": 0.0,
        "tiou": 0.0,
        "viou": 0.0,
        "pred": None,
        "extraction_failed": True,
    }
    # disjoint spans: no intersection frames, tIoU 0
    far = adapter.score_sample(rec, '{"time": [5, 9], "boxes": {"5": [0, 0, 10, 10]}}', "official")
    assert (far["tiou"], far["viou"]) == (0.0, 0.0)


def test_official_metric_functions():
    assert stvg.temporal_iou((2, 6), (4, 8)) == pytest.approx(1 / 3)
    assert stvg.temporal_iou((0, 2), (2, 4)) == 0  # touching spans do not overlap
    assert stvg.recall([0.3, 0.5, 0.31], 0.3) == pytest.approx(2 / 3)  # strict ">"
    assert stvg.recall([], 0.5) is None
    # a ground-truth frame at a non-integer second counts in the union too
    assert stvg.viou((0, 1), {0.5: (0, 0, 1, 1)}, (0, 1), {0.5: (0, 0, 1, 1)}) == pytest.approx(1 / 3)


def test_aggregates(adapter, tmp_path):
    recs = _load(adapter, tmp_path, [_row(problem_id=i) for i in range(4)])
    official = [
        {"score": 0.6, "tiou": 0.8, "viou": 0.6},
        {"score": 0.5, "tiou": 0.5, "viou": 0.5},  # not above 0.5
        {"score": 0.2, "tiou": 0.4, "viou": 0.2},
        {"score": 0.0, "tiou": 0.0, "viou": 0.0},
    ]
    assert adapter.aggregate(recs, official, "official") == {
        "n": 4,
        "overall": pytest.approx(32.5),
        "m_tIoU": pytest.approx(42.5),
        "m_vIoU": pytest.approx(32.5),
        "vIoU@0.3": pytest.approx(50.0),
        "vIoU@0.5": pytest.approx(25.0),
    }
    robust = [{"score": 0.5, "tiou": 0.4, "box_iou": 0.6}, {"score": 0.0, "tiou": 0.0, "box_iou": 0.0}] * 2
    assert adapter.aggregate(recs, robust, "robust") == {
        "n": 4,
        "overall": pytest.approx(25.0),
        "mean_tiou": pytest.approx(20.0),
        "mean_box_iou": pytest.approx(30.0),
    }


@pytest.mark.parametrize(
    "rows,match",
    [
        (
            [_row(), _row(problem_id=6, solution='<answer>{"time": [3, 1], "boxes": {}}</answer>')],
            r"stvg\.json: record 1 \(problem_id=6\): .*'time' must be \[s, e\] with e > s",
        ),
        (
            [_row(solution='<answer>{"time": [1, 3]}</answer>')],
            r"record 0 \(problem_id=5\): .*holds no JSON object with keys \('time', 'boxes'\)",
        ),
        (
            [_row(problem_type="temporal grounding")],
            r"record 0 \(problem_id=5\): problem_type 'temporal grounding'",
        ),
        ([_row(path="")], r"record 0 \(problem_id=5\): missing field 'path'"),
        ([{k: v for k, v in _row().items() if k != "problem_id"}], r"not an EasyVideoR1 unified STVG file"),
        ([_row(), _row()], r"stvg\.json: duplicate record ids \['5'\]"),
    ],
)
def test_format_errors_name_file_and_record(adapter, tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        _load(adapter, tmp_path, rows)


def test_malformed_file_names_the_file(adapter, tmp_path):
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(ValueError, match=r"bad\.json"):
        adapter.load(tmp_path / "bad.json", tmp_path)


def test_temporal_iou_of_zero_length_or_touching_intervals_is_zero():
    assert stvg.temporal_iou((2, 2), (2, 2)) == 0
    assert stvg.temporal_iou((0, 2), (2, 4)) == 0
    assert stvg.temporal_iou((0, 4), (2, 6)) == 2 / 6
