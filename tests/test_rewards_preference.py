"""Preference family: label extraction (bare labels and verdict phrases), label match, or an LLM judge."""

import doctest
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rewards_judge import ScriptedServer, reply, status

from training.rewards import preference as module
from training.rewards import resolve_problem_type, score
from training.rewards.judge import JudgeClient, JudgeConfig
from training.rewards.preference import (
    RESPONSE_1,
    RESPONSE_2,
    TIE,
    extract_label,
    judge_request,
    parse_label_ground_truth,
    preference,
    read_label,
)

RULE = {"judge_used": 0.0, "judge_failed": 0.0}


@pytest.mark.parametrize(
    "text, expected",
    [
        # bare labels
        ("Response 1", RESPONSE_1), ("response a", RESPONSE_1), ("1", RESPONSE_1), ("A", RESPONSE_1),
        ("**Response 2**", RESPONSE_2), ("[B]", RESPONSE_2), ("2.", RESPONSE_2), ("Second", RESPONSE_2),
        ("Tie", TIE), (" tie. ", TIE), ('"Response  2"', RESPONSE_2),
        # MT-Bench brackets
        ("My verdict: [[A]]", RESPONSE_1), ("[[B]]", RESPONSE_2), ("[[C]]", TIE), ("[[ tie ]]", TIE),
        # LLaVA-Critic "Overall Judgment"
        ("Overall Judgment: Response 2 is better.", RESPONSE_2),
        ("Overall Judgment: **Response A**", RESPONSE_1), ("overall judgement: Tie", TIE),
        # verdict sentences
        ("Response 2 is better", RESPONSE_2), ("Answer B is clearly superior.", RESPONSE_2),
        ("Assistant A is more accurate than assistant B.", RESPONSE_1),
        ("Response 1 is worse than Response 2.", RESPONSE_2), ("Response B is slightly weaker.", RESPONSE_1),
        ("I prefer Response 1.", RESPONSE_1), ("We choose the response 2", RESPONSE_2),
        ("It's a tie.", TIE), ("Both responses are equally helpful.", TIE),
        # the last verdict wins: a critique ends with its conclusion
        ("Response 1 is better in tone, but overall Response 2 is much better.", RESPONSE_2),
        ("[[A]] ... on reflection it is a tie", TIE),
        # no label
        ("", None), ("Both have merits.", None), ("Response 3 is better", None), ("responses are long", None),
        ("Response 1 mentions the dog; Response 2 the cat.", None),  # names without a verdict
    ],
)  # fmt: skip
def test_read_label(text, expected):
    assert read_label(text) == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<think>Response 1 is better at first glance...</think><answer>Response 2</answer>", RESPONSE_2),
        ("<think>Looking closer.</think>Overall Judgment: Response 1 is better", RESPONSE_1),
        ("<answer>I could not decide</answer> but Response 2 is better", RESPONSE_2),  # free-text fallback
        ("<answer>no idea</answer>", None),
    ],
)
def test_extract_label_candidates(response, expected):
    assert extract_label(response) == expected


@pytest.mark.parametrize(
    "truth, label",
    [("Response 1", RESPONSE_1), ("2", RESPONSE_2), ("B", RESPONSE_2), ("<answer>Tie</answer>", TIE),
     ("Overall Judgment: Response 2 is better", RESPONSE_2)],
)  # fmt: skip
def test_ground_truth_forms(truth, label):
    assert parse_label_ground_truth(truth)[0] == label


@pytest.mark.parametrize("truth", ["", "Response 3", "maybe", "<answer></answer>", "both are fine"])
def test_malformed_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="preference ground truth"):
        preference("<answer>1</answer>", truth)


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        ("<answer>Response 2</answer>", "B", 1.0),
        ("<answer>B</answer>", "Response 2", 1.0),
        ("<answer>Tie</answer>", "Tie", 1.0),
        ("<answer>Response 1</answer>", "Response 2", 0.0),
        ("<answer>Tie</answer>", "1", 0.0),
        ("I cannot tell.", "Tie", 0.0),  # no label is wrong, even for a tie
    ],
)
def test_rule_based_accuracy(response, truth, expected):
    assert preference(response, truth) == {"accuracy": expected, **RULE}


