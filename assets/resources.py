"""Dagster resources: where artifacts live, the media cache, and Ray.

Each is a thin ``ConfigurableResource`` over a package object, so the same assets run on a laptop
(local paths, local Ray) or against object storage and a Ray cluster (a URI and an address).
"""

import json
import os
from pathlib import Path
from typing import Literal

import dagster as dg

from cache_store import MediaCache
from evaluation.checkpoint_discovery import (
    checkpoint_name,
    discover_checkpoints,
    find_checkpoint,
    inspect_checkpoint,
)
from training.data.stream import ensure_ray


def default_home() -> str:
    return os.environ.get("REELRL_HOME") or str(Path.cwd() / ".reelrl")


class WorkspaceResource(dg.ConfigurableResource):
    """Root folder of ReelRL artifacts: models, datasets, runs, evaluations (``$REELRL_HOME`` or ./.reelrl)."""

    root: str = ""

    def path(self, *parts: str) -> Path:
        p = Path(self.root or default_home()).resolve().joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def dir(self, *parts: str) -> Path:
        """A folder under the workspace root, created if missing."""
        p = Path(self.root or default_home()).resolve().joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p


class MediaCacheResource(dg.ConfigurableResource):
    """The Lance media cache; ``uri`` empty means ``<workspace>/cache``. Any Lance/fsspec URI works."""

    uri: str = ""

    def resolve_uri(self, workspace: WorkspaceResource) -> str:
        return self.uri or str(workspace.path("cache"))

    def open(self, workspace: WorkspaceResource) -> MediaCache:
        return MediaCache(self.resolve_uri(workspace))


class RayResource(dg.ConfigurableResource):
    """Local Ray by default; set ``address`` (e.g. ``ray://head:10001`` or ``auto``) to use a cluster."""

    address: str = ""
    num_cpus: int = 0
    object_store_mb: int = 512

    def ensure(self) -> None:
        ensure_ray(
            num_cpus=self.num_cpus or None, object_store_mb=self.object_store_mb, address=self.address or None
        )


class CheckpointsResource(dg.ConfigurableResource):
    """Where checkpoints are found: ReelRL's own ``runs/`` and ``models/`` under the workspace, plus
    ``watch_dirs`` (``os.pathsep``-separated folders of Hugging Face checkpoints; empty means
    ``$REELRL_WATCH_DIRS``). A checkpoint is only taken once it is complete and has not changed for
    ``settle_s`` seconds (see ``evaluation.checkpoint_discovery``)."""

    watch_dirs: str = ""
    settle_s: float = 10.0

    def roots(self, workspace: WorkspaceResource) -> list[Path]:
        extra = self.watch_dirs or os.environ.get("REELRL_WATCH_DIRS", "")
        own = [workspace.dir("runs"), workspace.dir("models")]
        return own + [Path(p).expanduser().resolve() for p in extra.split(os.pathsep) if p.strip()]

    def discover(self, workspace: WorkspaceResource):
        return discover_checkpoints(self.roots(workspace), settle_s=self.settle_s)

    def find(self, name: str, workspace: WorkspaceResource):
        """The checkpoint of partition ``name``: a registered folder, else found under the roots."""
        registered = self._registered(workspace)
        if name in registered:
            path = Path(registered[name])
            info = inspect_checkpoint(path, settle_s=0.0, root=path.parent)
            if isinstance(info, str):
                raise KeyError(f"checkpoint {name!r} at {path} is not usable: {info}")
            return info
        return find_checkpoint(name, self.roots(workspace))

    def register(self, path: str | Path, workspace: WorkspaceResource) -> str:
        """The partition key of a checkpoint folder, named relative to the watched root holding it; a folder
        outside every root (a ``base_model.model_path`` of your own) is remembered in the workspace."""
        path = Path(path).resolve()
        root = next((r for r in self.roots(workspace) if path.is_relative_to(r)), None)
        if root is not None:
            return checkpoint_name(path, root)
        name = checkpoint_name(path, path.parent)
        registered = self._registered(workspace)
        if registered.get(name) != str(path):
            registered[name] = str(path)
            tmp = self._registry(workspace).with_suffix(".tmp")
            tmp.write_text(json.dumps(registered, indent=1, sort_keys=True))
            os.replace(tmp, self._registry(workspace))
        return name

    def _registry(self, workspace: WorkspaceResource) -> Path:
        return workspace.path("checkpoints", "registered.json")

    def _registered(self, workspace: WorkspaceResource) -> dict[str, str]:
        f = self._registry(workspace)
        return json.loads(f.read_text()) if f.exists() else {}


class BenchmarksResource(dg.ConfigurableResource):
    """Benchmark files (``annotations``/``media_roots``: benchmark -> path) and which benchmarks each new
    checkpoint gets (``auto``) and the schedule re-runs on the ``schedule_latest`` newest checkpoints
    (``scheduled``, empty = ``auto``). Without a file, ``reelrl_jsonl`` evaluates the held-out split and
    ``charades_sta`` the shipped official-format records with generated stand-in videos."""

    annotations: dict[str, str] = {}
    media_roots: dict[str, str] = {}
    auto: list[str] = ["reelrl_jsonl", "charades_sta"]
    scheduled: list[str] = []
    schedule_latest: int = 2


class EngineResource(dg.ConfigurableResource):
    """The generation engine evaluations use: ``hf`` (transformers; CPU or GPU) or ``vllm`` (vLLM's
    asynchronous engine, continuous batching across the pipeline's batches; its GPU build, or the CPU build
    of ``make setup-vllm``). ``vllm_options``: vLLM engine arguments as ``KEY=VALUE`` items, as the CLI's
    ``--engine-option`` (e.g. ``dtype=float32``)."""

    kind: Literal["hf", "vllm"] = "hf"
    batch_size: int = 8
    vllm_options: list[str] = []

    def load(self, path: str):
        if self.kind == "vllm":
            from training.engines.vllm import parse_options
            from training.engines.vllm_async import VLLMAsyncEngine

            return VLLMAsyncEngine(path, **parse_options(self.vllm_options))
        if self.kind != "hf":
            raise ValueError(f"engine.kind={self.kind!r}: use 'hf' or 'vllm'")
        from training.engines.hf import HFEngine

        return HFEngine.from_pretrained(path, batch_size=self.batch_size)
