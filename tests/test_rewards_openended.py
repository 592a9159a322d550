"""Open-ended family: exact match for short references, mean ROUGE F1 otherwise, or an LLM judge."""

import doctest
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rewards_judge import ScriptedServer, reply, status

from training.rewards import get_scorer, resolve_problem_type, score
from training.rewards import openended as module
from training.rewards.judge import JudgeClient, JudgeConfig
from training.rewards.openended import (
    extract_answer,
    judge_request,
    normalize,
    open_ended,
    rouge_mean,
    rule_accuracy,
)

RULE = {"judge_used": 0.0, "judge_failed": 0.0}


@pytest.mark.parametrize(
    "reference, answer, expected",
    [
        # Hand-computed: tokens [the cat sat on the mat] vs [a cat sat on a mat]; unigram overlap 4 of 6
        # (F1 2/3), bigrams cat-sat and sat-on of 5 each (F1 2/5), LCS cat sat on mat = 4 (F1 2/3).
        ("the cat sat on the mat", "a cat sat on a mat", (2 / 3 + 2 / 5 + 2 / 3) / 3),
        # Porter stems: dogs->dog, running/runs->run, quickly->quickli vs quick. R1: 2 shared of 3 and 4
        # tokens (F1 4/7); R2: dog-run of 2 and 3 bigrams (F1 2/5); LCS dog run (F1 4/7).
        ("dogs running quickly", "the dog runs quick", (4 / 7 + 2 / 5 + 4 / 7) / 3),
        # Same bag of words reversed: R1 1, no shared bigram, LCS 1 of 4 (F1 1/4).
        ("the quick brown fox", "fox brown quick the", (1 + 0 + 1 / 4) / 3),
        ("a man rides a red bicycle", "A man rides a RED bicycle!", 1.0),  # case and punctuation
        ("a man rides a red bicycle", "zebra", 0.0),
    ],
)
def test_rouge_mean_exact_values(reference, answer, expected):
    assert rouge_mean(reference, answer) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "text, expected",
    [(" A  red-car! ", "a red car"), ("Red.", "red"), ("«Oui»,\tmerci", "oui merci"), ("", ""), ("...", "")],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        ("<answer>Red.</answer>", "red", 1.0),  # short reference (<= 10 chars): exact match
        ("<answer>dark red</answer>", "red", 0.0),  # ...no partial credit
        ("<think>hm</think> Two dogs", "two dogs", 1.0),  # text after </think>
        ("2 dogs", "<answer>two dogs</answer>", 0.0),  # exact means exact: no number words
        ("<answer>a cat sat on a mat</answer>", "the cat sat on the mat", 26 / 45),  # 22 chars: ROUGE
        ("<answer>一只猫</answer>", "一只猫坐在垫子上面看着窗外的鸟", 0.0),  # no ROUGE tokens: exact match
        ("<answer>一只猫坐在垫子上面看着窗外的鸟</answer>", "一只猫坐在垫子上面看着窗外的鸟", 1.0),
        ("", "red", 0.0),
        ("<answer> </answer>", "a long reference answer", 0.0),  # an empty block is an empty answer
        # Unclosed tag: the whole response minus the tag, [long answer] vs [a long refer answer]:
        # R1 F1 2/3, no shared bigram, LCS 2 (F1 2/3). (With the tag as a word it would differ.)
        ("<answer>long answer", "a long reference answer", (2 / 3 + 0 + 2 / 3) / 3),
    ],
)
def test_rule_based_accuracy(response, truth, expected):
    result = open_ended(response, truth)
    assert result == {"accuracy": pytest.approx(expected, rel=1e-12), **RULE}


def test_ten_character_boundary():
    assert rule_accuracy("red cat", "ten chars!") == 0.0  # 10 chars: exact match only
    eleven = "a red car x"  # 11 chars: ROUGE, so a partial answer earns partial credit
    assert rule_accuracy("a red car", eleven) == pytest.approx(rouge_mean(eleven, "a red car"))
    assert 0.0 < rule_accuracy("a red car", eleven) < 1.0


@pytest.mark.parametrize("truth", ["", "   ", "<answer> </answer>"])
def test_empty_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="open-ended ground truth"):
        open_ended("<answer>x</answer>", truth)


@pytest.mark.parametrize(
    "spelling",
    ["open-ended", "Open_Ended", "open ended", "video qa", "free-form", "free form", "video description",
     "description", "caption"],
)  # fmt: skip
def test_aliases(spelling):
    assert resolve_problem_type(spelling) == "open-ended"


