"""MLVU adapter: the official dev sample (``N_task.json`` rows, generation tasks skipped), EasyVideoR1's
test records (up to six options, question type from the video name), choice_bench's ``check_ans`` and
the M-avg aggregate.

The test split's official ``test_mcq_gt.json`` (dev fields plus ``question_id``) is not shipped in
``evaluation/samples``; ``test_official_test_split_rows`` writes two rows of that documented schema.
"""

import doctest
import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.mlvu import GenerationTaskFile, type_from_video
from evaluation.official import mlvu as official_module
from evaluation.official.mlvu import check_ans, read_option

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "mlvu"
DEV = SAMPLES / "official_dev.sample.json"
TEST = SAMPLES / "easyvideor1_mlvu-test.sample.json"


@pytest.fixture
def adapter():
    return get_adapter("mlvu")


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def dev_rows() -> list[dict]:
    return json.loads(DEV.read_text())


# ------------------------------------------------------------------------------------ loading
def test_official_dev_sample(adapter, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        recs = adapter.load(DEV, tmp_path)
    assert "skipped 2 generation-task rows (subPlot, summary)" in caplog.text
    assert len(recs) == 21 and len({r.id for r in recs}) == 21
    assert Counter(r.categories["question_type"] for r in recs) == dict.fromkeys(
        ["plotQA", "findNeedle", "ego", "count", "order", "anomaly_reco", "topic_reasoning"], 3
    )
    first = recs[0]  # movie101_66.mp4, "Yellow"
    assert first.id.startswith("plotQA:") and first.answer == "A"
    assert first.options == ["A. Yellow", "B. Red", "C. Green", "D. Blue"]
    assert first.problem == "What color is the main male character in the video?"
    assert first.media == [str(tmp_path / "1_plotQA" / "movie101_66.mp4")]  # MLVU/video/<task file>/<video>
    assert first.extra["duration"] == 246
    surveil = next(r for r in recs if r.extra["video"] == "surveil_22.mp4")  # candidates repeat "Shooting"
    assert surveil.answer == "B" and surveil.options[3] == "D. Shooting"
    assert surveil.media == [str(tmp_path / "6_anomaly_reco" / "surveil_22.mp4")]
    ego = next(r for r in recs if r.extra["video"] == "ego_36.mp4")
    assert ego.answer == "C" and ego.categories == {"question_type": "ego"}


def test_easyvideor1_test_sample(adapter, tmp_path):
    recs = adapter.load(TEST, tmp_path)
    assert [r.id for r in recs] == ["139", "140", "189", "227", "234", "274", "297", "358", "465", "500"]
    assert all(len(r.options) == 6 and r.options[-1].startswith("F. ") for r in recs)
    by_id = {r.id: r for r in recs}
    assert by_id["189"].answer == "F" and by_id["189"].categories == {
        "question_type": "needleQA",
        "video_source": "needle",
    }
    assert by_id["465"].answer == "E" and by_id["465"].options[4] == "E. 5"
    assert by_id["227"].categories == {"question_type": "unknown", "video_source": "entv"}
    assert by_id["139"].media == [str(tmp_path / "video" / "test_order_55.mp4")]
    assert Counter(r.categories["question_type"] for r in recs) == {
        "unknown": 4,
        "order": 2,
        "count": 2,
        "needleQA": 1,
        "ego": 1,
    }


@pytest.mark.parametrize(
    "name,expected",
    [
        ("./video/test_surveil_3.mp4", ("anomaly_reco", "surveil")),
        ("test_needle_48.mp4", ("needleQA", "needle")),
        ("test_cartoon_5.mp4", ("unknown", "cartoon")),
        ("movie101_66.mp4", ("unknown", "")),
    ],
)
def test_type_from_video(name, expected):
    assert type_from_video(name) == expected


def test_official_test_split_rows(adapter, tmp_path):
    row = {
        "question_id": "AR_7",
        "video": "test_surveil_3.mp4",
        "duration": 300.0,
        "question": "Which anomaly happens?",
        "candidates": ["Shooting", "Fighting", "Arson", "Stealing", "Explosion", "Robbery"],
        "answer": "Robbery",
        "question_type": "anomaly_reco",
    }
    path = write_json(tmp_path / "test_mcq_gt.json", [row, {**row, "question_id": "AR_8", "answer": "Arson"}])
    recs = adapter.load(path, tmp_path / "video")
    assert [(r.id, r.answer) for r in recs] == [("AR_7", "F"), ("AR_8", "C")]
    assert recs[0].media == [str(tmp_path / "video" / "test_surveil_3.mp4")]  # the flat test layout


def test_folder_skips_generation_files(adapter, tmp_path, caplog):
    rows = dev_rows()
    write_json(tmp_path / "json" / "1_plotQA.json", [r for r in rows if r["question_type"] == "plotQA"])
    write_json(tmp_path / "json" / "9_summary.json", [r for r in rows if r["question_type"] == "summary"])
    with caplog.at_level(logging.WARNING):
        recs = adapter.load(tmp_path / "json", tmp_path / "video")
    assert len(recs) == 3 and "9_summary.json: only generation-task rows" in caplog.text
    with pytest.raises(GenerationTaskFile, match=r"9_summary\.json: only generation-task rows"):
        adapter.load(tmp_path / "json" / "9_summary.json", None)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda r: r.pop("candidates"), (r"bad\.json: record 1 \(question_id=None, video='xiaoliyu_6\.mp4'\): "
                                         r"missing fields \['candidates'\]")),
        (lambda r: r.pop("question_type"), r"record 1 .*missing fields \['question_type'\]"),
        (lambda r: r.update(answer="Carried by a whale"), r"record 1 .*answer 'Carried by a whale' is none"),
        (lambda r: r.update(candidates=["only one"], answer="only one"), r"record 1 .*at least 2 options"),
    ],
)  # fmt: skip
def test_bad_rows(adapter, tmp_path, change, match):
    rows = dev_rows()[:3]
    change(rows[1])
    with pytest.raises(ValueError, match=match):
        adapter.load(write_json(tmp_path / "bad.json", rows), tmp_path)


