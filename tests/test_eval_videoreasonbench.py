"""VideoReasonBench adapter: the real EasyVideoR1 sample (GT "None" kept as a string), the official
questions/<domain>.json format (three real records of llyx97/video_reason_bench questions/chip.json, copied
below without their ``actions``/``states`` lists), the official "Final Answer" + judge grading against a real
local OpenAI-compatible server (``rating_judge`` from conftest) with canned replies, and the aggregates; the
planning questions (no ground truth): the official move simulation on hand-built boards and on real records
with their states (tests/data/videoreasonbench_planning.json), and their judge-extraction scoring."""

import json
import socket
from pathlib import Path

import pytest

from evaluation.adapters import get_adapter
from evaluation.adapters.videoreasonbench import extraction_request
from evaluation.official import videoreasonbench_sim as sim
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


# ------------------------------------------------------------------------------------ planning questions
# Real prediction_operation records (answer null) of llyx97/video_reason_bench questions/<domain>.json,
# with their recorded states; the simulation reproduces utils/eval_utils.py's eval_op_* (see
# evaluation/official/videoreasonbench_sim.py).
PLANNING = json.loads((Path(__file__).parent / "data" / "videoreasonbench_planning.json").read_text())
CHIP_PLAN = "chip_state1_op5_prediction_operation_start"


@pytest.fixture
def planning(tmp_path):
    out = {}
    for domain in sim.PLANNING_DOMAINS:
        (tmp_path / f"{domain}.json").write_text(json.dumps(PLANNING[domain]))
        out.update(
            {r.id: r for r in get_adapter("videoreasonbench").load(tmp_path / f"{domain}.json", tmp_path)}
        )
    return out


def test_planning_records_keep_the_start_state(planning):
    assert len(planning) == 8 and all(r.extra["gt_is_none"] and r.answer == "None" for r in planning.values())
    assert planning[CHIP_PLAN].extra["planning_state"] == {"piles": {"cup0": [20, 100, 10, 5]}}  # last state
    grid_end = planning["grid_state3_op5_prediction_operation_end"].extra["planning_state"]
    assert grid_end == {"board": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "coord": [2, 0]}  # "end": index 0
    files = planning["file_sys_state1_op5_prediction_operation_end"].extra["planning_state"]
    assert files["paths"]["path0"][0] == "init" and len(files["paths"]["path0"][1]) == 12
    json.dumps([r.to_dict() for r in planning.values()])  # the records stay JSONL-serialisable


def test_planning_record_without_a_target_is_rejected(tmp_path):
    row = json.loads(json.dumps(PLANNING["cup"]["state3_op5_prediction_operation_start"]))
    row["question"] = row["question"].replace("desired distribution of coins", "wanted coins")
    (tmp_path / "cup.json").write_text(json.dumps({"k": row}))
    with pytest.raises(ValueError, match=r"cup\.json: record 'k': planning question without a target"):
        get_adapter("videoreasonbench").load(tmp_path / "cup.json", None)


def test_hrd_step_directions():
    board = [[1, 2, 3], [4, 0, 5], [6, 7, 8]]
    assert sim.hrd_step(board, "up") == ([[1, 0, 3], [4, 2, 5], [6, 7, 8]], True)
    assert sim.hrd_step(board, "down") == ([[1, 2, 3], [4, 7, 5], [6, 0, 8]], True)
    assert sim.hrd_step(board, "left") == ([[1, 2, 3], [4, 5, 0], [6, 7, 8]], True)  # the right tile comes in
    assert sim.hrd_step(board, "right") == ([[1, 2, 3], [0, 4, 5], [6, 7, 8]], True)
    assert sim.hrd_step([[0, 1], [2, 3]], "up") == ([[0, 1], [2, 3]], False)  # off the board: skipped
    assert sim.hrd_step(board, "jump") == (board, False)


