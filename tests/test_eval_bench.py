"""``benchmarks/eval_bench.py``: the bounds it prints beside the measured ratio, its meter of the generation
thread, and a ``--quick`` run end to end (ratio, bounds and per-run figures printed and in the JSON).

No timing is asserted: numbers from four tiny clips on a shared machine mean nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_bench import MeteredEngine, pipeline_bound, stage_bound, thread_schedstat

from training.engines.base import GenerationRequest, SamplingParams
from training.engines.hf import HFEngine


def test_stage_bound_is_the_sum_of_the_stages_over_the_longest():
    assert stage_bound({"media": 5.0, "generate": 3.0, "score": 0.0}) == pytest.approx(1.6)
    assert stage_bound({"media": 2.0, "generate": 2.0, "score": 0.0}) == pytest.approx(2.0)
    assert stage_bound({"media": 0.0, "generate": 0.0, "score": 0.0}) == 1.0


def test_pipeline_bound_pays_the_fill_and_drain_of_its_batches():
    stages = {"media": 5.0, "generate": 3.0, "score": 0.0}
    # 6 batches: the floor is 8/6 + 5/6 * 5 = 5.5 s, so at most 8/5.5 = 1.45x; one batch cannot overlap at all
    assert pipeline_bound(stages, 6) == pytest.approx(8 / 5.5)
    assert pipeline_bound(stages, 1) == pytest.approx(1.0)
    assert pipeline_bound(stages, 6) < pipeline_bound(stages, 12) < stage_bound(stages)
    assert pipeline_bound(stages, 10**6) == pytest.approx(stage_bound(stages), rel=1e-5)
    with pytest.raises(ValueError, match="batches must be >= 1"):
        pipeline_bound(stages, 0)


@pytest.mark.skipif(thread_schedstat() is None, reason="needs Linux schedstat")
def test_metered_engine_splits_the_generation_threads_time(tiny_models):
    engine = HFEngine.from_pretrained(tiny_models["qwen2_5_vl"], batch_size=2)
    metered = MeteredEngine(engine)
    sampling = SamplingParams(n=1, temperature=0.0, max_new_tokens=8, seed=0)
    requests = [GenerationRequest(request_id="a", prompt="hello", media=[])]
    assert metered.generate(requests, sampling)[0][0].text == engine.generate(requests, sampling)[0][0].text
    assert metered.cpu > 0 and metered.run_queue >= 0
    assert metered.wall >= metered.cpu + metered.run_queue - 0.01  # what is left is time blocked
    # the runner sees the engine's settings and, like the HF engine, no ``submit`` (so it calls ``generate``)
    assert metered.settings == engine.settings
    assert getattr(metered, "submit", None) is None


def test_quick_run_prints_the_ratio_beside_its_bounds(tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, "benchmarks/eval_bench.py", "--quick", "--pairs", "2", "--batch-size", "2",
           "--workdir", str(tmp_path / "work"), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for case in ("uncached", "cached"):
        assert re.search(
            rf"^  {case}: overlapped is \d+\.\d\dx the sequential loop \(median; pairs: \d+\.\d\d \d+\.\d\d; "
            r"load \d+\.\d\d-\d+\.\d\d on \d+ cores\)$",
            done.stdout, re.MULTILINE,
        ), done.stdout  # fmt: skip
    assert re.search(
        r"-> \(sum/max\) \d+\.\d\dx; with the fill and drain of 2 batches \d+\.\d\dx$",
        done.stdout,
        re.MULTILINE,
    )
    assert re.search(r"cores used \(CPU s / wall s\): sequential \d+\.\d\d, overlapped \d+\.\d\d .*"
                     r"generation thread: \d+\.\d\d s on a CPU, \d+\.\d\d s waiting", done.stdout)  # fmt: skip
    assert re.search(r"^  pair 2 uncached/overlapped .* load \d", done.stdout, re.MULTILINE)

    doc = json.loads(out.read_text())
    assert doc["pairs"] == 2 and len(doc["machine"]["loadavg"]) == 3
    for case in ("uncached", "cached"):
        summary = doc[case]
        assert len(summary["ratios"]) == 2 and summary["ratio"] > 0
        assert set(summary["stage_cpu_s"]) == {"media", "generate", "score"}
        assert 1.0 <= summary["bound_with_fill_and_drain"] <= summary["bound"]
        assert summary["cpu_s"]["sequential"] > 0 and summary["cores_used"]["overlapped"] > 0
        runs = doc["by_max_new_tokens"]["160"]["runs"][case]
        assert [len(runs[m]) for m in ("sequential", "overlapped")] == [2, 2]
        assert all(r["cpu"] > 0 and r["generate_cpu"] > 0 for m in runs.values() for r in m)