def test_malformed_files(adapter, tmp_path):
    (tmp_path / "broken.json").write_text('[{"video": ')
    with pytest.raises(ValueError, match=r"broken\.json:1: malformed JSON"):
        adapter.load(tmp_path / "broken.json", None)
    with pytest.raises(ValueError, match=r"object\.json: expected a list of MLVU records"):
        adapter.load(write_json(tmp_path / "object.json", {"video": "x"}), None)


# ------------------------------------------------------------------------------------ scoring
@pytest.mark.parametrize(
    "response,pred,score",
    [
        ("B", "B", 1.0),
        ("  B\n", "B", 1.0),  # the official inference scripts strip the decoded output
        ("B) Carried by the cartoon turtle", "B", 1.0),  # the "Best Option: (" continuation
        ("(B)", "B", 1.0),
        ("Answer: (B)", "B", 1.0),
        ("A) no, B) yes", "A", 0.0),  # only the first ")" counts
        ("B.", "", 0.0),  # no ")": the whole response must be the letter
        ("b)", "", 0.0),  # case-sensitive
        ("The answer is B", "", 0.0),
        (")", "", 0.0),
        ("", "", 0.0),
    ],
)
def test_official_choice_bench_quirks(adapter, response, pred, score):
    rec = adapter.load(DEV, None)[1]  # xiaoliyu_6.mp4, answer "Carried by the cartoon turtle" = B
    assert rec.answer == "B"
    assert adapter.score_sample(rec, response, "official") == {
        "score": score,
        "pred": pred,
        "extraction_failed": pred == "",
    }


def test_official_six_options(adapter):
    rec = {r.id: r for r in adapter.load(TEST, None)}["189"]  # answer F
    assert adapter.score_sample(rec, "F", "official")["score"] == 1.0
    assert adapter.score_sample(rec, "(F) the presence of the metal cylinder", "official")["score"] == 1.0
    assert adapter.score_sample(rec, "G", "official") == {"score": 0.0, "pred": "", "extraction_failed": True}


def test_check_ans_function():
    assert check_ans("C) x", "(C) Ox cart") and not check_ans("C.", "(C) Ox cart")
    assert read_option("no parenthesis") == "no parenthesis"


# ------------------------------------------------------------------------------------ aggregates
def test_m_avg(adapter):
    recs = adapter.load(DEV, None)
    plot, count = recs[0:3], recs[9:10]
    assert {r.categories["question_type"] for r in plot} == {"plotQA"} and count[0].categories[
        "question_type"
    ] == "count"
    scores = [{"score": 1.0}, {"score": 1.0}, {"score": 0.0}, {"score": 0.0}]
    out = adapter.aggregate(plot + count, scores, "official")
    assert out["by_question_type"] == {"count": 0.0, "plotQA": pytest.approx(200 / 3)}
    assert out["overall"] == pytest.approx(100 / 3)  # M-avg: (66.67 + 0) / 2
    assert out["accuracy"] == 50.0 and out["n"] == 4


def test_docstring_examples():
    result = doctest.testmod(official_module)
    assert result.failed == 0 and result.attempted >= 1
