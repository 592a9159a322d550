"""Per-phase step timing: the pure timer, and ``timing_s/*`` through the console, JSONL, TensorBoard and the
curves PNG, and from a real trainer step."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from training.loop.timing import PhaseTimer, phase_shares


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_phases_accumulate_and_the_step_includes_time_added_before_it():
    clock = Clock()
    timer = PhaseTimer(clock)
    timer.add("data_wait", 0.5, before_start=True)
    with timer.phase("gen"):
        clock.now += 2.0
    with timer.phase("reward"):
        clock.now += 0.25
    with timer.phase("gen"):  # a second rollout (dynamic sampling's refill) adds to the same phase
        clock.now += 1.0
    clock.now += 0.25  # time in no phase still counts in the step
    assert timer.metrics() == {
        "timing_s/data_wait": 0.5,
        "timing_s/gen": 3.0,
        "timing_s/reward": 0.25,
        "timing_s/step": 4.0,
    }
    shares = phase_shares(timer.metrics())
    assert shares == {"data_wait": 0.125, "gen": 0.75, "reward": 0.0625}


def test_a_phase_that_raises_is_still_counted_and_negative_time_is_refused():
    clock = Clock()
    timer = PhaseTimer(clock)
    with pytest.raises(RuntimeError), timer.phase("update_actor"):
        clock.now += 1.5
        raise RuntimeError("boom")
    assert timer.metrics()["timing_s/update_actor"] == 1.5
    with pytest.raises(ValueError, match="phase data_wait: negative time"):
        timer.add("data_wait", -1.0)
    assert phase_shares({"timing_s/step": 0.0, "timing_s/gen": 0.0}) == {"gen": 0.0}


def test_timing_reaches_the_console_line_jsonl_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from training.outputs.sinks import Tracker, read_metrics

    out = io.StringIO()
    metrics = {"reward/overall": 0.5, "timing_s/gen": 0.8, "timing_s/data_wait": 0.01, "timing_s/step": 1.25}
    with Tracker(tmp_path, ["console", "jsonl", "tensorboard"], stream=out) as tracker:
        tracker.log(metrics, 1)
    line = out.getvalue().strip()
    assert "reward/overall 0.5" in line and "time 1.25s (data_wait 0.01, gen 0.80)" in line
    assert read_metrics(tmp_path)[0]["timing_s/gen"] == 0.8
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"timing_s/gen", "timing_s/step", "timing_s/data_wait"} <= set(events.Tags()["scalars"])
    assert events.Scalars("timing_s/step")[0].value == pytest.approx(1.25)


def test_curves_add_a_stacked_time_panel_when_steps_logged_timing(tmp_path):
    from PIL import Image

    from training.outputs.curves import plot_curves, timing_phases

    rows = [
        {"step": s, "reward/overall": 0.1 * s, "response_length/mean": 10.0, "timing_s/gen": 1.0,
         "timing_s/update_actor": 0.5, "timing_s/step": 1.6, "timing_s/data_wait": 0.1}
        for s in range(1, 6)
    ]  # fmt: skip
    assert timing_phases(rows) == ["timing_s/data_wait", "timing_s/gen", "timing_s/update_actor"]
    img = np.asarray(Image.open(plot_curves(rows, tmp_path / "c.png")).convert("RGB"))
    assert img.shape == (256, 1080, 3)  # three panels
    blue = np.all(np.abs(img.astype(int) - [31, 119, 180]) < 30, axis=-1)  # the first stack layer's colour
    assert blue[:, 720:].sum() > 500  # filled in the time panel
    without = [{k: v for k, v in r.items() if not k.startswith("timing_s/")} for r in rows]
    assert np.asarray(Image.open(plot_curves(without, tmp_path / "d.png"))).shape[1] == 720


def test_a_trainer_step_logs_every_phase_it_ran(tiny_models, tmp_path):
    from train_items import video_item

    from training.config import load_config
    from training.loop.timing import STEP_PHASES
    from training.loop.trainer import RLTrainer

    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=4",
            "algorithm.kl_coef=0.01", "trainer.logger=[jsonl]", "trainer.total_steps=1",
        ]
    )  # fmt: skip
    trainer = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    items = [video_item(f"s{i}", trainer.processor.video.factor) for i in range(2)]
    result = trainer.train([items], steps=1)
    m = result.history[0]
    ran = {"data_wait", "weight_sync", "gen", "reward", "old_log_prob", "ref", "adv", "update_actor",
           "save_checkpoint"}  # fmt: skip
    assert {k.removeprefix("timing_s/") for k in m if k.startswith("timing_s/")} == ran | {"step"}
    assert ran <= set(STEP_PHASES) and all(m[f"timing_s/{p}"] >= 0 for p in ran)
    assert sum(m[f"timing_s/{p}"] for p in ran) <= m["timing_s/step"]
    assert m["perf/total_num_tokens"] > 0
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert logged["timing_s/save_checkpoint"] == m["timing_s/save_checkpoint"] > 0


def test_a_step_killed_between_its_checkpoint_and_its_log_line_is_logged_on_resume(tiny_models, tmp_path):
    """The checkpoint is written inside the step (its time is the step's ``save_checkpoint``), before the
    step's metrics line: the checkpoint carries them, so a kill in between loses no step's record."""
    from train_items import video_item

    from training.config import load_config
    from training.loop.trainer import RLTrainer
    from training.outputs.sinks import read_metrics

    cfg = load_config(
        overrides=[
            f"model_path={tiny_models['qwen2_vl']}", "worker.rollout.n=2", "worker.rollout.max_new_tokens=4",
            "trainer.logger=[jsonl]", "trainer.total_steps=2", "trainer.save_freq=1",
        ]
    )  # fmt: skip
    first = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    items = [video_item(f"s{i}", first.processor.video.factor) for i in range(2)]
    first.train([items], steps=1)
    (tmp_path / "metrics.jsonl").write_text("")  # as if killed right after global_step_1 was complete
    second = RLTrainer(cfg, cfg.model_path, tmp_path).setup()
    assert second.resume() == 1
    second.train([items], steps=2)
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2] and [h["step"] for h in second.history] == [1, 2]
    assert records[0]["reward/overall"] == first.history[0]["reward/overall"]
