"""MMVU adapter: the real EasyVideoR1 sample, the official validation.json format (two real records of
yale-nlp/MMVU data/validation.json, copied below), EasyVideoR1 MC extraction, and open-ended grading by a
judge on a real local OpenAI-compatible server (``rating_judge`` from conftest) with canned replies."""

import json
import socket
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from training.rewards.judge import JudgeClient, JudgeConfig

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "mmvu"
    / "easyvideor1_mmvu-all.sample.json"
)
HF = "https://huggingface.co/datasets/yale-nlp/MMVU/resolve/main/videos"
OFFICIAL = [
    {
        "id": "validation_0",
        "video": f"{HF}/Art/0.mp4",
        "youtube_url": "https://www.youtube.com/watch?v=VkqytRr85ao",
        "question_type": "open-ended",
        "metadata": {"subject": "Art"},
        "question": "Which cinematic shooting technique is shown in the video?",
        "choices": {"A": "", "B": "", "C": "", "D": "", "E": ""},
        "answer": "Dolly Zoom",
    },
    {
        "id": "validation_3",
        "video": f"{HF}/Thermodynamics/0.mp4",
        "youtube_url": "https://www.youtube.com/watch?v=M6XQi8eYYNs",
        "question_type": "multiple-choice",
        "metadata": {"subject": "Thermodynamics"},
        "question": "Which process is shown in the animation?",
        "choices": {
            "A": "Isothermal compression",
            "B": "Adiabatic compression",
            "C": "Isobaric compression",
            "D": "Adiabatic expansion",
            "E": "Isothermal expansion",
        },
        "answer": "B",
    },
]


def client(url):
    return JudgeClient(JudgeConfig(base_url=url, model="judge", max_retries=0, timeout_s=5.0))


def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def records(tmp_path):
    return {r.id: r for r in get_adapter("mmvu").load(SAMPLE, tmp_path)}


def test_sample_records(records, tmp_path):
    assert len(records) == 20
    mc, oe = records["42"], records["917"]
    assert mc.problem_type == "multiple choice" and mc.answer == "C" and mc.options[2] == "C. HAV"
    assert mc.categories == {
        "question_type": "multiple-choice",
        "discipline": "Preventive_Medicine",
        "field": "Healthcare",
    }
    assert mc.media == [str(tmp_path / "videos" / "Preventive_Medicine" / "1.mp4")]
    assert oe.problem_type == "open-ended" and oe.answer == "iron oxide" and oe.options == []
    assert oe.categories == {
        "question_type": "open-ended",
        "discipline": "Civil_Engineering",
        "field": "Engineering",
    }
    assert sum(r.categories["question_type"] == "open-ended" for r in records.values()) == 10


def test_official_format(tmp_path):
    (tmp_path / "validation.json").write_text(json.dumps(OFFICIAL))
    oe, mc = get_adapter("mmvu").load(tmp_path / "validation.json", tmp_path / "root")
    assert oe.id == "validation_0" and oe.problem_type == "open-ended" and oe.answer == "Dolly Zoom"
    assert oe.media == [str(tmp_path / "root" / "videos" / "Art" / "0.mp4")]
    assert oe.categories == {
        "question_type": "open-ended",
        "discipline": "Art",
        "field": "Humanities_and_Social_Science",
    }
    assert mc.answer == "B" and mc.options[1] == "B. Adiabatic compression" and len(mc.options) == 5
    assert mc.categories["discipline"] == "Thermodynamics" and mc.extra["subject"] == "Thermodynamics"
    bad = [dict(OFFICIAL[0])]
    del bad[0]["answer"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"bad\.json: record 0 \(id='validation_0'\).*'answer'"):
        get_adapter("mmvu").load(tmp_path / "bad.json", None)
    (tmp_path / "bad2.json").write_text(json.dumps([{**OFFICIAL[1], "question_type": "essay"}]))
    with pytest.raises(ValueError, match=r"bad2\.json: record 0 .*'essay'"):
        get_adapter("mmvu").load(tmp_path / "bad2.json", None)


