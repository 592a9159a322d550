"""Find Hugging Face checkpoints in folders, decide whether each is complete, name it, check its weights.

The framework-free half of the checkpoint sensor (no dagster here): ``discover_checkpoints`` walks folders
(ReelRL run roots, whose ``global_step_N`` directories ``training.outputs.checkpoint`` writes atomically via
``global_step_N.tmp-<pid>``, or any folder of checkpoints a user points at; those names come from
``training.outputs.checkpoint``, which declares the layout) and returns the complete,
readable checkpoints plus a ``(path, reason)`` for every folder it skipped, so a caller can log the reason
and simply look again later. A checkpoint is *complete* when it has a ``config.json`` with a
``model_type``, its weights (``model.safetensors``, or ``model.safetensors.index.json`` and every shard it
names; ``pytorch_model.bin`` and its index are accepted too), every safetensors file's header parses and its
size is exactly what the header promises, and no file in it changed within the last ``settle_s`` seconds.
Only ``config.json`` and safetensors headers are read, never tensors, so a scan of a big folder stays fast.

Names (``checkpoint_name``) are stable, readable and safe as Dagster dynamic partition keys::

    <last <=3 parts of the path relative to the root, global_step_N -> stepN, joined by "-">-<6 hex>

e.g. ``runs/exp1/global_step_60`` under ``/data`` -> ``runs-exp1-step60-1a2b3c``. Characters outside
``[A-Za-z0-9_.-]`` become ``_``; the hex is the sha1 of the resolved absolute path, so two folders with
equal relative parts (or equal basenames) still get different names and the same folder always gets the
same name. Names are at most 64 characters (the readable part is cut from its start when longer).

``evaluation.weights.weights_report`` reads the tensors, one at a time, and counts NaN and inf values.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from evaluation.manifest import model_revision
from evaluation.weights import (
    BIN_INDEX,
    SAFETENSORS_INDEX,
    bin_problem,
    safetensors_problem,
    weight_files,
)
from training.outputs.checkpoint import CONFIG_FILE, TMP_MARK, VERL_WEIGHTS_SUBDIR, step_of

__all__ = [
    "CheckpointInfo",
    "checkpoint_name",
    "discover_checkpoints",
    "find_checkpoint",
    "inspect_checkpoint",
    "weight_files",
]

_TMP_REASON = f"in-progress save ({TMP_MARK}* folder); the finished checkpoint appears under its final name"
MAX_NAME_LEN = 64
_HASH_LEN = 6
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class CheckpointInfo:
    """A complete, readable checkpoint folder."""

    name: str  # checkpoint_name(path, root): a partition-key-safe, stable, unique name
    path: str  # resolved absolute path of the folder
    revision: str | None  # evaluation.manifest.model_revision: changes when the folder is rewritten
    model_type: str  # config.json "model_type"
    step: int | None  # N of a global_step_N folder (the folder itself or one of its two parents)
    mtime: float  # newest modification time of config.json and the weight files


# ---- names ----------------------------------------------------------------------------------------
def _clean_part(part: str) -> str:
    step = step_of(part)
    if step is not None:
        return f"step{step}"
    return _UNSAFE.sub("_", part).strip("._-")


def checkpoint_name(path: str | Path, root: str | Path) -> str:
    """A stable, readable, unique name for the checkpoint folder ``path`` found under ``root``.

    The last (up to) 3 parts of ``path`` relative to ``root`` (all of ``path``'s parts when it is not under
    ``root``; its own basename when it is ``root``), ``global_step_N`` written ``stepN``, other characters
    outside ``[A-Za-z0-9_.-]`` replaced by ``_``, joined with ``-``; then ``-`` and the first 6 hex of the
    sha1 of the resolved absolute path. At most 64 characters; never contains ``|``, ``,``, ``/`` or spaces.
    """
    full = Path(path).expanduser().resolve()
    base = Path(root).expanduser().resolve()
    try:
        parts = full.relative_to(base).parts or (full.name,)
    except ValueError:
        parts = full.parts[1:]  # not under root: the absolute path's parts (without the leading "/")
    readable = "-".join(p for p in (_clean_part(p) for p in parts[-3:]) if p) or "checkpoint"
    digest = hashlib.sha1(str(full).encode("utf-8")).hexdigest()[:_HASH_LEN]
    keep = MAX_NAME_LEN - _HASH_LEN - 1
    if len(readable) > keep:  # keep the end: the step and the folder names nearest to it
        readable = readable[-keep:].lstrip("._-") or "checkpoint"
    return f"{readable}-{digest}"


def _step_of(path: Path) -> int | None:
    """N of the nearest ``global_step_N`` among the folder and its two parents (veRL/EasyR1 save the
    Hugging Face weights in ``global_step_N/actor/huggingface``: ``VERL_WEIGHTS_SUBDIR``)."""
    for part in reversed(path.parts[-(len(VERL_WEIGHTS_SUBDIR.parts) + 1) :]):
        step = step_of(part)
        if step is not None:
            return step
    return None


def _newest_file(folder: Path) -> tuple[float, str] | None:
    newest = None
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file():
                mtime = entry.stat().st_mtime
                if newest is None or mtime > newest[0]:
                    newest = (mtime, entry.name)
    return newest


def _inspect(folder: Path, name: str, settle_s: float, now: float | None) -> CheckpointInfo | str:
    folder = folder.resolve()  # one path per folder, however it was reached (symlinks, "..")
    if TMP_MARK in folder.name:
        return _TMP_REASON
    if not folder.is_dir():
        return "not a directory" if folder.exists() else "does not exist"
    try:
        newest = _newest_file(folder)
    except OSError as e:
        return f"unreadable folder ({e})"
    if newest is None:
        return f"no files (no {CONFIG_FILE})"
    now = time.time() if now is None else now
    age = now - newest[0]
    if settle_s > 0 and age < settle_s:
        return (
            f"still being written: {newest[1]} changed {age:.1f}s ago (settle window {settle_s:g}s); "
            f"retry after {max(settle_s - age, 0.0):.1f}s"
        )
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        return f"{CONFIG_FILE} missing"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return f"{CONFIG_FILE} is not valid JSON ({e})"
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(model_type, str) or not model_type:
        return f"{CONFIG_FILE} has no model_type"
    weights = weight_files(folder)
    if isinstance(weights, str):
        return weights
    files, kind = weights
    for file in files:
        problem = safetensors_problem(file) if kind == "safetensors" else bin_problem(file)
        if problem:
            return problem
    indexes = [folder / n for n in (SAFETENSORS_INDEX, BIN_INDEX) if (folder / n).is_file()]
    stamped = [config_path, *files, *indexes]
    try:
        mtime = max(p.stat().st_mtime for p in stamped)
    except OSError as e:  # deleted while we looked
        return f"changed while inspected ({e})"
    return CheckpointInfo(
        name=name,
        path=str(folder),
        revision=model_revision(folder),
        model_type=model_type,
        step=_step_of(folder),
        mtime=mtime,
    )


def inspect_checkpoint(
    path: str | Path, settle_s: float = 10.0, now: float | None = None, *, root: str | Path | None = None
) -> CheckpointInfo | str:
    """The checkpoint in folder ``path`` when it is complete and readable, else why it is skipped.

    Skipped (a reason string, to log and retry later): a ``.tmp-`` folder (an in-progress ReelRL save); any
    file changed less than ``settle_s`` seconds before ``now`` (default: the current time); ``config.json``
    missing, not JSON or without ``model_type``; no weights; an index naming a missing shard; a safetensors
    file whose header does not parse or whose size is not what the header says (truncated). Reads
    ``config.json`` and safetensors headers only. The name is computed relative to ``root`` (default: the
    folder's parent, so the name is ``<basename>-<hash>``).
    """
    folder = Path(path).expanduser().absolute()
    root = folder.parent if root is None else root
    return _inspect(folder, checkpoint_name(folder, root), settle_s, now)


# ---- discovery ------------------------------------------------------------------------------------
def _walk(roots: Iterable[str | Path], max_depth: int) -> Iterator[tuple[Path, Path, str | None]]:
    """``(root, folder, None)`` for every candidate folder and ``(root, folder, reason)`` for every folder
    skipped without inspection. A candidate holds a ``config.json`` or a ``*.safetensors`` file; the walk
    neither descends into one nor into hidden or ``.tmp-`` folders, and visits each real folder once."""
    seen: set[str] = set()
    for root in roots:
        root = Path(root).expanduser().absolute()
        if not root.is_dir():
            reason = "root is not a directory" if root.exists() else "root does not exist"
            yield root, root, reason
            continue
        stack = [(root, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                real = os.path.realpath(folder)
                if real in seen:
                    continue
                seen.add(real)
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as e:
                yield root, folder, f"unreadable folder ({e})"
                continue
            candidate = False
            subdirs = []
            for entry in entries:
                try:
                    if entry.is_dir():
                        subdirs.append(entry.name)
                    elif entry.name == CONFIG_FILE or entry.name.endswith(".safetensors"):
                        candidate = True
                except OSError:
                    continue
            if candidate:
                yield root, folder, None
                continue
            if depth >= max_depth:
                continue
            for name in sorted(subdirs, reverse=True):  # popped in name order
                if TMP_MARK in name:
                    yield root, folder / name, _TMP_REASON
                elif not name.startswith("."):
                    stack.append((folder / name, depth + 1))


def discover_checkpoints(
    roots: Iterable[str | Path] | str | Path, settle_s: float = 10.0, max_depth: int = 5
) -> tuple[list[CheckpointInfo], list[tuple[str, str]]]:
    """Every complete checkpoint under ``roots`` and every folder skipped, with why.

    Walks each root (a missing root is reported as skipped) down to ``max_depth`` levels below it. A folder
    holding ``config.json`` or any ``*.safetensors`` is a candidate and is checked with ``inspect_checkpoint``
    (its name relative to the root it was found under); the walk does not descend into candidates, hidden
    folders or ``.tmp-`` folders (the latter are reported as skipped). A folder reached from two roots (or
    through a symlink) is inspected once. Returns ``(found sorted by (mtime, name), [(path, reason), ...])``.
    """
    if isinstance(roots, (str, Path)):
        roots = [roots]
    now = time.time()
    found: list[CheckpointInfo] = []
    skipped: list[tuple[str, str]] = []
    for root, folder, reason in _walk(roots, max_depth):
        if reason is None:
            result = _inspect(folder, checkpoint_name(folder, root), settle_s, now)
            if isinstance(result, str):
                skipped.append((str(folder), result))
            else:
                found.append(result)
        else:
            skipped.append((str(folder), reason))
    found.sort(key=lambda c: (c.mtime, c.name))
    return found, skipped


def find_checkpoint(
    name: str, roots: Iterable[str | Path] | str | Path, settle_s: float = 0.0, max_depth: int = 5
) -> CheckpointInfo:
    """The checkpoint named ``name`` (``checkpoint_name``) under ``roots``; ``KeyError`` naming ``name``, the
    roots searched and a few known names when there is none, or why the folder with that name is skipped.
    Only the matching folder is inspected."""
    if isinstance(roots, (str, Path)):
        roots = [roots]
    roots = [str(Path(r).expanduser().absolute()) for r in roots]
    known: list[str] = []
    for root, folder, reason in _walk(roots, max_depth):
        if reason is not None:
            continue
        candidate = checkpoint_name(folder, root)
        if candidate == name:
            result = _inspect(folder, name, settle_s, None)
            if isinstance(result, str):
                raise KeyError(f"checkpoint {name!r} at {folder} is not usable: {result}")
            return result
        known.append(candidate)
    listed = ", ".join(sorted(known)[:10]) + (f" (+{len(known) - 10} more)" if len(known) > 10 else "")
    raise KeyError(
        f"no checkpoint named {name!r} under {', '.join(roots) or '(no roots)'}; known: {listed or '(none)'}"
    )
