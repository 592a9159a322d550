"""A training run's curves (reward, accuracy, response length per step, and where each step's time went) as
one PNG."""

from pathlib import Path

from training.loop.timing import PREFIX, STEP_PHASES

PANELS = (
    ("reward", ("reward/overall", "reward/accuracy", "reward/format")),
    ("response length (tokens)", ("response_length/mean",)),
)
TIME_LABEL = "time per step (s)"


def timing_phases(history: list[dict]) -> list[str]:
    """The ``timing_s/<phase>`` keys (not ``timing_s/step``) every step logged, in step order."""
    logged = set.intersection(*(set(h) for h in history)) if history else set()
    phases = [PREFIX + p for p in STEP_PHASES] + sorted(k for k in logged if k.startswith(PREFIX))
    return [k for k in dict.fromkeys(phases) if k in logged and k != PREFIX + "step"]


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Write the per-step metrics of ``history`` (the trainer's metrics rows) as a PNG: reward, response
    length and, when the steps logged ``timing_s/*``, a third panel stacking each phase's seconds per step.
    Metrics a run did not log are left out. Raises ValueError on an empty history."""
    if not history:
        raise ValueError("no steps to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    phases = timing_phases(history)
    panels = len(PANELS) + bool(phases)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.2))
    for ax, (label, keys) in zip(axes, PANELS):
        for key in keys:
            if all(key in h for h in history):
                ax.plot(steps, [h[key] for h in history], marker="." if len(steps) < 30 else None, label=key)
        _axis(ax, label, legend=len(keys) > 1)
    if phases:
        ax = axes[-1]
        ax.stackplot(
            steps, *[[h[k] for h in history] for k in phases], labels=[k[len(PREFIX) :] for k in phases]
        )
        _axis(ax, TIME_LABEL, legend=True)
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _axis(ax, label: str, legend: bool) -> None:
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small")
