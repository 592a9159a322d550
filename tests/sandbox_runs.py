"""Record the sandbox runs a scorer starts (the real ``run_python`` still runs each one)."""

from __future__ import annotations

from training.rewards.sandbox import run_python


def record_runs(monkeypatch, module: str) -> list:
    """(stdin, result) of every ``run_python`` call made through ``module`` (e.g. ``training.rewards.code``)."""
    runs = []

    def recording(source, stdin="", **kwargs):
        result = run_python(source, stdin=stdin, **kwargs)
        runs.append((stdin, result))
        return result

    monkeypatch.setattr(f"{module}.run_python", recording)
    return runs
