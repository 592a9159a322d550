"""VCR-Bench adapter: the real EasyVideoR1 sample, the official release format, and the official two-step
judge grading reproduced on the official scorer fixture (zhishuifeiqian/VCR-Bench eval_code/output.json:
real responses with GPT-4o's extractions and scores, copied below without the CoT fields) against a real
local OpenAI-compatible server that answers each prompt with the reply GPT-4o gave. The CoT recall/precision
evaluation is checked on the same four items with their CoT fields (tests/data/vcr_bench_cot_output.json:
the official output.json items with the annotated reasoning, GPT-4o's recall_eval/precision_eval replies
and eval.py's per-item values)."""

import doctest
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.official import judged, vcr_cot
from training.rewards.judge import JudgeClient, JudgeConfig

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "evaluation"
    / "samples"
    / "vcr_bench"
    / "easyvideor1_vcrbench.sample.json"
)
KB = "video/videoEspresso/Kill.Bill.Vol.1.2003__#0-05-55_0-08-54_label_B1-0-0.mp4"
EMPTY = {"A": "", "B": "", "C": "", "D": ""}
FIXTURE = [
    {
        "id": 3,
        "video_path": "video/videoEspresso/Law.Abiding.Citizen.2009__#01-14-42_01-15-38_label_G-0-0.mp4",
        "duration": 56,
        "dimension": "Video Plot Analysis",
        "question": "Why didn't the Black man go to rescue the trapped woman after the explosion?A. He and the "
        "woman are in a hostile relationship.\nB. He prioritized rescuing another woman.\nC. Another man "
        "rescued the woman.\nD. An explosion occurred again at the scene.\n",
        "multiple-choice": True,
        "choices": {
            "A": "He and the woman are in a hostile relationship.",
            "B": "He prioritized rescuing another woman.",
            "C": "Another man rescued the woman.",
            "D": "An explosion occurred again at the scene.",
        },
        "answer": "D",
        "response": "D. An explosion occurred again at the scene.",
        "extract_answer": "D",
        "answer_scoring": "1",
    },
    {
        "id": 0,
        "video_path": KB,
        "duration": 179,
        "dimension": "Temporal Spatial Reasoning",
        "question": "In which room does the second fight in the video take place?",
        "multiple-choice": False,
        "choices": EMPTY,
        "answer": "Kitchen",
        "response": "The second fight takes place in a kitchen.",
        "extract_answer": "The second fight takes place in a kitchen.",
        "answer_scoring": "1",
    },
    {
        "id": 1,
        "video_path": KB,
        "duration": 179,
        "dimension": "Temporal Spatial Reasoning",
        "question": "In which room does the third fight in the video take place?",
        "multiple-choice": False,
        "choices": EMPTY,
        "answer": "Living room",
        "response": "The third fight takes place in a room with blue walls and a fireplace.",
        "extract_answer": "a room with blue walls and a fireplace",
        "answer_scoring": "0",
    },
    {
        "id": 2,
        "video_path": "video/videoEspresso/Kill.Bill.Vol.2.2004__#0-44-18_0-49-18_label_A.mp4",
        "duration": 300,
        "dimension": "Temporal Spatial Reasoning",
        "question": "Based on the changes in the scenes within the video, what is the trend of vertical height "
        "variation from the beginning of the video to the point where the woman finally reaches the temple "
        "courtyard?",
        "multiple-choice": False,
        "choices": EMPTY,
        "answer": "Continued rise",
        "response": "The trend of vertical height variation from the beginning to the point where the woman "
        "reaches the temple courtyard is an increase.",
        "extract_answer": "an increase",
        "answer_scoring": "1",
    },
]


class _Routed(BaseHTTPRequestHandler):
    """Answers each chat request with ``server.route(prompt text)``."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(body)
        reply = self.server.route(body["messages"][-1]["content"])
        data = json.dumps(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def judge_server():
    servers = []

    def make(route):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Routed)
        server.route, server.seen = route, []
        server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def client(url):
    return JudgeClient(JudgeConfig(base_url=url, model="judge", max_retries=0, timeout_s=5.0))


def fixture_route(text):
    """GPT-4o's recorded reply to the extraction or the scoring prompt of a fixture record."""
    for item in FIXTURE:
        if f"\nQuestion: {item['question']}\nAnswer: {item['response']}\nYour output:\n" in text:
            return item["extract_answer"]
        if f"\n[Model Answer]: {item['extract_answer']}\n[Standard Answer]: {item['answer']}\n" in text:
            return item["answer_scoring"]
    raise AssertionError(f"unexpected judge prompt: {text[-300:]!r}")


