"""ODV-Bench adapter: both readers, the StreamForest official matcher (``lmms_eval/tasks/odvbench/
utils.py``: ``mcq_acc`` quirks, empty responses out of the denominator) and the task / subtask
aggregates.

No ODV-Bench sample exists in this repository or the stores it was written from: the files below are
built from the fields the consuming code reads (StreamForest's ``odvbench_doc_to_text`` /
``odvbench_process_results`` for the official release; EasyVideoR1's ``odv_task`` / ``odv_subtask``
breakdown and ``eval/preprocess/cilp.py`` clip names for its unified form). Their values are made up.
"""

import json

import pytest

from evaluation.adapters import get_adapter
from evaluation.official import odvbench


@pytest.fixture
def adapter():
    return get_adapter("odvbench")


def _official_rows():
    return [
        {
            "video": "nuscenes/scene-0103.mp4",
            "question": "What is the white car ahead doing?",
            "candidates": ["turning left", "braking", "accelerating", "braking"],
            "answer": "braking",
            "task": "targeting_single_dynamic_objects",
            "subtask": "motion_state",
            "start": 3.5,
            "end": 10.0,
        },
        {
            "video": "nuscenes/scene-0110.mp4",
            "question": "What color is the traffic light?",
            "candidates": ["red", "green"],
            "answer": "red",
            "task": "targeting_single_static_objects",
            "subtask": "traffic_light",
            "subsubtask": "color",
        },
    ]


def _unified_rows():
    return [
        {
            "problem_id": 1,
            "problem": "What is the white car ahead doing?",
            "problem_type": "multiple choice",
            "data_type": "video",
            "options": ["A. turning left", "B. braking", "C. accelerating"],
            "solution": "<answer>B</answer>",
            "path": "17_scene-0103_s3.5_e10.0.mp4",
            "odv_task": "targeting_single_dynamic_objects",
            "odv_subtask": "motion_state",
        }
    ]


def _write(tmp_path, rows, name="odv.json"):
    (tmp_path / name).write_text(json.dumps(rows))
    return tmp_path / name


def test_official_format(adapter, tmp_path):
    dyn, static = adapter.load(_write(tmp_path, _official_rows()), tmp_path / "v")
    assert dyn.answer == "B"  # the first candidate equal to the answer
    assert dyn.options == ["A. turning left", "B. braking", "C. accelerating", "D. braking"]
    assert dyn.media == [str(tmp_path / "v" / "nuscenes" / "scene-0103.mp4")]
    assert dyn.categories == {"task": "targeting_single_dynamic_objects", "subtask": "motion_state"}
    assert (dyn.extra["start"], dyn.extra["end"]) == (3.5, 10.0)
    assert static.categories["subsubtask"] == "color" and static.answer == "A"
    # content ids: the same question keeps its id when the file is reordered
    again = adapter.load(_write(tmp_path, _official_rows()[::-1], "rev.json"), tmp_path)
    assert {r.id for r in again} == {dyn.id, static.id} and len(dyn.id) == 12


def test_official_ids_and_repeats(adapter, tmp_path):
    rows = _official_rows()
    rows.append(dict(rows[1]))
    ids = [r.id for r in adapter.load(_write(tmp_path, rows), tmp_path)]
    assert ids[2] == ids[1] + "~2"
    rows = _official_rows()
    rows[0]["id"] = "odv-7"
    assert adapter.load(_write(tmp_path, rows), tmp_path)[0].id == "odv-7"


def test_unified_format(adapter, tmp_path):
    (rec,) = adapter.load(_write(tmp_path, _unified_rows()), tmp_path)
    assert (rec.id, rec.answer) == ("1", "B")
    assert rec.categories == {"task": "targeting_single_dynamic_objects", "subtask": "motion_state"}
    assert (rec.extra["video_stem"], rec.extra["start"], rec.extra["end"]) == ("scene-0103", 3.5, 10.0)
    assert rec.media == [str(tmp_path / "17_scene-0103_s3.5_e10.0.mp4")]


