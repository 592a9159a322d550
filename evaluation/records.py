"""The canonical benchmark record every adapter produces, and its JSONL form.

Official annotation formats differ per benchmark (txt, nested JSON, parquet); the runner, the scorers
and the CLI see only ``BenchmarkRecord``. It keeps the category fields the official aggregates need
(duration, task, question type, group ...) because converted formats that drop them make the official
breakdowns impossible to recompute (see shared/research/evaluation.md §2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evaluation.inputs import json_lines, read_text

MEDIA_KINDS = ("video", "image", "none")


@dataclass
class BenchmarkRecord:
    """One benchmark question.

    id: stable string, unique within ``benchmark``; predictions are resumed and joined by it, so it must
        not depend on file order when the source offers something better.
    problem: the question text handed to the prompt template.
    answer: the ground truth in the reward library's convention for ``problem_type``.
    media: absolute paths, all of kind ``media_kind`` ("video", "image" or "none" for text-only).
    images_after: images the model sees after ``media`` (Video-MMMU Adaptation: the question's image follows
        the video); ``media_items()`` lists both in order.
    categories: string-valued fields the official aggregates group by.
    extra: anything else an adapter's scorer needs (e.g. Charades-STA's numeric span).
    """

    id: str
    benchmark: str
    problem: str
    problem_type: str
    answer: str
    data_type: str = "video"
    options: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    media_kind: str = "video"
    images_after: list[str] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"BenchmarkRecord.id must be a non-empty string, got {self.id!r}")
        if self.media_kind not in MEDIA_KINDS:
            raise ValueError(
                f"record {self.id}: media_kind must be one of {MEDIA_KINDS}, got {self.media_kind!r}"
            )
        if self.media_kind == "none" and self.media:
            raise ValueError(f"record {self.id}: media_kind 'none' but media paths given: {self.media}")
        if self.media_kind != "none" and not self.media:
            raise ValueError(
                f"record {self.id}: media_kind {self.media_kind!r} needs at least one media path"
            )
        if not all(isinstance(p, str) and p for p in self.images_after):
            raise ValueError(
                f"record {self.id}: images_after must be non-empty paths, got {self.images_after}"
            )
        bad = {k: v for k, v in self.categories.items() if not isinstance(v, str)}
        if bad:
            raise ValueError(f"record {self.id}: category values must be strings, got {bad}")

    def media_items(self) -> list[tuple[str, str]]:
        """Every media path with its kind, in the order the model sees them: ``media``, then ``images_after``."""
        kind = self.media_kind
        return [(p, kind) for p in self.media] + [(p, "image") for p in self.images_after]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkRecord:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown BenchmarkRecord fields {unknown}; known: {sorted(known)}")
        return cls(**d)


def check_unique_ids(records: Iterable[BenchmarkRecord]) -> None:
    """Raise if two records share an id: resume and joins by id would silently merge them."""
    seen: set[str] = set()
    dups: list[str] = []
    for r in records:
        if r.id in seen:
            dups.append(r.id)
        seen.add(r.id)
    if dups:
        raise ValueError(
            f"duplicate record ids {sorted(set(dups))[:10]}; ids must be unique within a benchmark"
        )


def records_digest(records: Iterable[BenchmarkRecord]) -> str:
    """sha256 of the records in id order: changes whenever a question, answer or media path changes."""
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: r.id):
        h.update(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def write_records(path: str | Path, records: Iterable[BenchmarkRecord]) -> Path:
    """Write one JSON object per line (UTF-8); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_records(path: str | Path) -> list[BenchmarkRecord]:
    """Read records written by ``write_records``; a bad line (not UTF-8, not JSON, not a record) raises
    naming file and line."""
    path = Path(path)
    out: list[BenchmarkRecord] = []
    for lineno, row in json_lines(read_text(path), path):
        try:
            out.append(BenchmarkRecord.from_dict(row))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: not a canonical benchmark record: {e}") from e
    return out