@pytest.mark.parametrize(
    "response, letter",
    [
        ("Therefore, the final answer is: C", "C"),
        ("The answer is a dog", "A"),  # EasyVideoR1's case-insensitive "answer is X"
        ("Based on the video, the answer is (C).", ""),
        ("<answer>c</answer>", "C"),
    ],
)
def test_official_multiple_choice(records, response, letter):
    out = get_adapter("mmvu").score_sample(records["42"], response, "official")
    assert out["pred"] == letter and out["score"] == float(letter == "C")


def test_open_ended_needs_a_judge(records):
    with pytest.raises(ValueError) as err:
        get_adapter("mmvu").score_sample(records["917"], "iron oxide", "official")
    assert str(err.value) == (
        "mmvu record 917 needs an LLM judge in official mode (pass a judge / reelrl eval --judge-url); "
        "robust mode scores it without one"
    )
    assert (
        get_adapter("mmvu").score_sample(records["917"], "<answer>iron oxide</answer>", "robust")["score"]
        == 1.0
    )


@pytest.mark.parametrize(
    "reply, score",
    [
        ('{"extracted_answer": "iron oxide", "correct": true}', 1.0),
        ('```json\n{"extracted_answer": "rust", "correct": True}\n```', 1.0),
        ('{"extracted_answer": "iron", "correct": false}', 0.0),
        ("The answer is correct.", 0.0),  # no verdict field: wrong, as the official parse failure
    ],
)
def test_open_ended_benchmark_judge(rating_judge, records, reply, score):
    server = rating_judge(reply)
    adapter = get_adapter("mmvu", judge=client(server.url))
    out = adapter.score_sample(records["917"], "The red color is iron oxide.", "official")
    assert out["score"] == score and out["judge_reply"] == reply
    (system, user) = server.seen[0]["messages"]
    assert system["role"] == "system" and system["content"].startswith(
        "Evaluate whether the model's final answer"
    )
    assert user == {
        "role": "user",
        "content": f"Question: {records['917'].problem}\n\nGround Truth Answer: iron oxide\n\n"
        "Model Response to the Question: The red color is iron oxide.",
    }


def test_open_ended_easyvideor1_judge(rating_judge, records):
    server = rating_judge("Same substance.\nJudgement: 1")
    adapter = get_adapter("mmvu", judge=client(server.url), judge_prompt="easyvideor1")
    out = adapter.score_sample(
        records["917"], "<think>rust?</think>Therefore, the final answer is: Fe2O3", "official"
    )
    assert out["score"] == 1.0
    prompt = server.seen[0]["messages"][0]["content"]
    assert prompt.endswith("Ground Truth: iron oxide\nModel Answer: Fe2O3\n")
    with pytest.raises(ValueError, match="judge_prompt"):
        get_adapter("mmvu", judge_prompt="gpt")


def test_failed_judge_request_raises(records):
    adapter = get_adapter("mmvu", judge=client(dead_url()))
    with pytest.raises(RuntimeError, match="mmvu record 917: the judge request failed"):
        adapter.score_sample(records["917"], "iron oxide", "official")


def test_aggregates(records):
    adapter = get_adapter("mmvu")
    recs = [records["42"], records["266"], records["311"], records["639"]]  # Healthcare, Art, Chemistry x2
    scores = [{"score": 1.0}, {"score": 0.0}, {"score": 1.0}, {"score": 0.0}]
    out = adapter.aggregate(recs, scores, "official")
    assert out["overall"] == 50.0 and out["n"] == 4
    assert out["by_question_type"] == {"multiple-choice": pytest.approx(200 / 3), "open-ended": 0.0}
    assert out["by_discipline"] == {
        "Art": 0.0,
        "Chemistry": 100.0,
        "Neurobiology": 0.0,
        "Preventive_Medicine": 100.0,
    }
    assert out["by_field"] == {"Healthcare": 100.0, "Humanities_and_Social_Science": 0.0, "Science": 50.0}