@pytest.mark.parametrize(
    "response,read",
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("b. braking", "B"),  # "^([A-E])\.\s*(.+)$", case-insensitive
        ("The answer is (B).", "B"),
        ("Answer: B", "B"),
        ("I think it is a car, B", "A"),  # the article "a" is the first standalone a-e
        ("e.g. B", "E"),  # "e." starts the option pattern
        ("braking", "braking"),  # no letter: the normalised text
        ("F", "f"),
    ],
)
def test_official_process(response, read):
    assert odvbench.process(response) == read


@pytest.mark.parametrize(
    "response,score,pred",
    [("B", 1.0, "B"), ("(b)", 1.0, "B"), ("A car brakes: B", 0.0, "A"), ("braking", 0.0, ""), ("", 0.0, "")],
)
def test_official_scores(adapter, tmp_path, response, score, pred):
    dyn = adapter.load(_write(tmp_path, _official_rows()), tmp_path)[0]  # key B
    result = adapter.score_sample(dyn, response, "official")
    assert result == {"score": score, "pred": pred, "extraction_failed": not pred, "answered": response != ""}


def test_official_aggregate_leaves_out_empty_responses(adapter, tmp_path):
    dyn, static = adapter.load(_write(tmp_path, _official_rows()), tmp_path)
    recs = [dyn, dyn, static, static]
    responses = ["B", "braking", "A", ""]  # right, wrong (unreadable but answered), right, empty
    official = adapter.aggregate(
        recs, [adapter.score_sample(r, x, "official") for r, x in zip(recs, responses)], "official"
    )
    assert (official["n"], official["excluded"]) == (3, 1)
    assert official["overall"] == pytest.approx(200 / 3)
    assert official["by_task"] == pytest.approx(
        {"targeting_single_dynamic_objects": 50.0, "targeting_single_static_objects": 100.0}
    )
    assert official["by_subtask"] == pytest.approx({"motion_state": 50.0, "traffic_light": 100.0})
    assert official["by_subsubtask"] == pytest.approx({"color": 100.0})
    robust = adapter.aggregate(
        recs, [adapter.score_sample(r, x, "robust") for r, x in zip(recs, responses)], "robust"
    )
    assert (robust["n"], robust["excluded"]) == (4, 0)
    assert robust["by_subsubtask"] == pytest.approx({"color": 50.0})


@pytest.mark.parametrize(
    "mutate,match",
    [
        (
            lambda rows: rows[1].pop("subtask"),
            r"odv\.json: record 1 \(id=None\): missing fields \['subtask'\]",
        ),
        (
            lambda rows: rows[0].update(answer="reversing"),
            r"record 0 \(id=None\): answer 'reversing' is none of",
        ),
        (
            lambda rows: rows[0].update(candidates="a,b"),
            r"record 0 \(id=None\): candidates must be a non-empty list",
        ),
    ],
)
def test_official_format_errors(adapter, tmp_path, mutate, match):
    rows = _official_rows()
    mutate(rows)
    with pytest.raises(ValueError, match=match):
        adapter.load(_write(tmp_path, rows), tmp_path)


def test_unified_format_errors(adapter, tmp_path):
    rows = _unified_rows()
    del rows[0]["odv_subtask"]
    with pytest.raises(
        ValueError,
        match=r"odv\.json is not a odvbench annotation file: .*need fields odv_task, odv_subtask; "
        r"found keys .* \(no odv_subtask\) in record 0 \(problem_id=1\)",
    ):
        adapter.load(_write(tmp_path, rows), tmp_path)


def test_malformed_file_names_the_file(adapter, tmp_path):
    (tmp_path / "bad.json").write_text("not json at all")
    with pytest.raises(ValueError, match=r"bad\.json"):
        adapter.load(tmp_path / "bad.json", tmp_path)


def test_read_choice_reads_every_letter_from_a_to_e():
    """The letter read when the key does not score: A and E are the range's ends (both included)."""
    assert [odvbench.read_choice(letter, "C") for letter in "ABDEF"] == ["A", "B", "D", "E", ""]


def test_punctuation_beside_a_space_is_removed_and_inside_a_word_becomes_a_space():
    """VQA's processPunctuation as ODVBench's official script runs it."""
    assert odvbench._process_punctuation("red;blue") == "red blue"
    assert odvbench._process_punctuation("red ; blue") == "red  blue"
    assert odvbench._process_punctuation("red; blue") == "red blue"
