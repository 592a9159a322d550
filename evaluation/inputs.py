"""Reading evaluation inputs (annotation and prediction files) as UTF-8 JSON, with errors that name the file
and the line and say what to fix: a user's file that is not UTF-8 or not JSON must not surface as a bare
``'utf-8' codec can't decode byte 0xe9 in position 4711``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def decode_utf8(data: bytes, path: str | Path) -> str:
    """``data`` as text (a UTF-8 byte-order mark dropped); bytes that are not UTF-8 raise ``ValueError``
    naming ``path``, the line and column of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ValueError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path`` (see ``decode_utf8``)."""
    return decode_utf8(Path(path).read_bytes(), path)


def parse_json(text: str, path: str | Path) -> Any:
    """``text`` parsed as one JSON document; a syntax error raises ``ValueError`` naming file and line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}:{e.lineno}: malformed JSON ({e.msg}, column {e.colno}); fix the file"
        ) from None


def json_lines(text: str, path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line of a JSON Lines text; a line that is not JSON
    raises ``ValueError`` naming file and line."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}:{lineno}: not a JSON line ({e.msg}, column {e.colno}); each line must be one JSON object"
            ) from None
