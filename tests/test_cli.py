"""The ``reelrl`` console script and its fixture builders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reelrl.cli import main


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("reelrl")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert all(cmd in out for cmd in ("demo", "tiny-model", "demo-data", "ui"))


def test_tiny_model_and_demo_data_commands(tmp_path):
    assert main(["tiny-model", "--family", "qwen3_vl", "--out", str(tmp_path / "m")]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_type"] == "qwen3_vl"
    assert main(["demo-data", "--out", str(tmp_path / "d"), "--n-train", "6", "--n-test", "6"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "d" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and len({r["problem_type"] for r in rows}) >= 5
    for r in rows:
        assert (tmp_path / "d" / (r["videos"] or r["images"])[0]).exists()
