"""Metric sinks (training.outputs.sinks): TensorBoard events read back with TensorBoard's own reader, JSONL
appends deduplicated by step across a resume, the console line, and backend validation."""

from __future__ import annotations

import importlib.util
import io
import json
import time

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.outputs.sinks import BACKENDS, ConsoleSink, Tracker, read_metrics, scalar


def tensorboard_scalars(out_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(out_dir / "tensorboard"))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_scalars_and_config_read_back(tmp_path):
    config = {"worker": {"actor": {"lr": 1e-6}}, "trainer": {"seed": 1}}
    with Tracker(tmp_path, backends=("tensorboard",), run_name="t", config=config) as tracker:
        for step in (1, 2, 3):
            tracker.log(
                {
                    "reward/overall": step / 4,  # exact in float32
                    "actor/grad_norm": torch.tensor(step * 1.5),
                    "response_length/mean": np.float32(10 + step),
                    "tag": "not a number",
                    "per_group": [0.1, 0.2],
                    "step": step,
                },
                step,
            )
    assert tensorboard_scalars(tmp_path) == {
        "reward/overall": [(1, 0.25), (2, 0.5), (3, 0.75)],
        "actor/grad_norm": [(1, 1.5), (2, 3.0), (3, 4.5)],
        "response_length/mean": [(1, 11.0), (2, 12.0), (3, 13.0)],
    }
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    [text] = events.Tensors("config/text_summary")
    body = text.tensor_proto.string_val[0].decode().strip("`\n")
    assert json.loads(body) == config


def test_a_resumed_run_hides_the_crashed_runs_later_tensorboard_events(tmp_path):
    with Tracker(tmp_path, backends=("tensorboard",)) as tracker:
        for step in (1, 2, 3, 4):
            tracker.log({"loss": float(step)}, step)
    # the run died after step 4 but its last checkpoint was step 2: steps 3-4 are re-run on the resumed path.
    # TensorBoard reads event files in name order, "events.out.tfevents.<unix second>.<host>.<pid>.<counter>";
    # a resumed run is a later process, but here both writers share a process, so within one second a
    # counter going 9 -> 10 would sort the resumed file first: start it in a later second, as a real resume.
    time.sleep(max(0.0, 1.05 - (time.time() % 1.0)))
    with Tracker(tmp_path, backends=("tensorboard",), start_step=2) as tracker:
        for step in (3, 4):
            tracker.log({"loss": 10.0 * step}, step)
    assert tensorboard_scalars(tmp_path) == {"loss": [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]}


def test_jsonl_appends_and_read_metrics_keeps_the_last_record_per_step(tmp_path):
    with Tracker(tmp_path, backends=("jsonl",)) as tracker:
        for step in (1, 2, 3):
            tracker.log({"loss": float(step), "tag": "first", "n": np.int64(step)}, step)
    path = tmp_path / "metrics.jsonl"
    assert json.loads(path.read_text().splitlines()[0]) == {"step": 1, "loss": 1.0, "tag": "first", "n": 1}
    with open(path, "a") as fh:  # a kill in the middle of a write leaves half a line
        fh.write('{"step": 4, "lo')
    with Tracker(tmp_path, backends=("jsonl",), start_step=1) as tracker:
        for step in (2, 3, 4):
            tracker.log({"loss": 10.0 * step, "tag": "resumed", "t": torch.tensor(0.5)}, step)
    assert len(path.read_text().splitlines()) == 7  # 3 + torn line + 3: nothing rewritten
    assert read_metrics(tmp_path) == [
        {"step": 1, "loss": 1.0, "tag": "first", "n": 1},
        {"step": 2, "loss": 20.0, "tag": "resumed", "t": 0.5},
        {"step": 3, "loss": 30.0, "tag": "resumed", "t": 0.5},
        {"step": 4, "loss": 40.0, "tag": "resumed", "t": 0.5},
    ]
    assert read_metrics(path) == read_metrics(tmp_path)


def test_console_line_shows_key_metrics_rate_and_eta():
    sink = ConsoleSink(total_steps=10, max_keys=2)
    metrics = {"actor/pg_loss": -0.25, "reward/overall": 0.5, "reward/accuracy": 0.125, "x": "y"}
    assert sink.line(metrics, step=3, now=0.0) == "step 3/10 | reward/overall 0.5 | reward/accuracy 0.125"
    sink.first = (3, 100.0)  # first step logged by this process, at t = 100 s
    assert sink.line(metrics, step=5, now=104.0).endswith("| 2.00 s/step | eta 00:00:10")
    assert ConsoleSink().line({"a": 1.23456, "b": "text"}, step=7, now=0.0) == "step 7 | a 1.235"


def test_tracker_prints_one_console_line_per_step(tmp_path):
    out = io.StringIO()
    with Tracker(tmp_path, backends=("console",), total_steps=4, stream=out) as tracker:
        tracker.log({"reward/overall": 0.5}, 1)
        tracker.log({"reward/overall": 0.75}, 2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "step 1/4 | reward/overall 0.5"
    assert lines[1].startswith("step 2/4 | reward/overall 0.75 | ") and " s/step | eta " in lines[1]
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "tensorboard").exists()


def test_unknown_backend_fails_at_construction_with_the_allowed_list(tmp_path):
    with pytest.raises(ValueError, match=r"\['csv'\].*allowed: \['console', 'jsonl', 'tensorboard'"):
        Tracker(tmp_path, backends=("jsonl", "csv"))
    assert not (tmp_path / "metrics.jsonl").exists(), "nothing is opened before validation"
    assert set(BACKENDS) == {"console", "jsonl", "tensorboard", "mlflow", "wandb"}


@pytest.mark.parametrize("backend", ["mlflow", "wandb"])
def test_optional_backend_that_is_not_installed_fails_at_construction(tmp_path, backend):
    if importlib.util.find_spec(backend) is not None:
        pytest.skip(f"{backend} is installed here")
    with pytest.raises(ImportError, match=rf"backend '{backend}' needs the '{backend}' package"):
        Tracker(tmp_path, backends=("jsonl", backend))


def test_scalar_accepts_single_numbers_only():
    values = [3, True, 2.5, np.float32(1.5), np.int64(4), torch.tensor(2.0), torch.tensor([0.5])]
    assert [scalar(v) for v in values] == [3.0, 1.0, 2.5, 1.5, 4.0, 2.0, 0.5]
    assert [scalar(v) for v in ("1.0", [1.0], None, torch.ones(2), np.zeros(0), {"a": 1})] == [None] * 6
