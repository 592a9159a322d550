"""VideoMathQA adapter: the real EasyVideoR1 sample, lmms-eval's letter extraction, MCQ/MBin aggregates, and
lmms-eval's CoT step evaluation against a real local judge endpoint (``rating_judge`` in conftest)."""

import doctest
import json
import socket
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official import videomathqa
from evaluation.official.videomathqa import (
    STEP_RESPONSE_FORMAT,
    extract_letter,
    parse_step_score,
    step_prompt,
)
from training.rewards.judge import JudgeClient, JudgeConfig

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "videomathqa"
    / "easyvideor1_videomathqa.sample.json"
)


@pytest.fixture
def adapter():
    return get_adapter("videomathqa")


def test_sample_records(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    assert len(recs) == 20 and len({r.id for r in recs}) == 20
    by_id = {r.id: r for r in recs}
    first = recs[0]
    assert first.id == "1859cf22-4d87-469a-bffd-e960a4339050-180" and first.answer == "C"
    assert first.options[2] == "C. 90" and len(first.options) == 5
    assert first.categories == {"subset": "mcq", "category": "Chart", "length": "long"}
    assert first.media == [str(tmp_path / "videos" / "1859cf22-4d87-469a-bffd-e960a4339050.mp4")]
    assert json.loads(first.extra["steps"])["6"].startswith("In 1999, Indias gray bubble")
    # the MCQ and an MBin item of the same question share problem_id: the MBin id adds its mbinary_id
    mcq = by_id["a96e6b05-ffce-43f4-9539-ceb9db714cc4-398"]
    mbin = by_id["a96e6b05-ffce-43f4-9539-ceb9db714cc4-398/mbin-3983"]
    assert (mcq.answer, mcq.options[3]) == ("D", "D. 38%")
    assert mbin.options == ["A. 78%", "B. 38%"] and mbin.answer == "B"
    assert mbin.categories == {"subset": "mbin", "category": "Statistics", "length": "medium"}
    assert (
        mbin.extra["question_id"] == mcq.extra["question_id"] == mcq.id and mbin.extra["mbinary_id"] == 3983
    )
    assert sum(r.categories["subset"] == "mbin" for r in recs) == 10


@pytest.mark.parametrize(
    "response, letter",
    [
        ("The best answer is: C", "C"),
        ("C", "C"),
        ("Answer: B", "A"),  # the A of "Answer"
        ("Best answer: C", "B"),  # "Best answer:" alone is no prefix: the B of "Best"
        ("The best option isThe correct option is B", "B"),  # the concatenated prefix is deleted
        ("(D) 38%", "D"),
        ("c", ""),  # case-sensitive
        ("the probability is thirty eight percent of the whole shaded region here ok", ""),
        ("Explanation: the area halves, so the answer is (A)", "E"),
        ("", ""),
    ],
)
def test_official_extraction(response, letter):
    assert extract_letter(response) == letter


def test_official_and_robust_scores(adapter, tmp_path):
    rec = adapter.load(SAMPLE, tmp_path)[0]  # answer C
    assert adapter.score_sample(rec, "The best answer is C.", "official") == {
        "score": 1.0,
        "pred": "C",
        "extraction_failed": False,
        "judge_needed": True,  # the CoT step score waits for a judge; the answer does not
    }
    miss = adapter.score_sample(rec, "no idea", "official")
    assert miss["score"] == 0.0 and miss["extraction_failed"]
    assert adapter.score_sample(rec, "<think>90</think><answer>C</answer>", "robust")["score"] == 1.0


def _row(pid, category, length, options, answer, mbinary_id=None):
    row = {
        "problem_id": pid,
        "problem": f"question {pid}",
        "problem_type": "multiple choice",
        "options": options,
        "solution": f"<answer>{answer}</answer>",
        "path": f"./videos/{pid}.mp4",
        "data_source": "VideoMathQA",
        "category": category,
        "length": length,
    }
    if mbinary_id is not None:
        row["mbinary_id"] = mbinary_id
    return row


FIVE = ["A. 1", "B. 2", "C. 3", "D. 4", "E. 5"]


def test_aggregates(adapter, tmp_path):
    rows = [
        _row("q1", "Chart", "short", FIVE, "A"),
        _row("q2", "Chart", "long", FIVE, "B"),
        _row("q3", "Puzzle", "long", FIVE, "C"),
        _row("q1", "Chart", "short", ["A. 1", "B. 2"], "A", 11),
        _row("q1", "Chart", "short", ["A. 1", "B. 3"], "A", 12),
        _row("q2", "Chart", "long", ["A. 2", "B. 1"], "A", 21),
        _row("q2", "Chart", "long", ["A. 5", "B. 2"], "B", 22),
        _row("q3", "Puzzle", "long", ["A. 3", "B. 4"], "A", 31),
    ]
    (tmp_path / "v.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    recs = adapter.load(tmp_path / "v.jsonl", tmp_path)
    # MCQ: q1 right, q2 wrong, q3 right; MBin: q1 both right, q2 one wrong, q3 right
    answers = ["A", "A", "C", "A", "A", "A", "A", "A"]
    scores = [adapter.score_sample(r, a, "official") for r, a in zip(recs, answers)]
    out = adapter.aggregate(recs, scores, "official")
    assert out["n"] == 8 and out["n_mcq"] == 3 and out["n_mbin_items"] == 5 and out["n_mbin_questions"] == 3
    assert out["mcq_accuracy"] == pytest.approx(200 / 3)
    assert out["mcq_by_category"] == {"Chart": 50.0, "Puzzle": 100.0}
    assert out["mcq_by_length"] == {"long": 50.0, "short": 100.0}
    assert out["mbin_accuracy"] == pytest.approx(200 / 3)
    assert out["mbin_by_category"] == {"Chart": 50.0, "Puzzle": 100.0}
    assert out["mbin_by_length"] == {"long": 50.0, "short": 100.0}
    assert out["easyvideor1_mean"] == pytest.approx(100 * 6 / 8)
    assert out["overall"] == out["mcq_accuracy"]
    mbin_only = adapter.aggregate(recs[3:], scores[3:], "official")
    assert mbin_only["overall"] == mbin_only["mbin_accuracy"] and mbin_only["mcq_accuracy"] is None


def test_bad_input(adapter, tmp_path):
    row = _row("q1", "Chart", "short", FIVE, "A")
    del row["length"]
    (tmp_path / "a.json").write_text(json.dumps([row]))
    with pytest.raises(ValueError, match=r"a\.json: record 0 \(problem_id='q1'\).*'length'"):
        adapter.load(tmp_path / "a.json", None)
    (tmp_path / "b.json").write_text(json.dumps([_row("q1", "Chart", "short", FIVE, "A", 7)]))
    with pytest.raises(ValueError, match=r"b\.json: record 0 .*needs 2 options"):
        adapter.load(tmp_path / "b.json", None)
    (tmp_path / "c.json").write_text('[{"problem_id": 1,')
    with pytest.raises(ValueError, match=r"c\.json"):
        adapter.load(tmp_path / "c.json", None)


def test_docstring_examples():
    result = doctest.testmod(videomathqa)
    assert result.failed == 0 and result.attempted >= 1


# ------------------------------------------------------------------------------------ CoT step evaluation
CARD = '{"matched_steps": "5/7", "final_answer_correct": 1, "critique": " Sound. ", "score": 7}'


def client(url):
    return JudgeClient(JudgeConfig(base_url=url, model="judge", max_retries=0, timeout_s=5.0))


@pytest.mark.parametrize(
    "reply, score, parsed",
    [
        (f"<think>about SCORE_CARD: {{...}}</think>\nSCORE_CARD: {CARD}\n", 7, True),  # the last card
        ("SCORE_CARD: {'matched_steps': '2/4', 'critique': 'x', 'score': 5}", 5, True),  # a Python literal
        ('SCORE_CARD: {"score": "6"}', 6, True),  # int("6")
        ('SCORE_CARD: {"score": 7.9}', 7, True),  # int() truncates
        ('SCORE_CARD: {"score": 12}', 12, True),  # not clamped
        ('SCORE_CARD: {"critique": "no score"}', 0, True),  # score defaults to 0
        ('{"score": 4}', 4, True),  # no marker: the whole reply is read
        ('SCORE_CARD: {"score": "7.5"}', 0, False),  # int("7.5") fails: the error card
        ('SCORE_CARD: {"score": 8} and more text', 0, False),
        ('SCORE_CARD: {"score": 8, "critique": 3}', 0, False),  # critique.strip() fails
        ("SCORE_CARD: [8]", 0, False),  # not a dict
        ("Score: 8/10", 0, False),
        ("", 0, False),
    ],
)
def test_parse_step_score(reply, score, parsed):
    value, card = parse_step_score(reply)
    assert value == score and (card is not None) is parsed
    if card is not None:
        assert card["score"] == score and set(card) == {
            "matched_steps",
            "final_answer_correct",
            "critique",
            "score",
        }


def test_step_prompt_is_the_official_text(adapter, tmp_path):
    rec = adapter.load(SAMPLE, tmp_path)[0]
    prompt = step_prompt(rec.problem, rec.options, rec.extra["steps"], rec.answer, "My reasoning. C")
    assert prompt.startswith("\nINSTRUCTIONS: \nYou are a intelligent assistant for grading math question")
    assert "Score = (matching steps / N) \u00d7 10, rounded to nearest whole number. \n" in prompt
    assert "\n\nQUESTION: According to the data analysis shown, what was the child survival rate" in prompt
    assert "\n\nOPTIONS: ['A. 98' 'B. 85' 'C. 90' 'D. 95' 'E. 80']\n\n" in prompt  # numpy's str of the cell
    # the release's steps are a JSON string: dumped once more, quoted and escaped
    assert '\n\nGROUND TRUTH STEPS:\n"{\\"1\\": \\"The video is a dynamic' in prompt
    assert prompt.endswith(
        "\n\nCORRECT FINAL ANSWER:\nC\n\nPREDICTION:\nMy reasoning. C\n\n"
        f"Now evaluate this prediction and return the response in the specified format: {STEP_RESPONSE_FORMAT}\n\n"
    )
    dict_steps = step_prompt("q", ["A. 1"], {"1": "a"}, "A", "p")
    assert 'GROUND TRUTH STEPS:\n{\n  "1": "a"\n}\n' in dict_steps


def test_step_score_with_judge(rating_judge, tmp_path):
    server = rating_judge(f"Let me compare.\nSCORE_CARD: {CARD}")
    adapter = get_adapter("videomathqa", judge=client(server.url))
    recs = adapter.load(SAMPLE, tmp_path)
    scores = [
        adapter.score_sample(r, "Reading the chart, 90%. The best answer is C", "official") for r in recs
    ]
    mcq = [s for r, s in zip(recs, scores) if r.categories["subset"] == "mcq"]
    assert len(server.seen) == len(mcq) == 10  # one call per MCQ, none for MBin items
    assert all(s["cot_step_score"] == 7 and s["cot_score_card"]["critique"] == "Sound." for s in mcq)
    assert not any(
        "cot_step_score" in s or "judge_needed" in s
        for r, s in zip(recs, scores)
        if r.extra.get("mbinary_id")
    )
    message = server.seen[0]["messages"]
    assert len(message) == 1 and message[0]["role"] == "user"
    assert message[0]["content"] == step_prompt(
        recs[0].problem,
        recs[0].options,
        recs[0].extra["steps"],
        "C",
        "Reading the chart, 90%. The best answer is C",
    )
    out = adapter.aggregate(recs, scores, "official")
    assert (
        out["cot_step_score"],
        out["cot_step_n"],
        out["cot_step_unparsed"],
        out["cot_step_judge_needed"],
    ) == (
        70.0,  # percent: the official 0-10 mean (7) x 10
        10,
        0,
        0,
    )
    assert "cot_unavailable" not in out and out["n"] == 20  # the answer aggregates are unchanged
    assert adapter.aggregate(recs, scores, "robust")["cot_unavailable"].endswith("official-mode metric")


def test_unparsed_step_reply_counts_zero(rating_judge, tmp_path):
    server = rating_judge("The prediction is mostly right, I would give it 8/10.")
    adapter = get_adapter("videomathqa", judge=client(server.url))
    rec = adapter.load(SAMPLE, tmp_path)[0]
    out = adapter.score_sample(rec, "C", "official")
    assert (
        out["cot_step_score"] == 0 and out["cot_step_unparsed"] and out["cot_judge_reply"].endswith("8/10.")
    )
    assert out["score"] == 1.0


def test_step_aggregate_counts_unparsed_as_zero(adapter, tmp_path):
    recs = [r for r in adapter.load(SAMPLE, tmp_path) if r.categories["subset"] == "mcq"][:4]
    scores = [
        {"score": 1.0, "cot_step_score": 9},
        {"score": 1.0, "cot_step_score": 0, "cot_step_unparsed": True},
        {"score": 0.0, "cot_step_score": 6},
        {"score": 0.0, "judge_needed": True},
    ]
    out = adapter.aggregate(recs, scores, "official")
    assert out["cot_step_score"] == 50.0 and out["cot_step_n"] == 3  # the 0-10 mean 5.0, in percent
    assert out["cot_step_unparsed"] == 1 and out["cot_step_judge_needed"] == 1


def test_no_judge_reports_why(adapter, tmp_path):
    recs = adapter.load(SAMPLE, tmp_path)
    scores = [adapter.score_sample(r, "C", "official") for r in recs]
    assert sum(bool(s.get("judge_needed")) for s in scores) == 10
    out = adapter.aggregate(recs, scores, "official")
    assert "cot_step_score" not in out
    assert out["cot_unavailable"] == "no judge configured: 10 MCQ responses await the step judge"
    mbin = [i for i, r in enumerate(recs) if r.categories["subset"] == "mbin"]
    only_mbin = adapter.aggregate([recs[i] for i in mbin], [scores[i] for i in mbin], "official")
    assert only_mbin["cot_unavailable"].startswith("no MCQ record carries annotated steps")


def test_failed_step_request_is_a_scoring_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    adapter = get_adapter("videomathqa", judge=client(dead))
    rec = adapter.load(SAMPLE, tmp_path)[0]
    with pytest.raises(RuntimeError, match="the judge request failed"):
        adapter.score_sample(rec, "C", "official")
    assert adapter.score_sample(rec, "C", "robust")["score"] == 1.0  # robust mode never asks


def test_a_long_response_that_names_a_letter_still_gives_that_letter():
    """Only a long response (> 10 words) with no letter at all counts as no answer."""
    long = "after working through every step of the geometry carefully I am confident the answer is (C)"
    assert videomathqa.extract_letter(long) == "C"
    assert (
        videomathqa.extract_letter(
            "after working through every step of the geometry carefully I am confident"
        )
        == ""
    )
