"""The embedded demo dataset: every synthetic task, as real mp4/PNG files plus EasyR1/Video-R1 JSONL.

Each record carries both schemas' keys: ``problem``, ``problem_type``, ``data_type``, ``options``,
``answer`` (bare ground truth, EasyR1) and ``solution`` (``<answer>…</answer>``, Video-R1), ``videos``
or ``images`` (EasyR1) and ``path`` (Video-R1), plus ``process`` (a ``<think>…</think>`` rationale used
as the SFT target). Media paths are relative to the JSONL's folder.

Determinism: sample ``i`` of a split draws from ``default_rng([seed, split, i])`` alone, so the same
seed gives byte-identical JSONL and PNGs, and the same frames to the (deterministic) x264 encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from cache_store.encode import write_video

from .render import check_size, write_png
from .tasks import LEARNABLE_TASKS, TASKS, TaskContext, task_fn

SPLITS = {"train": 0, "val": 1}  # the split seeds the generator: the held-out split is seed offset 1


@dataclass(frozen=True)
class DatasetPaths:
    """Where a generated dataset lives: the root folder, the two JSONL files, and the media folder."""

    root: Path
    train: Path
    val: Path
    media: Path


def make_records(
    split: str,
    n: int,
    seed: int,
    size: tuple[int, int],
    fps: int,
    media_dir: Path,
    root: Path,
    tasks: list[str],
    rationale: bool = True,
) -> list[dict]:
    """Generate ``n`` samples of ``split``, writing their media; returns the JSONL records in order.
    ``rationale=False`` leaves ``process`` empty, so the SFT target is the answer alone."""
    records, seen = [], dict.fromkeys(tasks, 0)
    for i in range(n):
        name = tasks[i % len(tasks)]
        rng = np.random.default_rng([seed, SPLITS[split], i])
        sample = task_fn(name)(rng, TaskContext(size=size, fps=fps, variant=seen[name]))
        seen[name] += 1
        problem_id = f"{split}-{i:05d}-{name}"
        process = sample.process if rationale else ""
        if sample.data_type == "video":
            path = write_video(media_dir / split / f"{problem_id}.mp4", sample.media, fps)
        else:
            path = write_png(media_dir / split / f"{problem_id}.png", sample.media)
        rel = path.relative_to(root).as_posix()
        records.append(
            {
                "problem_id": problem_id,
                "problem": sample.problem,
                "problem_type": sample.problem_type,
                "data_type": sample.data_type,
                "options": sample.options,
                "answer": sample.answer,
                "solution": f"<answer>{sample.answer}</answer>",
                "process": process,
                # EasyVideoR1's mixed offline/online field: a reference trajectory (worker.rollout.enable_mix_policy)
                "offline_output": f"{process}<answer>{sample.answer}</answer>",
                "videos": [rel] if sample.data_type == "video" else [],
                "images": [rel] if sample.data_type == "image" else [],
                "path": rel,
                "data_source": f"reelrl-synthetic/{name}",
            }
        )
    return records


def write_jsonl(records: list[dict], path: Path) -> Path:
    """One orjson object per line; orjson's output is canonical for equal input, hence reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def make_demo_dataset(
    out_dir: str | Path,
    n_train: int = 48,
    n_val: int = 24,
    seed: int = 0,
    size: tuple[int, int] = (64, 64),
    fps: int = 8,
    tasks: list[str] | None = None,
    rationale: bool = True,
) -> DatasetPaths:
    """Write ``train.jsonl``, ``val.jsonl`` and ``media/{train,val}/*`` under ``out_dir``.

    Samples cycle through ``tasks`` (default: every task in ``TASKS``; ``LEARNABLE_TASKS`` may be named too;
    a name listed twice gets twice the share), so any split with at least
    ``len(tasks)`` samples covers every problem type; count and boolean tasks alternate between
    images and videos. ``size`` is (H, W), even; ``fps`` must be even so half-second event bounds
    fall on frame boundaries. ``rationale=False``: answer-only SFT targets (empty ``process``).
    Existing files are overwritten.
    """
    size = check_size(size)
    if fps <= 0 or fps % 2:
        raise ValueError(f"fps must be a positive even integer, got {fps}")
    tasks = list(TASKS) if tasks is None else list(tasks)
    unknown = [t for t in tasks if t not in TASKS and t not in LEARNABLE_TASKS]
    if unknown or not tasks:
        raise ValueError(
            f"unknown synthetic tasks {unknown}; choose from {sorted([*TASKS, *LEARNABLE_TASKS])}"
        )
    root = Path(out_dir)
    media = root / "media"
    paths = DatasetPaths(root=root, train=root / "train.jsonl", val=root / "val.jsonl", media=media)
    for split, n, target in (("train", n_train, paths.train), ("val", n_val, paths.val)):
        write_jsonl(make_records(split, n, seed, size, fps, media, root, tasks, rationale), target)
    return paths
