"""Charades-STA adapter: both annotation formats on the real sample files, scoring and aggregates."""

import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.charades_sta import LMMS_EVAL_POST, LMMS_EVAL_PRE

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "charades_sta"


@pytest.fixture
def adapter():
    return get_adapter("charades_sta")


def test_official_txt_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLES / "charades_sta_test.sample.txt", tmp_path / "videos")
    assert len(recs) == 20 and len({r.id for r in recs}) == 20
    first = recs[0]  # "3MSZA 24.3 30.4##person turn a light on."
    assert first.extra["span"] == [24.3, 30.4]
    assert first.extra["sentence"] == "person turn a light on."
    assert first.extra["video_id"] == "3MSZA" and first.extra["source_format"] == "official_txt"
    assert first.media == [str(tmp_path / "videos" / "3MSZA.mp4")] and first.media_kind == "video"
    assert first.problem_type == "temporal grounding"
    assert first.problem == f"{LMMS_EVAL_PRE}person turn a light on. {LMMS_EVAL_POST}"
    assert json.loads(first.answer.removeprefix("<answer>").removesuffix("</answer>")) == {
        "time": [24.3, 30.4]
    }
    last = recs[-1]  # "DLFPX 0.0 7.7##a person is standing on their stairs holding a bag."
    assert last.extra["span"] == [0.0, 7.7] and last.extra["line"] == 20
    # ids are content-based: the same line gives the same id whatever the file order
    assert adapter.load(SAMPLES / "charades_sta_test.sample.txt", tmp_path)[0].id == first.id


def test_easyvideor1_json_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLES / "easyvideor1_charades_sta.sample.json", tmp_path)
    assert len(recs) == 20 and len({r.id for r in recs}) == 20
    first = recs[
        0
    ]  # problem_id 287, 0DVVD.mp4, solution <think>{"time": [2.80078125, 14.296875], ...}</think>
    assert first.id == "287"
    assert first.extra["span"] == [2.80078125, 14.296875]
    assert first.extra["sentence"] == "a person closes a window."
    assert first.media == [str(tmp_path / "0DVVD.mp4")]
    assert first.extra["source_format"] == "easyvideor1"


def test_media_root_defaults_to_annotation_folder(adapter, tmp_path):
    (tmp_path / "ann.txt").write_text("AAAAA 1 2##x.\n")
    assert adapter.load(tmp_path / "ann.txt", None)[0].media == [str(tmp_path / "AAAAA.mp4")]


@pytest.mark.parametrize(
    "content,match",
    [
        (
            "3MSZA 24.3 30.4##a.\nBROKEN LINE\n",
            r"ann\.txt:2: expected '<VIDEO_ID> <start> <end>##<sentence>'",
        ),
        ("3MSZA 24.3 x##a.\n", r"ann\.txt:1: start/end must be numbers"),
        ("3MSZA 9 3##a.\n", r"ann\.txt:1: need 0 <= start <= end"),
        ("3MSZA 1 3##   \n", r"ann\.txt:1: empty sentence"),
        ("\n\n", r"no Charades-STA records"),
    ],
)
def test_official_format_errors_name_file_and_line(adapter, tmp_path, content, match):
    (tmp_path / "ann.txt").write_text(content)
    with pytest.raises(ValueError, match=match):
        adapter.load(tmp_path / "ann.txt", tmp_path)


def _evr1(**overrides):
    rec = {
        "data_type": "video",
        "data_source": "charades_sta",
        "path": "V1.mp4",
        "problem": "p.",
        "problem_id": 7,
        "problem_type": "temporal grounding",
        "options": [],
        "solution": '<think>{"time": [1.0, 2.5], "boxes": {}}</think><[PLHD]>',
    }
    rec.update(overrides)
    return rec