def test_grid_step_flips_and_bounds():
    zeros = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert sim.grid_step(zeros, (1, 0), "left") == ([[1, 1, 0], [1, 0, 0], [0, 0, 0]], (0, 0))
    assert sim.grid_step(zeros, (1, 1), "down") == ([[0, 0, 0], [0, 1, 0], [1, 1, 1]], (1, 2))
    assert sim.grid_step(zeros, (0, 0), "up") == (None, (0, 0))


@pytest.mark.parametrize(
    "move, swapped",
    [
        (("a2", "c2"), True),
        (["c2", "a2"], True),
        (("a21", "c2x"), True),  # only the first two characters are read
        ((["a", "2"], "c2"), True),
        (("a2", "c2", "b1"), True),  # the official length check only warns
        (("a2", "d2"), False),  # off the 3x3 board
        (("A2", "c2"), False),  # unmapped
        ("a2", False),
        (("a2",), False),
        (5, False),
    ],
)
def test_cup_step_quirks(move, swapped):
    board = [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    expected = [[0, 0, 0], [0, 0, 0], [0, 1, 0]] if swapped else board
    assert sim.cup_step(board, move) == expected


def test_file_sys_commands():
    paths = {"path0": ["init", ["a", "b"]], "path1": ["init", ["c"]]}
    cmds = ["cp path0/{a,z} path1", "mv path0/{b} path1"]
    assert sim.file_sys_result(cmds, paths, "path1") == {"a", "b", "c"}
    assert sim.file_sys_result(cmds, paths, "path0") == {"a"}
    assert sim.file_sys_result(["rm -rf path0/{a, b}"], paths, "path0") == {"b"}  # " b" is another name
    # a command equal to an existing history key updates it in place: the last entry stays the rm
    stale = {"path0": ["touch path0/{x}", ["a"]]}
    assert sim.file_sys_result(["rm -rf path0/{a}", "touch path0/{x}"], stale, "path0") == set()


@pytest.mark.parametrize(
    "domain, reply, moves",
    [
        ("hrd", "['Up', 'LEFT']", ["up", "left"]),
        ("grid", "('down',)", ["down"]),
        ("hrd", "'up'", ["u", "p"]),  # the official iterates whatever eval returns
        ("hrd", "up, left", None),
        ("hrd", "```python\n['up']\n```", None),
        ("hrd", "[1]", None),
        ("cup", "[('a1', 'b2'), ('c1', 'b1')]", [("a1", "b2"), ("c1", "b1")]),
        ("card", "Add 6 of Hearts to pile0", None),
        ("chip", "[]", []),
        (
            "file_sys",
            "```bash\nrm -rf path0/{a} & touch path0/{b}\n```",
            ["rm -rf path0/{a}", "touch path0/{b}\n"],
        ),
    ],
)
def test_read_reply(domain, reply, moves):
    assert sim.read_reply(domain, reply) == moves


CARD_BOTTOM = ["8 of Clubs", "3 of Diamonds", "8 of Diamonds", "King of Diamonds", "Queen of Clubs"]
CARD_ALL = [*CARD_BOTTOM, "Ace of Hearts", "Jack of Diamonds", "Jack of Clubs"]
FS_OK = ["rm -rf path0/{h.csv,y.txt}", "touch path0/{u.json,p.txt,c.csv}"]


PLAN_IDS = {
    "chip": CHIP_PLAN,
    "card": "card_state1_op5_prediction_operation_start",
    "cup": "cup_state3_op5_prediction_operation_start",
    "grid": "grid_state3_op5_prediction_operation_start",
    "grid_end": "grid_state3_op5_prediction_operation_end",
    "hrd": "hrd_state3_op5_prediction_operation_start",
    "hrd_end": "hrd_state3_op5_prediction_operation_end",
    "files_end": "file_sys_state1_op5_prediction_operation_end",
}
CARD_TARGET = ("7 of Diamonds", "Jack of Clubs", "Jack of Diamonds", "Ace of Hearts")
REMOVE_BOTTOM = [f"remove {c} from pile0" for c in CARD_BOTTOM]


@pytest.mark.parametrize(
    "key, moves, correct",
    [
        ("chip", ["remove 20 from cup0", "add 5 to cup0", "add 10 to cup0", "add 20 to cup0"], True),
        ("chip", ["add 5 to cup0", "add 10 to cup0"], False),  # same chips, other order: lists differ
        ("chip", ["remove 50 from cup0"], False),  # not in the cup
        ("chip", ["add 7 to cup0"], False),
        ("chip", ["remove 20 from cup1"], False),  # no cup1: the official raises
        ("chip", [], False),
        # the physically right answer (top to bottom 7D, JC, JD, AH) leaves the bottom-to-top list reversed
        ("card", [*REMOVE_BOTTOM, "add 7 of Diamonds to pile0"], False),
        (
            "card",
            [f"remove {c} from pile0" for c in CARD_ALL] + [f"add {c} to pile0" for c in CARD_TARGET],
            True,
        ),
        ("card", ["remove Jack of Clubs from pile0"], False),  # not the bottom card
        ("card", [("add", "7 of Diamonds")], False),
        ("cup", [("a2", "c2")], True),
        ("cup", [("c2", "a2"), ("a1", "a1"), ("z9", "a1")], True),
        ("cup", [("a2", "b2")], False),
        ("grid", ["up", "down", "left", "right", "right"], True),
        ("grid", ["up", "down", "left", "right", "right", "right"], True),  # off the board: skipped
        ("grid", ["up", "down", "left", "right", "right", "jump"], False),  # an unknown move: wrong
        ("grid_end", ["left", "down", "up", "left", "right"], True),
        ("grid_end", ["left", "down", "up", "left"], False),
        ("hrd", ["down", "right", "right"], True),
        ("hrd", ["up", "jump", "down", "right", "right"], True),  # off the board / unknown: skipped
        ("hrd", ["down", "left", "left"], False),
        ("hrd_end", ["right", "up", "left"], True),
        ("files_end", FS_OK, True),
        ("files_end", FS_OK[::-1], True),
        ("files_end", ["rm -rf path0/{h.csv, y.txt}", FS_OK[1]], False),  # " y.txt" is not y.txt
        ("files_end", [*FS_OK, "touch path0/{q.py}"], False),  # more than two commands
        ("files_end", ["rm -r path0/{h.csv,y.txt}", FS_OK[1]], False),
        ("files_end", [" " + FS_OK[0], FS_OK[1]], False),
        ("files_end", ["rm -rf path0/{h.csv,c.csv}", FS_OK[1]], False),  # rm and touch overlap
    ],
)
def test_planning_simulation_on_real_records(planning, key, moves, correct):
    record = planning[PLAN_IDS[key]]
    domain = record.categories["domain"]
    assert sim.planning_correct(domain, record.problem, record.extra["planning_state"], moves) is correct


def test_unified_and_stateless_planning_records_keep_the_string_grading(tmp_path):
    (tmp_path / "chip.json").write_text(json.dumps(OFFICIAL))
    planning = get_adapter("videoreasonbench").load(tmp_path / "chip.json", tmp_path)[2]
    assert planning.extra["gt_is_none"] and "planning_state" not in planning.extra


def test_official_planning_scoring(rating_judge, planning):
    record = planning[CHIP_PLAN]
    response = "Think...\nFinal Answer: remove 20 from cup0, add 5 to cup0, add 10 to cup0, add 20 to cup0"
    server = rating_judge("['remove 20 from cup0', 'add 5 to cup0', 'add 10 to cup0', 'add 20 to cup0']")
    out = get_adapter("videoreasonbench", judge=client(server.url)).score_sample(record, response, "official")
    assert out["score"] == 1.0 and not out["extraction_failed"]
    answer = ": remove 20 from cup0, add 5 to cup0, add 10 to cup0, add 20 to cup0"
    assert out["pred"] == answer
    assert server.seen[0]["messages"] == [{"role": "user", "content": extraction_request("chip", answer)}]
    assert extraction_request("chip", answer).endswith(
        f"\n\nModel Response:\n{answer}\n\nExtracted Operations:\n"
    )

    wrong = rating_judge("['add 5 to cup0', 'add 10 to cup0', 'add 20 to cup0']")
    out = get_adapter("videoreasonbench", judge=client(wrong.url)).score_sample(record, response, "official")
    assert out["score"] == 0.0 and not out["extraction_failed"]

    prose = rating_judge("The operations are: add 5 to cup0.")
    out = get_adapter("videoreasonbench", judge=client(prose.url)).score_sample(record, response, "official")
    assert out == {
        "score": 0.0,
        "pred": answer,
        "judge_reply": "The operations are: add 5 to cup0.",
        "extraction_failed": True,
    }

    unasked = rating_judge("[]")
    out = get_adapter("videoreasonbench", judge=client(unasked.url)).score_sample(record, "add 5", "official")
    assert out == {"score": 0.0, "pred": None, "extraction_failed": True} and unasked.seen == []


def test_official_planning_scoring_file_sys_and_hrd(rating_judge, planning):
    server = rating_judge("```bash\nrm -rf path0/{h.csv,y.txt} & touch path0/{u.json,p.txt,c.csv}\n```")
    adapter = get_adapter("videoreasonbench", judge=client(server.url))
    record = planning[PLAN_IDS["files_end"]]
    out = adapter.score_sample(record, "Final Answer: `rm -rf path0/{h.csv,y.txt} & touch ...`", "official")
    assert out["score"] == 1.0
    assert server.seen[0]["messages"][0]["content"].startswith(
        "You will be given a model-generated response regarding a file operation command in Linux system."
    )
    moves = rating_judge("['Down', 'Right', 'Right']")
    adapter = get_adapter("videoreasonbench", judge=client(moves.url))
    out = adapter.score_sample(planning[PLAN_IDS["hrd"]], "Final Answer: d, r, r", "official")
    assert out["score"] == 1.0
    assert moves.seen[0]["messages"][0]["content"] == (
        "You will be given a model-generated response describing a sequence of movements. Your task is to extract "
        "the movements in the order they appear and return them as a list (e.g., ['left', 'up', 'down', "
        "'right']).\n\nModel Response: : d, r, r\n\nExtracted Movements:\n"
    )


def test_planning_with_easyvideor1_prompt_grades_the_string(rating_judge, planning):
    server = rating_judge("Judgement: 1")
    adapter = get_adapter("videoreasonbench", judge=client(server.url), judge_prompt="easyvideor1")
    out = adapter.score_sample(planning[CHIP_PLAN], "Final Answer: add 5 to cup0", "official")
    assert out["score"] == 1.0 and "Ground Truth: None\n" in server.seen[0]["messages"][0]["content"]


def test_planning_aggregates(planning, tmp_path):
    (tmp_path / "chip.json").write_text(json.dumps(OFFICIAL))
    order, counting, _ = get_adapter("videoreasonbench").load(tmp_path / "chip.json", tmp_path)
    recs = [order, counting, planning[CHIP_PLAN], planning[PLAN_IDS["hrd_end"]]]
    scores = [{"score": s} for s in (1.0, 0.0, 1.0, 0.0)]
    out = get_adapter("videoreasonbench").aggregate(recs, scores, "official")
    assert out["n"] == 4 and out["overall"] == 50.0 and out["n_gt_none"] == 2
    assert out["overall_answerable"] == 50.0
    assert out["by_domain"] == {"chip": pytest.approx(200 / 3), "hrd": 0.0}
    assert out["by_dim"] == {"order_operation": 100.0, "infer_state": 0.0, "prediction_operation": 50.0}
