"""The training-curves PNG: real pixels for the metrics a run logged."""

import numpy as np
import pytest
from PIL import Image

from training.outputs.curves import plot_curves


def history(steps: int, with_format: bool = True) -> list[dict]:
    rows = []
    for s in range(1, steps + 1):
        row = {
            "step": s,
            "reward/overall": s / steps,
            "reward/accuracy": s / steps / 2,
            "response_length/mean": 40.0 + s,
        }
        if with_format:
            row["reward/format"] = 1.0
        rows.append(row)
    return rows


def test_curves_png_has_both_panels_drawn(tmp_path):
    path = plot_curves(history(12), tmp_path / "sub" / "curves.png", title="run")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (256, 720, 3)
    # matplotlib's default first line colour (#1f77b4) is drawn in the left and in the right panel
    blue = np.all(np.abs(img.astype(int) - [31, 119, 180]) < 30, axis=-1)
    assert blue[:, :360].sum() > 50 and blue[:, 360:].sum() > 50


def test_metrics_a_run_did_not_log_are_left_out(tmp_path):
    assert plot_curves(history(3, with_format=False), tmp_path / "c.png").stat().st_size > 1000


def test_empty_history_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no steps"):
        plot_curves([], tmp_path / "c.png")