@pytest.fixture
def official(tmp_path):
    (tmp_path / "vcr.json").write_text(json.dumps(FIXTURE))
    return get_adapter("vcr_bench").load(tmp_path / "vcr.json", tmp_path)


def test_sample_records(tmp_path):
    recs = {r.id: r for r in get_adapter("vcr_bench").load(SAMPLE, tmp_path)}
    assert len(recs) == 20 and sum(r.problem_type == "open-ended" for r in recs.values()) == 10
    mc = recs["38"]
    assert mc.answer == "B" and mc.options == [
        "A. On the tree",
        "B. In the attic",
        "C. On the ground",
        "D. On the table in the room",
    ]
    assert mc.categories == {"question_type": "multiple-choice", "source": "videoEspresso"}
    assert mc.media == [str(tmp_path / "video" / "videoEspresso" / "000304_1_1.mp4")]
    assert recs["991"].answer == "[11, 142]" and recs["898"].answer == "[299, 64, 409, 121]"
    assert recs["898"].categories == {"question_type": "open-ended", "source": "ReVOS_videos_bench"}


def test_official_format(official, tmp_path):
    mc, oe = official[0], official[1]
    assert (
        mc.id == "3" and mc.answer == "D" and mc.options[3] == "D. An explosion occurred again at the scene."
    )
    assert mc.problem == "Why didn't the Black man go to rescue the trapped woman after the explosion?"
    assert mc.extra["question"] == FIXTURE[0]["question"]  # the judge sees the official text
    assert mc.categories == {
        "question_type": "multiple-choice",
        "dimension": "Video Plot Analysis",
        "duration": "0-60",
    }
    assert (
        oe.problem_type == "open-ended" and oe.answer == "Kitchen" and oe.categories["duration"] == "60-300"
    )
    assert official[3].categories["duration"] == "60-300"  # 300 s is still in 60-300
    assert oe.media == [str(tmp_path / KB)]
    bad = [{k: v for k, v in FIXTURE[1].items() if k != "dimension"}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"bad\.json: record 0 \(id=0\).*'dimension'"):
        get_adapter("vcr_bench").load(tmp_path / "bad.json", None)


def test_official_scorer_fixture(judge_server, official):
    """The three open-ended fixture records get the official answer_scoring (1, 0, 1) through the two judge
    steps. The multiple-choice one is read by EasyVideoR1's extraction, which finds no letter in
    "D. An explosion occurred again at the scene." (GPT-4o extracted D): scored 0 here."""
    server = judge_server(fixture_route)
    adapter = get_adapter("vcr_bench", judge=client(server.url))
    scores = [adapter.score_sample(r, item["response"], "official") for r, item in zip(official, FIXTURE)]
    assert [s["score"] for s in scores] == [0.0, 1.0, 0.0, 1.0]
    assert [s["pred"] for s in scores[1:]] == [item["extract_answer"] for item in FIXTURE[1:]]
    assert scores[0] == {"score": 0.0, "pred": "", "extraction_failed": True}
    assert len(server.seen) == 6  # two judge calls per open-ended record, none for multiple choice
    first = server.seen[0]["messages"]
    assert len(first) == 1 and first[0]["content"].startswith(
        "You are an AI assistant who will help me to extract"
    )
    out = adapter.aggregate(official, scores, "official")
    assert out["overall"] == 50.0
    assert out["by_question_type"] == {"multiple-choice": 0.0, "open-ended": pytest.approx(200 / 3)}
    assert out["by_dimension"] == {
        "Temporal Spatial Reasoning": pytest.approx(200 / 3),
        "Video Plot Analysis": 0.0,
    }
    assert out["by_duration"] == {"0-60": 0.0, "60-300": pytest.approx(200 / 3)}
    assert "by_source" not in out


