"""Smoke test of ``benchmarks/step_bench.py --quick``: the three arms (cache, decode read ahead, decode inline)
run through the real trainer and report the step ratios, the per-phase table and identical tokens per step. No timing is asserted (tiny clips on a shared
machine); slow (a few minutes on 2 cores), so it runs with ``make test-slow``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_run_prints_the_ratios_and_identical_tokens(tmp_path):
    out = tmp_path / "results.json"
    cmd = [
        sys.executable,
        "benchmarks/step_bench.py",
        "--quick",
        "--workdir",
        str(tmp_path),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=850, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout
    for arm in ("decode", "inline"):
        assert re.search(
            rf"^step_{arm}_vs_cache: \d+\.\d\d× \(target ≥ 1\.47×\) (PASS|FAIL) \| ", text, re.MULTILINE
        ), arm
    for phase in ("data_wait", "gen", "old_log_prob", "ref", "update_actor", "step"):
        assert re.search(rf"^{phase}\s+(\d+\.\d{{3}}\s+){{3}}", text, re.MULTILINE), phase
    assert re.search(
        r"^inline \(no read-ahead, the paper's on-the-fly baseline\): each step waits ", text, re.MULTILINE
    )
    assert "tokens and rewards identical in every step: yes" in text
    data = json.loads(out.read_text())
    assert data["tokens_identical"] is True and set(data["means"]) == {"cache", "decode", "inline"}
    assert data["results"]["step_decode_vs_cache"]["ratio"] > 0
