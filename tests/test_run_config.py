"""The run config of ``reelrl train``: EasyR1 key names, every problem reported at once, recipes that load."""

from pathlib import Path

import pytest

from pipelines.run_config import IGNORED, load_run_config, valid_keys
from training.config import ConfigError

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.yaml"))


@pytest.fixture
def data(tmp_path):
    train = tmp_path / "train.jsonl"
    val = tmp_path / "val.jsonl"
    row = '{"problem": "Is it red?", "problem_type": "boolean", "answer": "yes", "images": ["a.png"]}\n'
    train.write_text(row)
    val.write_text(row)
    return train, val


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_easyr1_names_reach_the_settings_they_name(tmp_path, data):
    train, val = data
    cfg = write(
        tmp_path,
        f"""
data:
  train_files: {train}
  val_files: [{val}]
  video_fps: 1.0
  video_max_frames: 16
  max_response_length: 64
  skip_invalid: true
  max_failed_fraction: 0.2
algorithm: {{adv_estimator: rloo, disable_kl: true, kl_coef: 0.5}}
worker:
  actor:
    model: {{model_path: /models/qwen, freeze_vision_tower: true, lora: {{rank: 8}}}}
    optim: {{lr: 2.0e-6, lr_warmup_ratio: 0.1}}
    clip_ratio_high: 0.3
  rollout: {{n: 4}}
trainer: {{max_steps: 7, n_gpus_per_node: 2}}
sft: {{steps: 5}}
filter: {{k: 4, low: 0.1}}
""",
    )
    plan = load_run_config(cfg)
    rl = plan.rl
    assert (rl.worker.actor.lr, rl.worker.actor.lr_warmup_ratio, rl.worker.actor.clip_ratio_high) == (
        2e-6,
        0.1,
        0.3,
    )
    assert rl.worker.actor.freeze_vision_tower and rl.worker.actor.lora_rank == 8
    assert rl.trainer.total_steps == 7 and rl.worker.rollout.max_new_tokens == 64
    assert rl.algorithm.adv_estimator == "rloo" and rl.algorithm.kl_coef == 0.0  # disable_kl wins
    assert plan.ops["base_model"]["config"]["model_path"] == "/models/qwen"
    assert plan.ops["media_cache"]["config"]["video_fps"] == 1.0
    assert plan.ops["media_cache"]["config"]["video_max_frames"] == 16
    assert plan.ops["media_cache"]["config"]["video_max_pixels"] == 262144  # EasyVideoR1's default
    assert plan.ops["sft_warm_start"]["config"]["steps"] == 5
    assert (
        plan.skip_invalid
        and plan.ops["media_cache_failed_media_rate"]["config"]["max_failed_fraction"] == 0.2
    )
    assert plan.ops["rollout_pass_rates"]["config"]["k"] == 4
    assert plan.ops["filtered_train_set"]["config"] == {"low": 0.1, "high": 1.0}
    assert plan.ops["training_run"]["config"]["worker"]["actor"]["lr"] == 2e-6
    assert plan.num_workers == 2 and plan.ops["training_run"]["config"]["num_workers"] == 2
    assert plan.train_files == [str(train)] and plan.val_files == [str(val)]
    assert plan.benchmarks == ["reelrl_jsonl"]  # val files given: the held-out split is evaluated


def test_every_problem_is_reported_at_once_with_its_line_and_the_nearest_key(tmp_path, data):
    train, _ = data
    cfg = write(
        tmp_path,
        f"""data:
  train_files: [{train}, {tmp_path}/missing.jsonl]
  vide_fps: 2
algorithm:
  adv_estimator: grpo
worker:
  actor:
    optim: {{lrr: 1.0e-6}}
trainer:
  max_stepz: 3
evaluation: {{benchmarks: [video_mme, no_such_bench]}}
""",
    )
    with pytest.raises(ConfigError) as err:
        load_run_config(cfg)
    text = str(err.value)
    assert f"{cfg}: 6 problem(s):" in text
    assert f"{cfg}:3: unknown key data.vide_fps (did you mean data.video_fps?)" in text
    assert f"{cfg}:8: unknown key worker.actor.optim.lrr (did you mean worker.actor.optim.lr?)" in text
    assert f"{cfg}:10: unknown key trainer.max_stepz (did you mean trainer.max_steps?)" in text
    assert f"{tmp_path}/missing.jsonl: no such file" in text
    assert "evaluation.benchmarks: unknown ['no_such_bench']" in text
    assert "set evaluation.annotations.video_mme" in text


def test_ignored_easyr1_keys_are_listed_not_refused(tmp_path, data):
    train, _ = data
    cfg = write(
        tmp_path,
        f"""data: {{train_files: {train}, prompt_key: problem, max_prompt_length: 2048}}
worker:
  actor: {{fsdp: {{enable_full_shard: true}}, padding_free: true}}
  rollout: {{tensor_parallel_size: 2}}
trainer: {{project_name: x, val_freq: 5}}
""",
    )
    plan = load_run_config(cfg)
    ignored = {line.split(":")[0] for line in plan.ignored}
    assert ignored == {
        "data.prompt_key",
        "data.max_prompt_length",
        "worker.actor.fsdp.enable_full_shard",
        "worker.actor.padding_free",
        "worker.rollout.tensor_parallel_size",
        "trainer.project_name",
        "trainer.val_freq",
    }
    assert all("ignored (" in line for line in plan.ignored)
    assert plan.benchmarks == []  # no val files, no benchmarks named: nothing to evaluate


