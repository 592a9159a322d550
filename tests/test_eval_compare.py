"""``evaluation.compare`` marks a partial run (records without a prediction left out of its aggregates), so a
partial headline is never read as a complete one (issue 19, item 3)."""

from __future__ import annotations

import json

from evaluation.compare import collect, comparison_table


def _run_folder(root, name, *, overall, partial, missing):
    out = root / name
    out.mkdir(parents=True)
    settings = {"benchmark": name, "model_id": "m", "model_revision": "abcdef0123", "sampling": {}, "seed": 0}
    (out / "manifest.json").write_text(
        json.dumps({"settings": settings, "partial": partial, "missing": missing})
    )
    results = {
        "benchmark": name,
        "partial": partial,
        "aggregates": {"official": {"overall": overall, "n": 10}},
        "counts": {"total": 10 + missing, "scored": 10, "missing": missing},
    }
    (out / "results.json").write_text(json.dumps(results))


def test_partial_cells_are_marked_with_the_number_missing(tmp_path):
    _run_folder(tmp_path, "mvbench", overall=80.0, partial=False, missing=0)
    _run_folder(tmp_path, "video_mme", overall=90.0, partial=True, missing=5)
    rows = collect([tmp_path])
    assert [(r["benchmark"], r["partial"], r["missing"]) for r in rows] == [
        ("mvbench", False, 0),
        ("video_mme", True, 5),
    ]
    table = comparison_table(rows, "official").splitlines()
    assert table[0] == "| model | mvbench | video_mme |"
    assert table[2] == "| m@abcdef01 [" + rows[0]["settings"] + "] | 80.0 | 90.0* |"
    assert table[3] == "* partial: records without a prediction are left out (video_mme: 5 missing)"
