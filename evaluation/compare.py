"""The comparison view across checkpoints: every ``results.json`` under some folders, as a table and a plot.

Each run folder holds ``manifest.json`` (model, revision, settings) and ``results.json`` (aggregates per mode);
``collect`` reads them into rows, ``comparison_table`` lays the headline (``overall``) out as models x
benchmarks in Markdown, and ``comparison_plot`` draws it as grouped bars (PNG). Runs of one model with other
decoding settings stay apart: a row is (model, revision, hash of the settings shared by all benchmarks of a
run: sampling, seed). Per-benchmark settings (frames, prompt) are in each cell's ``settings_digest``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from evaluation.manifest import MANIFEST_FILE
from evaluation.runner import RESULTS_FILE

#: settings that belong to one benchmark of a run, not to the model row of the comparison
PER_BENCHMARK = ("benchmark", "media_spec", "prompt_template_hash", "adapter_options")


def collect(roots: list[str | Path]) -> list[dict[str, Any]]:
    """One row per run folder found under ``roots``: ``{model, revision, settings, benchmark, mode,
    overall, n, counts, partial, missing, out_dir}`` per scoring mode; folders without both files are
    skipped. ``partial``: the run's aggregates leave out ``missing`` records that have no prediction."""
    rows = []
    for root in roots:
        for results_path in sorted(Path(root).rglob(RESULTS_FILE)):
            manifest_path = results_path.with_name(MANIFEST_FILE)
            if not manifest_path.exists():
                continue
            results = json.loads(results_path.read_text(encoding="utf-8"))
            settings = json.loads(manifest_path.read_text(encoding="utf-8"))["settings"]
            shared = {k: v for k, v in settings.items() if k not in PER_BENCHMARK}
            digest = hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:8]
            for mode, agg in results.get("aggregates", {}).items():
                rows.append(
                    {
                        "model": settings.get("model_id"),
                        "revision": settings.get("model_revision"),
                        "settings": digest,
                        "benchmark": results["benchmark"],
                        "mode": mode,
                        "overall": agg.get("overall"),
                        "n": agg.get("n"),
                        "settings_digest": hashlib.sha256(
                            json.dumps(settings, sort_keys=True).encode()
                        ).hexdigest()[:8],
                        "counts": results.get("counts", {}),
                        "partial": bool(results.get("partial")),
                        "missing": results.get("counts", {}).get("missing", 0),
                        "out_dir": str(results_path.parent),
                    }
                )
    return rows


def _label(row: dict[str, Any]) -> str:
    rev = f"@{row['revision'][:8]}" if row.get("revision") else ""
    return f"{Path(str(row['model'])).name}{rev} [{row['settings']}]"


def pivot(rows: list[dict[str, Any]], mode: str) -> tuple[list[str], list[str], dict[tuple[str, str], Any]]:
    """(model labels in first-seen order, benchmarks sorted, {(label, benchmark): overall})."""
    labels, cells = [], {}
    for r in rows:
        if r["mode"] != mode:
            continue
        label = _label(r)
        if label not in labels:
            labels.append(label)
        cells[(label, r["benchmark"])] = r["overall"]
    benchmarks = sorted({b for _, b in cells})
    return labels, benchmarks, cells


def comparison_table(rows: list[dict[str, Any]], mode: str = "official") -> str:
    """Markdown: one line per (model, revision, settings), one column per benchmark, headline in percent; a
    partial run's cell is starred, and a last line says how many records each left out."""
    labels, benchmarks, cells = pivot(rows, mode)
    partial = {(_label(r), r["benchmark"]): r["missing"] for r in rows if r["mode"] == mode and r["partial"]}
    head = "| model | " + " | ".join(benchmarks) + " |\n|---|" + "---|" * len(benchmarks)
    lines = []
    for label in labels:
        vals = [
            "—"
            if cells.get((label, b)) is None
            else f"{cells[(label, b)]:.1f}" + ("*" if (label, b) in partial else "")
            for b in benchmarks
        ]
        lines.append(f"| {label} | " + " | ".join(vals) + " |")
    if partial:
        missing = ", ".join(f"{b}: {n} missing" for (_, b), n in partial.items())
        lines.append(f"* partial: records without a prediction are left out ({missing})")
    return "\n".join([head, *lines])


def comparison_plot(rows: list[dict[str, Any]], path: str | Path, mode: str = "official") -> Path:
    """Grouped bars (benchmarks on x, one bar per model) of the headline, written as PNG to ``path``."""
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError("the comparison plot needs matplotlib: pip install matplotlib") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, benchmarks, cells = pivot(rows, mode)
    if not labels:
        raise ValueError(f"no results in {mode} mode to plot")
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(benchmarks) * max(1, len(labels)) / 2), 4.0))
    for i, label in enumerate(labels):
        xs = [j + i * width for j in range(len(benchmarks))]
        ys = [cells.get((label, b)) or 0.0 for b in benchmarks]
        ax.bar(xs, ys, width=width, label=label)
    ax.set_xticks(
        [j + width * (len(labels) - 1) / 2 for j in range(len(benchmarks))], benchmarks, rotation=20
    )
    ax.set_ylabel(f"headline score ({mode}, %)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
