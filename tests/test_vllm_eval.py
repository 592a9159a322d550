"""Evaluation with vLLM's asynchronous engine (``VLLMAsyncEngine`` over ``AsyncLLM``) on CPU, every family:
``reelrl eval run --engine vllm`` on Charades-STA's official sample records (stand-in videos) and held-out
rows gives the same predictions and scores as ``--engine hf``, and isolates a request vLLM refuses (a prompt
longer than ``max_model_len``); an interrupted run resumes by sample id; the Dagster engine resource built
from ``REELRL_ENGINE=vllm`` evaluates like the CLI. Run with ``make test-vllm``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_output import json_docs
from PIL import Image
from vllm_families import vllm_families

from demo_kit.synthetic import make_charades_standins
from reelrl.cli import main

pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("vllm_env")]

FAMILIES = vllm_families()
SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples"
CHARADES = SAMPLES / "charades_sta" / "charades_sta_test.sample.txt"
VLLM = "dtype=float32,enforce_eager=true,max_model_len=1024"
TOO_LONG = "held-long"


def benchmark_files(tmp: Path) -> tuple[Path, Path, Path]:
    """(Charades-STA annotations, their stand-in videos, held-out JSONL): four official records, and held-out
    rows with text, an image, a video, and one prompt longer than vLLM's max_model_len."""
    ann = tmp / "charades.txt"
    ann.write_text("".join(CHARADES.read_text().splitlines(keepends=True)[:4]))
    videos = tmp / "videos"
    clips = make_charades_standins(ann, videos)
    Image.fromarray(np.full((56, 84, 3), 200, np.uint8)).save(tmp / "white.png")
    rows = [
        {"problem": "What is 2 + 3?", "problem_type": "numerical", "answer": "5", "problem_id": "held-text"},
        {"problem": "Is the image white?", "problem_type": "boolean", "answer": "yes", "images": ["white.png"],
         "data_type": "image", "problem_id": "held-image"},
        {"problem": "When does the light come on?", "problem_type": "temporal grounding", "answer": [1.0, 2.0],
         "videos": [str(clips[0])], "data_type": "video", "problem_id": "held-video"},
        {"problem": "Count the words. " + "word " * 2000, "problem_type": "numerical", "answer": "2000",
         "problem_id": TOO_LONG},
    ]  # fmt: skip
    held = tmp / "heldout.jsonl"
    held.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ann, videos, held


def argv(model: str, tmp: Path, out: Path, factor: int) -> list[str]:
    ann, videos, held = benchmark_files(tmp)
    return [
        "eval", "run", "--model", model, "--benchmark", "charades_sta,reelrl_jsonl",
        "--annotations", f"{ann},{held}", "--media-root", f"{videos},{tmp}", "--cache", str(tmp / "cache"),
        "--out", str(out), "--max-new-tokens", "12", "--batch-size", "2", "--max-frames", "4",
        "--min-frames", "2", "--max-pixels", str(6 * factor**2), "--min-pixels", str(4 * factor**2),
        "--media-workers", "1", "--json",
    ]  # fmt: skip


