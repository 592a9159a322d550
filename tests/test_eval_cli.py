"""``reelrl eval list|samples|score|run`` through ``reelrl.cli.main``: real sample records, a real tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_output import json_docs

from demo_kit.synthetic import make_charades_standins
from reelrl.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples"
CHARADES = SAMPLES / "charades_sta" / "charades_sta_test.sample.txt"


def _records(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_list_and_samples(capsys, tmp_path):
    assert main(["eval", "list"]) == 0
    assert {"charades_sta", "reelrl_jsonl"} <= set(capsys.readouterr().out.split())
    assert main(["eval", "samples", "--benchmark", "charades_sta", "--annotations", str(CHARADES)]) == 0
    records = _records(capsys)
    assert len(records) == 20 and all(r["benchmark"] == "charades_sta" for r in records)
    assert records[0]["id"] == "3MSZA@24.3-30.4#194dd7dd" and records[0]["extra"]["span"] == [24.3, 30.4]


def test_score_counts_missing_unknown_and_empty(capsys, tmp_path):
    main(["eval", "samples", "--benchmark", "charades_sta", "--annotations", str(CHARADES)])
    records = _records(capsys)
    first, second, third = records[:3]
    preds = tmp_path / "p.jsonl"
    lines = [
        {
            "id": first["id"],
            "response": "The event happens in {} - {} seconds.".format(*first["extra"]["span"]),
        },
        {"id": second["id"], "response": ""},
        {"id": third["id"], "response": "no idea"},
        {"id": "not-a-record", "response": "1 - 2"},
    ]
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    args = ["eval", "score", "--benchmark", "charades_sta", "--annotations", str(CHARADES)]
    assert main([*args, "--predictions", str(preds), "--mode", "official", "--json", "--partial"]) == 0
    doc = json.loads(capsys.readouterr().out)
    counts, agg = doc["counts"], doc["aggregates"]["official"]
    assert doc["partial"] is True  # 17 records have no prediction: scored only with --partial
    assert counts["total"] == 20 and counts["scored"] == 3 and counts["missing"] == 17
    assert counts["empty_response"] == 1 and counts["unknown_predictions"] == 1
    assert counts["extraction_failed"] == {"official": 2}
    assert agg["n"] == 3 and agg["mIoU"] == pytest.approx(100 / 3) and agg["R@0.7"] == pytest.approx(100 / 3)
    assert agg["extraction_failure_rate"] == pytest.approx(200 / 3)


def test_bad_input_exits_2_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("VID 1 x##sentence\n")
    assert main(["eval", "samples", "--benchmark", "charades_sta", "--annotations", str(bad)]) == 2
    assert f"{bad}:1" in capsys.readouterr().err
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 1}\n')
    args = ["eval", "score", "--benchmark", "charades_sta", "--annotations", str(CHARADES), "--predictions"]
    assert main([*args, str(preds)]) == 2
    assert f"{preds}:1" in capsys.readouterr().err
    args = [
        "eval",
        "score",
        "--benchmark",
        "nope",
        "--annotations",
        str(CHARADES),
        "--predictions",
        str(preds),
    ]
    assert main(args) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_run_with_a_tiny_model_resumes_and_writes_the_manifest(capsys, tmp_path, tiny_models):
    ann = tmp_path / "charades.txt"
    ann.write_text("".join(CHARADES.read_text().splitlines(keepends=True)[:3]))
    videos = tmp_path / "videos"
    Path(make_charades_standins(ann, videos)[2]).write_bytes(b"not a video")
    out = tmp_path / "evals"
    argv = [
        "eval", "run", "--model", tiny_models["qwen2_5_vl"], "--benchmark", "charades_sta,reelrl_jsonl",
        "--annotations", f"{ann},{_heldout(tmp_path)}", "--media-root", f"{videos},{tmp_path}",
        "--cache", str(tmp_path / "cache"), "--out", str(out), "--max-new-tokens", "8", "--batch-size", "2",
        "--max-frames", "4", "--max-pixels", str(56 * 56), "--media", "charades_sta:max_frames=2", "--json",
        "--media-workers", "1", "--min-frames", "2", "--min-pixels", str(28 * 28),
    ]  # fmt: skip
    assert main(argv) == 1  # one undecodable video: done, but a sample failed
    docs = json_docs(capsys.readouterr().out)
    charades, heldout = docs
    assert charades["counts"]["media_failed"] == 1 and charades["counts"]["scored"] == 2
    assert charades["partial"] is True and charades["counts"]["missing"] == 1  # the headline leaves it out
    assert heldout["counts"]["scored"] == 2 and heldout["partial"] is False
    manifest = json.loads((Path(charades["out_dir"]) / "manifest.json").read_text())
    settings = manifest["settings"]
    assert settings["media_spec"]["max_frames"] == 2 and settings["sampling"]["temperature"] == 0.0
    assert settings["model_revision"] and settings["adapter_options"] == {"prompt_style": "lmms-eval"}
    held_manifest = json.loads((Path(heldout["out_dir"]) / "manifest.json").read_text())
    assert held_manifest["settings"]["media_spec"]["max_frames"] == 4
    # a second run resumes: nothing generated again, the broken video is tried again and fails again
    assert main(argv) == 1
    again = json_docs(capsys.readouterr().out)
    assert [d["counts"]["scored"] for d in again] == [2, 2]
    results = json.loads((Path(charades["out_dir"]) / "results.json").read_text())
    assert results["generated_this_run"] == 0 and results["resumed"] == 2

    # the comparison view: one line for the model, a column per benchmark, and a PNG
    plot = tmp_path / "compare.png"
    assert main(["eval", "compare", str(out), "--mode", "robust", "--plot", str(plot)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| model | charades_sta | reelrl_jsonl |" and len(table) == 4
    assert table[2].startswith("| qwen2_5_vl@" + settings["model_revision"][:8])
    cells = [c.strip() for c in table[2].split("|")[2:4]]
    assert cells[0].endswith("*") and not cells[1].endswith("*")  # charades_sta is partial: starred
    assert table[3] == "* partial: records without a prediction are left out (charades_sta: 1 missing)"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _heldout(tmp_path: Path) -> Path:
    """Two held-out rows in the ReelRL/EasyR1 format, text-only and an image, with known answers."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((56, 56, 3), 200, np.uint8)).save(tmp_path / "white.png")
    rows = [
        {"problem": "What is 2 + 3?", "problem_type": "numerical", "answer": "5", "problem_id": "t1"},
        {"problem": "Is the image white?", "problem_type": "boolean", "answer": "yes", "images": ["white.png"],
         "data_type": "image", "problem_id": "t2"},
    ]  # fmt: skip
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path

