"""The ``reelrl`` console script and its fixture builders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reelrl.cli import main


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("reelrl")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert all(cmd in out for cmd in ("demo", "tiny-model", "demo-data", "ui"))


def test_the_version_comes_from_package_metadata_once():
    from importlib.metadata import version

    import reelrl
    from assets.lineage import CACHE_CODE_VERSION, CODE_VERSION

    assert reelrl.__version__ == CODE_VERSION == version("reelrl")
    assert CACHE_CODE_VERSION.startswith(f"{CODE_VERSION}+preprocess-")


def test_tiny_model_and_demo_data_commands(tmp_path):
    assert main(["tiny-model", "--family", "qwen3_vl", "--out", str(tmp_path / "m")]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_type"] == "qwen3_vl"
    assert main(["demo-data", "--out", str(tmp_path / "d"), "--n-train", "6", "--n-val", "6"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "d" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and len({r["problem_type"] for r in rows}) >= 5
    for r in rows:
        assert (tmp_path / "d" / (r["videos"] or r["images"])[0]).exists()


def test_demo_summary_reports_cache_filter_rewards_and_scores(tmp_path):
    from reelrl.demo import summarize

    def cell(acc):
        return {"aggregates": {"robust": {"accuracy": acc}, "official": {"accuracy": 99.0}}}

    out = {
        "media_cache": {
            "hits": 2,
            "built": 3,
            "failed": 1,
            "version": 7,
            "uri": "/c",
            "data_version": "ab12",
        },
        "filtered_train_set": {"kept": 4, "dropped": 5},
        "training_run": {"history": [{"reward/overall": i / 20} for i in range(20)], "checkpoint": "/ckpt"},
        "checkpoints": {"base": "b-1", "warm_start": "w-2", "trained": "t-3"},
        "checkpoint_labels": {"base": "base", "warm_start": "warm start", "trained": "step 20"},
        "checkpoint_eval[b-1|reelrl_jsonl]": cell(0.0),
        "checkpoint_eval[t-3|reelrl_jsonl]": cell(25.0),
    }
    text = summarize(out, tmp_path, tmp_path / "dh", 90.0, curve_png=tmp_path / "reward_curve.png")
    assert "2 hits, 3 misses decoded, 1 failed (Lance version 7, data version ab12)" in text
    assert "kept 4, dropped 5 (0 < pass rate < 1)" in text  # the bounds it used
    assert "mean of the first 10 steps 0.225, of the last 10 0.725" in text
    # a rising reward: the sparkline of its moving mean climbs from the lowest bar to the highest
    assert "reward / step : ▁▁▁▂▂▂▃▃▃▄▄▅▅▆▆▆▇▇██  20 steps, 0.00 -> 0.85 (min 0.00, max 0.95)" in text
    assert f"reward curve  : {tmp_path / 'reward_curve.png'}" in text
    # readable names; the warm start was not evaluated: a dash, and no change column without it
    assert "  benchmark      metric           base  warm start     step 20\n" in text
    assert "  reelrl_jsonl   accuracy          0.0           —        25.0\n" in text
    assert "charades_sta" not in text
    assert "checkpoints   : base = b-1, warm start = w-2, step 20 = t-3" in text
    out["checkpoint_eval[w-2|reelrl_jsonl]"] = cell(10.0)
    scored = summarize(out, tmp_path, tmp_path / "dh", 90.0)
    assert "  reelrl_jsonl   accuracy          0.0        10.0        25.0  +15.0 points\n" in scored
    assert "change (step 20 - warm start)" in scored
    assert "reward curve" not in scored  # no PNG written, none named
    # the instance is not <home>/dagster_home: the UI command names it
    assert f"open the UI   : DAGSTER_HOME={tmp_path / 'dh'} .venv/bin/reelrl ui --home {tmp_path}\n" in text
    out["filtered_train_set"] |= {"low": -1.0, "high": 2.0}  # --minimal's bounds: said, not silent
    assert "kept 4, dropped 5 (-1 < pass rate < 2; widened: keeps every row)" in summarize(
        out, tmp_path, tmp_path / "dh", 1
    )
    out["filtered_train_set"] |= {"enabled": False}
    assert "kept 4, dropped 5 (off: no pass-rate rollouts, every row kept)" in summarize(
        out, tmp_path, tmp_path / "dh", 1
    )
    home_text = summarize(out, tmp_path, tmp_path / "dagster_home", 1)
    assert (
        f"open the UI   : .venv/bin/reelrl ui --home {tmp_path}\n" in home_text
    )  # its own instance: no variable


def test_ui_instance_without_dagster_home(tmp_path, monkeypatch):
    """`reelrl ui` passes --home as a string; with DAGSTER_HOME unset the instance is <home>/dagster_home."""
    from reelrl.demo import prepare_dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    dh = prepare_dagster_home(str(tmp_path / "home"))
    assert dh == (tmp_path / "home" / "dagster_home").resolve()
    assert "telemetry" in (dh / "dagster.yaml").read_text()
    assert os.environ["DAGSTER_HOME"] == str(dh)


def test_tiny_model_command_lists_every_family_and_rejects_an_unknown_one(tmp_path, capsys):
    import pytest

    from demo_kit.tiny_models import FAMILIES
    from reelrl.cli import TINY_FAMILIES

    assert TINY_FAMILIES == FAMILIES
    assert main(["tiny-model", "--family", "qwen3_5_moe", "--out", str(tmp_path / "m")]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_type"] == "qwen3_5_moe"
    with pytest.raises(SystemExit):
        main(["tiny-model", "--family", "llava", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert "invalid choice: 'llava'" in err and all(f"'{f}'" in err for f in FAMILIES)
