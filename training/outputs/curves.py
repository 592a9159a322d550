"""A training run's curves (reward, accuracy, response length per step) as one PNG."""

from pathlib import Path

PANELS = (
    ("reward", ("reward/overall", "reward/accuracy", "reward/format")),
    ("response length (tokens)", ("response_length/mean",)),
)


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Write the per-step metrics of ``history`` (the trainer's metrics rows) as a two-panel PNG; metrics a
    run did not log are left out. Raises ValueError on an empty history."""
    if not history:
        raise ValueError("no steps to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(9.0, 3.2))
    for ax, (label, keys) in zip(axes, PANELS):
        for key in keys:
            if all(key in h for h in history):
                ax.plot(steps, [h[key] for h in history], marker="." if len(steps) < 30 else None, label=key)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