def test_through_score_format_and_extras():
    result = score("<think>look</think><answer>Red</answer>", "red", "video qa")
    assert result == {"overall": pytest.approx(1.0, abs=1e-15), "accuracy": 1.0, "format": 1.0, **RULE}
    assert score("<answer></answer>", "red", "caption")["format"] == 0.5  # empty answer block


def test_extract_answer_and_request():
    assert extract_answer("<think>a</think><answer> b </answer>") == "b"
    assert extract_answer("   ") == ""
    assert judge_request("   ", "red") is None  # nothing to grade
    req = judge_request(
        "<think>secret reasoning</think><answer>blue</answer>", "<answer>red</answer>", "Color?"
    )
    text = req.messages[0][1]
    assert "Model answer:\nblue" in text and "Reference answer:\nred" in text and "Question:\nColor?" in text
    assert "secret reasoning" not in text  # the judge sees the answer, not the thinking
    with pytest.raises(ValueError, match="open-ended ground truth"):
        judge_request("x", "")


@pytest.fixture
def judge_server():
    servers = []

    def make(*steps):
        servers.append(ScriptedServer(steps))
        config = JudgeConfig(base_url=servers[-1].url, model="j", max_retries=1, backoff_s=0.01)
        return servers[-1], JudgeClient(config)

    yield make
    for server in servers:
        server.stop()


def test_judge_verdict_is_the_accuracy(judge_server):
    server, judge = judge_server(reply("Mostly right.\nScore: 7"))
    result = open_ended("<answer>a red cube</answer>", "a red square", judge=judge, question="What is shown?")
    assert result == {"accuracy": pytest.approx(0.7), "judge_used": 1.0, "judge_failed": 0.0}
    assert "Question:\nWhat is shown?" in server.requests[0]["body"]["messages"][0]["content"]


@pytest.mark.parametrize("step", [reply("I refuse to grade."), status(400), status(503)])
def test_failed_judge_scores_zero_not_the_rule(judge_server, step):
    _, judge = judge_server(step)
    # Rule-based this would be 1.0; a configured judge that fails gives 0 and says so.
    assert open_ended("<answer>red</answer>", "red")["accuracy"] == 1.0
    result = open_ended("<answer>red</answer>", "red", judge=judge)
    assert result == {"accuracy": 0.0, "judge_used": 1.0, "judge_failed": 1.0}
    assert score("<answer>red</answer>", "red", "open-ended", judge=judge)["judge_failed"] == 1.0


def test_empty_answer_is_not_sent_to_the_judge(judge_server):
    server, judge = judge_server(reply("Score: 10"))
    assert open_ended("<answer></answer>", "red", judge=judge) == {"accuracy": 0.0, **RULE}
    assert server.requests == []


# ------------------------------------------------------------------------------- robustness


FRAGMENTS = ["<answer>", "</answer>", "<think>", "</think>", "the", "cat", "cats", "sat", " ", "\n", ".",
             "é", "猫", "🙂", "\x00", "NaN", "1e999", "running", "<answer><answer>", "{", "}"]  # fmt: skip
text = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(
    response=text, truth=st.sampled_from(["red", "the cat sat on the mat", "一只猫坐在垫子上面看着窗外的鸟"])
)
def test_any_response_scores_in_range(response, truth):
    result = score(response, truth, "open-ended")
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert 0.0 <= result["accuracy"] <= 1.0 and result["format"] in (0.0, 0.5, 1.0)


@pytest.mark.parametrize(
    "unit", ["<answer>", "the cat ", "a ", "running dogs ", "<think>", "é", "1", "</answer>"]
)
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    for truth in ("red", "the cat sat on the mat"):
        result = score(response, truth, "open-ended")
        assert 0.0 <= result["accuracy"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit", ["<answer>", "the cat ", "a ", "running dogs ", "<think>", "é", "1", "</answer>"]
)
def test_100kb_adversarial_responses_are_fast(unit):
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    assert time.perf_counter() - start < 10.0  # ~1.7 s loaded; ROUGE-L is O(n·m), m short


def test_registered_with_judge_request():
    scorer = get_scorer("open-ended")
    assert scorer.judge_request is judge_request
    assert scorer.build_judge_request("<answer>x</answer>", "y", question="q", options=None) is not None


def test_docstring_examples():
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