@pytest.mark.parametrize(
    "rid, extracted, score",
    [
        ("991", "[10, 140]", 1.0),  # IoU 129/132 > 0.7: no scoring call
        ("991", "[60, 142]", 0.0),  # IoU 82/131
        ("898", "[300, 60, 400, 120]", 1.0),  # box IoU 5600/6670 > 0.5
        ("898", "[0, 0, 100, 100]", 0.0),
    ],
)
def test_interval_and_box_rules(judge_server, tmp_path, rid, extracted, score):
    rec = {r.id: r for r in get_adapter("vcr_bench").load(SAMPLE, tmp_path)}[rid]
    server = judge_server(lambda text: extracted)
    out = get_adapter("vcr_bench", judge=client(server.url)).score_sample(rec, "whatever", "official")
    assert out["score"] == score and len(server.seen) == 1


@pytest.mark.parametrize(
    "answer, extracted, verdict",
    [
        ("[11, 142]", "[11.0, 142]", True),
        ("[0, 10]", "[0, 10, 20]", None),  # not an interval: the scoring judge decides
        ("[1, 2, 3, 4]", "[1, 2, 3.5, 4]", None),  # box parts must be integers
        ("[1, 1, 1, 1]", "[1, 1, 1, 1]", False),  # zero-area union: the official try scores it 0
        ("[5, 5]", "[5, 5]", False),  # zero-length union
        ("Host", "Z", None),
    ],
)
def test_rule_match(answer, extracted, verdict):
    assert judged.vcr_rule_match(answer, extracted) is verdict


def test_scoring_reply_must_be_exactly_one(judge_server, tmp_path):
    rec = {r.id: r for r in get_adapter("vcr_bench").load(SAMPLE, tmp_path)}["369"]  # answer "Host"
    replies = iter(["host", "1\n"])
    server = judge_server(lambda text: next(replies))
    out = get_adapter("vcr_bench", judge=client(server.url)).score_sample(rec, "The host.", "official")
    assert out["score"] == 0.0 and out["judge_reply"] == "1\n" and out["pred"] == "host"


def test_easyvideor1_judge_and_errors(judge_server, tmp_path):
    rec = {r.id: r for r in get_adapter("vcr_bench").load(SAMPLE, tmp_path)}["768"]  # "Toothbrush"
    server = judge_server(lambda text: "Consistent.\nJudgement: 1")
    adapter = get_adapter("vcr_bench", judge=client(server.url), judge_prompt="easyvideor1")
    assert adapter.score_sample(rec, "A toothbrush.", "official")["score"] == 1.0
    assert "Ground Truth: Toothbrush\nModel Answer: A toothbrush." in server.seen[0]["messages"][0]["content"]
    with pytest.raises(ValueError, match="vcr_bench record 768 needs an LLM judge in official mode"):
        get_adapter("vcr_bench").score_sample(rec, "A toothbrush.", "official")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(RuntimeError, match="vcr_bench record 768: the judge request failed"):
        get_adapter("vcr_bench", judge=client(dead)).score_sample(rec, "A toothbrush.", "official")


def test_judged_docstring_examples():
    result = doctest.testmod(judged)
    assert result.failed == 0 and result.attempted >= 5
    result = doctest.testmod(vcr_cot)
    assert result.failed == 0 and result.attempted >= 3


# ------------------------------------------------------------------------------------ CoT evaluation
COT_OUTPUT = Path(__file__).resolve().parent / "data" / "vcr_bench_cot_output.json"
VALUE_KEYS = (
    "Video_recall",
    "logic_recall",
    "background_recall",
    "overall_recall",
    "Video_precision",
    "logic_precision",
    "background_precision",
    "overall_precision",
    "efficiency",
)
V, L, B = vcr_cot.VIDEO, vcr_cot.LOGIC, vcr_cot.BACKGROUND


def _block(steps):
    return "```json\n" + json.dumps([{"step_type": t, "judgment": j} for t, j in steps]) + "\n```"


@pytest.fixture
def cot_items():
    """The official output.json items (with GPT-4o's recall_eval/precision_eval and eval.py's values)."""
    return json.loads(COT_OUTPUT.read_text())


