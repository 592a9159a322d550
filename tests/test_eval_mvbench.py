"""MVBench adapter: EasyVideoR1 sample records, the official ``json/<task>.json`` format, VLMEvalKit's
``check_ans`` quirks (an empty answer is correct) and the task-mean aggregate.

No official MVBench annotation file is shipped in ``evaluation/samples``; the official-format tests write
small ``json/<task>.json`` files following the documented schema (``video, question, candidates,
answer, start?, end?``; HF OpenGVLab/MVBench, read by VLMEvalKit ``MVBench.prepare_dataset``).
"""

import doctest
import json
from collections import Counter
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.mvbench import TASK_FOLDERS, task_from_path
from evaluation.official import mvbench as official_module
from evaluation.official.mvbench import check_ans, first_token

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "mvbench"
    / "easyvideor1_mvbench.sample.json"
)

ACTION_SEQUENCE = [
    {
        "video": "ZS9XR.mp4",
        "question": "What happened after the person took the food?",
        "candidates": ["Ate the medicine.", "Tidied up the blanket.", "Put down the cup/glass/bottle."],
        "answer": "Ate the medicine.",
        "start": 11.1,
        "end": 19.6,
    },
    {
        "video": "AB12C.mp4",
        "question": "What happened before the person sat on the sofa?",
        "candidates": ["Opened the door.", "Took the book.", "Opened the door."],  # repeated candidate
        "answer": "Opened the door.",
        "start": 0.0,
        "end": 8.5,
    },
]
ACTION_ANTONYM = [
    {
        "video": "166583.webm",
        "question": "What is the action performed by the person in the video?",
        "candidates": ["Not sure", "Scattering something down", "Piling something up"],
        "answer": "Piling something up",
    }
]


