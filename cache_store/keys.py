"""Cache keys and sampling settings.

Two kinds of fields decide whether a cached row may be served:

* the **lookup key** ``CacheKey(source, fps, max_frames, max_pixels)``: the four user-facing settings; its
  ``digest()`` is the row's primary key in Lance;
* **validity fields**, stored with the row and compared on every hit: ``min_pixels``, ``min_frames``,
  ``total_pixels``, the model's resize ``factor``, ``preprocess_version`` and the source fingerprint
  (``Fingerprint``: size and mtime, optionally a SHA-256 of the content). They change what the decoded
  tensor looks like, so a mismatch makes the row stale: it is rebuilt, never served.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from . import sampling

KINDS = ("video", "image")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
DIGEST = re.compile(r"^[0-9a-f]{16}$")  # ``CacheKey.digest()``: 16 lowercase hex digits


def is_digest(value: Any) -> bool:
    """Whether ``value`` is a well-formed cache digest (safe to quote in a Lance filter)."""
    return isinstance(value, str) and DIGEST.match(value) is not None


def is_uri(text: str) -> bool:
    """Whether ``text`` starts with a URI scheme (``s3://``, ``file://``, …) rather than being a path."""
    return _SCHEME.match(text) is not None


def canonical_source(path: str | os.PathLike) -> str:
    """Absolute, normalised local path; a URI with a scheme (``s3://…``, ``file://…``) is left unchanged.

    Keys are built from this string, so ``clip.mp4`` and ``./x/../clip.mp4`` share one row.
    """
    text = os.fspath(path)
    if _SCHEME.match(text):
        return text
    return os.path.abspath(os.path.expanduser(text))


def local_path(source: str) -> str | None:
    """Filesystem path of a canonical source, or None for a remote URI (``file://`` is local)."""
    if source.startswith("file://"):
        return source[len("file://") :]
    return None if _SCHEME.match(source) else source


class Fingerprint(NamedTuple):
    """What a source looked like when its row was built: ``size``, ``mtime_ns`` and, when the cache hashes
    content, ``sha256`` (hex) of the bytes."""

    size: int
    mtime_ns: int
    sha256: str | None = None

    def matches(self, size: int | None, mtime_ns: int | None, sha256: str | None = None) -> bool:
        """Whether a row stored with ``(size, mtime_ns, sha256)`` still describes this source.

        Sizes must agree. Then, when both sides have a content hash, the hashes decide and mtime is ignored
        (a ``touch`` or a copy that kept the bytes stays valid; a rewrite that kept size and mtime does not);
        otherwise the mtimes must agree.
        """
        if size != self.size:
            return False
        if self.sha256 is not None and sha256:
            return sha256 == self.sha256
        return mtime_ns == self.mtime_ns


HASH_CHUNK = 1 << 20


def source_fingerprint(source: str, content_hash: bool = False) -> Fingerprint:
    """The ``Fingerprint`` of a local source; raises FileNotFoundError / OSError naming the file.

    Without ``content_hash`` one ``stat`` (cheap enough for every build and lookup); with it the file is also
    read once for its SHA-256 (about 1 GB/s here, so ~50 ms for a 47 MB clip).
    """
    path = local_path(source)
    if path is None:
        raise NotImplementedError(f"{source}: remote sources are not supported yet; copy the file locally")
    st = os.stat(path)
    digest = None
    if content_hash:
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(HASH_CHUNK):
                sha.update(block)
        digest = sha.hexdigest()
    return Fingerprint(int(st.st_size), int(st.st_mtime_ns), digest)


@dataclass(frozen=True)
class CacheKey:
    """Lookup key of one cached sample. ``fps == 0`` and ``max_frames == 1`` mark an image."""

    source: str
    fps: float
    max_frames: int
    max_pixels: int

    def canonical(self) -> str:
        # repr(float) makes 2 and 2.0 the same key; the "v1" prefix lets a later layout change the format.
        return (
            f"v1|{self.source}|fps={float(self.fps)!r}"
            f"|max_frames={int(self.max_frames)}|max_pixels={int(self.max_pixels)}"
        )

    def digest(self) -> str:
        """Stable 16-hex-digit id: ``sha1(canonical())[:16]``; the primary key of the entries table."""
        return hashlib.sha1(self.canonical().encode("utf-8")).hexdigest()[:16]


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"MediaSpec.{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class MediaSpec:
    """All sampling settings of one build. Pixel budgets left as None resolve from ``factor`` (qwen-vl-utils
    defaults): video ``min_pixels = 128 f²``, ``max_pixels = 768 f²``; image ``4 f²`` and ``16384 f²``.
    ``total_pixels=None`` means qwen-vl-utils' ``MODEL_SEQ_LEN * f² * 0.9``.

    Use ``MediaSpec.for_model("Qwen/Qwen3-VL-2B-Instruct", ...)`` to take the factor from the model family.
    """

    fps: float = sampling.FPS
    max_frames: int = 16
    min_frames: int = sampling.FPS_MIN_FRAMES
    max_pixels: int | None = None
    min_pixels: int | None = None
    total_pixels: int | None = None
    image_max_pixels: int | None = None
    image_min_pixels: int | None = None
    factor: int = 28
    preprocess_version: str = "1"

    def __post_init__(self) -> None:
        _positive_int("factor", self.factor)
        f2 = self.factor * self.factor
        defaults = {
            "max_pixels": sampling.VIDEO_MAX_TOKEN_NUM * f2,
            "min_pixels": sampling.VIDEO_MIN_TOKEN_NUM * f2,
            "image_max_pixels": sampling.IMAGE_MAX_TOKEN_NUM * f2,
            "image_min_pixels": sampling.IMAGE_MIN_TOKEN_NUM * f2,
        }
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
            _positive_int(name, getattr(self, name))
        if (
            isinstance(self.fps, bool)
            or not isinstance(self.fps, (int, float))
            or not (math.isfinite(self.fps) and self.fps > 0)
        ):
            raise ValueError(f"MediaSpec.fps must be a finite number > 0, got {self.fps!r}")
        object.__setattr__(self, "fps", float(self.fps))
        _positive_int("max_frames", self.max_frames, sampling.FRAME_FACTOR)
        _positive_int("min_frames", self.min_frames)
        if self.min_frames > self.max_frames:
            raise ValueError(
                f"MediaSpec.min_frames ({self.min_frames}) must be <= max_frames ({self.max_frames})"
            )
        if self.total_pixels is not None:
            _positive_int("total_pixels", self.total_pixels)
        if self.max_pixels < self.min_pixels:
            raise ValueError(
                f"MediaSpec.max_pixels ({self.max_pixels}) must be >= min_pixels ({self.min_pixels}); "
                "lower min_pixels too (qwen-vl-utils' video default is "
                f"{sampling.VIDEO_MIN_TOKEN_NUM} * factor**2)"
            )
        if self.image_max_pixels < self.image_min_pixels:
            raise ValueError(
                f"MediaSpec.image_max_pixels ({self.image_max_pixels}) must be >= image_min_pixels "
                f"({self.image_min_pixels})"
            )
        if not isinstance(self.preprocess_version, str) or not self.preprocess_version:
            raise ValueError(
                f"MediaSpec.preprocess_version must be a non-empty str, got {self.preprocess_version!r}"
            )

    @classmethod
    def for_model(cls, family: str, **kwargs: Any) -> MediaSpec:
        """Spec with ``factor`` taken from the model family name (see ``sampling.factor_for_family``)."""
        return cls(factor=sampling.factor_for_family(family), **kwargs)

    def key_for(self, source: str | os.PathLike, kind: str) -> CacheKey:
        """Lookup key of ``source``; images use ``fps=0, max_frames=1, max_pixels=image_max_pixels``."""
        src = canonical_source(source)
        if kind == "video":
            return CacheKey(src, self.fps, self.max_frames, self.max_pixels)
        if kind == "image":
            return CacheKey(src, 0.0, 1, self.image_max_pixels)
        raise ValueError(f"{src}: kind must be one of {KINDS}, got {kind!r}")

    def validity(self, kind: str) -> dict[str, Any]:
        """Row fields that are not in the key but change the decoded tensor (compared on every hit)."""
        if kind == "video":
            return {
                "min_pixels": self.min_pixels,
                "min_frames": self.min_frames,
                "total_pixels": self.total_pixels,
                "factor": self.factor,
                "preprocess_version": self.preprocess_version,
            }
        if kind == "image":
            return {
                "min_pixels": self.image_min_pixels,
                "min_frames": 1,
                "total_pixels": None,
                "factor": self.factor,
                "preprocess_version": self.preprocess_version,
            }
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """Resolved settings as plain data (lineage records it as JSON)."""
        return asdict(self)
