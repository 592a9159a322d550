"""Errors recorded in the failures table. The class name is stored as the failure's ``error`` field."""

from __future__ import annotations


class MediaError(Exception):
    """A source that cannot be turned into a cached sample; recorded, never fatal to a build."""


class EmptySource(MediaError):
    """The source file has zero bytes."""


class TooFewFrames(MediaError):
    """The video decodes but has fewer frames than the sampling rules need (at least FRAME_FACTOR = 2)."""


class DecodeFailed(MediaError):
    """No backend (decord, then PyAV; PIL for images) could decode the source."""


class DecodeTimeout(MediaError):
    """The decode worker ran past the per-item timeout and was killed (decord can hang forever)."""


class WorkerCrashed(MediaError):
    """The decode worker process died (segfault, OOM kill) while decoding the source."""
