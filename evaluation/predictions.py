"""Append-only prediction log: one JSON line per scored sample, the unit of exact resume.

Why a JSONL log keyed by id rather than a results list saved every N samples: EasyVideoR1 resumes
at ``len(results)``, which is wrong as soon as samples complete out of order or some are skipped.
Here a sample is done exactly when a complete line with its id (and the same record/prompt key) is
in the file; each batch is flushed and fsynced before the next one starts, so a crash loses at
most the batch in flight. A line cut by a crash (no trailing newline) is dropped on open.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"


class PredictionLog:
    """Rows ``{"id", "key", "response", "scores": {mode: {...}}, ...}`` in ``out_dir/predictions.jsonl``.

    ``key`` identifies what produced the row (record content + rendered prompt); a row whose key no
    longer matches its record is stale and the sample is run again. The last row of an id wins.
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / PREDICTIONS_FILE
        self.rows: dict[str, dict[str, Any]] = {}
        self.bad_lines = 0
        if self.path.exists():
            self._repair_tail()
            self._load()

    def _repair_tail(self) -> None:
        """Cut a trailing partial line (written by a killed run) so appends start on a fresh line."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log.warning(
                "%s: dropping a partial last line (%d bytes) left by an interrupted run",
                self.path,
                len(data) - keep,
            )
            with self.path.open("r+b") as f:
                f.truncate(keep)

    def _load(self) -> None:
        for lineno, raw in enumerate(self.path.read_bytes().split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
                rid = row["id"]
            except (ValueError, KeyError, TypeError) as e:
                # One corrupt line must not sink the run: that sample is simply run again.
                reason = (
                    f"not UTF-8: byte 0x{raw[e.start]:02x} at column {e.start + 1}"
                    if isinstance(e, UnicodeDecodeError)
                    else repr(e)
                )
                self.bad_lines += 1
                log.warning("%s:%d: unreadable prediction line skipped (%s)", self.path, lineno, reason)
                continue
            self.rows[str(rid)] = row

    def done(self, record_id: str, key: str) -> bool:
        row = self.rows.get(record_id)
        return row is not None and row.get("key") == key

    def append(self, rows: Iterable[dict[str, Any]]) -> int:
        """Append rows durably (flush + fsync) and index them; returns how many were written."""
        rows = list(rows)
        if not rows:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for row in rows:
            self.rows[str(row["id"])] = row
        return len(rows)
