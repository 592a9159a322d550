"""Run state for exact resume: Hugging Face weights plus optimizer, LR scheduler, RNG and data position.

Layout under a run's checkpoint root ``<run>/checkpoints`` (EasyR1/veRL names), declared once here
(``RUN_CHECKPOINTS``, ``TRACKER_FILE``, ``STEP_PREFIX``, ``STATE_FILE``, ``CONFIG_FILE``, ``WEIGHT_FILES``,
``TMP_MARK``, ``VERL_WEIGHTS_SUBDIR``; the trainers and ``evaluation.checkpoint_discovery`` use these names, not
copies)::

    root/
      latest_checkpointed_iteration.txt   # "N": the newest complete step
      global_step_N/
        config.json, model.safetensors, tokenizer*, preprocessor configs   # plain transformers loads this
        trainer_state.pt                  # optimizer, scheduler, RNG, global_step, data position, extra

The data position is ``batches_drawn``: how many global batches the run has taken from its data stream,
which is also the index of the next one (``training.data.stream.BatchLayout``). It is saved as
``data_position: {"batches_drawn": k}``; checkpoints written before that name was chosen say
``batches_consumed`` and still resume (``read_progress`` and ``load_state`` read both).

Crash safety (``kill -9`` at any point): a checkpoint is written into ``global_step_N.tmp-<pid>``, its
files are fsynced, and only then is the directory renamed to ``global_step_N`` (``os.replace`` is atomic)
and the tracker file replaced the same way. So a final-named directory is always complete; a killed save
leaves only a ``.tmp-*`` directory, which resume ignores and the next save deletes. Retention deletes by
renaming to ``.tmp-*`` first, so a kill during deletion never leaves a half checkpoint under a final name.
One writer per root is assumed (rank 0 of a run).

Resume order: newest complete checkpoint (``find_resume``), then ``load_state`` restores weights into the
existing model object (the optimizer keeps pointing at the same parameters), optimizer and scheduler state
and every RNG, and returns the step and the data position so the data order continues exactly.
``read_progress`` reads only the step and the data position (the Ray Train driver lays out the data
from it before any worker loads the model).
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.models.lora import adapter_state, is_lora, load_adapter_state, save_merged
from training.parallel.fsdp import is_sharded, load_full_optimizer_state, load_full_state

log = logging.getLogger(__name__)

RUN_CHECKPOINTS = "checkpoints"  # a run folder's checkpoint root: <run>/checkpoints
TRACKER_FILE = "latest_checkpointed_iteration.txt"
STATE_FILE = "trainer_state.pt"
STEP_PREFIX = "global_step_"
CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
TMP_MARK = ".tmp-"  # global_step_N.tmp-<pid>: a save (or deletion) in progress, never a checkpoint
# veRL/EasyR1 keep a step's Hugging Face weights two folders down: global_step_N/actor/huggingface
VERL_WEIGHTS_SUBDIR = Path("actor", "huggingface")
_STEP_DIR = re.compile(rf"^{STEP_PREFIX}(\d+)$")
# the data position's key in trainer_state.pt's "data_position"; _OLD_POSITION_KEY is what older
# checkpoints wrote, still read so they resume at the right batch
POSITION_KEY = "batches_drawn"
_OLD_POSITION_KEY = "batches_consumed"


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, incomplete or unreadable (the message names the path)."""


