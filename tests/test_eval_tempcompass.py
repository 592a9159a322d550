"""TempCompass adapter: the official question files (sample of 3 videos x 4 formats), the official rule
ratings reproduced on real Video-LLaVA predictions, the judge path against a real local
OpenAI-compatible server (conftest ``rating_judge``) and the per-format / per-dimension aggregates.
"""

import doctest
import json
from collections import Counter
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.tempcompass import JudgeFailed
from evaluation.official import tempcompass as official
from evaluation.stages import score_response
from training.prompts import render_prompt
from training.rewards.judge import JudgeClient, JudgeConfig

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples" / "tempcompass"
QUESTIONS = SAMPLES / "official_questions.sample.json"
FIXTURE = SAMPLES / "scorer_fixture_video-llava.sample.json"
MC_FIRST = "multi-choice:1034419625:action:"  # "What is the man doing in the video?" answer "A. dunking ..."


@pytest.fixture
def adapter():
    return get_adapter("tempcompass")


@pytest.fixture
def records():
    return get_adapter("tempcompass").load(QUESTIONS, "/videos")


def find(records, fmt, vid, dim, index=0):
    return [r for r in records if r.categories["format"] == fmt and r.extra["video_id"] == vid
            and r.categories["dimension"] == dim][index]  # fmt: skip


def judge_for(url):
    return JudgeClient(JudgeConfig(base_url=url, model="judge", timeout_s=5.0, max_retries=0, backoff_s=0.01))


# ------------------------------------------------------------------------------------ loading
def test_sample_records(records):
    assert len(records) == 85 and len({r.id for r in records}) == 85
    assert Counter(r.categories["format"] for r in records) == {
        "yes_no": 32,
        "captioning": 20,
        "multi-choice": 18,
        "caption_matching": 15,
    }
    mc = find(records, "multi-choice", "1034419625", "action")
    assert mc.id.startswith(MC_FIRST) and mc.problem_type == "multiple choice"
    assert mc.problem == "What is the man doing in the video?" and mc.answer == "A"
    assert mc.options == ["A. dunking a basketball", "B. dribbling a basketball", "C. passing a basketball"]
    assert mc.categories == {
        "format": "multi-choice",
        "dimension": "action",
        "fine_dimension": "fine-grained action",
    }
    assert mc.media == ["/videos/1034419625.mp4"]
    assert mc.extra["official_prompt"] == mc.extra["question"] + "\nPlease directly give the best option:"
    rev = find(records, "yes_no", "1034419625_reverse", "direction", 3)
    assert (rev.problem, rev.answer, rev.problem_type) == (
        "Is the man moving from left to right?",
        "no",
        "boolean",
    )
    assert rev.categories["fine_dimension"] == "object motion" and rev.media == [
        "/videos/1034419625_reverse.mp4"
    ]
    cm = find(records, "caption_matching", "1034419625", "action")  # answer "Option 2: A man is dunking ..."
    assert cm.options == ["A. The man is dribbling a basketball.", "B. A man is dunking a basketball."]
    assert cm.answer == "B" and cm.problem == "Which description is a more suitable match for the video?"
    cap = find(records, "captioning", "1098982673", "speed")
    assert cap.problem_type == "open-ended" and cap.problem.endswith("Generated Caption:")
    assert cap.extra["mc_answer"] == "A. normal speed"  # the first multi-choice question of (video, speed)
    assert cap.extra["mc_question"].startswith("What is the speed of the video?\nA. normal speed")
    assert cap.categories["fine_dimension"] == "absolute speed"


def split_sample(folder: Path) -> dict:
    data = json.loads(QUESTIONS.read_text())
    (folder / "questions").mkdir(parents=True)
    for fmt in official.FORMATS:
        (folder / "questions" / f"{fmt}.json").write_text(json.dumps(data[fmt]))
    (folder / "meta_info.json").write_text(json.dumps(data["meta_info"]))
    return data


