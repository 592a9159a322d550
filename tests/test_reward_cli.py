"""``reelrl reward score|types`` on real JSONL files in tmp_path, through argparse + add_reward_parser."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

import pytest

import training.rewards.openended  # noqa: F401  (registers open-ended until the package imports it)
from reelrl.reward_cli import add_reward_parser, main_reward

MC = {
    "problem_id": "mc-1",
    "problem_type": "multiple_choice",
    "response": "<think>The ball is blue.</think><answer>B</answer>",
    "answer": "B",
    "options": ["A. red", "B. blue"],
    "videos": ["ball.mp4"],  # any other field passes through
}
TVG = {  # Video-R1 key for the ground truth; a non-string answer is scored as its JSON text
    "problem_type": "temporal grounding",
    "response": '<answer>{"time": [2, 6]}</answer>',
    "solution": {"time": [0, 4]},
}
NUM = {"problem_type": "numerical", "response": "It is 3.", "ground_truth": 3, "data_type": "image"}


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="reelrl")
    add_reward_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reward", *argv])
    return args.func(args)


def write_jsonl(path, *rows, raw: tuple[str, ...] = ()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(raw))
    return str(path)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_writes_each_record_with_its_scores_in_order(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(MC) + "\n\n" + json.dumps(TVG) + "\n" + json.dumps(NUM) + "\n")
    out = tmp_path / "out.jsonl"
    assert run("score", "--input", str(source), "--output", str(out)) == 0
    rows = read_jsonl(out)
    assert rows == [
        {**MC, "scores": {"overall": 1.0, "accuracy": 1.0, "format": 1.0}},
        {**TVG, "scores": {"overall": 0.9 * (2 / 6) + 0.1, "accuracy": 2 / 6, "format": 1.0}},
        # no <answer> block: format 0, the number is still read from the text
        {**NUM, "scores": {"overall": 0.9, "accuracy": 1.0, "format": 0.0}},
    ]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "reelrl reward score: 3 lines, 3 scored, 0 invalid",
        "problem type         lines   overall  accuracy",
        "multiple choice          1    1.0000    1.0000",
        "numerical                1    0.9000    1.0000",
        "temporal grounding       1    0.4000    0.3333",
    ]


def test_score_defaults_to_stdout_and_takes_weights_and_require_think(tmp_path, capsys):
    no_think = {**MC, "response": "<answer>B</answer>"}
    source = write_jsonl(tmp_path / "in.jsonl", MC, no_think)
    argv = ("score", "--input", source, "--accuracy-weight", "1", "--format-weight", "0.5", "--require-think")
    assert run(*argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["scores"] for r in rows] == [
        {"overall": 1.5, "accuracy": 1.0, "format": 1.0},
        {"overall": 1.0, "accuracy": 1.0, "format": 0.0},  # no <think> block
    ]


def test_bad_line_stops_with_file_line_and_fix(tmp_path, capsys):
    bad = {"problem_id": 7, "problem_type": "numerical", "response": "<answer>3</answer>", "answer": "many"}
    source = write_jsonl(tmp_path / "in.jsonl", MC, bad, TVG)
    out = tmp_path / "out.jsonl"
    assert run("score", "--input", source, "--output", str(out)) == 1
    assert [r["problem_id"] for r in read_jsonl(out)] == ["mc-1"]  # lines before the bad one, then stop
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"reelrl reward score: {source}, line 2 (problem_id=7): answer 'many' is not a valid 'numerical' "
        "ground truth: numeric ground truth 'many' must hold exactly one finite number"
    )
    assert err[1] == "fix the line, or pass --skip-invalid to record the error and go on"
    assert err[2] == "reelrl reward score: 2 lines, 1 scored, 1 invalid"


INVALID = [
    (
        "not json\n",
        "invalid JSON (Expecting value: line 1 column 1 (char 0)); each line must be one JSON object",
    ),
    ("[1, 2]\n", "expected a JSON object, got list; each line must be one object"),
    (
        '{"problem_type": "boolean", "response": "yes"}\n',
        "missing field(s) answer (or ground_truth / solution); each line needs problem_type, response, answer",
    ),
    (
        '{"answer": "yes", "solution": null}\n',
        "missing field(s) problem_type, response; each line needs problem_type, response, answer",
    ),
    (
        '{"problem_type": "boolean", "response": 1, "answer": "yes"}\n',
        "response must be a string (the model's text), got int",
    ),
    (
        '{"problem_type": "mc", "response": "A", "answer": "A", "options": "A. x"}\n',
        'options must be a list of strings like ["A. red", "B. blue"], got \'A. x\'',
    ),
    (
        '{"problem_type": "boolean", "response": "yes", "answer": "yes", "data_type": 3}\n',
        'data_type must be "video" or "image", got 3',
    ),
    (
        '{"problem_type": "temporal grounding", "response": "x", "answer": [5, 1]}\n',
        "answer '[5, 1]' is not a valid 'temporal grounding' ground truth: ",
    ),
    (  # the dataset loader's rule (training.rewards.validate_ground_truth): options must be told apart
        '{"problem_type": "mc", "response": "A", "answer": "A", "options": ["A. x", "A. y"]}\n',
        "answer 'A' is not a valid 'multiple choice' ground truth: options repeat the label(s) ['A']",
    ),
]


@pytest.mark.parametrize("line, message", INVALID)
def test_skip_invalid_records_the_error_and_goes_on(tmp_path, capsys, line, message):
    source = write_jsonl(tmp_path / "in.jsonl", raw=(json.dumps(MC) + "\n", line, json.dumps(NUM) + "\n"))
    out = tmp_path / "out.jsonl"
    assert run("score", "--input", source, "--output", str(out), "--skip-invalid") == 1
    first, bad, last = read_jsonl(out)
    assert "scores" in first and "scores" in last
    assert bad["error"].startswith(message)
    assert "scores" not in bad
    parsed = json.loads(line) if line[0] == "{" else {}
    assert {k: v for k, v in bad.items() if k != "error"} == parsed  # the record itself, or {} if unreadable
    err = capsys.readouterr().err
    assert f"reelrl reward score: {source}, line 2: {message}" in err
    assert "reelrl reward score: 3 lines, 2 scored, 1 invalid" in err


def test_unknown_problem_type_points_at_the_types_command(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", {"problem_type": "haiku", "response": "x", "answer": "y"})
    assert run("score", "--input", source, "--skip-invalid") == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error.startswith("unknown problem_type 'haiku'; known types: ")
    assert error.endswith("; `reelrl reward types` lists the names")


def test_many_invalid_lines_are_counted_not_all_printed(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", raw=("oops\n",) * 12)
    assert run("score", "--input", source, "--skip-invalid", "--output", str(tmp_path / "o.jsonl")) == 1
    err = capsys.readouterr().err.splitlines()
    assert sum("(skipped)" in line for line in err) == 10
    assert "… 2 more invalid lines: see their error fields" in err
    assert err[-1] == "reelrl reward score: 12 lines, 0 scored, 12 invalid"


def test_score_streams_line_by_line_from_stdin(monkeypatch, capsys):
    """Line 1 is written before line 2 is read: the file is never held whole."""
    written = io.StringIO()

    class Stdin:
        def __init__(self):
            self.buffer = self

        def __iter__(self):
            yield (json.dumps(MC) + "\n").encode()
            assert json.loads(written.getvalue())["scores"]["accuracy"] == 1.0
            yield (json.dumps(NUM) + "\n").encode()

    monkeypatch.setattr(sys, "stdin", Stdin())
    monkeypatch.setattr(sys, "stdout", written)
    assert run("score", "--input", "-") == 0
    assert len(written.getvalue().splitlines()) == 2
    assert "2 lines, 2 scored, 0 invalid" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--input", "/nonexistent/in.jsonl"), "cannot read --input /nonexistent/in.jsonl: No such file"),
        (
            ("--format-weight", "-1"),
            "invalid --accuracy-weight / --format-weight: RewardWeights.format must be >= 0",
        ),
        (
            ("--accuracy-weight", "nan"),
            "invalid --accuracy-weight / --format-weight: RewardWeights.accuracy must",
        ),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, extra, message):
    source = write_jsonl(tmp_path / "in.jsonl", MC)
    assert run("score", "--input", source, *extra) == 2
    assert capsys.readouterr().err.startswith(f"reelrl reward score: {message}")


def test_types_lists_canonical_names_and_aliases(capsys):
    assert main_reward(["types", "--json"]) == 0
    types = json.loads(capsys.readouterr().out)
    assert "mc" in types["multiple choice"] and types["regression"] == []
    assert run("types") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["problem", "type", "aliases"]
    assert any(line.startswith("multiple choice ") and "mc" in line for line in lines)
    assert any(line.split()[-1] == "-" and line.startswith("regression") for line in lines)


def test_huge_adversarial_response_is_scored(tmp_path, capsys):
    response = ("<answer>" + "{[(" * 11_000 + "\u202e\x00" + "</think>" * 1000)[:100_000]
    source = write_jsonl(tmp_path / "in.jsonl", {**MC, "response": response})
    assert run("score", "--input", source) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    assert scores == {"overall": 0.0, "accuracy": 0.0, "format": 0.0}


OPEN = {
    "problem_type": "open-ended",
    "problem": "What does the man do after opening the door?",
    "response": "<answer>He walks into the kitchen and makes tea.</answer>",
    "answer": "The man enters the kitchen to prepare a cup of tea.",
}


def test_score_with_a_judge_grades_judge_families_and_caches(tmp_path, rating_judge, capsys):
    judge_server = rating_judge("Score: 8")
    source = write_jsonl(tmp_path / "in.jsonl", OPEN, MC, {**OPEN, "problem_id": "again"})
    url = judge_server.url
    cache = tmp_path / "judge.jsonl"
    argv = ["score", "--input", source, "--output", str(tmp_path / "out.jsonl"),
            "--judge-url", url, "--judge-model", "judge", "--judge-cache", str(cache)]  # fmt: skip
    assert run(*argv) == 0
    judged, mc, again = read_jsonl(tmp_path / "out.jsonl")
    assert judged["scores"]["accuracy"] == again["scores"]["accuracy"] == 0.8
    assert (judged["scores"]["judge_used"], judged["scores"]["judge_failed"]) == (1.0, 0.0)
    assert mc["scores"]["accuracy"] == 1.0  # not a judged family
    assert len(judge_server.seen) == 1  # the repeated line is the same request: sent once
    text = json.dumps(judge_server.seen[0]["messages"])
    assert OPEN["problem"] in text and OPEN["answer"] in text
    assert "judge judge at" in capsys.readouterr().err
    assert run(*argv) == 0 and len(judge_server.seen) == 1  # the rerun is served from the cache file


def test_without_a_judge_open_ended_uses_rouge_and_says_so(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", OPEN)
    assert run("score", "--input", source, "--output", str(tmp_path / "out.jsonl")) == 0
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert row["scores"]["judge_used"] == 0.0 and 0 < row["scores"]["accuracy"] < 1


def test_judge_options_must_come_together(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", OPEN)
    assert run("score", "--input", source, "--judge-url", "http://127.0.0.1:9/v1") == 2
    assert "the judge URL and model go together" in capsys.readouterr().err


# A policy's program that hunts for the scorer's input (its path is in the scorer's command line), reads
# the expected outputs from it and prints the one for its own input: a reward hack if it worked.
# Its paths are a str subclass whose methods lie to a checker written in Python.
HUNTER = r"""
import json, os, sys
here = os.getcwd()
class P(str):
    def __getitem__(self, i):
        return here if i == slice(None, 0) else str.__getitem__(self, i)
    def startswith(self, *a):
        return False
    def partition(self, sep):
        return ('main.py', '', '')
given = sys.stdin.read()
for pid in os.listdir(P('/proc')):
    try:
        argv = open(P(f'/proc/{pid}/cmdline'), 'rb').read().split(b'\0')
        path = argv[argv.index(b'--input') + 1].decode()
        for line in open(P(path)):
            tests = json.loads(json.loads(line)['answer'])
            for stdin, stdout in zip(tests['inputs'], tests['outputs']):
                if stdin == given:
                    print(stdout)
                    sys.exit(0)
    except Exception:
        pass
print('not found')
"""


def test_a_program_cannot_read_the_scorers_input_to_earn_reward(tmp_path):
    tests = {"inputs": ["3\n", "5\n"], "outputs": ["unguessable-17", "unguessable-29"]}
    record = {"problem_type": "code", "response": f"```python\n{HUNTER}\n```", "answer": json.dumps(tests)}
    source = write_jsonl(tmp_path / "in.jsonl", record)
    command = [sys.executable, "-m", "reelrl.cli", "reward", "score", "--input", source]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.splitlines()[0])["scores"]["accuracy"] == 0.0