@pytest.mark.parametrize(
    "spelling", ["preference", "LLaVA", "critic", "pairwise", "Reward_Model", "reward-model"]
)
def test_aliases(spelling):
    assert resolve_problem_type(spelling) == "preference"


def test_format_wants_a_label_in_the_answer():
    assert score("<answer>Response 1</answer>", "1", "critic")["format"] == 1.0
    assert score("<answer>both fine</answer>", "1", "critic")["format"] == 0.5
    assert score("Response 1", "1", "critic") == {"overall": 0.9, "accuracy": 1.0, "format": 0.0, **RULE}


def test_judge_request_carries_the_critique_and_reference():
    assert judge_request("  ", "Tie") is None
    response = "<think>R2 cites the frame.</think><answer>Response 2</answer>"
    text = judge_request(
        response, "<answer>Response 2 is better: it cites the frame</answer>", "Which?"
    ).messages[0][1]
    assert "Critique to grade:\n" + response in text  # the whole critique, reasoning included
    assert "Reference judgment (the correct verdict):\nResponse 2 is better: it cites the frame" in text
    assert "The critic's task:\nWhich?" in text


@pytest.fixture
def judge_server():
    servers = []

    def make(*steps):
        servers.append(ScriptedServer(steps))
        return servers[-1], JudgeClient(JudgeConfig(base_url=servers[-1].url, model="j", max_retries=0))

    yield make
    for server in servers:
        server.stop()


def test_judge_grades_the_critique(judge_server):
    server, judge = judge_server(reply("Right verdict, thin reasons. Score: 6"))
    result = preference("<answer>Response 2</answer>", "Response 2", judge=judge, question="Compare.")
    assert result == {"accuracy": pytest.approx(0.6), "judge_used": 1.0, "judge_failed": 0.0}
    assert len(server.requests) == 1


@pytest.mark.parametrize("step", [reply("no rating here"), status(401)])
def test_failed_judge_scores_zero(judge_server, step):
    _, judge = judge_server(step)
    assert preference("<answer>Response 2</answer>", "Response 2")["accuracy"] == 1.0
    result = preference("<answer>Response 2</answer>", "Response 2", judge=judge)
    assert result == {"accuracy": 0.0, "judge_used": 1.0, "judge_failed": 1.0}


def test_docstring_examples():
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------------- robustness

FRAGMENTS = ["<answer>", "</answer>", "<think>", "</think>", "Response", " 1", " 2", "A", "B", "[[", "]]",
             "Overall Judgment:", " is ", "better", "worse", "tie", "equally good", "prefer ", " ", "\n",
             "**", "é", "🙂", "\x00"]  # fmt: skip
text = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(response=text, truth=st.sampled_from(["Response 1", "B", "Tie"]))
def test_any_response_scores_in_range(response, truth):
    result = score(response, truth, "preference")
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert result["accuracy"] in (0.0, 1.0) and result["format"] in (0.0, 0.5, 1.0)


@pytest.mark.parametrize(
    "unit",
    ["<answer>", "Response ", "Response 1 is ", "[[", "[[A", "Overall Judgment: ", "prefer ", " ",
     "is equally ", "response 2 is much ", "**", "é"],
)  # fmt: skip
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    for truth in ("Response 1", "Tie"):
        assert 0.0 <= score(response, truth, "preference")["accuracy"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit",
    ["<answer>", "Response ", "Response 1 is ", "[[", "[[A", "Overall Judgment: ", "prefer ", " ",
     "is equally ", "response 2 is much ", "**", "é"],
)  # fmt: skip
def test_100kb_adversarial_responses_are_linear(unit):
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    assert time.perf_counter() - start < 5.0  # ~0.25 s; a quadratic regex takes minutes