def cot_route(items):
    """GPT-4o's recorded reply to any of the four official prompts of a fixture item."""

    def route(text):
        for item in items:
            if text.startswith("You are an expert system") and f"[Problem]\n{item['question']}\n\n" in text:
                return item["recall_eval"]
            if text.startswith("\n# Task Overview") and f"[Problem]\n{item['question']}\n\n" in text:
                return item["precision_eval"]
        return fixture_route(text)

    return route


def test_cot_official_fixture(judge_server, cot_items, tmp_path):
    """eval.py's recall/precision values and cau_total.py's numbers on the official output.json."""
    (tmp_path / "vcr.json").write_text(json.dumps(cot_items))
    recs = get_adapter("vcr_bench").load(tmp_path / "vcr.json", tmp_path)
    server = judge_server(cot_route(cot_items))
    adapter = get_adapter("vcr_bench", judge=client(server.url))
    scores = [adapter.score_sample(r, item["response"], "official") for r, item in zip(recs, cot_items)]
    assert [s["score"] for s in scores] == [0.0, 1.0, 0.0, 1.0]  # the answers as without CoT
    assert len(server.seen) == 4 * 2 + 3 * 2  # recall + precision per record, answer steps for open-ended
    for s, item in zip(scores, cot_items):
        assert s["cot"] == {k: None if item[k] == "" else pytest.approx(item[k]) for k in VALUE_KEYS}
    recall = next(
        b["messages"][0]["content"] for b in server.seen if b["messages"][0]["content"].startswith("You")
    )
    assert recall == vcr_cot.RECALL_PROMPT.format(
        question=cot_items[0]["question"],
        answer="D",
        solution=cot_items[0]["response"],
        gt_annotation=cot_items[0]["reasoning"],
    )
    assert "[Ground Truth Information]\n['1. 0:08-0:30, a series of explosions" in recall  # a list's repr
    out = adapter.aggregate(recs, scores, "official")
    assert out["overall"] == 50.0 and "cot_unavailable" not in out
    assert (out["cot_precision"], out["cot_recall"], out["cot_f1"]) == pytest.approx((75.0, 50.0, 60.0))
    assert out["cot_by_step_type"] == {
        "Video": {"precision": 100.0, "recall": 37.5, "f1": pytest.approx(600 / 11)},
        "logic": {"precision": 75.0, "recall": 100.0, "f1": pytest.approx(600 / 7)},
    }
    assert out["cot_efficiency"] == 100.0 and out["cot_n"] == 4
    assert out["cot_recall_unparsed"] == out["cot_precision_unparsed"] == out["cot_dropped"] == 0


def test_total_metrics_on_official_values(cot_items):
    items = [{k: None if item[k] == "" else item[k] for k in VALUE_KEYS} for item in cot_items]
    totals = vcr_cot.total_metrics(items)
    assert totals["overall"] == pytest.approx({"precision": 0.75, "recall": 0.5, "f1": 0.6})
    assert totals["Video"] == pytest.approx({"precision": 1.0, "recall": 0.375, "f1": 6 / 11})
    assert totals["logic"] == pytest.approx({"precision": 0.75, "recall": 1.0, "f1": 6 / 7})
    # only recall values: precision 0, F1 0; a name with no value at all is not reported
    assert vcr_cot.total_metrics([{"logic_recall": 0.5}]) == {
        "logic": {"precision": 0, "recall": 0.5, "f1": 0}
    }
    assert vcr_cot.total_metrics([]) == {}


@pytest.mark.parametrize(
    "reply",
    [
        '[{"step_type": "Logical Inference Steps", "judgment": "Matched"}]',  # no ```json block
        "```json\n[{'step_type': 'Logical Inference Steps', 'judgment': 'Matched'}]\n```",  # not JSON
        '```json\n{"step_type": "Logical Inference Steps", "judgment": "Matched"}\n```',  # not a list
        '```json\n["Matched"]\n```',
        '```json\n[{"step_type": "Logical Inference Steps", "judgment": "Match"}]\n```',  # unknown label
        '```json\n[{"step_type": "Logical Inference", "judgment": "Matched"}]\n```',  # unknown type
        '```json\n[{"judgment": "Matched"}]\n```',
        '```JSON\n[{"step_type": "Logical Inference Steps", "judgment": "Matched"}]\n```',  # case-sensitive
    ],
)
def test_unreadable_cot_replies(reply):
    assert vcr_cot.judgment_counts(reply, vcr_cot.RECALL_LABELS) is None