# ---- RNG ------------------------------------------------------------------------------------------
def capture_rng(np_generator: np.random.Generator | None = None) -> dict:
    """Every RNG a training step may draw from, as plain types and tensors (``torch.load``-safe).

    numpy's MT19937 key becomes a list so the file loads with ``weights_only=True``.
    """
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    return {
        "python": random.getstate(),
        "numpy": np_state,
        "numpy_generator": None if np_generator is None else np_generator.bit_generator.state,
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng(state: dict, np_generator: np.random.Generator | None = None) -> None:
    """Put back what ``capture_rng`` took. A generator passed here needs one saved with the state; CUDA
    states are restored only where CUDA is available (a CPU resume of a GPU run keeps its CPU streams)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if np_generator is not None:
        if state.get("numpy_generator") is None:
            raise CheckpointError("a numpy Generator was passed to restore, but the checkpoint saved none")
        np_generator.bit_generator.state = state["numpy_generator"]
    torch.set_rng_state(state["torch"])
    if state.get("torch_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


# ---- layout helpers -------------------------------------------------------------------------------
def checkpoint_root(run_dir: str | Path) -> Path:
    """``run_dir/checkpoints``: where a run (RL or SFT) keeps its ``global_step_N`` checkpoints."""
    return Path(run_dir) / RUN_CHECKPOINTS


def step_dir(root: str | Path, step: int) -> Path:
    """``root/global_step_<step>``."""
    return Path(root) / f"{STEP_PREFIX}{step}"


def step_of(name: str) -> int | None:
    """N of a folder named ``global_step_N``; None for any other name (a ``global_step_N.tmp-*`` too)."""
    match = _STEP_DIR.match(name)
    return int(match.group(1)) if match else None


def is_complete(path: str | Path) -> bool:
    """A checkpoint directory with its trainer state, model config and weights."""
    path = Path(path)
    return (
        path.is_dir()
        and (path / STATE_FILE).is_file()
        and (path / CONFIG_FILE).is_file()
        and any((path / name).is_file() for name in WEIGHT_FILES)
    )


def list_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """Complete ``global_step_N`` directories under ``root`` as ``(N, path)``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        step = step_of(entry.name)
        if step is not None and is_complete(entry):
            found.append((step, entry))
    return sorted(found)


def read_tracker(root: str | Path) -> int | None:
    """The step named by ``latest_checkpointed_iteration.txt``, or None when absent or unreadable."""
    try:
        return int((Path(root) / TRACKER_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def find_resume(root: str | Path) -> Path | None:
    """The newest complete checkpoint under ``root``, or None when there is none.

    Decided by scanning for complete ``global_step_*`` directories; the tracker file (what veRL/EasyR1
    tooling reads) is checked against the result and a disagreement is logged. The scan wins because a
    kill between the directory rename and the tracker update leaves a complete newer step the tracker
    does not name yet, and a tracker naming a missing or incomplete directory must not stop a resume.
    """
    found = list_checkpoints(root)
    tracked = read_tracker(root)
    if not found:
        if tracked is not None:
            log.warning(
                "%s names step %d but no complete checkpoint exists", Path(root) / TRACKER_FILE, tracked
            )
        return None
    newest_step, newest = found[-1]
    if tracked != newest_step:
        log.warning(
            "%s names step %s; resuming from the newest complete checkpoint %s instead",
            Path(root) / TRACKER_FILE,
            tracked,
            newest,
        )
    return newest


# ---- save -----------------------------------------------------------------------------------------
def _fsync_tree(path: Path) -> None:
    """Flush every file and directory under ``path`` to disk (survives power loss, not only kill -9)."""
    for dirpath, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale(root: Path) -> None:
    """Delete ``.tmp-*`` leftovers of killed saves, deletions and tracker writes (single writer per root)."""
    for entry in root.iterdir():
        if TMP_MARK not in entry.name:
            continue
        if entry.name.startswith(STEP_PREFIX) and entry.is_dir():
            log.info("removing stale partial checkpoint %s", entry)
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(TRACKER_FILE):
            entry.unlink(missing_ok=True)


def _delete(path: Path) -> None:
    """Rename out of the final namespace first, so a kill mid-delete leaves only a ``.tmp-*`` dir."""
    doomed = path.with_name(f"{path.name}{TMP_MARK}del-{os.getpid()}")
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def _write_tracker(root: Path, step: int) -> None:
    tmp = root / f"{TRACKER_FILE}{TMP_MARK}{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(f"{step}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / TRACKER_FILE)
    _fsync_dir(root)


def _apply_retention(root: Path, keep: Path, save_limit: int) -> None:
    """Keep ``keep`` plus the newest ``save_limit - 1`` other complete checkpoints; ``<= 0`` keeps all."""
    if save_limit <= 0:
        return
    others = [path for _, path in list_checkpoints(root) if path != keep]
    for path in others[: max(0, len(others) - (save_limit - 1))]:
        log.info("retention (save_limit=%d): deleting %s", save_limit, path)
        _delete(path)


def save_checkpoint(model, processor, out_dir: str | Path, weights: dict | None = None) -> Path:
    """The policy as a plain Hugging Face checkpoint (LoRA adapters merged): weights, tokenizer and
    processor configs, loadable by ``AutoModelForImageTextToText.from_pretrained``. ``weights``: the
    whole state dict when the caller gathered it already (``sharding.full_state`` on rank 0)."""
    return save_merged(model, processor, out_dir, weights=weights)


def save_state(
    root: str | Path,
    step: int,
    model,
    processor,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    *,
    batches_drawn: int = 0,
    extra: dict | None = None,
    np_generator: np.random.Generator | None = None,
    save_limit: int = -1,
    weights: dict | None = None,
    optimizer_state: dict | None = None,
) -> Path:
    """Atomically write ``root/global_step_<step>`` and point the tracker at it; returns the directory.

    ``batches_drawn`` is the data position (batches taken from the data stream so far); ``extra`` any
    further small state (plain types or tensors). Both come back from ``load_state``. Call after the
    optimizer and scheduler steps of ``step`` so that the RNG states saved are the ones the next step
    starts from. ``save_limit`` keeps the newest K complete checkpoints (the one just written always
    survives); ``-1``/``0`` keeps all. A sharded (FSDP2) run gathers on every rank and passes rank 0's
    whole ``weights`` and ``optimizer_state`` (keyed by parameter name, ``sharding.full_optimizer_state``);
    they are loaded back shard by shard.
    """
    if isinstance(batches_drawn, bool) or not isinstance(batches_drawn, int) or batches_drawn < 0:
        raise ValueError(f"batches_drawn (the data position) must be an int >= 0, got {batches_drawn!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    final = step_dir(root, step)
    tmp = final.with_name(f"{final.name}{TMP_MARK}{os.getpid()}")
    state = {
        "global_step": int(step),
        "data_position": {POSITION_KEY: batches_drawn},
        "extra": dict(extra or {}),
        "optimizer": optimizer.state_dict() if optimizer_state is None else optimizer_state,
        "optimizer_layout": "by_index" if optimizer_state is None else "by_name",
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": capture_rng(np_generator),
    }
    if is_lora(model):  # the weights on disk are merged; resuming needs the adapters themselves
        state["lora_adapter"] = adapter_state(model)
    try:
        save_checkpoint(model, processor, tmp, weights=weights)
        torch.save(state, tmp / STATE_FILE)
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed save (disk full, ...) leaves nothing behind
        raise
    if final.exists():  # the same step saved again (a resume that re-ran it): replace the old copy
        _delete(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    _write_tracker(root, step)
    _apply_retention(root, final, save_limit)
    return final


# ---- load -----------------------------------------------------------------------------------------
def _load_weights(path: Path, model) -> None:
    """Copy the checkpoint's HF weights into ``model`` in place (parameters keep their identity).

    The files are read with ``from_pretrained`` rather than ``safetensors`` directly because transformers
    renames keys between the on-disk and in-memory layouts (Qwen-VL saves ``model.layers.*`` for the
    module path ``model.language_model.layers.*``); its loader owns that mapping. Costs one transient
    copy of the weights in CPU memory.
    """
    from transformers import AutoModelForImageTextToText

    dtype = next(model.parameters()).dtype
    try:
        loaded = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype)
    except Exception as exc:  # any loader failure: unusable checkpoint
        raise CheckpointError(f"cannot load model weights from {path}: {exc}") from exc
    try:
        if is_sharded(model):  # every rank read the whole file; each keeps its shard
            load_full_state(model, loaded.state_dict())
        else:
            model.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit the model being resumed: {exc}") from exc
    del loaded


def _load_adapter(path: Path, state: dict, model) -> None:
    """A LoRA run resumes from its base weights (loaded from ``model_path`` and frozen, so unchanged)
    plus the saved adapters; the merged weights on disk are for evaluation and export."""
    adapter = state.get("lora_adapter")
    if adapter is None:
        raise CheckpointError(
            f"{path / STATE_FILE} holds no LoRA adapter state (saved from a run without LoRA): resume it "
            "with worker.actor.lora_rank=0, or start LoRA from its merged weights with model_path"
        )
    try:
        load_adapter_state(model, adapter)
    except ValueError as exc:
        raise CheckpointError(f"LoRA adapters in {path / STATE_FILE} {exc}") from None


@dataclass(frozen=True)
class Progress:
    """How far a checkpointed run got: its step and its data position."""

    global_step: int
    batches_drawn: int  # batches taken from the data stream: the index of the next one


def _read_state(path: str | Path, mmap: bool = False) -> dict:
    """The trainer state of the complete checkpoint ``path`` (``mmap``: tensors are not read until used)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not is_complete(path):
        present = sorted(p.name for p in path.iterdir())
        raise CheckpointError(
            f"checkpoint {path} is incomplete: needs {STATE_FILE}, {CONFIG_FILE} and one of {WEIGHT_FILES}; "
            f"found {present}"
        )
    try:
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # truncated or foreign file
        raise CheckpointError(f"cannot read {path / STATE_FILE}: {exc}") from exc
    missing = {"global_step", "optimizer", "scheduler", "rng", "data_position"} - set(state)
    if missing:
        raise CheckpointError(f"{path / STATE_FILE} lacks {sorted(missing)}")
    return state


def _progress(state: dict) -> Progress:
    position = state["data_position"]
    drawn = position.get(POSITION_KEY, position.get(_OLD_POSITION_KEY, 0))
    return Progress(global_step=int(state["global_step"]), batches_drawn=int(drawn))


def read_progress(path: str | Path) -> Progress:
    """The step and data position saved in checkpoint ``path``, without loading anything else (the
    optimizer state is memory-mapped, not read): where a resumed run's data stream starts."""
    return _progress(_read_state(path, mmap=True))


def _check_fits(path: Path, state: dict, model, scheduler, np_generator) -> None:
    """Raise before anything is modified when the objects to restore into do not match what was saved."""
    if (scheduler is None) != (state["scheduler"] is None):
        raise CheckpointError(
            f"{path / STATE_FILE}: scheduler state is {'absent' if state['scheduler'] is None else 'present'}"
            f" but a scheduler was {'passed' if scheduler is not None else 'not passed'}"
        )
    if np_generator is not None and state["rng"].get("numpy_generator") is None:
        raise CheckpointError(f"{path / STATE_FILE} saved no numpy Generator state, but one was passed")
    if "lora_adapter" in state and not is_lora(model):
        raise CheckpointError(
            f"{path} was saved by a LoRA run and does not fit the model being resumed (no LoRA): resume it "
            "with the same worker.actor.lora_rank, or start a new run from its merged weights with model_path"
        )


def _load_optimizer(path: Path, state: dict, model, optimizer: torch.optim.Optimizer) -> None:
    by_name = state.get("optimizer_layout") == "by_name"
    if is_sharded(model) and not by_name:
        raise CheckpointError(
            f"{path} was saved by a worker.actor.strategy=replicate run; resume it with that strategy"
        )
    try:
        if by_name:
            load_full_optimizer_state(model, optimizer, state["optimizer"])
        else:
            optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"optimizer state in {path} does not fit the model being resumed: {exc}"
        ) from exc


def load_state(
    path: str | Path,
    model,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    *,
    np_generator: np.random.Generator | None = None,
) -> dict:
    """Restore a ``save_state`` checkpoint into existing objects; returns ``{global_step, batches_drawn,
    extra}``.

    Weights go into ``model`` in place (for a LoRA model: the saved adapters), then optimizer and
    scheduler state, then every RNG (last, so nothing drawn while loading shifts them). A scheduler or
    numpy Generator passed without saved state for it (or a saved scheduler without one passed) is an
    error raised before anything is modified, since the trajectory would silently differ.
    """
    path = Path(path)
    state = _read_state(path)
    _check_fits(path, state, model, scheduler, np_generator)
    if is_lora(model):
        _load_adapter(path, state, model)
    else:
        _load_weights(path, model)
    _load_optimizer(path, state, model, optimizer)
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    restore_rng(state["rng"], np_generator)
    progress = _progress(state)
    return {
        "global_step": progress.global_step,
        "batches_drawn": progress.batches_drawn,
        "extra": state.get("extra", {}),
    }
