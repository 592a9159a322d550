"""Dagster resources: where artifacts live, the media cache, and Ray.

Each is a thin ``ConfigurableResource`` over a package object, so the same assets run on a laptop
(local paths, local Ray) or against object storage and a Ray cluster (a URI and an address).
"""

import os
from pathlib import Path

import dagster as dg

from cache_store import MediaCache
from training.data import ensure_ray


def default_home() -> str:
    return os.environ.get("REELRL_HOME") or str(Path.cwd() / ".reelrl")


class WorkspaceResource(dg.ConfigurableResource):
    """Root folder of ReelRL artifacts: models, datasets, runs, evaluations (``$REELRL_HOME`` or ./.reelrl)."""

    root: str = ""

    def path(self, *parts: str) -> Path:
        p = Path(self.root or default_home()).resolve().joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
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
