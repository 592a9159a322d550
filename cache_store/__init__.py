"""Media -> tensors, decoded once into a Lance cache (see DESIGN.md, ``cache_store``).

Heavy names (the Lance-backed store, the decoder) are imported on first use, so that importing
``cache_store.types`` or ``cache_store.keys`` stays cheap and decode workers never import Lance.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .keys import CacheKey, MediaSpec, canonical_source
from .types import CachedMedia

_LAZY = {
    "MediaCache": "cache_store.store",
    "BuildReport": "cache_store.build",
    "row_to_media": "cache_store.schema",
    "write_video": "cache_store.encode",
    "decode_video": "cache_store.decode",
    "decode_image": "cache_store.decode",
}

__all__ = [
    "BuildReport",
    "CacheKey",
    "CachedMedia",
    "MediaCache",
    "MediaSpec",
    "canonical_source",
    "decode_image",
    "decode_video",
    "row_to_media",
    "write_video",
]

if TYPE_CHECKING:
    from .build import BuildReport
    from .decode import decode_image, decode_video
    from .encode import write_video
    from .schema import row_to_media
    from .store import MediaCache


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cache_store' has no attribute {name!r}")
