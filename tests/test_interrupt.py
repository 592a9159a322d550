"""Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) in long commands: one line
saying where things stand, exit status 130, no traceback; and the work saved before it is kept."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reelrl.cli import main

REPO = Path(__file__).resolve().parents[1]
EXIT_INTERRUPTED = 130


def _start(argv: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reelrl.cli", *argv],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the SIGINT below reaches it and its workers only
    )


def _interrupt_when(proc: subprocess.Popen, ready, timeout_s: float = 120) -> tuple[int, str, str]:
    """Wait for ``ready()``, send SIGINT to the process group, return (exit status, stdout, stderr)."""
    deadline = time.time() + timeout_s
    while not ready():
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.time() < deadline, "never got going"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out, err


def _questions(path: Path, n: int) -> Path:
    rows = [
        {
            "problem": f"What is {i} + 1?",
            "problem_type": "numerical",
            "answer": str(i + 1),
            "problem_id": f"q{i}",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow  # ~45-60 s on 2 busy cores: a CLI start (torch, transformers, the model) and 20 samples
def test_eval_run_interrupted_says_what_is_saved_and_resumes(tmp_path, tiny_models):
    n = 20
    ann = _questions(tmp_path / "questions.jsonl", n)
    out = tmp_path / "evals"
    argv = [
        "eval", "run", "--model", tiny_models["qwen2_5_vl"], "--benchmark", "reelrl_jsonl",
        "--annotations", str(ann), "--cache", str(tmp_path / "cache"), "--out", str(out),
        "--max-new-tokens", "16", "--batch-size", "1", "--media-workers", "1", "--json",
    ]  # fmt: skip

    def saved() -> int:
        return sum(len(p.read_text().splitlines()) for p in out.glob("*/*/predictions.jsonl"))

    code, _, err = _interrupt_when(_start(argv), lambda: saved() >= 1)
    assert code == EXIT_INTERRUPTED, err
    assert "Traceback" not in err, err
    done = saved()
    assert 1 <= done < n
    last = err.strip().splitlines()[-1]
    assert last == f"interrupted: {done} of {n} predictions saved; re-run the same command to resume", err

    assert main(argv) == 0  # the same command again, in-process (the imports are paid once)
    (results,) = out.glob("*/*/results.json")
    doc = json.loads(results.read_text())
    assert doc["resumed"] == done and doc["generated_this_run"] == n - done


@pytest.mark.slow  # ~40 s: the demo gets as far as its media cache before the Ctrl-C
def test_demo_interrupted_names_the_step_and_exits_130(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # the demo's own instance under --home
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelrl.cli", "demo", "--minimal", "--home", str(tmp_path / "home")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []  # list.extend appends each line as it is read
    reader = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
    reader.start()
    deadline = time.time() + 300
    while not any(" - media_cache - " in line for line in lines):  # the asset's first log line (progress)
        assert proc.poll() is None and time.time() < deadline, "".join(lines)
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground process group
    try:
        code = proc.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("no exit within 120 s of the Ctrl-C:\n" + "".join(lines[-60:]))
    reader.join(10)
    out = "".join(lines)
    assert code == EXIT_INTERRUPTED, out
    assert "Traceback (most recent call last)" not in out, out
    # one line: the step that was running (media_cache, or a later one if the 12 tiny items were done first)
    last = out.strip().splitlines()[-1]
    stopped = re.fullmatch(
        r"interrupted: during (\w+) \(run [0-9a-f]{8}\); re-run `reelrl demo` to go on: .*", last
    )
    assert stopped, out
    assert f" - {stopped[1]} - " in out and stopped[1] not in {"base_model", "train_demo", "val_demo"}


@pytest.mark.slow  # ~40 s
def test_demo_runner_stops_when_reelrl_demo_is_killed(tmp_path):
    """The graph runs in a child with a session of its own; if `reelrl demo` is killed (no Ctrl-C to hand
    over), the child notices and stops instead of running on unattended."""
    import psutil

    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelrl.cli", "demo", "--minimal", "--home", str(tmp_path / "home")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while not (children := psutil.Process(proc.pid).children()):
        assert proc.poll() is None and time.time() < deadline, "reelrl demo started no runner"
        time.sleep(0.2)
    runner = children[0]
    time.sleep(5)  # well into its start-up
    proc.kill()
    proc.wait()
    try:
        runner.wait(120)
    except psutil.TimeoutExpired:
        os.killpg(runner.pid, signal.SIGKILL)
        pytest.fail("the runner went on for 120 s after `reelrl demo` was killed")
