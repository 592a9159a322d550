"""One media-spec resolver for every door: the real adapters' documented settings, explicit choices, and the
same spec (and source) written by ``reelrl eval run`` and by the Dagster ``checkpoint_eval`` cell."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import dagster as dg
import pytest
from cli_output import json_docs

from assets.evaluations import CheckpointEvalConfig
from cache_store import MediaSpec
from demo_kit.synthetic import make_charades_standins
from evaluation.media_spec import DEFAULT_MEDIA_FROM, DEFAULTS_LABEL, TRAINING_LABEL, resolve_media_spec
from pipelines.definitions import ALL_ASSETS, ASSET_CHECKS, resources
from pipelines.demo import run_config
from reelrl.cli import build_parser, main

SAMPLES = Path(__file__).resolve().parents[1] / "evaluation" / "samples"
CHARADES = SAMPLES / "charades_sta" / "charades_sta_test.sample.txt"


def test_benchmark_settings_then_choices_each_value_says_where_it_came_from():
    r = resolve_media_spec("evaluation", "qwen2_5_vl", benchmark="mvbench", choices=[("flags", {"fps": 1.0})])
    assert r.media_from == DEFAULT_MEDIA_FROM == "benchmark"
    assert r.spec.max_frames == 8 and r.spec.fps == 1.0 and r.spec.factor == 28
    assert r.origins["max_frames"].startswith("mvbench (VLMEvalKit") and "MVBench_8frame" in r.source
    assert r.origins["fps"] == "flags" and r.origins["image_max_pixels"] == DEFAULTS_LABEL
    assert r.origins["factor"] == "model family qwen2_5_vl"
    # a later choice wins over an earlier one; the factor follows the model family
    r = resolve_media_spec(
        "evaluation", "qwen3_vl", benchmark="mvbench",
        choices=[("flags", {"max_frames": 16}), ("--media mvbench:", {"max_frames": 4, "image_max_pixels": 4096})],
    )  # fmt: skip
    assert r.spec.max_frames == 4 and r.spec.image_max_pixels == 4096 and r.spec.factor == 32
    assert r.origins["max_frames"] == r.origins["image_max_pixels"] == "--media mvbench:"
    # a benchmark that documents nothing gets MediaSpec's defaults, said as such
    r = resolve_media_spec("evaluation", "qwen2_5_vl", benchmark="charades_sta")
    assert r.spec == MediaSpec(factor=28) and set(r.origins.values()) == {
        DEFAULTS_LABEL,
        "model family qwen2_5_vl",
    }


def test_training_choice_takes_the_training_spec_and_refuses_what_does_not_fit():
    trained = MediaSpec(fps=1.0, max_frames=8, min_frames=4, max_pixels=50176, min_pixels=3136, factor=28)
    r = resolve_media_spec(
        "evaluation", "qwen2_5_vl", benchmark="mvbench", media_from="training", training_spec=trained
    )
    assert (
        r.spec == trained and r.origins["max_frames"] == TRAINING_LABEL and "media from training" in r.source
    )
    with pytest.raises(ValueError, match="needs the training cache's spec"):
        resolve_media_spec("evaluation", "qwen2_5_vl", benchmark="mvbench", media_from="training")
    with pytest.raises(ValueError, match="resize factor 28"):  # Qwen3-VL frames are cut to multiples of 32
        resolve_media_spec(
            "evaluation", "qwen3_vl", benchmark="mvbench", media_from="training", training_spec=trained
        )
    with pytest.raises(ValueError, match="media_from must be one of"):
        resolve_media_spec("evaluation", "qwen2_5_vl", benchmark="mvbench", media_from="cache")
    with pytest.raises(ValueError, match=r"unknown media setting\(s\) \['frames'\]"):
        resolve_media_spec("training", "qwen2_5_vl", choices=[("media_cache config", {"frames": 8})])
    # training: the config's values, nothing else
    r = resolve_media_spec("training", "qwen2_vl", choices=[("media_cache config", {"max_frames": 6})])
    assert r.spec.max_frames == 6 and r.media_from is None and r.source.startswith("training: ")


def test_one_default_for_both_doors():
    args = build_parser().parse_args(
        ["eval", "run", "--model", "m", "--benchmark", "b", "--annotations", "a"]
    )
    assert args.media_spec == CheckpointEvalConfig().media_spec == DEFAULT_MEDIA_FROM
    args = build_parser().parse_args(
        [
            "eval",
            "run",
            "--model",
            "m",
            "--benchmark",
            "b",
            "--annotations",
            "a",
            "--image-max-pixels",
            "4096",
        ]
    )
    assert args.image_max_pixels == 4096


@pytest.mark.slow
def test_cli_and_dagster_cell_write_the_same_spec_for_the_same_model_and_benchmark(tmp_path):
    """The same tiny model and Charades-STA file through both doors, each with its default choice, then with
    ``training`` (the Dagster cell's media cache spec; the CLI given that spec as a file)."""
    ann = tmp_path / "charades.txt"
    ann.write_text("".join(CHARADES.read_text().splitlines(keepends=True)[:2]))
    videos = tmp_path / "videos"
    make_charades_standins(ann, videos)
    home = tmp_path / "home"
    res = resources(home=str(home))
    res["benchmarks"] = res["benchmarks"].model_copy(
        update={"annotations": {"charades_sta": str(ann)}, "media_roots": {"charades_sta": str(videos)}}
    )
    everything = [*ALL_ASSETS, *ASSET_CHECKS]
    ops = {"demo_dataset": {"config": {"n_train": 2, "n_val": 2}}, "media_cache": {"config": {"workers": 1}}}
    with dg.instance_for_test() as instance:
        up = dg.materialize(
            everything,
            selection=["base_model", "train_demo", "val_demo", "source_dataset", "media_cache"],
            resources=res, run_config=run_config(ops), instance=instance,
        )  # fmt: skip
        base, cache = up.asset_value("base_model"), up.asset_value("media_cache")
        assert isinstance(cache["spec"], MediaSpec)  # handed over typed
        cell_key = dg.MultiPartitionKey({"checkpoint": base["checkpoint_name"], "benchmark": "charades_sta"})

        def cell(choice: str | None) -> dict:
            config = {"max_new_tokens": 4, "batch_size": 2, **({"media_spec": choice} if choice else {})}
            result = dg.materialize(
                everything, selection=["checkpoint_eval"], partition_key=cell_key, resources=res,
                run_config=run_config({"checkpoint_eval": {"config": config}}), instance=instance,
            )  # fmt: skip
            [mat] = result.asset_materializations_for_node("checkpoint_eval")
            out = Path(result.output_for_node("checkpoint_eval")["out_dir"])
            manifest = json.loads((out / "manifest.json").read_text())
            assert mat.metadata["media_spec_source"].value == manifest["media_spec_source"]["source"]
            return manifest

        def cli(flags) -> dict:
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                rc = main(
                    [
                        "eval", "run", "--model", base["path"], "--benchmark", "charades_sta",
                        "--annotations", str(ann), "--media-root", str(videos),
                        "--cache", str(tmp_path / "cli_cache"), "--out", str(tmp_path / "cli"),
                        "--max-new-tokens", "4", "--batch-size", "2", "--media-workers", "1", "--json", *flags,
                    ]
                )  # fmt: skip
            assert rc == 0
            [doc] = json_docs(stdout.getvalue())
            manifest = json.loads((Path(doc["out_dir"]) / "manifest.json").read_text())
            assert doc["media_spec"] == manifest["settings"]["media_spec"]
            assert doc["media_spec_source"] == manifest["media_spec_source"]["source"]
            return manifest

        for choice, flags in ((None, ()), ("training", None)):
            dagster = cell(choice)
            if (
                flags is None
            ):  # the CLI is given the media cache's spec, as `reelrl cache build --json` prints it
                spec_file = tmp_path / "training_spec.json"
                spec_file.write_text(json.dumps({"spec": cache["spec"].to_dict()}))
                flags = ("--media-spec", "training", "--training-spec", str(spec_file))
            door = cli(flags)
            assert door["settings"]["media_spec"] == dagster["settings"]["media_spec"]
            assert door["media_spec_source"] == dagster["media_spec_source"]
        assert dagster["settings"]["media_spec"] == cache["spec"].to_dict()
        assert door["media_spec_source"]["media_from"] == "training"


def test_cli_refuses_a_training_choice_without_its_spec_and_a_spec_of_another_family(tmp_path, capsys):
    """Through ``reelrl eval run``'s real entry point; the spec is resolved before any model is loaded."""
    base = ["eval", "run", "--model", "Qwen/Qwen3-VL-2B-Instruct", "--benchmark", "charades_sta"]
    base += ["--annotations", str(CHARADES), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")]
    assert main([*base, "--media-spec", "training"]) == 2
    assert "needs the training cache's spec" in capsys.readouterr().err
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"spec": MediaSpec(factor=28).to_dict()}))
    assert main([*base, "--training-spec", str(spec)]) == 2
    assert "add that flag" in capsys.readouterr().err
    assert main([*base, "--media-spec", "training", "--training-spec", str(spec)]) == 2
    assert "resize factor 28" in capsys.readouterr().err  # Qwen3-VL cuts frames to multiples of 32
    assert main([*base, "--media", "charades_sta:image_max_pixels=0"]) == 2
    assert "image_max_pixels must be an int >= 1" in capsys.readouterr().err
