"""VideoReasonBench adapter: the real EasyVideoR1 sample (GT "None" kept as a string), the official
questions/<domain>.json format (three real records of llyx97/video_reason_bench questions/chip.json, copied
below without their ``actions``/``states`` lists), the official "Final Answer" + judge grading against a real
local OpenAI-compatible server (``rating_judge`` from conftest) with canned replies, and the aggregates."""

import json
import socket
from pathlib import Path

import pytest

from evaluation.benchmarks import get_adapter
from evaluation.official.judged import videoreasonbench_final_answer
from training.prompts import render_prompt
from training.rewards.judge import JudgeClient, JudgeConfig

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "videoreasonbench"
    / "easyvideor1_videoreasonbench.sample.json"
)
INTRO = (
    "The video showcases a sequence of operations involving one or more cup(s) and chips. It begins by showing "
    "the initial chips contained in each cup. Then, a series of actions are carried out. Note that there are only "
    "two types of actions: adding one chip to a cup or removing one chip from a cup.\nPlease carefully watch the "
    "video and answer the following question:\n\n"
)
COMMON = {
    "num_state": 1,
    "num_operation": 5,
    "visible_time": "start",
    "video": "videos/chip/state1_op5_start.mp4",
}
OFFICIAL = {
    "state1_op5_order_operation_start": {
        **COMMON,
        "question": INTRO
        + "Disregarding the process of revealing all chips in the cup(s), what are the 1st to "
        "3rd chips being added to any cup throughout the video? ...\n\nProvide a summary of the final answer after "
        "'Final Answer:'",
        "answer": "1st: 100, cup0\n2nd: 10, cup0\n3rd: 5, cup0",
        "dim": "order_operation",
    },
    "state1_op5_counting_state_start": {
        **COMMON,
        "question": INTRO + "At the end of the video, how many chips were in `cup0`? ...",
        "answer": "4 chips: 20, 100, 10, 5",
        "dim": "counting_state",
    },
    "state1_op5_prediction_operation_start": {
        **COMMON,
        "question": INTRO
        + "If the cups currently contain exactly the same chips as they did at the end of the "
        "video, to ensure that `cup0` contains exactly the following chips: `100, 10, 5, 5, 10, 20` (order does "
        "not matter), what sequence of actions should be performed? ...",
        "answer": None,
        "dim": "prediction_operation",
    },
}


def client(url):
    return JudgeClient(JudgeConfig(base_url=url, model="judge", max_retries=0, timeout_s=5.0))


@pytest.fixture
def records(tmp_path):
    return {r.id: r for r in get_adapter("videoreasonbench").load(SAMPLE, tmp_path)}


def test_sample_records(records, tmp_path):
    assert len(records) == 12
    assert sorted({r.categories["domain"] for r in records.values()}) == [
        "card",
        "chip",
        "cup",
        "file_sys",
        "grid",
        "hrd",
    ]
    card = records["99"]
    assert card.problem_type == "open-ended" and card.answer == "Queen of Clubs, 6 of Spades"
    assert card.categories == {
        "domain": "card",
        "state": "state_1",
        "num_op": "10_14",
        "visible_time": "start",
    }
    assert card.media == [str(tmp_path / "card" / "state1_op13_start.mp4")] and not card.extra["gt_is_none"]
    none = records["1008"]  # grid/state3_op8_end.mp4, an operation-planning question
    assert none.answer == "None" and none.extra["gt_is_none"]
    assert none.categories == {"domain": "grid", "state": "state_1", "num_op": "5_9", "visible_time": "end"}
    assert records["1194"].categories["state"] == "state_2"  # a 4x4 grid
    assert (
        records["217"].answer
        == "2nd: 9 of Diamonds, pile1\n3rd: King of Hearts, pile0\n4th: Jack of Clubs, pile1"
    )


def test_prompt_is_the_question(records):
    adapter = get_adapter("videoreasonbench")
    text = render_prompt(adapter.prompt_fields(records["364"]), adapter.prompt_template)
    assert text == records["364"].problem and text.endswith(
        "Provide a summary of the final answer after 'Final Answer:'"
    )


