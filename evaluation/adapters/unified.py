"""The EasyVideoR1 unified record that most video benchmarks ship in (reading the file itself, and the
helpers every format shares, are ``loading.py``'s).

The EasyVideoR1 unified format (``eval/data/valid_data/*.json``) is a list of
``{problem_id, problem, problem_type, data_type, options ["A. x" | "A: x"], solution "<answer>X</answer>",
path}`` plus benchmark-specific fields (``duration``, ``task_type``, ``ovo_task`` ...). ``unified_row``
turns one into the fields every canonical record needs, with the option letters normalised to
"A. text" in letter order (EasyVideoR1's LongVideo-Reason lists options out of order).

Every benchmark's unified file has the same core fields, so the core alone cannot tell MVBench's file from
Video-MME's. A ``UnifiedSignature`` states what marks one benchmark's file (its ``data_source`` value, the
fields only it carries, its media path layout); ``check_signature`` refuses a file whose records lack it,
naming the file, what was expected and what was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.adapters.loading import media_path, require
from training.rewards.choice import parse_options
from training.rewards.tags import answer_content

UNIFIED_KEYS = ("problem", "problem_id", "solution")
_LETTERED = re.compile(r"\s*+\(?([A-Za-z])\s*+[.):：]\s*+(.*)", re.DOTALL)


def is_unified(rows: Any) -> bool:
    """True when ``rows`` look like EasyVideoR1 unified records (a list of objects with its keys)."""
    return (
        isinstance(rows, list)
        and bool(rows)
        and isinstance(rows[0], dict)
        and all(k in rows[0] for k in UNIFIED_KEYS)
    )


@dataclass(frozen=True)
class UnifiedSignature:
    """What every record of one benchmark's EasyVideoR1 unified file has.

    data_source: a regular expression the record's ``data_source`` must match in full (None: not checked;
        for the files that have no ``data_source``, MVBench's and Video-MME's);
    fields: keys every record carries (the benchmark's own fields beside the unified core);
    path: a regular expression the record's ``path`` must match in full (None: not checked).
    """

    data_source: str | None = None
    fields: tuple[str, ...] = ()
    path: str | None = None

    def expected(self) -> str:
        parts = []
        if self.data_source is not None:
            parts.append(f"data_source matching {self.data_source!r}")
        if self.fields:
            parts.append(f"fields {', '.join(self.fields)}")
        if self.path is not None:
            parts.append(f"a path matching {self.path!r}")
        return " and ".join(parts)

    def mismatch(self, row: dict[str, Any]) -> str | None:
        """What in ``row`` does not fit (for the error message); None when it fits."""
        if self.data_source is not None:
            source = row.get("data_source")
            if not isinstance(source, str) or not re.fullmatch(self.data_source, source):
                return f"data_source {source!r}"
        missing = [k for k in self.fields if k not in row]
        if missing:
            return f"keys {sorted(row)} (no {', '.join(missing)})"
        if self.path is not None:
            rel = row.get("path")
            if not isinstance(rel, str) or not re.fullmatch(self.path, rel):
                return f"path {rel!r}"
        return None

    def matches(self, rows: list[Any]) -> bool:
        return bool(rows) and all(isinstance(r, dict) and self.mismatch(r) is None for r in rows)


def check_signature(
    rows: list[dict[str, Any]], path: str | Path, benchmark: str, sig: UnifiedSignature
) -> None:
    """Raise ``ValueError`` unless every record has ``benchmark``'s signature: another benchmark's file would
    otherwise be read and scored under this benchmark's rules."""
    for i, row in enumerate(rows):
        problem = sig.mismatch(row)
        if problem is not None:
            raise ValueError(
                f"{path} is not a {benchmark} annotation file: EasyVideoR1 unified records of {benchmark} "
                f"need {sig.expected()}; found {problem} in record {i} (problem_id={row.get('problem_id')!r})"
            )


def lettered_options(options: Any, where: str) -> list[str]:
    """Options as ["A. text", ...] in letter order, from "A. x" / "A: x" / "(A) x" strings, a
    ``{"A": x}`` dict or plain texts (lettered A, B, ... in order)."""
    if options is None:
        return []
    if isinstance(options, dict):
        items = sorted((str(k).strip().upper(), str(v).strip()) for k, v in options.items())
        return [f"{k}. {v}" for k, v in items]
    if not isinstance(options, list):
        raise ValueError(f"{where}: options must be a list or an object, got {type(options).__name__}")  # noqa: TRY004
    parsed = parse_options([str(o) for o in options])
    return [f"{k}. {v}" for k, v in sorted(parsed.items())]


def solution_text(solution: Any) -> str:
    """The ``<answer>`` content of an EasyVideoR1 ``solution`` (the whole text when it has none)."""
    text = str(solution)
    inner = answer_content(text)
    return (inner if inner is not None else text).strip()


def choice_letter(answer: str, options: list[str], where: str) -> str:
    """The letter the key names: "C", "(C)", "C. text" (the letter decides) or an option's exact text."""
    letters = [o[0] for o in options]
    text = answer.strip()
    m = _LETTERED.fullmatch(text) or re.fullmatch(r"\(?([A-Za-z])\)?()", text)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    matches = [o[0] for o in options if _norm(o[3:]) == _norm(text)]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"{where}: answer {answer!r} names none of the options {letters}")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text).lower().split())


def unified_row(row: dict[str, Any], index: int, path: str | Path, root: str) -> dict[str, Any]:
    """The common fields of one EasyVideoR1 unified record.

    Returns ``{"id", "problem", "problem_type", "data_type", "options", "answer", "media", "media_kind",
    "row"}``; ``answer`` is the option letter for multiple choice and the ``<answer>`` text otherwise.
    """
    pid = row.get("problem_id")
    where = f"{path}: record {index} (problem_id={pid!r})"
    require(row, UNIFIED_KEYS, where, "the EasyVideoR1 unified format")
    ptype = str(row.get("problem_type") or "multiple choice").strip().lower()
    options = lettered_options(row.get("options"), where)
    answer = solution_text(row["solution"])
    if ptype in ("multiple choice", "multiple_choice"):
        if not options:
            raise ValueError(f"{where}: a multiple-choice record without options")
        answer = choice_letter(answer, options, where)
    rel = row.get("path") or row.get("video") or ""
    data_type = str(row.get("data_type") or "video").strip().lower()
    media = [media_path(root, str(rel))] if rel else []
    return {
        "id": str(pid),
        "problem": str(row["problem"]).strip(),
        "problem_type": ptype,
        "data_type": data_type,
        "options": options,
        "answer": answer,
        "media": media,
        "media_kind": ("image" if data_type == "image" else "video") if media else "none",
        "row": row,
    }
