"""The Dagster code location loads, and the whole graph materializes on a minimal config."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import lance
import pytest

from pipelines.definitions import ALL_ASSETS, defs, resources
from pipelines.demo import MINIMAL_OPS, run_config


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "base_model",
        "source_dataset",
        "media_cache",
        "sft_warm_start",
        "rollout_pass_rates",
        "filtered_train_set",
        "training_run",
        "benchmark_eval",
    }
    assert defs.resolve_job_def("reelrl_demo") is not None


def test_workspace_yaml_points_at_definitions():
    text = Path(__file__).resolve().parents[1].joinpath("workspace.yaml").read_text()
    assert "module_name: pipelines.definitions" in text


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("reelrl_home")
    result = dg.materialize(
        ALL_ASSETS,
        resources=resources(home=str(home)),
        run_config=run_config(MINIMAL_OPS),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return home, result


def test_whole_graph_materializes(minimal_run):
    home, result = minimal_run
    out = {a.key.to_user_string(): result.output_for_node(a.key.to_user_string()) for a in ALL_ASSETS}
    cache = out["media_cache"]
    assert cache["built"] > 0 and cache["failed"] == 0
    # the recorded Lance version is a real snapshot holding what the asset built (evaluation may add
    # benchmark media afterwards, as later versions)
    snapshot = lance.dataset(cache["uri"] + "/entries.lance", version=cache["version"])
    assert snapshot.count_rows() == cache["built"]
    assert out["filtered_train_set"]["kept"] > 0
    run = out["training_run"]
    assert run["steps"] == MINIMAL_OPS["training_run"]["config"]["steps"]
    assert (Path(run["checkpoint"]) / "config.json").exists() and (
        Path(run["checkpoint"]) / "model.safetensors"
    ).exists()
    scores = out["benchmark_eval"]["scores"]
    assert {r["model"] for r in scores} == {"base", "warm_start", "trained"}
    assert all(0.0 <= r["value"] <= 100.0 for r in scores if r["metric"] != "extraction_failure_rate")
    # predictions were appended per sample id
    preds = list(Path(home, "evals").rglob("predictions.jsonl"))
    assert preds and all(json.loads(line)["id"] for p in preds for line in p.read_text().splitlines())


def test_asset_metadata_recorded(minimal_run):
    _, result = minimal_run
    mats = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.materialization]
    }
    assert {"lance_version", "hits", "misses_built", "failed"} <= set(mats["media_cache"])
    assert {"kept", "dropped"} <= set(mats["filtered_train_set"])
    assert "curves" in mats["training_run"] and "scores" in mats["benchmark_eval"]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(i: int, video: str) -> dict:
    return {
        "problem_id": f"p{i}",
        "problem": "Is there a red square?",
        "problem_type": "boolean",
        "data_type": "video",
        "answer": "yes",
        "videos": [video],
    }


def test_bad_media_is_recorded_and_skipped_not_cached(tmp_path):
    import numpy as np

    from cache_store import write_video

    write_video(tmp_path / "good.mp4", np.zeros((8, 56, 56, 3), np.uint8), fps=4)
    (tmp_path / "corrupt.mp4").write_bytes(b"this is not a video" * 50)
    train = _write_jsonl(
        tmp_path / "train.jsonl", [_row(0, "good.mp4"), _row(1, "corrupt.mp4"), _row(2, "missing.mp4")]
    )
    val = _write_jsonl(tmp_path / "val.jsonl", [_row(3, "good.mp4")])
    ops = {
        "source_dataset": {"config": {"train_files": str(train), "val_files": str(val)}},
        "media_cache": {"config": {"workers": 1}},
    }
    selected = [
        a for a in ALL_ASSETS if a.key.to_user_string() in {"base_model", "source_dataset", "media_cache"}
    ]
    result = dg.materialize(
        selected,
        resources=resources(home=str(tmp_path / "home")),
        run_config=run_config(ops),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    cache = result.output_for_node("media_cache")
    assert (cache["built"], cache["failed"], cache["n_train"], cache["n_test"]) == (1, 2, 1, 1)
    reasons = {Path(f["source"]).name: f["error"] for f in cache["failures"]}
    assert reasons == {"corrupt.mp4": "DecodeFailed", "missing.mp4": "FileNotFoundError"}
    entries = lance.dataset(cache["uri"] + "/entries.lance").to_table(columns=["source"]).to_pylist()
    assert [Path(e["source"]).name for e in entries] == ["good.mp4"]


def test_malformed_row_fails_naming_file_and_line(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(_row(0, "a.mp4")) + "\n" + '{"problem": "no type", "answer": "x"}\n')
    ops = {"source_dataset": {"config": {"train_files": str(train), "val_files": ""}}}
    selected = [a for a in ALL_ASSETS if a.key.to_user_string() == "source_dataset"]
    with pytest.raises(Exception, match=r"train\.jsonl:2"):
        dg.materialize(
            selected,
            resources=resources(home=str(tmp_path / "home")),
            run_config=run_config(ops),
            instance=dg.DagsterInstance.ephemeral(),
        )
