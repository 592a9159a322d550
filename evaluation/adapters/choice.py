"""The shared adapter of question-answering benchmarks (mostly multiple choice).

A subclass states what differs per benchmark and inherits the rest:

- ``load_official(data, path, root)``: the official release format (``data`` is the parsed file, see
  ``loading.read_rows``); the EasyVideoR1 unified format is recognised and read here, with the
  subclass's ``categories_from_unified`` picking the category fields it carries, after checking that
  every record has the subclass's ``unified_signature`` (another benchmark's file is refused);
- ``official_choice(response, record)``: the letter the official script reads ("" = none);
  ``official_other(record, response)`` scores a non-multiple-choice record in official mode;
- ``official_unanswered``: whether the official script counts an unreadable answer as wrong
  ("wrong") or leaves it out of the denominator ("excluded", Video-MME);
- ``breakdowns`` (category fields reported per value) and ``headline`` ("micro", or "macro:<field>"
  for a mean of per-value accuracies such as MVBench's task mean).

Aggregates are in percent, as the official scripts print them (``evaluation.metrics``: one scale per result).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.loading import read_rows
from evaluation.adapters.registry import BenchmarkAdapter, check_mode
from evaluation.adapters.unified import check_signature, is_unified, unified_row
from evaluation.metrics import percent
from evaluation.records import BenchmarkRecord, check_unique_ids
from evaluation.scoring import robust_score

MULTIPLE_CHOICE = "multiple choice"
TEMPLATES = Path(__file__).parent / "templates"
PROMPT_STYLES = ("letter", "reelrl")


class ChoiceAdapter(BenchmarkAdapter):
    """Base class; see the module docstring. ``prompt_style``: "letter" (default, the official
    letter-only prompt that the official parsers expect) or "reelrl" (the training templates:
    reasoning in ``<think>``, the answer in ``<answer>``)."""

    breakdowns: tuple[str, ...] = ()
    headline: str = "micro"
    official_unanswered: str = "wrong"

    def __init__(self, prompt_style: str = "letter", **options: Any):
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"{self.name} prompt_style must be one of {PROMPT_STYLES}, got {prompt_style!r}")
        if options:
            raise TypeError(f"{self.name}: unknown options {sorted(options)}")
        self.prompt_style = prompt_style
        self.prompt_template = str(TEMPLATES / "letter") if prompt_style == "letter" else None

    # ------------------------------------------------------------------ loading
    def load(self, annotation_path: str | Path, media_root: str | Path | None) -> list[BenchmarkRecord]:
        """Records from the official format or EasyVideoR1's unified JSON (detected from the content), or
        from every ``*.json`` in a folder (per-task files); relative media paths resolve against
        ``media_root``, else the file's folder (the folder itself for a folder)."""
        path = Path(annotation_path)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            if not files:
                raise ValueError(f"{path}: folder holds no {self.name} annotation files (*.json)")
            root = os.path.abspath(media_root if media_root is not None else path)
            records = [r for f in files for r in self.load_folder_file(f, root)]
        else:
            root = os.path.abspath(media_root if media_root is not None else path.parent)
            records = self.load_file(path, root)
        if not records:
            raise ValueError(f"{path}: no {self.name} records found")
        try:
            check_unique_ids(records)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        return records

    def load_file(self, path: Path, root: str) -> list[BenchmarkRecord]:
        data = read_rows(path)
        if is_unified(data):
            if self.unified_signature is not None:
                check_signature(data, path, self.name, self.unified_signature)
            return [self.unified_record(row, i, path, root) for i, row in enumerate(data)]
        return self.load_official(data, path, root)

    def load_folder_file(self, path: Path, root: str) -> list[BenchmarkRecord]:
        """One file of a folder given as the annotation path (a subclass may skip files it cannot score)."""
        return self.load_file(path, root)

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        raise ValueError(
            f"{path}: not an EasyVideoR1 unified file (a list of objects with problem, problem_id, "
            f"solution) and {self.name} has no other format reader"
        )

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        """Category fields of a unified row (subclasses pick the ones the official aggregates need)."""
        return {}

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        fields = unified_row(row, index, path, root)
        extra = {"source_format": "easyvideor1"}
        return self.make_record(
            fields["id"],
            problem=fields["problem"],
            problem_type=fields["problem_type"],
            answer=fields["answer"],
            options=fields["options"],
            media=fields["media"],
            media_kind=fields["media_kind"],
            data_type=fields["data_type"],
            categories=self.categories_from_unified(row, fields),
            extra=extra,
        )

    def make_record(self, rid: Any, **fields: Any) -> BenchmarkRecord:
        fields.setdefault("problem_type", MULTIPLE_CHOICE)
        fields.setdefault("data_type", "video")
        fields.setdefault("media_kind", "video" if fields.get("media") else "none")
        return BenchmarkRecord(id=str(rid), benchmark=self.name, **fields)

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        """The option letter the official script reads from ``response``; "" when it reads none."""
        raise NotImplementedError(f"{type(self).__name__} defines no official answer extraction")

    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        """Official-mode score of a record that is not multiple choice (default: the robust scorer)."""
        return robust_score(record, response)

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust":
            return robust_score(record, response)
        if record.problem_type != MULTIPLE_CHOICE:
            return self.official_other(record, response)
        letter = self.official_choice(response, record)
        return {"score": float(letter == record.answer), "pred": letter, "extraction_failed": not letter}

    # ------------------------------------------------------------------ aggregates
    def counted(self, scores: Sequence[dict[str, Any]], mode: str) -> list[bool]:
        """Which samples are in the denominator: all, except unreadable answers where the official
        script leaves them out."""
        drop = mode == "official" and self.official_unanswered == "excluded"
        return [not (drop and bool(s.get("extraction_failed"))) for s in scores]

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        keep = self.counted(per_sample_scores, mode)
        recs = [r for r, k in zip(records, keep) if k]
        values = [float(s["score"]) for s, k in zip(per_sample_scores, keep) if k]
        out: dict[str, Any] = {"n": len(values), "excluded": len(keep) - len(values)}
        out["accuracy"] = percent(metrics.accuracy(values))
        for field in self.breakdowns:
            labels = [r.categories.get(field, "unknown") for r in recs]
            out[f"by_{field}"] = {k: percent(v) for k, v in metrics.category_means(values, labels).items()}
        if self.headline.startswith("macro:"):
            field = self.headline.split(":", 1)[1]
            labels = [r.categories.get(field, "unknown") for r in recs]
            out["overall"] = percent(metrics.macro_mean(metrics.category_means(values, labels)))
        else:
            out["overall"] = out["accuracy"]
        return out
