"""The Dagster code location loads; the whole graph materializes on a minimal config; checkpoints become
partitions, sensors and the schedule request exactly the missing evaluation cells; invalidating cache rows
marks downstream assets stale (real Lance cache, real tiny model, real Dagster instance)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import lance
import pytest
from dagster._utils.test.data_versions import get_stale_status_resolver

from assets.partitions import cell_key
from assets.resources import BenchmarksResource, CheckpointsResource, WorkspaceResource
from pipelines.automation import cell_requests, media_cache_changes, new_checkpoints, reevaluate_latest
from pipelines.definitions import ALL_ASSETS, ASSET_CHECKS, defs, resources
from pipelines.demo import MINIMAL_EVAL_OPS, MINIMAL_OPS, materialize_all, run_config
from pipelines.jobs import invalidate_cache

TRAINING = [
    "base_model",
    "train_demo",
    "val_demo",
    "source_dataset",
    "media_cache",
    "sft_warm_start",
    "rollout_pass_rates",
]
TRAINING += ["filtered_train_set", "training_run"]


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {*TRAINING, "checkpoint", "checkpoint_eval", "eval_report"}
    for job in ("reelrl_demo", "reevaluate_checkpoints", "invalidate_cache"):
        assert defs.resolve_job_def(job) is not None
    # evaluating on its own is opt-in; watching the cache only records events
    assert new_checkpoints.default_status == dg.DefaultSensorStatus.STOPPED
    assert reevaluate_latest.default_status == dg.DefaultScheduleStatus.STOPPED
    assert media_cache_changes.default_status == dg.DefaultSensorStatus.RUNNING
    cells = defs.resolve_assets_def("checkpoint_eval").partitions_def
    assert set(cells.partitions_defs[0].partitions_def.get_partition_keys()) >= {"reelrl_jsonl", "video_mme"}


def test_bad_launchpad_config_is_refused_naming_the_field_and_choices():
    job = defs.resolve_job_def("reelrl_demo")
    bad = {"algorithm": {"adv_estimator": "grpoo"}}
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"config:algorithm:adv_estimator.*'grpo'"):
        job.execute_in_process(run_config={"ops": {"training_run": {"config": bad}}})
    bad = {"worker": {"actor": {"loss_agg_mode": "mean"}}}
    with pytest.raises(
        dg.DagsterInvalidConfigError, match=r"worker:actor:loss_agg_mode.*'seq-mean-token-mean'"
    ):
        job.execute_in_process(run_config={"ops": {"training_run": {"config": bad}}})
    bad = {"worker": {"actor": {"clip_ratio_hihg": 0.3}}}  # a typo in a key is refused, not ignored
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"clip_ratio_hihg"):
        job.execute_in_process(run_config={"ops": {"training_run": {"config": bad}}})
    # an unknown family is refused at config load, naming the supported ones (every tiny family, new ones too)
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"base_model:config:tiny_family.*qwen3_5_moe"):
        job.execute_in_process(run_config={"ops": {"base_model": {"config": {"tiny_family": "llama"}}}})


def test_base_model_config_offers_every_tiny_family():
    import typing

    from assets.models import BaseModelConfig
    from demo_kit.tiny_models import FAMILIES

    assert typing.get_args(BaseModelConfig.model_fields["tiny_family"].annotation) == FAMILIES


def test_workspace_yaml_points_at_definitions():
    text = Path(__file__).resolve().parents[1].joinpath("workspace.yaml").read_text()
    assert "module_name: pipelines.definitions" in text


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("reelrl_home")
    # a persistent (sqlite) instance, as `dagster dev` uses: schedules need one
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        out = materialize_all(instance, resources(home=str(home)), MINIMAL_OPS, MINIMAL_EVAL_OPS)
        yield home, instance, out


def _stale(instance, key: str, partition=None) -> str:
    resolver = get_stale_status_resolver(instance, [*ALL_ASSETS])
    return resolver.get_status(dg.AssetKey(key), partition).value


def _check(instance, asset: str, name: str, partition: str | None = None) -> bool:
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), name), limit=1
    )
    assert records, f"check {asset}:{name} never ran"
    return records[0].event.dagster_event.event_specific_data.passed


def test_whole_graph_materializes(minimal_run):
    home, instance, out = minimal_run
    cache = out["media_cache"]
    assert cache["built"] > 0 and cache["failed"] == 0
    # the recorded Lance version is a real snapshot holding what the asset built (evaluation may add
    # benchmark media afterwards, as later versions)
    snapshot = lance.dataset(cache["uri"] + "/entries.lance", version=cache["version"])
    assert snapshot.count_rows() == cache["built"]
    assert out["filtered_train_set"]["kept"] > 0
    run = out["training_run"]
    assert run["steps"] == MINIMAL_OPS["training_run"]["config"]["trainer"]["total_steps"]
    assert (Path(run["checkpoint"]) / "config.json").exists() and (
        Path(run["checkpoint"]) / "model.safetensors"
    ).exists()
    # base, warm start and every saved RL step are checkpoint partitions; each was evaluated per benchmark
    registered = set(instance.get_dynamic_partitions("checkpoints"))
    names = out["checkpoints"]
    assert set(names.values()) | set(run["checkpoint_names"]) <= registered
    assert len(set(names.values())) == 3
    cells = {k: v for k, v in out.items() if k.startswith("checkpoint_eval[")}
    assert len(cells) == 3 * 2
    for cell in cells.values():
        for agg in cell["aggregates"].values():
            assert 0.0 <= agg["overall"] <= 100.0
    preds = list(Path(home, "evals").rglob("predictions.jsonl"))
    assert len(preds) == 6 and all(
        json.loads(line)["id"] for p in preds for line in p.read_text().splitlines()
    )
    for name in names.values():
        assert out[f"checkpoint[{name}]"]["revision"]
        assert _check(instance, "checkpoint", "weights_finite")
    assert _check(instance, "checkpoint_eval", "scores_in_range")
    report = instance.get_latest_materialization_event(dg.AssetKey("eval_report")).asset_materialization
    assert report.metadata["cells"].value == 6
    table = report.metadata["official_scores"].value
    assert all(n in table for n in names.values()) and "charades_sta" in table
    # every row says what the checkpoint is, its partition key beside it
    steps = run["steps"]
    for label, role in (("base", "base"), ("warm start", "warm_start"), (f"step {steps}", "trained")):
        assert f"| {label} ({names[role]})" in table, label
    assert out["checkpoint_labels"] == {
        "base": "base",
        "warm_start": "warm start",
        "trained": f"step {steps}",
    }
    trained = dg.MultiPartitionKey({"checkpoint": names["trained"], "benchmark": "reelrl_jsonl"})
    records = instance.get_event_records(
        dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
            asset_key=dg.AssetKey("checkpoint_eval"),
            asset_partitions=[trained],
        ),
        limit=1,
    )
    cell = records[0].asset_materialization
    assert cell.metadata["label"].value == f"step {steps}"
    assert png_in_markdown(report.metadata["plot"].value).size[0] >= 600


def png_in_markdown(markdown: str):
    """The image a markdown metadata value embeds as a PNG data URI, decoded."""
    import base64
    import io
    import re

    from PIL import Image

    data = re.search(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown).group(1)
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_asset_metadata_and_lineage_recorded(minimal_run):
    _, instance, out = minimal_run

    def meta(key):
        return instance.get_latest_materialization_event(dg.AssetKey(key)).asset_materialization.metadata

    cache = meta("media_cache")
    assert {"lance_version", "hits", "misses_built", "failed", "sampling", "lineage"} <= set(cache)
    assert cache["cache_data_version"].value == out["media_cache"]["data_version"]
    assert "| build |" in cache["lineage"].value
    assert {"kept", "dropped"} <= set(meta("filtered_train_set"))
    run = meta("training_run")
    assert "curves" in run and "config" in run
    assert png_in_markdown(run["curves_plot"].value).size == (720, 256)  # 9 x 3.2 in at 80 dpi
    assert meta("source_dataset")["train_files"].value == {"train_demo": 6}
    assert meta("train_demo")["rows"].value == 6 and meta("val_demo")["rows"].value == 6
    # each consumer names the cache state it read
    for key in ("rollout_pass_rates", "sft_warm_start", "training_run", "checkpoint_eval"):
        assert meta(key)["cache_data_version"].value == out["media_cache"]["data_version"]
    cell = meta("checkpoint_eval")
    assert {"aggregates", "counts", "manifest", "model_revision"} <= set(cell)
    assert cell["manifest"].value["settings"]["model_revision"] == cell["model_revision"].value


def test_cache_checks_pass_then_fail_after_invalidation_and_downstream_goes_stale(minimal_run):
    home, instance, out = minimal_run
    everything = [*ALL_ASSETS, *ASSET_CHECKS]
    checks = dg.AssetSelection.checks_for_assets(dg.AssetKey("media_cache"))
    res = resources(home=str(home))
    assert dg.materialize(everything, selection=checks, resources=res, instance=instance).success
    assert _check(instance, "media_cache", "cache_entries_fresh")
    assert _check(instance, "media_cache", "failed_media_rate")
    for key in ("training_run", "filtered_train_set", "sft_warm_start"):
        assert _stale(instance, key) == "FRESH", key
    cell = dg.MultiPartitionKey({"checkpoint": out["checkpoints"]["trained"], "benchmark": "reelrl_jsonl"})
    assert _stale(instance, "checkpoint_eval", cell) == "FRESH"

    # invalidate one training video from the launchpad job
    video = json.loads(Path(out["media_cache"]["train"]).read_text().splitlines()[0])["media"][0]["source"]
    job = dg.Definitions(jobs=[invalidate_cache], resources=res).resolve_job_def("invalidate_cache")
    config = {"ops": {"invalidate_cache_entries": {"config": {"sources": [video]}}}}
    assert job.execute_in_process(run_config=config, instance=instance).success
    for key in ("sft_warm_start", "rollout_pass_rates", "filtered_train_set", "training_run"):
        assert _stale(instance, key) == "STALE", key
    assert _stale(instance, "checkpoint_eval", cell) == "STALE"
    assert _stale(instance, "base_model") == "FRESH"
    # the check names the missing row; the sensor has nothing more to record (the job already did)
    assert dg.materialize(everything, selection=checks, resources=res, instance=instance).success
    assert not _check(instance, "media_cache", "cache_entries_fresh")
    ctx = dg.build_sensor_context(instance=instance, resources=res)
    assert not media_cache_changes(ctx).asset_events

    # a change made outside Dagster (the CLI) is noticed by the cache sensor
    other = json.loads(Path(out["media_cache"]["val"]).read_text().splitlines()[0])["media"][0]["source"]
    from cache_store import MediaCache

    MediaCache(out["media_cache"]["uri"]).invalidate(sources=[other])
    result = media_cache_changes(dg.build_sensor_context(instance=instance, resources=res))
    [event] = result.asset_events
    assert event.metadata["entries_missing"].value == 2
    instance.report_runless_asset_event(event)
    assert not media_cache_changes(dg.build_sensor_context(instance=instance, resources=res)).asset_events

    # rebuilding: the check passes again; downstream stays stale until it is materialized again
    cfg = run_config({k: v for k, v in MINIMAL_OPS.items() if k == "media_cache"})
    rebuilt = dg.materialize(
        everything, selection=["media_cache"], resources=res, run_config=cfg, instance=instance
    )
    assert rebuilt.output_for_node("media_cache")["built"] == 2
    assert dg.materialize(everything, selection=checks, resources=res, instance=instance).success
    assert _check(instance, "media_cache", "cache_entries_fresh")
    assert _stale(instance, "training_run") == "STALE"


def test_checkpoint_sensor_takes_complete_new_checkpoints_once(minimal_run, tmp_path):
    home, instance, out = minimal_run
    watch = tmp_path / "watch"
    base = Path(out["base_model"]["path"])
    shutil.copytree(base, watch / "exp" / "ckpt_a")
    half = shutil.copytree(base, watch / "exp" / "ckpt_b")
    weights = (half / "model.safetensors").read_bytes()
    (half / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # still being copied
    shutil.copytree(base, watch / "exp" / "global_step_9.tmp-123")
    res = {
        **resources(home=str(home)),
        "checkpoints": CheckpointsResource(watch_dirs=str(watch), settle_s=0.0),
        "benchmarks": BenchmarksResource(auto=["reelrl_jsonl"]),
    }
    result = new_checkpoints(dg.build_sensor_context(instance=instance, resources=res))
    cells = [r for r in result.run_requests if r.asset_selection == [dg.AssetKey("checkpoint_eval")]]
    new_names = {r.partition_key.keys_by_dimension["checkpoint"] for r in cells}
    # ckpt_a and the RL run's step checkpoints not evaluated yet; never the evaluated ones, ckpt_b or .tmp-
    assert any(n.startswith("exp-ckpt_a-") for n in new_names)
    assert not any("ckpt_b" in n or "tmp" in n for n in new_names)
    assert set(out["checkpoints"].values()).isdisjoint(new_names)
    # the `checkpoint` asset is requested for the new ones only, not again for those already recorded
    ckpt_runs = {
        r.partition_key for r in result.run_requests if r.asset_selection == [dg.AssetKey("checkpoint")]
    }
    assert any(k.startswith("exp-ckpt_a-") for k in ckpt_runs)
    assert set(out["checkpoints"].values()).isdisjoint(ckpt_runs)
    [add] = result.dynamic_partitions_requests
    assert any(k.startswith("exp-ckpt_a-") for k in add.partition_keys)
    cursor = json.loads(result.cursor)
    assert not any("ckpt_b" in k for k in cursor)

    # next tick: nothing new; once ckpt_b is complete it is taken
    again = new_checkpoints(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
    assert not again.run_requests
    (half / "model.safetensors").write_bytes(weights)
    third = new_checkpoints(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
    names = {
        r.partition_key.keys_by_dimension["checkpoint"]
        for r in third.run_requests
        if r.asset_selection == [dg.AssetKey("checkpoint_eval")]
    }
    assert len(names) == 1 and next(iter(names)).startswith("exp-ckpt_b-")


def test_a_failing_cell_fails_alone_and_stays_due(minimal_run, tmp_path):
    home, instance, out = minimal_run
    bad = tmp_path / "mvbench.json"
    bad.write_text('[{"video": "a.mp4", "question": "q?"')  # cut off mid-record
    res = {**resources(home=str(home)), "benchmarks": BenchmarksResource(annotations={"mvbench": str(bad)})}
    trained = out["checkpoints"]["trained"]
    failed = dg.materialize(
        [*ALL_ASSETS, *ASSET_CHECKS],
        selection=["checkpoint_eval"],
        partition_key=cell_key(trained, "mvbench"),
        resources=res,
        run_config=run_config(MINIMAL_EVAL_OPS),
        instance=instance,
        raise_on_error=False,
    )
    assert not failed.success
    [failure] = failed.get_step_failure_events()
    assert "mvbench.json" in failure.step_failure_data.error.to_string()
    # the other cells keep their results, the report still covers them, and the failed cell is still due
    report = dg.materialize(
        [*ALL_ASSETS, *ASSET_CHECKS], selection=["eval_report"], resources=res, instance=instance
    )
    assert report.asset_materializations_for_node("eval_report")[0].metadata["cells"].value == 6
    info = CheckpointsResource().find(trained, WorkspaceResource(root=str(home)))
    due = cell_requests(instance, [info], ["mvbench", "reelrl_jsonl"], "test")
    assert [str(r.partition_key) for r in due] == [str(cell_key(trained, "mvbench"))]


def test_schedule_requests_only_unevaluated_cells_of_the_latest(minimal_run):
    home, instance, out = minimal_run
    res = {**resources(home=str(home)), "checkpoints": CheckpointsResource(settle_s=0.0)}
    found, _ = res["checkpoints"].discover(res["workspace"])
    latest = [c.name for c in sorted(found, key=lambda c: c.mtime)[-2:]]
    res["benchmarks"] = BenchmarksResource(auto=["reelrl_jsonl", "charades_sta"], schedule_latest=2)
    runs = reevaluate_latest(dg.build_schedule_context(instance=instance, resources=res))
    requested = set() if isinstance(runs, dg.SkipReason) else {str(r.partition_key) for r in runs}
    evaluated = {f"{b}|{c}" for c in out["checkpoints"].values() for b in ("charades_sta", "reelrl_jsonl")}
    expected = {f"{b}|{c}" for c in latest for b in ("charades_sta", "reelrl_jsonl")} - evaluated
    assert requested == expected


def test_an_interrupted_tiny_model_build_is_redone_not_reused(tmp_path):
    """A build cut off mid-way (here: a folder with a stray file, and a leftover ``.partial``) leaves
    no folder that looks finished: base_model builds aside, renames, and rebuilds what it finds."""
    home = tmp_path / "home"
    models = home / "models"
    (models / "tiny-qwen2_vl").mkdir(parents=True)
    (models / "tiny-qwen2_vl" / "model.safetensors").write_bytes(b"half")
    (models / "tiny-qwen2_vl.partial").mkdir()
    result = dg.materialize(
        [*ALL_ASSETS], selection=["base_model"], resources=resources(home=str(home)),
        run_config={"ops": {"base_model": {"config": {"tiny_family": "qwen2_vl"}}}},
    )  # fmt: skip
    path = Path(result.output_for_node("base_model")["path"])
    assert path == models / "tiny-qwen2_vl" and (path / "config.json").exists()
    assert (path / "model.safetensors").read_bytes() != b"half"
    assert not (models / "tiny-qwen2_vl.partial").exists()


def _figures(out: dict) -> dict:
    """What a demo run reports, minus timings: filter, per-step training metrics, a hash of each checkpoint's
    weight bytes (its ``revision`` includes file mtimes, so it differs between runs) and every evaluation's
    aggregates."""
    history = [
        {k: v for k, v in h.items() if not k.startswith("timing_s/")} for h in out["training_run"]["history"]
    ]
    weights = {
        role: hashlib.sha256(
            Path(out[f"checkpoint[{name}]"]["path"], "model.safetensors").read_bytes()
        ).hexdigest()
        for role, name in out["checkpoints"].items()
    }
    return {
        "filter": (out["filtered_train_set"]["kept"], out["filtered_train_set"]["dropped"]),
        "history": history,
        "weights": weights,
        "evals": {
            (role, bench): out[f"checkpoint_eval[{name}|{bench}]"]["aggregates"]
            for role, name in out["checkpoints"].items()
            for bench in ("reelrl_jsonl", "charades_sta")
        },
    }


@pytest.mark.slow  # a second minimal graph, ~2 min
def test_a_second_run_in_a_fresh_home_gives_the_same_figures(minimal_run, tmp_path):
    """Same figures on a re-run: everything is seeded (data, warm start, pass-rate rollouts, RL, greedy
    evaluation), so a fresh home (new model, data, cache, instance) reproduces the first run exactly."""
    _, _, first = minimal_run
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        again = materialize_all(
            instance, resources(home=str(tmp_path / "home")), MINIMAL_OPS, MINIMAL_EVAL_OPS
        )
    a, b = _figures(first), _figures(again)
    assert a["history"] and all(h["reward/overall"] is not None for h in a["history"])
    assert a == b


@pytest.mark.slow  # a minimal graph per family, ~3 min each on 2 cores
@pytest.mark.parametrize("family", ["qwen3_5", "qwen3_5_moe", "qwen3_vl_moe"])
def test_the_minimal_graph_runs_on_the_newer_families(tmp_path, family):
    """``base_model.tiny_family`` picks Qwen3.5 (dense, MoE) or Qwen3-VL-MoE: the whole minimal graph (cache
    with their factor 32, warm start, pass rates, RL, 3 checkpoints x 2 benchmarks, report) materializes."""
    ops = {**MINIMAL_OPS, "base_model": {"config": {"tiny_family": family}}}
    (tmp_path / "dh").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dh")) as instance:
        out = materialize_all(instance, resources(home=str(tmp_path / "home")), ops, MINIMAL_EVAL_OPS)
    assert out["base_model"]["model_type"] == family
    assert len(out["training_run"]["history"]) == 2
    cells = [k for k in out if k.startswith("checkpoint_eval[")]
    assert len(cells) == 3 * 2 and all("aggregates" in out[k] for k in cells)