def test_recall_and_precision_values():
    counts = vcr_cot.judgment_counts(
        "Sure:\n" + _block([(V, "Matched"), (V, "Unmatched"), (L, "Unmatched"), (B, "Matched")]) + " done",
        vcr_cot.RECALL_LABELS,
    )
    assert vcr_cot.recall_values(counts) == {
        "Video_recall": 0.5,
        "logic_recall": 0.0,
        "background_recall": 1.0,
        "overall_recall": pytest.approx(1 / 3),  # background steps are left out of overall
    }
    counts = vcr_cot.judgment_counts(
        _block([(V, "Matched"), (L, "Wrong"), (L, "Redundant"), (B, "Redundant"), (B, "Wrong")]),
        vcr_cot.PRECISION_LABELS,
    )
    assert vcr_cot.precision_values(counts) == {
        "Video_precision": 1.0,
        "logic_precision": 0.0,
        "background_precision": 0.0,
        "overall_precision": 0.5,
        "efficiency": 0.6,  # (5 steps - 2 redundant) / 5, over all types
    }
    assert vcr_cot.judgment_counts(_block([(L, "Unmatched")]), vcr_cot.PRECISION_LABELS) is None
    empty = vcr_cot.judgment_counts("```json\n[]\n```", vcr_cot.PRECISION_LABELS)
    assert vcr_cot.precision_values(empty)["efficiency"] is None  # 0/0 fails the official item


def test_cot_without_judge(official, tmp_path, cot_items):
    """No judge: multiple choice scores as before, waits for the CoT judge; no CoT metric, a reason."""
    (tmp_path / "cot.json").write_text(json.dumps(cot_items[:1]))
    rec = get_adapter("vcr_bench").load(tmp_path / "cot.json", tmp_path)[0]
    adapter = get_adapter("vcr_bench")
    score = adapter.score_sample(rec, "D", "official")
    assert score == {"score": 1.0, "pred": "D", "extraction_failed": False, "judge_needed": True}
    out = adapter.aggregate([rec], [score], "official")
    assert out["overall"] == 100.0 and "cot_precision" not in out and "cot_recall" not in out
    assert out["cot_unavailable"] == "no judge configured: 1 responses await the CoT judge"
    assert out["cot_judge_needed"] == 1
    robust = adapter.aggregate([rec], [adapter.score_sample(rec, "D", "robust")], "robust")
    assert robust["cot_unavailable"].endswith("official-mode metric")
    recs = adapter.load(SAMPLE, tmp_path)  # EasyVideoR1's unified file carries no reasoning
    mc = [r for r in recs if r.problem_type == "multiple choice"]
    scores = [adapter.score_sample(r, "A", "official") for r in mc]
    assert not any("judge_needed" in s for s in scores)
    assert adapter.aggregate(mc, scores, "official")["cot_unavailable"].startswith(
        "no record carries annotated reasoning steps"
    )


def test_unreadable_and_empty_cot_replies(rating_judge, tmp_path, cot_items):
    (tmp_path / "cot.json").write_text(json.dumps(cot_items[:1]))  # the multiple-choice item
    rec = get_adapter("vcr_bench").load(tmp_path / "cot.json", tmp_path)[0]
    server = rating_judge("All steps match.")
    adapter = get_adapter("vcr_bench", judge=client(server.url))
    score = adapter.score_sample(rec, "D", "official")
    assert score["score"] == 1.0 and "cot" not in score and len(server.seen) == 2
    assert score["cot_recall_unparsed"] and score["cot_precision_unparsed"]
    assert score["cot_recall_reply"] == score["cot_precision_reply"] == "All steps match."
    out = adapter.aggregate([rec], [score], "official")
    assert "cot_precision" not in out and out["cot_recall_unparsed"] == out["cot_precision_unparsed"] == 1
    assert out["cot_unavailable"].startswith("no readable CoT judge reply")
    empty = get_adapter("vcr_bench", judge=client(rating_judge("```json\n[]\n```").url))
    score = empty.score_sample(rec, "D", "official")
    assert score["cot_dropped"] and "cot" not in score and score["score"] == 1.0
    assert empty.aggregate([rec], [score], "official")["cot_dropped"] == 1
