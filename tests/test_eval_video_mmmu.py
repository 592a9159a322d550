"""Video-MMMU adapter: the real EasyVideoR1 sample (tracks, adaptation image), lmms-eval's MC and open
parsing quirks, "API Error" exclusion and per-track aggregates."""

import doctest
import json
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official import videommmu
from evaluation.official.videommmu import API_ERROR, NO_ANSWER, open_correct, parse_choice, parse_open

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "video_mmmu"
    / "easyvideor1_videommmu_with_image.sample.json"
)


@pytest.fixture
def adapter():
    return get_adapter("video_mmmu")


@pytest.fixture
def records(adapter, tmp_path):
    return {r.id: r for r in adapter.load(SAMPLE, tmp_path)}


def test_sample_records(records, tmp_path):
    assert len(records) == 20
    tracks = {}
    for r in records.values():
        tracks.setdefault(r.categories["track"], []).append(int(r.id))
    assert tracks["Adaptation"] == [14, 24, 68, 76, 82, 126, 133, 149, 216, 226, 234, 267, 280]
    assert tracks["Comprehension"] == [316, 386, 434, 493]
    assert tracks["Perception"] == [712, 728, 862]
    numeric = records["14"]
    assert numeric.problem_type == "numerical" and numeric.answer == "12.97" and numeric.options == []
    assert numeric.categories == {"track": "Adaptation", "question_type": "open", "subject": "Chemistry"}
    assert numeric.media == [str(tmp_path / "validation_Chemistry_13.mp4")] and numeric.media_kind == "video"
    assert numeric.images_after == [str(tmp_path / "images" / "validation_Chemistry_13.png")]
    assert numeric.media_items() == [(numeric.media[0], "video"), (numeric.images_after[0], "image")]
    mc = records["493"]
    assert mc.answer == "I" and len(mc.options) == 10 and mc.images_after == []
    assert mc.categories == {
        "track": "Comprehension",
        "question_type": "multiple-choice",
        "subject": "Mechanical_Engineering",
    }
    assert records["712"].categories["subject"] == "Energy_and_Power"
    assert sum(r.problem_type == "numerical" for r in records.values()) == 6


OPTIONS = ["6", "9", "3", "27"]


@pytest.mark.parametrize(
    "response, letter",
    [
        ("B", "B"),
        ("The answer is B.", "B"),  # trailing "." stripped, then "B " matches
        ("(C) 3", "C"),
        ("A: 6", "A"),
        ("See Fig. C. So (B)", "C"),  # any capital followed by "." wins over brackets
        ("B. 9, not A. 6", "A"),  # several candidates: the marker found last in the response wins
        ("I believe the length is 27 units here", "D"),  # >5 words: option text found
        ("length 27", NO_ANSWER),  # too short for the option-text fallback
        ("b", NO_ANSWER),  # case-sensitive
        ("", API_ERROR),
    ],
)
def test_official_choice_parser(response, letter):
    assert parse_choice(response, OPTIONS) == letter


@pytest.mark.parametrize(
    "answer, response, correct",
    [
        ("12.97", "The mass is 12.97 g", True),
        ("12.97", "12.970", True),  # numbers compared after rounding to 2 decimals
        ("12.97", "so it is 12.969", True),  # round(12.969, 2) = 12.97
        ("12.97", "m = 0.35 * 0.5 * 74.093 = 12.966", True),  # "=" counts in the last line
        ("360", "The total is 1,360 dollars", True),  # the plain-number pattern also reads "360" of "1,360"
        ("1360", "The total is 1,360 dollars", True),
        ("360", "The total is 2,500 dollars", False),
        ("0.3", "It is 0.30.", True),
        ("4", "four isomers", False),
        ("65", "", False),
    ],
)
def test_official_open_parser(answer, response, correct):
    assert open_correct(answer, parse_open(response)) is correct


def test_official_scores_and_api_error_exclusion(adapter, records):
    numeric, mc = records["14"], records["24"]  # 12.97; B
    assert adapter.score_sample(mc, "B. 9", "official")["score"] == 1.0
    assert adapter.score_sample(mc, "no idea", "official")["extraction_failed"]
    empty = adapter.score_sample(mc, "", "official")
    assert empty["api_error"] and empty["score"] == 0.0
    assert adapter.score_sample(numeric, "The mass is 12.97 g.", "official")["score"] == 1.0
    assert adapter.score_sample(numeric, "<answer>12.97</answer>", "robust")["score"] == 1.0
    recs = [mc, mc, numeric, records["316"], records["712"]]
    responses = ["B", "", "12.97", "A", "B"]  # right, API Error (left out), right, wrong, right
    scores = [adapter.score_sample(r, x, "official") for r, x in zip(recs, responses)]
    out = adapter.aggregate(recs, scores, "official")
    assert out["n"] == 4 and out["excluded"] == 1
    assert out["overall"] == 75.0
    assert out["by_track"] == {"Adaptation": 100.0, "Comprehension": 0.0, "Perception": 100.0}
    assert out["by_question_type"] == {"multiple-choice": pytest.approx(200 / 3), "open": 100.0}
    robust = adapter.aggregate(
        recs, [adapter.score_sample(r, x, "robust") for r, x in zip(recs, responses)], "robust"
    )
    assert robust["n"] == 5 and robust["excluded"] == 0