@pytest.fixture
def adapter():
    return get_adapter("mvbench")


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------------------------ loading
def test_easyvideor1_sample(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20 and [r.id for r in recs][:3] == ["6", "191", "360"]
    by_id = {r.id: r for r in recs}
    first = by_id["6"]  # ./ssv2_video/104554.mp4, "Piling something up" = C
    assert first.answer == "C" and first.options[2] == "C. Piling something up"
    assert first.categories == {"task": "action_antonym", "source_folder": "ssv2_video"}
    assert first.media == [str(tmp_path / "ssv2_video" / "104554.mp4")]
    assert first.extra["official_gt"] == "(C) Piling something up"
    sta = by_id["506"]  # ./sta/sta_video/RNLTR.mp4 with its clip bounds
    assert sta.categories["task"] == "action_localization" and sta.answer == "A"
    assert sta.extra["start"] == pytest.approx(1.1) and sta.extra["end"] == 19.7
    assert sta.extra["accurate_start"] == 7.3
    # star / clevrer / perception hold several tasks each: no task is guessed
    assert by_id["603"].categories == {"task": "unknown", "source_folder": "star"}
    assert by_id["1371"].categories["source_folder"] == "clevrer"
    assert Counter(r.categories["task"] for r in recs) == {
        "unknown": 6,
        "fine_grained_action": 3,
        "unexpected_action": 3,
        "action_antonym": 2,
        "action_localization": 2,
        "egocentric_navigation": 2,
        "scene_transition": 2,
    }


@pytest.mark.parametrize(
    "path,task,folder",
    [
        ("./ssv2_video/1.mp4", "action_antonym", "ssv2_video"),
        ("./vlnqa/stop/945_frame31.mp4", "egocentric_navigation", "vlnqa"),
        ("./nturgbd/S001.avi", "fine_grained_pose", "nturgbd"),
        ("./tvqa/frames_fps3_hq/clip", "episodic_reasoning", "tvqa"),
        ("./perception/videos/video_1.mp4", "unknown", "perception"),
        ("video_1.mp4", "unknown", ""),
    ],
)
def test_task_from_path(path, task, folder):
    assert task_from_path(path) == (task, folder)


def test_official_task_file(adapter, tmp_path):
    path = write_json(tmp_path / "json" / "action_sequence.json", ACTION_SEQUENCE)
    recs = adapter.load(path, tmp_path / "video")
    assert len(recs) == 2
    first, second = recs
    assert first.id.startswith("action_sequence:") and first.categories == {"task": "action_sequence"}
    assert first.problem == "What happened after the person took the food?"
    assert first.options == [
        "A. Ate the medicine.",
        "B. Tidied up the blanket.",
        "C. Put down the cup/glass/bottle.",
    ]
    assert first.answer == "A" and first.extra["official_gt"] == "(A) Ate the medicine."
    assert first.media == [str(tmp_path / "video" / "star" / "Charades_v1_480" / "ZS9XR.mp4")]
    assert (first.extra["start"], first.extra["end"]) == (11.1, 19.6)
    assert second.answer == "C"  # VLMEvalKit's qa_template keeps the last equal candidate
    # content ids: the same question keeps its id when the file is reordered
    write_json(path, ACTION_SEQUENCE[::-1])
    assert [r.id for r in adapter.load(path, tmp_path)] == [second.id, first.id]


def test_official_folder_and_repeats(adapter, tmp_path):
    write_json(tmp_path / "json" / "action_sequence.json", ACTION_SEQUENCE)
    write_json(tmp_path / "json" / "action_antonym.json", ACTION_ANTONYM * 2)  # an exact repeat
    recs = adapter.load(tmp_path / "json", tmp_path / "video")
    assert [r.categories["task"] for r in recs] == ["action_antonym"] * 2 + ["action_sequence"] * 2
    assert recs[1].id == recs[0].id + "~2"
    assert recs[0].media == [str(tmp_path / "video" / "ssv2_video" / "166583.webm")]
    assert "media_format" not in recs[0].extra
    frames = write_json(tmp_path / "other" / "episodic_reasoning.json", ACTION_ANTONYM)
    assert adapter.load(frames, tmp_path)[0].extra["media_format"] == "frames"
    assert len(TASK_FOLDERS) == 20


def test_folder_media_root_defaults_to_the_folder(adapter, tmp_path):
    write_json(tmp_path / "json" / "action_antonym.json", ACTION_ANTONYM)
    rec = adapter.load(tmp_path / "json", None)[0]
    assert rec.media == [str(tmp_path / "json" / "ssv2_video" / "166583.webm")]


@pytest.mark.parametrize(
    "name,rows,match",
    [
        ("action_antonym.json", [ACTION_ANTONYM[0], {"video": "x.mp4", "question": "q", "answer": "a"}],
         r"action_antonym\.json: record 1 \(video='x\.mp4'\): missing fields \['candidates'\]"),
        ("action_antonym.json", [{**ACTION_ANTONYM[0], "answer": "Dancing"}],
         r"action_antonym\.json: record 0 .*answer 'Dancing' is none of the candidates"),
        ("action_antonym.json", [{**ACTION_ANTONYM[0], "candidates": "Not sure"}],
         r"record 0 .*'candidates' must be a list"),
        ("my_task.json", ACTION_ANTONYM, r"my_task\.json: the MVBench task is the file stem"),
        ("action_antonym.json", {"video": "x"}, r"action_antonym\.json: expected a list of MVBench records"),
    ],
)  # fmt: skip
def test_bad_official_files(adapter, tmp_path, name, rows, match):
    path = write_json(tmp_path / name, rows)
    with pytest.raises(ValueError, match=match):
        adapter.load(path, tmp_path)


def test_bad_files(adapter, tmp_path):
    broken = tmp_path / "action_antonym.json"
    broken.write_text("[{not json")
    with pytest.raises(ValueError, match=r"action_antonym\.json:1: malformed JSON"):
        adapter.load(broken, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: folder holds no mvbench annotation files"):
        adapter.load(tmp_path / "empty", None)
    row = json.loads(SAMPLE.read_text())[3]
    del row["solution"]
    unified = write_json(tmp_path / "evr1.json", [json.loads(SAMPLE.read_text())[0], row])
    with pytest.raises(ValueError, match=r"evr1\.json: record 1 \(problem_id=506\): missing fields"):
        adapter.load(unified, tmp_path)


# ------------------------------------------------------------------------------------ scoring
@pytest.mark.parametrize(
    "response,score,pred",
    [
        ("", 1.0, ""),  # VLMEvalKit: "" in "(a)" -> an empty answer is correct
        ("   \n", 1.0, ""),
        ("A", 1.0, "A"),
        ("a.", 1.0, "A"),
        ("A)", 1.0, "A"),
        ("(A) Piling something up", 1.0, "A"),
        ("(", 1.0, ""),  # a substring of every "(x)"
        ("B", 0.0, "B"),
        ("Answer: A", 0.0, ""),  # first token "answer:"
        ("The answer is (A)", 0.0, ""),
        ("The answer is (A) Piling something up", 1.0, "A"),  # the whole ground truth occurs in it
        ("the answer is (a) piling something up", 0.0, ""),  # ... case-sensitively
        ("A\nbecause the tower grows", 0.0, ""),  # a newline does not split the first token
        ("C. Scattering something down", 0.0, "C"),
    ],
)
def test_official_check_ans_quirks(adapter, tmp_path, response, score, pred):
    path = write_json(tmp_path / "action_antonym.json", [{**ACTION_ANTONYM[0], "candidates": [
        "Piling something up", "Not sure", "Scattering something down"]}])  # fmt: skip
    rec = adapter.load(path, tmp_path)[0]
    assert rec.answer == "A" and rec.extra["official_gt"] == "(A) Piling something up"
    result = adapter.score_sample(rec, response, "official")
    assert result == {"score": score, "pred": pred, "extraction_failed": pred == ""}


def test_check_ans_function():
    assert first_token("  B. The cat  ") == "b"
    assert check_ans("b) whatever", "(B) cat") and not check_ans("b", "(A) cat")
    assert check_ans("(b)(c)", "(B) cat")  # "(b)" is in the token


def test_robust_mode_is_the_reward_library(adapter):
    rec = adapter.load(SAMPLE, None)[0]
    assert adapter.score_sample(rec, "<answer>C</answer>", "robust")["score"] == 1.0
    assert adapter.score_sample(rec, "", "robust")["score"] == 0.0  # not the official quirk


# ------------------------------------------------------------------------------------ aggregates
def test_task_mean_aggregate(adapter):
    recs = {r.id: r for r in adapter.load(SAMPLE, None)}
    chosen = [recs["6"], recs["191"], recs["506"], recs["360"]]  # antonym x2, localization, unknown
    scores = [{"score": 1.0}, {"score": 0.0}, {"score": 1.0}, {"score": 0.0}]
    out = adapter.aggregate(chosen, scores, "official")
    assert out["by_task"] == {"action_antonym": 50.0, "action_localization": 100.0, "unknown": 0.0}
    assert out["overall"] == pytest.approx(50.0)  # (50 + 100 + 0) / 3 tasks
    assert out["accuracy"] == 50.0 and out["n"] == 4 and out["excluded"] == 0
    assert out["tasks_unknown"] == 1
    two = adapter.aggregate(chosen[:3], scores[:3], "official")
    assert two["overall"] == 75.0 and two["accuracy"] == pytest.approx(200 / 3) and two["tasks_unknown"] == 0


def test_docstring_examples():
    result = doctest.testmod(official_module)
    assert result.failed == 0 and result.attempted >= 1