def test_values_are_checked_at_load(tmp_path, data):
    train, _ = data
    cfg = write(
        tmp_path, f"data: {{train_files: {train}, video_max_pixels: 1000}}\nworker: {{rollout: {{n: 1}}}}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_run_config(cfg)
    text = str(err.value)
    assert "2 problem(s)" in text
    assert "worker.rollout.n must be > 1 for grpo" in text
    assert "data.video_max_pixels (1000) must be >= min_pixels" in text


def test_overrides_and_alias_conflicts(tmp_path, data):
    train, _ = data
    cfg = write(tmp_path, f"data: {{train_files: {train}}}\ntrainer: {{max_steps: 3}}\n")
    plan = load_run_config(cfg, ["trainer.max_steps=9", "worker.actor.optim.lr=3e-6"])
    assert plan.rl.trainer.total_steps == 9 and plan.rl.worker.actor.lr == 3e-6
    with pytest.raises(ConfigError, match="command line: unknown key trainer.max_step "):
        load_run_config(cfg, ["trainer.max_step=9"])
    with pytest.raises(ConfigError, match="trainer.max_steps and trainer.total_steps are the same setting"):
        load_run_config(cfg, ["trainer.total_steps=4"])


def test_relative_paths_resolve_against_the_working_directory(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "data: {train_files: train.jsonl, media_root: .}\n")
    plan = load_run_config(cfg)
    assert plan.train_files == [str(tmp_path / "train.jsonl")] and plan.media_root == str(tmp_path)


def test_ignored_keys_are_not_valid_keys():
    assert not set(IGNORED) & set(valid_keys())


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_every_recipe_loads_as_written(recipe, tmp_path, monkeypatch):
    """Each recipe's files are the synthetic demo set's; given those, it loads with no problem and no
    ignored key (its settings mean what they say)."""
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / ".reelrl" / "data" / "demo"
    demo.mkdir(parents=True)
    for name in ("train.jsonl", "val.jsonl"):
        (demo / name).write_text("")
    plan = load_run_config(recipe)
    assert plan.ignored == []
    assert plan.benchmarks == ["reelrl_jsonl"]
    assert plan.experiment_name == recipe.stem


def test_a_missing_demo_file_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"reelrl demo-data --out .*\.reelrl/data/demo"):
        load_run_config(RECIPES[0])


def test_evaluation_media_spec_is_the_cells_choice_with_the_shared_default(tmp_path, data):
    from assets.evaluations import CheckpointEvalConfig

    train, _ = data
    cfg = write(tmp_path, f"data: {{train_files: {train}}}\n")
    assert (
        load_run_config(cfg).eval_ops["checkpoint_eval"]["config"]["media_spec"]
        == CheckpointEvalConfig().media_spec
    )
    plan = load_run_config(cfg, ["evaluation.media_spec=training"])
    assert plan.eval_ops["checkpoint_eval"]["config"]["media_spec"] == "training"
    with pytest.raises(
        ConfigError, match=r"evaluation.media_spec must be one of \['benchmark', 'training'\], got 'cache'"
    ):
        load_run_config(cfg, ["evaluation.media_spec=cache"])


def test_an_unsupported_model_family_is_refused_at_load_naming_the_supported_ones(tmp_path, data):
    train, _ = data
    llava = tmp_path / "llava"
    llava.mkdir()
    (llava / "config.json").write_text('{"model_type": "llava"}')
    cfg = write(
        tmp_path, f"data: {{train_files: {train}}}\nworker:\n  actor:\n    model: {{model_path: {llava}}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"run.yaml:4: worker.actor.model.model_path: model_type 'llava' is not"
    ):
        load_run_config(cfg)
    with pytest.raises(
        ConfigError, match=r"supported: \[.*'qwen3_5', 'qwen3_5_moe', 'qwen3_vl', 'qwen3_vl_moe'\]"
    ):
        load_run_config(cfg)
    cfg = write(
        tmp_path, f"data: {{train_files: {train}}}\nworker: {{actor: {{model: {{tiny_family: llama}}}}}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"tiny_family='llama' is not a tiny model family; supported: .*qwen3_5_moe"
    ):
        load_run_config(cfg)
    for family in ("qwen3_5", "qwen3_vl_moe"):  # the newer families load
        cfg = write(
            tmp_path,
            f"data: {{train_files: {train}}}\nworker: {{actor: {{model: {{tiny_family: {family}}}}}}}\n",
        )
        assert load_run_config(cfg).ops["base_model"]["config"]["tiny_family"] == family


def test_data_media_source_reaches_the_trainer_and_the_pass_rate_filter(tmp_path, data):
    train, _ = data
    plan = load_run_config(write(tmp_path, f"data: {{train_files: {train}, media_source: prefer_cache}}\n"))
    assert plan.rl.data.media_source == "prefer_cache"
    assert plan.ops["training_run"]["config"]["data"]["media_source"] == "prefer_cache"
    assert plan.ops["rollout_pass_rates"]["config"]["media_source"] == "prefer_cache"
    assert load_run_config(write(tmp_path, f"data: {{train_files: {train}}}\n")).ops["rollout_pass_rates"][
        "config"
    ]["media_source"] == "cache"  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"data.media_source='disk'; allowed: \['cache', 'prefer_cache', 'decode'\]"
    ):
        load_run_config(write(tmp_path, f"data: {{train_files: {train}, media_source: disk}}\n"))
