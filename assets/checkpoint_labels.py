"""A human label for a checkpoint partition: ``base``, ``warm start``, ``step 60``.

Partition keys (``evaluation.checkpoint_discovery.checkpoint_name``) stay as they are, unique and stable but hard to
read (``193fd8062ff8-checkpoints-step60-3dd0ce``); renaming them would orphan every materialization already
recorded. The label is derived from where the folder sits in the workspace (``models/`` holds base models,
``runs/sft/`` warm starts, ``runs/grpo/`` RL runs) and shown beside the key: as asset metadata in the UI, in
``eval_report``'s model column and in the demo summary. A folder elsewhere (a watched directory, your own
``model_path``) gets ``step N`` when its path names a step, else no label.
"""

from __future__ import annotations

from pathlib import Path

from training.outputs.checkpoint import step_of


def _step(parts: tuple[str, ...]) -> int | None:
    for part in reversed(parts):
        if (step := step_of(part)) is not None:
            return step
    return None


def checkpoint_label(path: str | Path, workspace_root: str | Path) -> str | None:
    """``base``, ``warm start`` (``warm start step N`` for an intermediate SFT checkpoint), ``step N`` (an RL
    checkpoint, or any folder whose path names ``global_step_N``), or None when nothing says what it is."""
    full = Path(path).expanduser().resolve()
    root = Path(workspace_root).expanduser().resolve()
    step = _step(full.parts)
    try:
        rel = full.relative_to(root).parts
    except ValueError:
        rel = ()
    if rel[:1] == ("models",):
        return "base"
    if rel[:2] == ("runs", "sft"):
        return "warm start" if step is None else f"warm start step {step}"
    if rel[:2] == ("runs", "grpo"):
        return "trained" if step is None else f"step {step}"
    return None if step is None else f"step {step}"


def labelled(name: str, label: str | None) -> str:
    """``label (name)`` for a row or line that must stay unique; the name alone without a label."""
    return f"{label} ({name})" if label else name