def test_official_format(tmp_path):
    (tmp_path / "chip.json").write_text(json.dumps(OFFICIAL))
    order, counting, planning = get_adapter("videoreasonbench").load(tmp_path / "chip.json", tmp_path)
    assert order.id == "chip_state1_op5_order_operation_start" and order.answer.startswith("1st: 100, cup0")
    assert order.media == [str(tmp_path / "videos" / "chip" / "state1_op5_start.mp4")]
    assert order.categories == {
        "domain": "chip",
        "state": "state_1",
        "num_op": "5_9",
        "visible_time": "start",
        "dim": "order_operation",
    }
    assert counting.categories["dim"] == "infer_state"  # show_results merges order/counting_state
    assert planning.answer == "None" and planning.extra["gt_is_none"]
    bad = {"k": {**OFFICIAL["state1_op5_order_operation_start"]}}
    del bad["k"]["dim"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"bad\.json: record 'k'.*'dim'"):
        get_adapter("videoreasonbench").load(tmp_path / "bad.json", None)
    bad = {"k": {**OFFICIAL["state1_op5_order_operation_start"], "video": "videos/chip/clip.mp4"}}
    (tmp_path / "bad2.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"bad2\.json: record 'k'.*state<N>_op<M>"):
        get_adapter("videoreasonbench").load(tmp_path / "bad2.json", None)
    (tmp_path / "bad3.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"bad3\.json: neither"):
        get_adapter("videoreasonbench").load(tmp_path / "bad3.json", None)


@pytest.mark.parametrize(
    "response, answer",
    [
        ("thinking...\nFinal Answer: end, 100\n", ": end, 100"),
        ("Final Answer\n\nend, 100", "end, 100"),
        ("final answer: end, 100", None),  # case-sensitive
        ("reasoning◁/think▷Final Answer: start, 5◁/think▷junk", ": start, 5"),  # Kimi's marker: piece 1
        ("Final Answer:", ":"),
        ("...Final Answer   ", None),  # nothing after it
        ("", None),
    ],
)
def test_final_answer(response, answer):
    assert videoreasonbench_final_answer(response) == answer


@pytest.mark.parametrize(
    "reply, score", [("Correct", 1.0), ("Correct.", 0.0), (" Correct", 0.0), ("Incorrect", 0.0)]
)
def test_official_judge(rating_judge, records, reply, score):
    server = rating_judge(reply)
    adapter = get_adapter("videoreasonbench", judge=client(server.url))
    out = adapter.score_sample(records["364"], "It grows.\nFinal Answer: end, 100", "official")
    assert out["score"] == score and out["pred"] == ": end, 100" and out["judge_reply"] == reply
    prompt = server.seen[0]["messages"][0]["content"]
    assert prompt.startswith("You will be given a question, a model response and a ground-truth answer.")
    assert "\n\nModel Response: : end, 100\n\nGround-Truth Answer: end, 100\n\n" in prompt
    assert f"Question: {records['364'].problem}\n\n" in prompt


def test_no_final_answer_is_wrong_without_a_judge_call(rating_judge, records):
    server = rating_judge("Correct")
    out = get_adapter("videoreasonbench", judge=client(server.url)).score_sample(
        records["364"], "end, 100", "official"
    )
    assert out == {"score": 0.0, "pred": None, "extraction_failed": True} and server.seen == []


def test_gt_none_graded_as_a_string_and_easyvideor1_prompt(rating_judge, records):
    server = rating_judge("The model says no moves are needed.\nJudgement: 1")
    adapter = get_adapter("videoreasonbench", judge=client(server.url), judge_prompt="easyvideor1")
    out = adapter.score_sample(
        records["1008"], "<think>...</think>Therefore, the final answer is: None", "official"
    )
    assert out["score"] == 1.0
    assert server.seen[0]["messages"][0]["content"].endswith("Ground Truth: None\nModel Answer: None\n")


def test_judge_required_and_failures(records):
    with pytest.raises(ValueError) as err:
        get_adapter("videoreasonbench").score_sample(records["99"], "Final Answer: x", "official")
    assert str(err.value) == (
        "videoreasonbench record 99 needs an LLM judge in official mode (pass a judge / reelrl eval "
        "--judge-url); robust mode scores it without one"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(RuntimeError, match="videoreasonbench record 99: the judge request failed"):
        get_adapter("videoreasonbench", judge=client(dead)).score_sample(
            records["99"], "Final Answer: x", "official"
        )
    robust = get_adapter("videoreasonbench").score_sample(
        records["364"], "<answer>end, 100</answer>", "robust"
    )
    assert robust["score"] == 1.0


def test_aggregates(records):
    adapter = get_adapter("videoreasonbench")
    recs = [records[i] for i in ("99", "217", "364", "1008", "1194")]
    scores = [{"score": s} for s in (1.0, 0.0, 1.0, 0.0, 1.0)]
    out = adapter.aggregate(recs, scores, "official")
    assert out["n"] == 5 and out["overall"] == 60.0
    assert out["by_domain"] == {"card": 50.0, "chip": 100.0, "grid": 50.0}
    assert out["by_state"] == {"state_1": 50.0, "state_2": pytest.approx(200 / 3)}
    assert out["by_num_op"] == {"10_14": pytest.approx(200 / 3), "5_9": 50.0}
    assert "by_dim" not in out  # the unified file has no dimension
    assert out["n_gt_none"] == 1 and out["overall_answerable"] == 75.0