def _row(pid, **extra):
    row = {
        "problem_id": pid,
        "problem": "q",
        "problem_type": "multiple choice",
        "options": ["A. x", "B. y"],
        "solution": "<answer>A</answer>",
        "path": "./validation_Math_1.mp4",
        "data_source": "https://www.youtube.com/watch?v=TpylyLZisTU",
    }
    return {**row, **extra}


def test_track_from_field_and_bad_input(adapter, tmp_path):
    (tmp_path / "t.json").write_text(json.dumps([_row(5, track="perception"), _row(301)]))
    recs = adapter.load(tmp_path / "t.json", None)
    assert [r.categories["track"] for r in recs] == ["Perception", "Comprehension"]
    (tmp_path / "bad.json").write_text(json.dumps([_row(301), _row(5)]))
    with pytest.raises(ValueError, match=r"bad\.json: record 1 \(problem_id=5\).*track is unknown"):
        adapter.load(tmp_path / "bad.json", None)
    (tmp_path / "bad2.json").write_text(json.dumps([_row(5, track="Listening")]))
    with pytest.raises(ValueError, match=r"bad2\.json: record 0 .*'Listening'"):
        adapter.load(tmp_path / "bad2.json", None)
    missing = _row(301)
    del missing["solution"]
    (tmp_path / "bad3.json").write_text(json.dumps([_row(302), missing]))
    with pytest.raises(ValueError, match=r"bad3\.json"):
        adapter.load(tmp_path / "bad3.json", None)


def test_docstring_examples():
    result = doctest.testmod(videommmu)
    assert result.failed == 0 and result.attempted >= 2


def test_adaptation_image_is_sent_after_the_video(adapter, tmp_path):
    """The runner decodes the video and the image into the cache and hands the engine both, video first, with
    the hint before the question; a row whose image is missing is a counted load failure."""
    import numpy as np
    from PIL import Image
    from test_eval_runner import CannedEngine

    from cache_store.encode import write_video
    from cache_store.keys import MediaSpec
    from cache_store.store import MediaCache
    from evaluation.runner import run_benchmark

    media = tmp_path / "media"
    records = [r for r in adapter.load(SAMPLE, media) if r.id in ("14", "24", "493")]
    for r in records:
        write_video(r.media[0], np.full((8, 56, 56, 3), 90, np.uint8), fps=4)
    (media / "images").mkdir()
    Image.new("RGB", (84, 56), (200, 30, 30)).save(records[0].images_after[0])  # 24's image stays missing
    engine = CannedEngine({r.id: "<answer>A</answer>" for r in records})
    spec = MediaSpec(fps=2.0, max_frames=4, min_frames=2, max_pixels=56 * 56, min_pixels=28 * 28)
    res = run_benchmark(
        engine, "video_mmmu", records, MediaCache(tmp_path / "cache"), spec, tmp_path / "run",
        batch_size=2, model_id="fake-model", annotation_path=SAMPLE,
    )  # fmt: skip
    assert sorted(engine.generated_ids) == ["14", "493"]
    video, image = engine.media_shapes["14"]
    assert video[0] >= 2 and image[0] == 1  # frames of the video, then the single image
    assert len(engine.media_shapes["493"]) == 1
    assert engine.prompts["14"].startswith("The image for this question is at the end of the video.\n")
    assert not engine.prompts["493"].startswith("The image")
    assert res.counts["media_failed"] == 1 and res.counts["scored"] == 2


def test_period_candidates_keep_their_kind_when_a_colon_candidate_follows():
    """MMMU's parse: with "A." and "B:" both present the marker kind stays "period", so the last "X."
    wins, here A (a colon kind would pick B)."""
    assert parse_choice("A. is tempting, but B: is wrong", ["w", "x", "y", "z"]) == "A"


def test_option_text_is_matched_in_a_response_of_more_than_five_words():
    options = ["red apple", "green pear", "blue plum", "pink fig"]
    assert parse_choice("I think it is green pear", options) == "B"  # six words
    assert parse_choice("it is green pear", options) == NO_ANSWER  # too short to match by content
