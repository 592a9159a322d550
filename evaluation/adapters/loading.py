"""What adapters share for reading annotation rows, whatever the benchmark's format.

- ``read_rows`` loads a JSON list, a JSON object, JSON Lines or Parquet (detected from the content, not
  the file name) and names the file and line/record on any error; ``one_line_jsonl`` makes a JSON Lines
  file of one line a one-row list; ``as_row_list`` checks that the rows are objects.
- ``require`` raises ``{where}: missing fields [...] [of <format>]`` for a row lacking required keys.
- ``split_inline_options`` splits a question whose options follow it on their own lines.
- ``media_path`` resolves a row's media path against the media root.
- ``content_id`` / ``numbered_id`` give stable record ids to formats without ids.

The EasyVideoR1 unified format itself (``is_unified``, ``unified_row``, signatures) is ``unified.py``'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.inputs import json_lines, parse_json, read_text

# "(A) text", "A. text", "A) text", "A: text" at the start of a line
_OPTION_LINE = re.compile(r"\s*(?:\(([A-J])\)|([A-J])[.):：])\s*(.*)")


def read_rows(path: str | Path) -> Any:
    """The parsed content of an annotation file: a list of rows (JSON list, JSONL, Parquet) or the JSON
    object itself. Errors name the file and the line (text that is not UTF-8, malformed JSON or JSONL)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    with path.open("rb") as f:
        head = f.read(4)
    if head == b"PAR1":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise ValueError(f"{path}: unreadable Parquet file ({e})") from e
    text = read_text(path)
    try:
        return parse_json(text, path)
    except ValueError as whole_error:
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            json.loads(first)
        except ValueError:  # not JSON Lines either: the document's own error, with its line
            raise whole_error from None
        return [row for _, row in json_lines(text, path)]


def as_row_list(data: Any, path: str | Path, what: str) -> list[dict[str, Any]]:
    """``data`` checked to be a list of objects; the error says which record is not."""
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of {what} records, got a JSON {type(data).__name__}")  # noqa: TRY004
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: record {i}: expected an object, got {type(row).__name__}")  # noqa: TRY004
    return data


def one_line_jsonl(data: Any) -> Any:
    """A JSON Lines file of one line parses as a single object: make it a one-row list."""
    return [data] if isinstance(data, dict) else data


def require(
    row: dict[str, Any], keys: Sequence[str], where: str, of: str = "", *, none_is_missing: bool = False
) -> None:
    """ValueError ``{where}: missing fields [...] of {of}`` naming every key of ``keys`` that ``row`` lacks
    (with ``none_is_missing``, a key whose value is None counts as lacking); ``of`` names the format."""
    missing = [k for k in keys if k not in row or (none_is_missing and row[k] is None)]
    if missing:
        raise ValueError(f"{where}: missing fields {missing}" + (f" of {of}" if of else ""))


def split_inline_options(text: str, where: str) -> tuple[str, list[str]]:
    """``(stem, ["A. x", "B. y", ...])`` from a question whose options follow on their own lines; a line
    after the first option that is not one continues the previous option. Letters must run A, B, C ..."""
    stem: list[str] = []
    options: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _OPTION_LINE.fullmatch(line)
        if m:
            options.append((m.group(1) or m.group(2), m.group(3).strip()))
        elif options:
            if line.strip():
                letter, body = options[-1]
                options[-1] = (letter, f"{body} {line.strip()}".strip())
        else:
            stem.append(line)
    letters = "".join(letter for letter, _ in options)
    if len(options) < 2 or letters != "ABCDEFGHIJ"[: len(options)]:
        raise ValueError(
            f"{where}: expected the options inline as lines '(A) ...' / 'A. ...' in letter order, found "
            f"{letters or 'none'} in {text[:160]!r}"
        )
    return "\n".join(stem).strip(), [f"{letter}. {body}" for letter, body in options]


def media_path(root: str, rel: str) -> str:
    """``rel`` joined to ``root`` unless absolute, normalised (``./videos/x.mp4`` -> ``root/videos/x.mp4``)."""
    return os.path.normpath(rel if os.path.isabs(rel) else os.path.join(root, rel))


def content_id(*parts: Any) -> str:
    """A stable id from record content (for formats without ids): 12 hex chars of sha1."""
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:12]


def numbered_id(base: str, seen: dict[str, int]) -> str:
    """``base`` the first time it is seen, then ``base~2``, ``base~3`` ... (exact repeats in one file keep
    distinct, stable ids); ``seen`` counts the bases of the file so far."""
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}~{seen[base]}"
