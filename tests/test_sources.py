"""Source datasets: one asset per configured file, their union per split, and bad input at the source."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import dagster as dg
import lance
import numpy as np
import pytest

from assets.sources import DatasetFile, dataset_files
from cache_store import write_video
from pipelines.definitions import resources
from pipelines.demo import materialize_all, run_config
from pipelines.jobs import training_assets


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(i: int, video: str, answer: str = "yes") -> dict:
    return {
        "problem_id": f"p{i}",
        "problem": "Is there a red square?",
        "problem_type": "boolean",
        "data_type": "video",
        "answer": answer,
        "videos": [video],
    }


def datasets_yaml(tmp_path: Path, text: str) -> list[DatasetFile]:
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    return dataset_files(str(path))


def materialize(tmp_path, files, names, ops=None, instance=None):
    assets = [a for a in training_assets(files) if {k.to_user_string() for k in a.keys} & set(names)]
    return dg.materialize(
        assets,
        resources=resources(home=str(tmp_path / "home")),
        run_config=run_config(ops or {}),
        instance=instance or dg.DagsterInstance.ephemeral(),
    )


def test_dataset_yaml_names_one_asset_per_file(tmp_path):
    files = datasets_yaml(
        tmp_path,
        "media_root: /data\n"
        "train:\n  - /data/Video-R1-260k.json\n  - {path: /x/extra.parquet, name: Extra Set, media_root: /x}\n"
        "val:\n  - /data/val.jsonl\n",
    )
    assert [(f.asset_name, f.media_root) for f in files] == [
        ("train_video_r1_260k", "/data"),
        ("train_extra_set", "/x"),
        ("val_val", "/data"),
    ]
    names = {k.to_user_string() for a in training_assets(files) for k in a.keys}
    assert {"train_video_r1_260k", "train_extra_set", "val_val", "source_dataset"} <= names
    assert "train_demo" not in names
    assert dataset_files("") == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("val: [a.jsonl]\n", "expected `train: \\[files\\]`"),
        ("train: [{name: x}]\n", r"train\[0\] needs a path"),
        ("train: [{path: a.jsonl, fps: 2}]\n", r"train\[0\]: unknown keys \['fps'\]"),
        ("train: [a/x.jsonl, b/x.jsonl]\n", "two files would be the asset train_x"),
    ],
)
def test_bad_dataset_yaml_fails_at_load_naming_the_entry(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        datasets_yaml(tmp_path, text)


def test_two_train_files_are_one_split_with_prefixed_ids(tmp_path):
    write_video(tmp_path / "v.mp4", np.zeros((8, 56, 56, 3), np.uint8), fps=4)
    write_jsonl(tmp_path / "a.jsonl", [row(0, "v.mp4"), row(1, "v.mp4")])
    write_jsonl(tmp_path / "b.jsonl", [row(0, "v.mp4", "no")])  # the same problem_id as in a.jsonl
    write_jsonl(tmp_path / "c.jsonl", [row(7, "v.mp4")])
    write_jsonl(tmp_path / "d.jsonl", [row(7, "v.mp4", "no")])
    files = datasets_yaml(
        tmp_path,
        f"train: [{tmp_path}/a.jsonl, {tmp_path}/b.jsonl]\nval: [{tmp_path}/c.jsonl, {tmp_path}/d.jsonl]\n",
    )
    names = ["train_a", "train_b", "val_c", "val_d", "source_dataset"]
    result = materialize(tmp_path, files, names)
    assert result.success
    assert result.asset_value("train_a")["n"] == 2 and result.asset_value("train_b")["n"] == 1
    out = result.asset_value("source_dataset")
    assert (out["n_train"], out["n_val"]) == (3, 2)
    ids = [json.loads(line)["sample_id"] for line in Path(out["train"]).read_text().splitlines()]
    assert ids == ["train_a/p0", "train_a/p1", "train_b/p0"]
    # the held-out benchmark reads both val files as one, ids as in the union
    val = [json.loads(line) for line in Path(out["val_file"]).read_text().splitlines()]
    assert [(v["problem_id"], v["answer"]) for v in val] == [("val_c/p7", "yes"), ("val_d/p7", "no")]
    # media paths relative to the folder holding both files' media roots, returned as the file's root
    assert val[0]["videos"] == ["v.mp4"] and out["media_root"] == str(tmp_path)
    mat = result.asset_materializations_for_node("source_dataset")[0]
    assert mat.metadata["val_files"].value == {"val_c": 1, "val_d": 1}


def test_a_file_whose_bytes_change_gets_a_new_data_version(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"x")  # present (the file's asset checks that; it decodes nothing)
    write_jsonl(tmp_path / "a.jsonl", [row(0, "v.mp4")])
    files = datasets_yaml(tmp_path, f"train: [{tmp_path}/a.jsonl]\n")
    with dg.instance_for_test() as instance:

        def version():
            materialize(tmp_path, files, ["train_a"], instance=instance)
            event = instance.get_latest_materialization_event(dg.AssetKey("train_a"))
            return event.asset_materialization.tags["dagster/data_version"]

        first, again = version(), version()
        write_jsonl(tmp_path / "a.jsonl", [row(0, "v.mp4", "no")])
        assert first == again != version()


def test_bad_media_is_recorded_and_skipped_not_cached(tmp_path):
    write_video(tmp_path / "good.mp4", np.zeros((8, 56, 56, 3), np.uint8), fps=4)
    (tmp_path / "corrupt.mp4").write_bytes(b"this is not a video" * 50)
    write_jsonl(tmp_path / "train.jsonl", [row(0, "good.mp4"), row(1, "corrupt.mp4")])
    write_jsonl(tmp_path / "val.jsonl", [row(3, "good.mp4")])
    files = datasets_yaml(tmp_path, f"train: [{tmp_path}/train.jsonl]\nval: [{tmp_path}/val.jsonl]\n")
    names = ["base_model", "train_train", "val_val", "source_dataset", "media_cache"]
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(tmp_path, files, names, {"media_cache": {"config": {"workers": 1}}}, instance)
    assert result.success
    cache = result.asset_value("media_cache")
    assert (cache["built"], cache["failed"], cache["n_train"], cache["n_val"]) == (1, 1, 1, 1)
    reasons = {Path(f["source"]).name: f["error"] for f in cache["failures"]}
    assert reasons == {"corrupt.mp4": "DecodeFailed"}
    # the failed file reaches the console (a WARNING of the asset), not only the failures table
    logs = instance.all_logs(result.run_id)
    (warning,) = [e.user_message for e in logs if e.level == logging.WARNING and "decoded" in e.user_message]
    assert "1 of 2 media" in warning and f"{tmp_path / 'corrupt.mp4'}: cannot decode" in warning
    entries = lance.dataset(cache["uri"] + "/entries.lance").to_table(columns=["source"]).to_pylist()
    assert [Path(e["source"]).name for e in entries] == ["good.mp4"]


def test_malformed_row_fails_in_its_files_asset_naming_file_and_line(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(row(0, "a.mp4")) + "\n" + '{"problem": "no type", "answer": "x"}\n')
    files = datasets_yaml(tmp_path, f"train: [{train}]\n")
    with pytest.raises(Exception, match=r"train\.jsonl:2"):
        materialize(tmp_path, files, ["train_train"])


def test_rows_outside_the_media_root_are_recorded_and_skipped(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.mp4").write_bytes(b"x")
    train = write_jsonl(
        data / "train.jsonl", [row(0, "a.mp4"), row(1, "../private/b.mp4"), row(2, "/etc/c.mp4")]
    )
    files = datasets_yaml(tmp_path, f"train: [{train}]\n")
    result = materialize(tmp_path, files, ["train_train", "source_dataset"])
    assert result.success and result.asset_value("source_dataset")["n_train"] == 1
    (mat,) = [m for m in result.asset_materializations_for_node("train_train")]
    skipped = mat.metadata["skipped_rows"].value
    assert [m.split(": ")[0] for m in skipped] == [f"{train}:2", f"{train}:3"]
    assert all("outside the media root" in m and "REELRL_ALLOW_OUTSIDE_MEDIA_ROOT=1" in m for m in skipped)


def bad_rows(tmp_path: Path) -> Path:
    """A train file: good rows 1 and 5 around answers their problem type cannot hold and a missing video."""
    (tmp_path / "v.mp4").write_bytes(b"x")
    mc = {**row(0, "v.mp4"), "problem_type": "multiple choice", "options": ["A. red", "B. blue"]}
    return write_jsonl(
        tmp_path / "train.jsonl",
        [
            {**mc, "problem_id": "ok", "answer": "A"},
            {**mc, "problem_id": "mc", "answer": "E"},
            {**mc, "problem_id": "tg", "problem_type": "temporal grounding", "answer": "at the beginning"},
            {**mc, "problem_id": "gone", "answer": "B", "videos": ["gone.mp4"]},
            {**mc, "problem_id": "ok2", "answer": "B"},
        ],
    )


def test_invalid_rows_fail_their_files_asset_naming_each_one(tmp_path):
    train = bad_rows(tmp_path)
    files = datasets_yaml(tmp_path, f"train: [{train}]\n")
    with pytest.raises(Exception, match="3 invalid row") as err:
        materialize(tmp_path, files, ["train_train"])
    message = str(err.value)
    for line, sample in [(2, "mc"), (3, "tg"), (4, "gone")]:
        assert re.search(rf"{re.escape(str(train))}:{line}: .*\[sample '{sample}'\]", message)
    assert "skip_invalid" in message and "gone.mp4' does not exist" in message


def test_skip_invalid_drops_the_rows_and_lists_them_in_the_metadata(tmp_path):
    train = bad_rows(tmp_path)
    files = datasets_yaml(tmp_path, f"train: [{train}]\nval: [{train}]\n")
    ops = {name: {"config": {"skip_invalid": True}} for name in ("train_train", "val_train")}
    result = materialize(tmp_path, files, ["train_train", "val_train", "source_dataset"], ops)
    assert result.success
    out = result.asset_value("source_dataset")
    assert (out["n_train"], out["n_val"]) == (2, 2)
    (mat,) = result.asset_materializations_for_node("train_train")
    listed = mat.metadata["invalid_rows"].value
    assert mat.metadata["invalid_row_count"].value == 3 and mat.metadata["rows"].value == 2
    assert [m.split(": ")[0] for m in listed] == [f"{train}:2", f"{train}:3", f"{train}:4"]
    # the held-out benchmark reads the kept rows, not the file with its invalid rows
    val = [json.loads(line)["problem_id"] for line in Path(out["val_file"]).read_text().splitlines()]
    assert val == ["ok", "ok2"]


def test_too_many_undecodable_media_stop_the_run_naming_the_files(tmp_path):
    """3 of 7 videos are text files named .mp4 (43 % > 5 %): the blocking check fails, nothing downstream of
    media_cache runs, and materialize_all (reelrl demo's runner) raises naming each file and why."""
    videos = [f"v{i}.mp4" for i in range(7)]
    for name in videos[:4]:
        write_video(tmp_path / name, np.zeros((8, 56, 56, 3), np.uint8), fps=4)
    for name in videos[4:]:
        (tmp_path / name).write_text("this is a text file, not a video\n" * 20)
    write_jsonl(tmp_path / "train.jsonl", [row(i, v) for i, v in enumerate(videos)])
    write_jsonl(tmp_path / "val.jsonl", [row(9, "v0.mp4")])
    files = datasets_yaml(tmp_path, f"train: [{tmp_path}/train.jsonl]\nval: [{tmp_path}/val.jsonl]\n")
    instance = dg.DagsterInstance.ephemeral()
    res = resources(home=str(tmp_path / "home"))
    with pytest.raises(RuntimeError, match="stopped at a blocking check") as err:
        materialize_all(
            instance, res, {"media_cache": {"config": {"workers": 1}}}, training=training_assets(files)
        )
    message = str(err.value)
    assert "media_cache:failed_media_rate: 3 of 7 media (43%) could not be decoded, above" in message
    for name in videos[4:]:
        assert f"{tmp_path / name}: cannot decode: it is a text file" in message
    assert "v0.mp4" not in message
    assert instance.get_latest_materialization_event(dg.AssetKey("media_cache")) is not None
    for downstream in ("sft_warm_start", "rollout_pass_rates", "training_run"):
        assert instance.get_latest_materialization_event(dg.AssetKey(downstream)) is None


@pytest.mark.parametrize("minimal", [False, True])
def test_the_demo_configs_fit_a_graph_of_your_files(tmp_path, monkeypatch, minimal):
    """``REELRL_DATASETS=… reelrl demo [--minimal]``: the demo's asset configs, less demo_dataset's, are a
    valid run config of the training job over your files (it used to be refused: `unexpected config entry
    "demo_dataset"`)."""
    from pipelines.demo import DEMO_OPS, MINIMAL_OPS
    from reelrl.demo import demo_ops

    monkeypatch.setenv("REELRL_DATASETS", str(tmp_path / "datasets.yaml"))
    files = [DatasetFile(str(tmp_path / "train.jsonl"), "train", "mine")]
    defs = dg.Definitions(
        assets=training_assets(files),
        jobs=[dg.define_asset_job("demo", selection=dg.AssetSelection.all())],
        resources=resources(home=str(tmp_path / "home")),
    )
    job = defs.get_repository_def().get_job("demo")
    ops = demo_ops(MINIMAL_OPS if minimal else DEMO_OPS)
    assert dg.validate_run_config(job, run_config(ops))
    if minimal:  # what the fix removed is what made it invalid
        with pytest.raises(dg.DagsterInvalidConfigError, match="demo_dataset"):
            dg.validate_run_config(job, run_config(MINIMAL_OPS))