@pytest.mark.parametrize(
    "records,match",
    [
        (
            [_evr1(), _evr1(problem_id=8, solution="<answer>no json</answer>")],
            r"ann\.json: record 1 \(problem_id=8\): solution holds no",
        ),
        (
            [{"data_source": "charades_sta", "path": "V.mp4", "problem": "p", "solution": "x"}],
            r"record 0 \(problem_id=None\): missing fields \['problem_id'\]",
        ),
        ([_evr1(), _evr1()], r"record 1 \(problem_id=7\): duplicate problem_id '7'"),
        (
            [_evr1(problem_type="multiple choice")],
            r"record 0 \(problem_id=7\): problem_type 'multiple choice'",
        ),
        ({"not": "a list"}, r"expected a JSON list"),
    ],
)
def test_easyvideor1_format_errors_name_record(adapter, tmp_path, records, match):
    (tmp_path / "ann.json").write_text(json.dumps(records))
    with pytest.raises(ValueError, match=match):
        adapter.load(tmp_path / "ann.json", tmp_path)


def test_solution_in_answer_block(adapter, tmp_path):
    (tmp_path / "ann.json").write_text(json.dumps([_evr1(solution='<answer>{"time": [3, 4.5]}</answer>')]))
    assert adapter.load(tmp_path / "ann.json", tmp_path)[0].extra["span"] == [3.0, 4.5]


def _one(adapter, tmp_path, line="VID01 10 20##person opens a door.\n"):
    (tmp_path / "ann.txt").write_text(line)
    return adapter.load(tmp_path / "ann.txt", tmp_path)[0]


def test_official_and_robust_scores(adapter, tmp_path):
    rec = _one(adapter, tmp_path)  # ground truth [10, 20]
    off = adapter.score_sample(rec, "The event happens in 15 to 25 seconds.", "official")
    assert off == {
        "score": pytest.approx(5 / 15),
        "iou": pytest.approx(5 / 15),
        "pred": [15.0, 25.0],
        "extraction_failed": False,
    }
    rob = adapter.score_sample(rec, "The event happens in 15 to 25 seconds.", "robust")
    assert rob["iou"] == pytest.approx(5 / 15) and rob["extraction_failed"] is False
    # JSON answers: the reward library reads them, the official parser does not (IoU 0, a bad prediction)
    json_answer = '<answer>{"time": [10, 15]}</answer>'
    assert adapter.score_sample(rec, json_answer, "robust")["iou"] == pytest.approx(0.5)
    assert adapter.score_sample(rec, json_answer, "official") == {
        "score": 0.0,
        "iou": 0.0,
        "pred": None,
        "extraction_failed": True,
    }
    for mode in ("robust", "official"):
        empty = adapter.score_sample(rec, "", mode)
        assert empty["iou"] == 0.0 and empty["extraction_failed"] is True
    with pytest.raises(ValueError, match="unknown scoring mode"):
        adapter.score_sample(rec, "x", "lenient")


def test_aggregates_exact(adapter, tmp_path):
    rec = _one(adapter, tmp_path)
    scores = [{"iou": 1.0}, {"iou": 0.5}, {"iou": 1 / 3}, {"iou": 0.0}]
    agg = adapter.aggregate([rec] * 4, scores, "official")
    assert agg["n"] == 4
    assert agg["R@0.3"] == pytest.approx(75.0)
    assert agg["R@0.5"] == pytest.approx(50.0)
    assert agg["R@0.7"] == pytest.approx(25.0)
    assert agg["mIoU"] == pytest.approx(100 * (1 + 0.5 + 1 / 3) / 4)
    assert adapter.aggregate([], [], "robust") == {
        "n": 0,
        "R@0.3": None,
        "R@0.5": None,
        "R@0.7": None,
        "mIoU": None,
        "overall": None,
    }


def test_reelrl_prompt_style(tmp_path):
    adapter = get_adapter("charades_sta", prompt_style="reelrl")
    rec = _one(adapter, tmp_path)
    assert rec.problem == (
        'Find the time span in the video during which this event happens: "person opens a door". '
        "Give its start and end time in seconds."
    )
    assert adapter.prompt_template is None  # the training default template adds the JSON answer format
    with pytest.raises(ValueError, match="prompt_style must be"):
        get_adapter("charades_sta", prompt_style="other")
