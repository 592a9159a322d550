"""Run manifest: every setting that moves a benchmark score, written next to the predictions.

Scores move with frames, fps, pixels, prompt wording, decoding settings, model and code (users of
lmms-eval report 3-10 point gaps from these alone), so a number without them cannot be compared.
``settings`` holds what must be identical for predictions in one ``out_dir`` to be poolable; a rerun
with different settings is refused instead of silently mixing two configurations. After each run,
``partial`` and ``missing`` say whether its results cover every record (``record_coverage``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
_REPO = Path(__file__).resolve().parents[1]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_plain(obj: Any) -> Any:
    """A JSON-ready view of a settings object (dataclass, mapping or object with attributes)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "__dict__"):
        return {k: as_plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return repr(obj)


def model_revision(path: str | Path) -> str | None:
    """A revision of a local checkpoint folder: sha256 (16 hex) of ``config.json`` and each weight file's
    (name, size, mtime_ns), so a checkpoint rewritten at the same path gets a new revision. None for a path
    that is not a local folder (a hub id)."""
    root = Path(path)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(root.iterdir()):
        if f.name == "config.json":
            h.update(f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".pt") or f.name.endswith(".index.json"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def package_version() -> str:
    """The installed ``reelrl`` distribution's version, from its package metadata (pyproject's ``version``).

    The one reader of it: the CLI's ``reelrl.__version__`` and the assets' code versions take it from here.
    A source tree that was never installed has no metadata and reports ``0.0.0+unknown``."""
    try:
        return version("reelrl")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def code_version() -> dict[str, Any]:
    """``git rev-parse HEAD`` of the repo holding this package and whether the tree is dirty."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# What a manifest without an ``engine`` setting was made with: every run before engines were recorded used the
# transformers engine in float32.
LEGACY_ENGINE = {"name": "hf", "dtype": "float32"}


def build_manifest(
    *,
    benchmark: str,
    model_id: str,
    media_spec: Any,
    media_spec_source: dict[str, Any] | None = None,
    model_revision: str | None = None,
    engine: dict[str, Any] | None = None,
    adapter_options: dict[str, Any] | None = None,
    sampling: Any,
    prompt_template: str | None,
    prompt_template_hash: str,
    annotation_path: str | None,
    records_digest: str,
    num_records: int,
    modes: list[str],
) -> dict[str, Any]:
    settings = {
        "benchmark": benchmark,
        "model_id": model_id,
        "model_revision": model_revision,
        # the engine and its weights' dtype move scores (bf16 vs float32); engines that do not say are None
        "engine": engine,
        "media_spec": as_plain(media_spec),
        "sampling": as_plain(sampling),
        "seed": getattr(sampling, "seed", None),
        "prompt_template_hash": prompt_template_hash,
        "adapter_options": adapter_options or {},
    }
    return {
        "settings": settings,
        # how the media spec was chosen and where each value came from (``evaluation.media_spec``); not a
        # setting: the same spec reached another way pools with it
        "media_spec_source": media_spec_source,
        "prompt_template": prompt_template,  # where it was read; its hash above is what must match
        "annotation_path": annotation_path,
        "records_digest": records_digest,
        "num_records": num_records,
        "modes": modes,
        "code_version": code_version(),
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def check_compatible(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Raise if ``out_dir`` already holds a run whose score-moving settings differ from ``manifest``."""
    path = out_dir / MANIFEST_FILE
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: unreadable manifest ({e}); delete it or use a new out_dir") from e
    old_settings, new_settings = old.get("settings", {}), manifest["settings"]
    old_settings.setdefault("engine", LEGACY_ENGINE)  # manifests written before engines were recorded
    diff = sorted(
        k for k in set(old_settings) | set(new_settings) if old_settings.get(k) != new_settings.get(k)
    )
    if diff:
        details = "; ".join(f"{k}: {old_settings.get(k)!r} -> {new_settings.get(k)!r}" for k in diff)
        raise ValueError(
            f"{out_dir} holds predictions made with other settings ({details}); resuming would mix them. "
            "Use a new out_dir for the new settings."
        )
    if old.get("code_version") != manifest["code_version"]:
        log.warning(
            "%s: resuming with a different code version %s (was %s)",
            out_dir,
            manifest["code_version"],
            old.get("code_version"),
        )


def record_coverage(out_dir: Path, *, partial: bool, missing: int) -> None:
    """Note in ``out_dir``'s manifest whether the last run's results cover every record: ``partial`` (some
    record has no prediction, so the aggregates leave it out) and ``missing`` (how many)."""
    path = out_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(partial=partial, missing=missing)
    write_json(path, manifest)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write via a temp file and rename, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
