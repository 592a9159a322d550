"""Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) in long commands: one line
saying where things stand, exit status 130, no traceback; and the work saved before it is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
