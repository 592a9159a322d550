"""Images in asset metadata: a PNG embedded in markdown, so the UI shows it with the materialization."""

import base64
from pathlib import Path

import dagster as dg


def embedded_png(path: str | Path, alt: str) -> dg.MetadataValue:
    """Markdown holding the PNG as a data URI (the UI renders it; the event log keeps it with the run),
    followed by the file's path."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})\n\n`{path}`")