def predictions(doc: dict) -> dict[str, dict]:
    rows = [
        json.loads(line) for line in (Path(doc["out_dir"]) / "predictions.jsonl").read_text().splitlines()
    ]
    return {r["id"]: {"response": r["response"], "scores": r["scores"]} for r in rows}


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_run_with_vllm_equals_hf_and_isolates_a_refused_request(family, small_models, tmp_path, capsys):
    from training.models.processor import QwenVLProcessor

    model = small_models[family]
    base = argv(model, tmp_path, tmp_path / "evals", QwenVLProcessor(model).video.factor)
    assert main(base) == 0
    hf = json_docs(capsys.readouterr().out)
    assert main([*base, "--engine", "vllm", "--engine-option", VLLM]) == 1  # one request refused
    vllm = json_docs(capsys.readouterr().out)
    assert [d["out_dir"] for d in vllm] != [d["out_dir"] for d in hf]  # engines never share predictions
    charades_hf, held_hf = hf
    charades_vllm, held_vllm = vllm
    assert charades_vllm["counts"] == charades_hf["counts"] and charades_vllm["counts"]["scored"] == 4
    assert predictions(charades_vllm) == predictions(charades_hf)
    assert charades_vllm["aggregates"] == charades_hf["aggregates"]
    assert held_vllm["counts"]["generation_failed"] == 1 and held_vllm["counts"]["scored"] == 3
    assert list(held_vllm["failed_samples"]) == [TOO_LONG]
    assert "maximum context length is 1024" in held_vllm["failed_samples"][TOO_LONG]
    want = {k: v for k, v in predictions(held_hf).items() if k != TOO_LONG}
    assert predictions(held_vllm) == want
    answers = [p["response"] for p in [*predictions(charades_hf).values(), *want.values()]]
    assert len(set(answers)) == len(answers) and all(a.strip() for a in answers)  # outputs that tell apart
    manifest = json.loads((Path(charades_vllm["out_dir"]) / "manifest.json").read_text())
    assert manifest["settings"]["engine"] == {"name": "vllm", "dtype": "float32"}


class StopsAfterOneBatch:
    """The real engine, interrupted by Ctrl-C when the second batch is handed over."""

    def __init__(self, engine):
        self.engine, self.calls = engine, 0
        self.settings = engine.settings

    def submit(self, requests, params):
        self.calls += 1
        if self.calls > 1:
            raise KeyboardInterrupt
        return self.engine.submit(requests, params)

    def generate(self, requests, params):
        return self.submit(requests, params).result()

    def close(self):
        pass


def test_an_interrupted_run_resumes_by_sample_id_and_the_dagster_engine_resource_matches(
    small_models, tmp_path, monkeypatch
):
    from cache_store import MediaCache, MediaSpec
    from evaluation.adapters.registry import get_adapter
    from evaluation.runner import run_benchmark
    from pipelines.definitions import resources
    from training.engines.base import SamplingParams
    from training.engines.hf import HFEngine

    model = small_models["qwen2_5_vl"]
    ann, videos, _ = benchmark_files(tmp_path)
    records = get_adapter("charades_sta").load(ann, videos)
    spec = MediaSpec(
        fps=2.0, max_frames=4, min_frames=2, max_pixels=6 * 28**2, min_pixels=4 * 28**2, factor=28
    )
    cache = MediaCache(tmp_path / "cache")
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=12)

    def evaluate(engine, out):
        return run_benchmark(engine, "charades_sta", records, cache, spec, out, model_id=model, sampling=greedy,
                             batch_size=2)  # fmt: skip

    reference = evaluate(HFEngine.from_pretrained(model), tmp_path / "hf")
    monkeypatch.setenv("REELRL_ENGINE", "vllm")
    monkeypatch.setenv("REELRL_VLLM_OPTIONS", VLLM)
    engine = resources(home=str(tmp_path / "home"))["engine"].load(model)  # what checkpoint_eval loads
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluate(StopsAfterOneBatch(engine), tmp_path / "vllm")
        done = (tmp_path / "vllm" / "predictions.jsonl").read_text().splitlines()
        assert len(done) == 2  # the first batch was written before the interrupt
        resumed = evaluate(engine, tmp_path / "vllm")
    finally:
        engine.close()
    assert (resumed.resumed, resumed.generated_this_run) == (2, 2)
    assert resumed.aggregates == reference.aggregates and resumed.counts == reference.counts
    rows = lambda d: sorted((tmp_path / d / "predictions.jsonl").read_text().splitlines())
    strip = lambda lines: [{k: v for k, v in json.loads(x).items()} for x in lines]
    assert strip(rows("vllm")) == strip(rows("hf"))