def test_release_layout_gives_the_same_records(records, tmp_path):
    split_sample(tmp_path)
    folder = get_adapter("tempcompass").load(tmp_path / "questions", "/videos")
    assert [r.to_dict() for r in folder] == [r.to_dict() for r in records]
    single = get_adapter("tempcompass").load(tmp_path / "questions" / "captioning.json", "/videos")
    assert [r.id for r in single] == [r.id for r in records if r.categories["format"] == "captioning"]
    (tmp_path / "meta_info.json").unlink()  # no meta_info: no fine-grained dimension
    assert "fine_dimension" not in get_adapter("tempcompass").load(tmp_path / "questions", None)[0].categories
    assert (
        get_adapter("tempcompass")
        .load(tmp_path / "questions", None)[0]
        .media[0]
        .startswith(str(tmp_path / "questions"))
    )


def test_bad_files(adapter, tmp_path):
    data = split_sample(tmp_path)
    q = tmp_path / "questions"
    (q / "multi-choice.json").unlink()
    with pytest.raises(ValueError, match=r"captioning\.json: captioning video '1034419625' dimension 'action' "
                                         r"question 0: captioning is scored through the multi-choice"):  # fmt: skip
        adapter.load(q / "captioning.json", None)
    bad = tmp_path / "yes_no.json"
    rows = data["yes_no"]
    rows["1098982673"]["speed"][2]["answer"] = "Yes"
    bad.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"yes_no\.json: yes_no video '1098982673' dimension 'speed' question 2: "
                                         r"a yes_no answer must be 'yes' or 'no', got 'Yes'"):  # fmt: skip
        adapter.load(bad, None)
    del rows["1098982673"]["speed"][2]["answer"]
    bad.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"question 2: expected an object with 'question' and 'answer'"):
        adapter.load(bad, None)
    mc = tmp_path / "multi-choice.json"
    mc.write_text(json.dumps({"v": {"action": [{"question": "What?\nA. x\nB. y", "answer": "C. z"}]}}))
    with pytest.raises(
        ValueError, match=r"multi-choice video 'v' dimension 'action' question 0: expected option"
    ):
        adapter.load(mc, None)
    mc.write_text(json.dumps([{"question": "q", "answer": "a"}]))
    with pytest.raises(ValueError, match=r"multi-choice\.json: expected \{video_id: \{dimension"):
        adapter.load(mc, None)
    other = tmp_path / "questions.json"
    other.write_text(json.dumps(data["yes_no"]))
    with pytest.raises(
        ValueError, match=r"questions\.json: a TempCompass question file is named after its format"
    ):
        adapter.load(other, None)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "yes_no.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"yes_no\.json:1: malformed JSON"):
        adapter.load(tmp_path / "broken", None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: folder holds none of the TempCompass files"):
        adapter.load(tmp_path / "empty", None)


# ------------------------------------------------------------------------------------ official rules
def test_official_ratings_reproduced_on_the_fixture(adapter, records):
    """Real Video-LLaVA predictions with the official scorer's ratings (all matched by rule)."""
    by_question = {(r.categories["format"], r.extra["video_id"], r.categories["dimension"], r.extra["question"]): r
                   for r in records}  # fmt: skip
    fixture = json.loads(FIXTURE.read_text())
    for fmt, part in fixture.items():
        recs, scores, official_ratings = [], [], []
        for vid, dims in part["official_eval_results"].items():
            for dim, results in dims.items():
                for pred, expected in zip(part["predictions"][vid][dim], results, strict=True):
                    rec = by_question[(fmt, vid, dim, pred["question"])]
                    score = adapter.score_sample(rec, pred["prediction"], "official")
                    assert (score["rating"], score["match_success"]) == (
                        expected["rating"],
                        expected["match_success"],
                    )
                    assert score["score"] == expected["rating"] and not score["judge_needed"]
                    recs.append(rec)
                    scores.append(score)
                    official_ratings.append(expected["rating"])
        out = adapter.aggregate(recs, scores, "official")
        # print_result: avg = total rating / total questions
        assert out["overall"] == pytest.approx(100 * sum(official_ratings) / len(official_ratings))
        assert out["match_success_rate"] == 100.0 and out["judge_needed"] == 0
    assert [len(p["predictions"]) for p in fixture.values()] == [3, 3, 3]


def test_fixture_numbers(adapter, records):
    """The official per-format averages of the fixture, counted by hand from its ratings."""
    by_question = {(r.categories["format"], r.extra["question"], r.extra["video_id"]): r for r in records}
    fixture = json.loads(FIXTURE.read_text())
    recs, scores = [], []
    for fmt, part in fixture.items():
        for vid, dims in part["predictions"].items():
            for preds in dims.values():
                for pred in preds:
                    recs.append(by_question[(fmt, pred["question"], vid)])
                    scores.append(adapter.score_sample(recs[-1], pred["prediction"], "official"))
    out = adapter.aggregate(recs, scores, "official")
    assert out["by_format"] == {
        "caption_matching": 60.0,  # 9 / 15
        "multi-choice": pytest.approx(100 * 3 / 18),
        "yes_no": 53.125,  # 17 / 32
    }
    assert out["by_format_dimension"]["yes_no"] == {
        "action": pytest.approx(100 * 7 / 13),
        "direction": 50.0,
        "speed": pytest.approx(100 * 4 / 7),
    }
    assert out["overall"] == pytest.approx(100 * 29 / 65) and out["n"] == 65
    assert out["by_fine_dimension"]["absolute speed"] == 40.0  # speed: mc 0/5, yes_no 4/7, cm 2/3


@pytest.mark.parametrize(
    "fmt,vid,dim,index,response,rating",
    [
        ("multi-choice", "1034419625", "action", 0, "A. dunking a basketball", 1),  # == answer
        ("multi-choice", "1034419625", "action", 0, "A", 1),
        ("multi-choice", "1034419625", "action", 0, "A. passing", 1),  # only the letter before "." counts
        ("multi-choice", "1034419625", "action", 0, "B) dribbling", 0),
        ("multi-choice", "1034419625", "action", 0, "A</s>", 1),  # "</s>" deleted first
        ("multi-choice", "1034419625", "action", 0, " A", None),  # no stripping
        ("multi-choice", "1034419625", "action", 0, "(A)", None),
        ("multi-choice", "1034419625", "action", 0, "The answer is A", None),
        ("yes_no", "1034419625", "action", 0, "Yes, he is.", 1),
        ("yes_no", "1034419625", "action", 0, "yesterday", 1),  # startswith("yes")
        ("yes_no", "1034419625", "action", 4, "None of the above", 1),  # startswith("no"), answer "no"
        ("yes_no", "1034419625", "action", 0, "Nope", 0),
        ("yes_no", "1034419625", "action", 0, "I think yes", None),
        ("caption_matching", "1034419625", "action", 0, "Option 2", 1),
        ("caption_matching", "1034419625", "action", 0, "Option 2.", 1),  # "." removed for the index
        ("caption_matching", "1034419625", "action", 0, "A man is dunking a basketball.", 1),  # the sentence
        (
            "caption_matching",
            "1034419625",
            "action",
            0,
            "(2) A man is dunking a basketball.",
            1,
        ),  # after ") "
        ("caption_matching", "1034419625", "action", 0, "Option 1: The man is dribbling a basketball.", 0),
        ("caption_matching", "1034419625", "action", 0, "Caption B", None),  # not an index of this question
        ("caption_matching", "1034419625", "action", 0, "option 2", None),
    ],
)
def test_rule_quirks(adapter, records, fmt, vid, dim, index, response, rating):
    rec = find(records, fmt, vid, dim, index)
    score = adapter.score_sample(rec, response, "official")
    if rating is None:  # undecided, no judge: the official --disable_llm rating
        assert score == {"pred": None, "match_success": False, "judge_used": False, "judge_needed": True,
                         "score": 0.0, "rating": 0, "extraction_failed": True}  # fmt: skip
    else:
        assert (score["rating"], score["match_success"], score["judge_needed"]) == (rating, True, False)


def test_captioning_needs_the_judge(adapter, records):
    cap = find(records, "captioning", "1034419625", "action")
    score = adapter.score_sample(cap, "A man dunks a basketball.", "official")
    assert score["rating"] == 0 and score["judge_needed"] and score["extraction_failed"]
    out = adapter.aggregate([cap], [score], "official")
    assert out["judge_needed"] == 1 and out["overall"] == 0.0 and out["match_success_rate"] == 0.0


def test_robust_mode(adapter, records):
    mc = find(records, "multi-choice", "1034419625", "action")
    assert adapter.score_sample(mc, "<answer>A</answer>", "robust")["score"] == 1.0
    yes = find(records, "yes_no", "1034419625", "action")
    assert adapter.score_sample(yes, "Yes.", "robust")["score"] == 1.0


# ------------------------------------------------------------------------------------ judge
def test_judge_decides_what_the_rules_cannot(records, rating_judge):
    server = rating_judge("Correct")
    adapter = get_adapter("tempcompass", judge=judge_for(server.url))
    mc = find(records, "multi-choice", "1034419625", "action")
    assert adapter.score_sample(mc, "A", "official")["judge_used"] is False and server.seen == []  # rule
    score = adapter.score_sample(mc, "The man is dunking a basketball.", "official")
    assert (
        score["rating"] == 1
        and score["judge_used"]
        and not score["judge_needed"]
        and not score["match_success"]
    )
    assert score["judge_reply"] == "Correct" and not score["extraction_failed"]
    (body,) = server.seen
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == "You are an AI assistant for question answering."
    assert body["messages"][1]["content"] == official.judge_prompt(
        "multi-choice", mc.extra["question"], "A. dunking a basketball", "The man is dunking a basketball."
    )
    assert body["messages"][1]["content"].startswith(  # verbatim: the official prompt starts with "\n"
        "\nYou will receive a multi-choice question, the ground-truth"
    )
    assert "\nMulti-Choice Question:\nWhat is the man doing" in body["messages"][1]["content"]
    server.reply = "The prediction is Incorrect."
    yes = find(records, "yes_no", "1034419625", "direction")
    assert adapter.score_sample(yes, "It moves to the right.", "official")["rating"] == 0
    assert (
        "Yes/No Question:\nIs the man moving from left to right?" in server.seen[-1]["messages"][1]["content"]
    )


def test_judge_answers_the_captioning_question(records, rating_judge):
    server = rating_judge("Reasoning: the description says dunking.\nAnswer: A. dunking a basketball")
    adapter = get_adapter("tempcompass", judge=judge_for(server.url))
    cap = find(
        records, "captioning", "1034419625", "action"
    )  # captioning answer "B. ...", mc answer "A. ..."
    score = adapter.score_sample(cap, "  A man is dunking a basketball.</s>", "official")
    assert score["rating"] == 1 and score["judge_used"]
    prompt = server.seen[0]["messages"][1]["content"]
    assert prompt == official.caption_judge_prompt("A man is dunking a basketball.", cap.extra["mc_question"])
    assert (
        "\nVideo Description:A man is dunking a basketball.\nMulti-Choice Question:\nWhat is the man doing"
        in prompt
    )
    server.reply = "Answer: B. dribbling a basketball"
    assert adapter.score_sample(cap, "A man dribbles.", "official")["rating"] == 0
    server.reply = "Reasoning: no info\nAnswer: None of the choices are correct"
    assert adapter.score_sample(cap, "A man.", "official")["rating"] == 0


def test_failed_judge_raises_and_the_runner_records_an_error(records, rating_judge):
    server = rating_judge("I cannot tell.")  # neither "Correct" nor "Incorrect"
    adapter = get_adapter("tempcompass", judge=judge_for(server.url))
    mc = find(records, "multi-choice", "1034419625", "action")
    with pytest.raises(JudgeFailed, match=r"record multi-choice:1034419625:action:\w+: no TempCompass judge "
                                          r"verdict \(unreadable judge reply 'I cannot tell\.'\)"):  # fmt: skip
        adapter.score_sample(mc, "dunking", "official")
    server.reply = "   "
    cap = find(records, "captioning", "1034419625", "action")
    with pytest.raises(JudgeFailed):
        adapter.score_sample(cap, "A caption.", "official")
    result = score_response(adapter, mc, "maybe dunking", ["official", "robust"])
    assert "JudgeFailed" in result["official"]["error"] and "score" not in result["official"]
    assert "score" in result["robust"]


def test_unreachable_judge_raises(records, rating_judge):
    server = rating_judge("Correct")
    url = server.url
    server.shutdown()
    server.server_close()  # nothing listens on that port any more
    adapter = get_adapter("tempcompass", judge=judge_for(url))
    with pytest.raises(JudgeFailed, match=r"no TempCompass judge verdict \(judge request failed"):
        adapter.score_sample(find(records, "yes_no", "1034419625", "action"), "Maybe", "official")


@pytest.mark.parametrize(
    "reply,rating",
    [("Correct", 1), ("Incorrect", 0), ("Correct. Not Incorrect", 1), ("It is Correct", 1),
     ("It is Correct, not Incorrect", 0), ("correct", None), ("", None)],
)  # fmt: skip
def test_judge_reply_rules(reply, rating):
    assert official.judge_reply_rating(reply) == rating


@pytest.mark.parametrize(
    "reply,rating",
    [("Reasoning: x\nAnswer: A. dunking", 1), ("A. dunking", 1), ("Answer: A. dunking or B. dribbling", 0),
     ("Answer: A", 0), ("Reasoning: Answer first\nAnswer: A. x", 1), ("", None)],
)  # fmt: skip
def test_caption_judge_reply_rules(reply, rating):
    assert official.caption_judge_rating(reply, "A. dunking a basketball") == rating


# ------------------------------------------------------------------------------------ prompts, aggregates
def test_prompt_styles(records):
    mc = find(records, "multi-choice", "1034419625", "action")
    adapter = get_adapter("tempcompass")
    assert render_prompt(adapter.prompt_fields(mc), adapter.prompt_template) == (
        "What is the man doing in the video?\nA. dunking a basketball\nB. dribbling a basketball\n"
        "C. passing a basketball\nPlease directly give the best option:"
    )
    yes = find(records, "yes_no", "1034419625", "action")
    assert render_prompt(adapter.prompt_fields(yes), adapter.prompt_template).endswith(
        "Is the man dunking?\nPlease answer yes or no:"
    )
    reelrl = get_adapter("tempcompass", prompt_style="reelrl")
    text = render_prompt(reelrl.prompt_fields(mc), reelrl.prompt_template)
    assert "B. dribbling a basketball" in text and "Please directly give" not in text
    with pytest.raises(ValueError, match="prompt_style"):
        get_adapter("tempcompass", prompt_style="letter")
    assert adapter.uses_judge and adapter.judge is None


def test_aggregate_hand_computed(adapter, records):
    a = find(records, "multi-choice", "1034419625", "action")
    b = find(records, "multi-choice", "1098982673", "speed")
    c = find(records, "yes_no", "1034419625", "action")
    d = find(records, "yes_no", "1034419625", "direction")
    scores = [{"score": 1.0}, {"score": 0.0}, {"score": 1.0}, {"score": 1.0}]
    out = adapter.aggregate([a, b, c, d], scores, "robust")
    assert out["overall"] == 75.0 and out["n"] == 4
    assert out["by_format"] == {"multi-choice": 50.0, "yes_no": 100.0}
    assert out["by_dimension"] == {"action": 100.0, "direction": 100.0, "speed": 0.0}
    assert out["by_format_dimension"] == {
        "multi-choice": {"action": 100.0, "speed": 0.0},
        "yes_no": {"action": 100.0, "direction": 100.0},
    }
    assert out["by_fine_dimension"] == {
        "absolute speed": 0.0,
        "fine-grained action": 100.0,
        "object motion": 100.0,
    }
    assert "judge_needed" not in out  # official mode only


def test_docstring_examples():
    result = doctest.testmod(official)
    assert result.failed == 0 and result.attempted >= 1
