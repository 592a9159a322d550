"""What a benchmark adapter declares about media: the frame settings its benchmark documents
(``MediaSettings``) and where its annotation and media files go (``MediaLayout``).

Both are plain frozen dataclasses set as class attributes of an adapter. ``MediaSettings`` is read by the one
media-spec resolver (``evaluation.media_spec``); ``MediaLayout`` is what README's layout table is generated
from (``layout_table``; a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MediaSettings:
    """Frame settings a benchmark documents (``MediaSpec`` field names) and where they are documented."""

    values: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.values and not self.source:
            raise ValueError("MediaSettings: say where the settings are documented (source)")


@dataclass(frozen=True)
class MediaLayout:
    """Where a benchmark's files go: ``annotations`` (the file or folder ``--annotations`` names) and
    ``media`` (where each record's video or image is looked up; ``<media_root>`` is ``--media-root``)."""

    annotations: str
    media: str


def layout_table(layouts: Iterable[tuple[str, MediaLayout | None]]) -> str:
    """A Markdown table of ``(benchmark, layout)`` rows, in the given order."""
    lines = ["| benchmark | annotations (`--annotations`) | media (under `--media-root`) |", "|---|---|---|"]
    for name, layout in layouts:
        if layout is None:
            lines.append(f"| `{name}` | (not declared) | (not declared) |")
        else:
            lines.append(f"| `{name}` | {layout.annotations} | {layout.media} |")
    return "\n".join(lines)
