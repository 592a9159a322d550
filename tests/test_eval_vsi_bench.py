"""VSI-Bench adapter: the real EasyVideoR1 sample, the official release schema, official scoring quirks
(thinking-in-space ``lmms_eval/tasks/vsibench/utils.py``), robust MRA and the 8-task aggregate.

No official-format sample is shipped (only EasyVideoR1's); the official-format tests build small files
from the documented release schema (``id, dataset, scene_name, question_type, question, options,
ground_truth``, see evaluation/samples/vsi_bench/SOURCE.txt).
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from evaluation.adapters import get_adapter
from evaluation.official import vsibench
from training.prompts import render_prompt

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "vsi_bench"
    / "easyvideor1_vsibench.sample.json"
)


@pytest.fixture
def adapter():
    return get_adapter("vsi_bench")


def _official_rows():
    return [
        {
            "id": 11,
            "dataset": "scannet",
            "scene_name": "scene0011_00",
            "question_type": "object_rel_direction_easy",
            "question": "Is the sofa to the left or the right of the tv?",
            "options": ["A. left", "B. right"],
            "ground_truth": "B",
        },
        {
            "id": 12,
            "dataset": "arkitscenes",
            "scene_name": "41069025",
            "question_type": "object_counting",
            "question": "How many chair(s) are in this room?",
            "options": None,
            "ground_truth": "4",
        },
    ]


def _write(tmp_path, rows, name="vsi.json"):
    (tmp_path / name).write_text(json.dumps(rows))
    return tmp_path / name


def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20 and [r.id for r in recs][:3] == ["255", "521", "988"]
    assert Counter(r.categories["question_type"] for r in recs) == {
        t: 2 for t in vsibench.MCA_TYPES + vsibench.NA_TYPES
    }
    size = recs[0]  # problem_id 255, object_size_estimation, <answer>209</answer>, ./arkitscenes/42897554.mp4
    assert (size.problem_type, size.answer, size.options) == ("regression", "209", [])
    assert size.media == [str(tmp_path / "arkitscenes" / "42897554.mp4")]
    assert size.categories == {"question_type": "object_size_estimation"}
    direction = recs[2]  # 988, object_rel_direction_hard, answer D
    assert direction.answer == "D" and direction.options[3] == "D. front-left"
    route = next(r for r in recs if r.id == "5120")
    assert route.categories["question_type"] == "route_planning" and route.problem_type == "multiple choice"


def test_official_release_format(adapter, tmp_path):
    recs = adapter.load(_write(tmp_path, _official_rows()), tmp_path / "videos")
    mc, na = recs
    assert (mc.id, mc.answer, mc.options, mc.problem_type) == (
        "11",
        "B",
        ["A. left", "B. right"],
        "multiple choice",
    )
    assert mc.media == [str(tmp_path / "videos" / "scannet" / "scene0011_00.mp4")]
    assert mc.categories == {"question_type": "object_rel_direction_easy", "dataset": "scannet"}
    assert (na.id, na.answer, na.problem_type, na.options) == ("12", "4", "regression", [])


def test_official_release_parquet(adapter, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(_official_rows()), tmp_path / "test.parquet")
    recs = adapter.load(tmp_path / "test.parquet", tmp_path)
    assert [(r.id, r.answer) for r in recs] == [("11", "B"), ("12", "4")]


def test_official_prompts(adapter, tmp_path):
    mc, na = adapter.load(_write(tmp_path, _official_rows()), tmp_path)
    assert render_prompt(adapter.prompt_fields(mc), adapter.prompt_template) == (
        "These are frames of a video.\nIs the sofa to the left or the right of the tv?\nOptions:\nA. left\n"
        "B. right\nAnswer with the option's letter from the given choices directly."
    )
    assert render_prompt(adapter.prompt_fields(na), adapter.prompt_template) == (
        "These are frames of a video.\nHow many chair(s) are in this room?\n"
        "Please answer the question using a single word or phrase."
    )
    assert get_adapter("vsi_bench", prompt_style="reelrl").prompt_template is None


@pytest.mark.parametrize(
    "response,letter",
    [
        ("B", "B"),
        ("b.", "B"),  # case-insensitive, trailing dots stripped
        ("B.. The right side", "B"),
        ("(B)", ""),  # the token is "(B)"
        ("The answer is B", ""),  # the token is "The"
        ("B\nbecause it is right", ""),  # only a space splits
        (" B", ""),  # a leading space makes the first token empty
        ("Answer: B", ""),
    ],
)
def test_official_multiple_choice_first_token(adapter, tmp_path, response, letter):
    mc = adapter.load(_write(tmp_path, _official_rows()), tmp_path)[0]  # key B
    result = adapter.score_sample(mc, response, "official")
    assert result == {"score": float(letter == "B"), "pred": letter, "extraction_failed": not letter}


@pytest.mark.parametrize(
    "response,truth,score,pred",
    [
        ("4", "4", 1.0, 4.0),
        ("3", "4", 0.6, 3.0),
        ("2", "4", 0.1, 2.0),  # |2-4|/4 = 0.5 <= 1-0.5: the official "<=" gives the first step
        ("1", "2", 0.1, 1.0),
        ("1.9", "2.0", 1.0, 1.9),  # relative error 0.05000000000000004 <= 0.050000000000000044
        ("4.", "4", 1.0, 4.0),
        ("4 meters", "4", 1.0, 4.0),
        ("1e1", "10", 1.0, 10.0),
        ("about 4", "4", 0.0, None),  # the first token is not a number
        ("4m", "4", 0.0, None),
        ("", "4", 0.0, None),
        ("nan", "4", 0.0, "nan"),  # float("nan") parses: read, scores 0, kept JSON-safe
    ],
)
def test_official_numerical_mra(adapter, tmp_path, response, truth, score, pred):
    rows = _official_rows()
    rows[1]["ground_truth"] = truth
    na = adapter.load(_write(tmp_path, rows), tmp_path)[1]
    result = adapter.score_sample(na, response, "official")
    assert result == {"score": pytest.approx(score), "pred": pred, "extraction_failed": pred is None}
    json.dumps(result, allow_nan=False)


def test_mra_thresholds_are_numpys():
    official = 1 - np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))
    assert vsibench._TOLERANCES == list(official)
    for p, g in [(1.9, 2.0), (2.1, 2.0), (95, 100), (3, 4), (0, 5), (7.2, 8.0)]:
        assert vsibench.mean_relative_accuracy(p, g) == float((abs(p - g) / g <= official).mean())


def test_robust_regression_is_mra_of_the_reward_library(adapter, tmp_path):
    na = adapter.load(_write(tmp_path, _official_rows()), tmp_path)[1]  # key 4
    assert adapter.score_sample(na, "<answer>3</answer>", "robust")["score"] == pytest.approx(0.6)
    assert adapter.score_sample(na, "<answer>2</answer>", "robust")["score"] == pytest.approx(0.1)
    # the library reads the number anywhere; the official parser only the first token
    assert adapter.score_sample(na, "I count about 3 chairs", "robust")["score"] == pytest.approx(0.6)
    assert adapter.score_sample(na, "I count about 3 chairs", "official")["score"] == 0.0


def _rec(adapter, i, qtype):
    mca = qtype in vsibench.MCA_TYPES
    return adapter.make_record(
        f"r{i}",
        problem="q",
        problem_type="multiple choice" if mca else "regression",
        answer="A" if mca else "2",
        options=["A. x", "B. y"] if mca else [],
        media=["/v.mp4"],
        categories={"question_type": qtype},
    )


def test_aggregate_eight_task_mean(adapter):
    types_scores = [
        ("object_rel_direction_easy", 1.0),
        ("object_rel_direction_easy", 0.0),
        ("object_rel_direction_medium", 1.0),  # hard missing: counts 0 in the direction mean
        ("object_counting", 0.6),
        ("route_planning", 0.0),
        ("route_planning", 0.0),
    ]
    recs = [_rec(adapter, i, t) for i, (t, _) in enumerate(types_scores)]
    scores = [{"score": s, "extraction_failed": False} for _, s in types_scores]
    out = adapter.aggregate(recs, scores, "official")
    assert out["by_task"] == pytest.approx(
        {"object_counting": 60.0, "route_planning": 0.0, "object_rel_direction": 50.0}
    )
    assert out["overall"] == pytest.approx((60.0 + 0.0 + 50.0) / 3)
    assert out["by_question_type"]["object_rel_direction_easy"] == pytest.approx(50.0)
    assert "object_rel_direction_hard" in out["missing_question_types"] and out["n"] == 6
    assert out["mc_accuracy"] == pytest.approx(40.0) and out["mean_mra"] == pytest.approx(60.0)
    assert adapter.aggregate([], [], "robust")["overall"] is None


@pytest.mark.parametrize(
    "mutate,match",
    [
        (
            lambda rows: rows[1].pop("scene_name"),
            r"vsi\.json: record 1 \(id=12\): missing fields \['scene_name'\]",
        ),
        (
            lambda rows: rows[0].update(question_type="floor_plan"),
            r"record 0 \(id=11\): unknown VSI-Bench question_type",
        ),
        (
            lambda rows: rows[0].update(ground_truth="C"),
            r"record 0 \(id=11\): answer 'C' names none of the options",
        ),
        (
            lambda rows: rows[1].update(ground_truth="four"),
            r"record 1 \(id=12\): numerical ground_truth 'four'",
        ),
        (lambda rows: rows[0].update(options=None), r"record 0 \(id=11\): a multiple-choice question"),
        (lambda rows: rows[1].update(id=11), r"duplicate record ids \['11'\]"),
    ],
)
def test_official_format_errors_name_file_and_record(adapter, tmp_path, mutate, match):
    rows = _official_rows()
    mutate(rows)
    with pytest.raises(ValueError, match=match):
        adapter.load(_write(tmp_path, rows), tmp_path)


def test_unified_format_errors(adapter, tmp_path):
    rows = json.loads(SAMPLE.read_text())[:3]
    del rows[1]["original_question_type"]
    with pytest.raises(
        ValueError, match=r"record 1 \(problem_id=521\): missing field 'original_question_type'"
    ):
        adapter.load(_write(tmp_path, rows), tmp_path)
    rows = json.loads(SAMPLE.read_text())[:3]
    rows[0]["problem_type"] = "multiple choice"
    rows[0]["options"] = ["A. 1", "B. 2"]
    rows[0]["solution"] = "<answer>A</answer>"
    with pytest.raises(
        ValueError, match=r"record 0 \(problem_id=255\): problem_type 'multiple choice' does not fit"
    ):
        adapter.load(_write(tmp_path, rows), tmp_path)


def test_malformed_file_names_the_file(adapter, tmp_path):
    (tmp_path / "bad.json").write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad\.json:1: malformed JSON"):
        adapter.load(tmp_path / "bad.json", tmp_path)
    (tmp_path / "obj.json").write_text(json.dumps({"id": 1}))
    with pytest.raises(ValueError, match=r"obj\.json: expected a list of VSI-Bench records"):
        adapter.load(tmp_path / "obj.json", tmp_path)


def test_only_the_three_direction_levels_fold_into_object_rel_direction():
    means = {t: 0.0 for t in (*vsibench.NA_TYPES, *vsibench.MCA_TYPES)}
    means |= {"object_rel_direction_easy": 30.0, "object_rel_direction_medium": 60.0,
              "object_rel_direction_hard": 90.0, "object_rel_distance": 40.0}  # fmt: skip
    tasks = vsibench.task_scores(means)
    assert tasks["object_rel_direction"] == 60.0 and tasks["object_rel_distance"] == 40.0
    assert len(tasks) == 8 and not any(t.startswith("object_rel_direction_") for t in tasks)
