"""Video-MME-v2 (MME-Benchmarks, 2026): 800 videos, 3200 eight-option questions in groups of 4.

Annotation format: the official ``test.parquet`` of HF ``MME-Benchmarks/Video-MME-v2`` (or the same rows
as JSON/JSONL), one row per question with ``video_id, question, options ("A. ..\\nB. ..\\n...H. .."; a
list of "A. .." strings or of plain texts is also read), answer (A-H), group_type (relevance|logic),
group_structure ("[1, 2, 3, 4]" | "[1, [2, 3], 4]" | "[[1, 2], 3, 4]"), level, second_head,
third_head`` (schema as read by ``evaluation/test_video_mme_v2.py`` and VLMEvalKit). The video is
``<media_root>/<video_id>.mp4``. No sample of the release is reachable here, and EasyVideoR1 ships no
Video-MME-v2 file, so the unified format is refused.

Groups: the official script numbers the rows ``index = 0..N-1`` in file order (``df.assign(index=
range(len(df)))``, overwriting any ``index`` column) and groups rows ``index // 4``; the group's type,
structure, level and heads are read from its *last* row. Records keep that ``index`` (and ``group``) in
``extra``, and every record of a group carries the group's attributes as categories, so groups are
rebuilt from the index whatever order the answers were generated in. The file must hold whole groups.
Record id: ``question_id`` when the file has one, else the official ``index``.

Scoring (``evaluation.official.videomme``): official mode extracts like ``extract_characters_regex_v2``
and gives each question 1 / 0 / -1 (nothing extracted); robust mode uses the reward library's 1 / 0
(an unreadable answer is wrong, never -1). The per-sample dict carries this value as ``v2_score``
(``score`` stays the 0/1 correctness). ``aggregate`` scores every complete group with the relevance /
logic tables and reports the official ``final_rating`` keys: ``total`` (= ``overall``, mean over
groups), ``level_1..3``, ``relevance_score``, ``relevance_linear_score``, ``logic_score``, plus
``by_second_head`` / ``by_third_head`` and ``simple_accuracy`` (official: over readable answers only).
Deviations: a group with a question that was not scored (generation failed, subset run) is left out
and counted in ``groups_incomplete`` (the official script needs every row); an empty bucket is
``None`` (the official script prints 0.0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import MULTIPLE_CHOICE, ChoiceAdapter
from evaluation.adapters.loading import as_row_list, media_path
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import choice_letter, lettered_options
from evaluation.official.videomme import (
    extract_characters_regex_v2,
    group_structure_key,
    logic_score,
    relevance_scores,
    v2_question_score,
)
from evaluation.records import BenchmarkRecord
from evaluation.scoring import robust_score

GROUP_SIZE = 4
ROW_FIELDS = (
    "video_id",
    "question",
    "options",
    "answer",
    "group_type",
    "group_structure",
    "level",
    "second_head",
    "third_head",
)
GROUP_TYPES = ("relevance", "logic")
LEVELS = ("1", "2", "3")
RATING_KEYS = (
    "level_1",
    "level_2",
    "level_3",
    "relevance_score",
    "relevance_linear_score",
    "logic_score",
    "total",
)


@register_benchmark("video_mme_v2")
class VideoMMEv2(ChoiceAdapter):
    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="official `test.parquet` (or its rows as JSON/JSONL)",
        media="`<video_id>.mp4`",
    )
    media_settings = MediaSettings(
        {"max_frames": 64},
        source="VLMEvalKit video_dataset_config.py Video-MME-v2_64frame: 64 uniform frames; here fps 2 capped at 64",
    )

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        raise ValueError(
            f"{path}: an EasyVideoR1 unified file; Video-MME-v2 has no unified release and its group "
            "scoring needs the official rows (test.parquet: group_type, group_structure, level, ...)"
        )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "Video-MME-v2")
        for i, row in enumerate(rows):
            missing = [k for k in ROW_FIELDS if k not in row]
            missing += [k for k in ROW_FIELDS[:5] if k not in missing and row[k] is None]
            if missing:
                raise ValueError(f"{_where(path, i, row)}: missing fields {missing} of the Video-MME-v2 rows")
        if len(rows) % GROUP_SIZE:
            raise ValueError(
                f"{path}: {len(rows)} rows, not whole groups of {GROUP_SIZE} (the official script groups "
                "consecutive rows index // 4)"
            )
        records = []
        for start in range(0, len(rows), GROUP_SIZE):
            group_attrs = self._group_attrs(rows[start + GROUP_SIZE - 1], path, start + GROUP_SIZE - 1)
            for index in range(start, start + GROUP_SIZE):
                records.append(self._record(rows[index], index, path, root, group_attrs))
        return records

    def _group_attrs(self, last: dict, path: Path, index: int) -> dict[str, Any]:
        """Type, structure, level and heads of a group: the official script reads its last row."""
        where = _where(path, index, last)
        gtype = str(last["group_type"])
        if gtype not in GROUP_TYPES:
            raise ValueError(f"{where}: group_type {last['group_type']!r} is not one of {GROUP_TYPES}")
        categories = {"group_type": gtype}
        structure = None
        if gtype == "logic":
            try:
                structure = group_structure_key(last["group_structure"])
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        level = last["level"]
        if level is not None and str(level) != "None":
            try:
                level_text = str(int(float(level)))
            except (TypeError, ValueError):
                level_text = repr(level)
            if level_text not in LEVELS:
                raise ValueError(f"{where}: level {level!r} is not one of 1, 2, 3")
            categories["level"] = level_text
        for head in ("second_head", "third_head"):
            if last[head] is not None:
                categories[head] = str(last[head])
        return {"categories": categories, "group_structure": structure}

    def _record(self, row: dict, index: int, path: Path, root: str, group: dict) -> BenchmarkRecord:
        where = _where(path, index, row)
        raw = row["options"]
        if isinstance(raw, str):
            raw = [line for line in raw.splitlines() if line.strip()]
        options = lettered_options(raw, where)
        if not options:
            raise ValueError(f"{where}: no options")
        rid = row.get("question_id")
        extra: dict[str, Any] = {
            "source_format": "official",
            "index": index,
            "group": index // GROUP_SIZE,
            "group_structure": group["group_structure"],
            "video_id": str(row["video_id"]),
        }
        if "index" in row:
            extra["source_index"] = row["index"]
        return self.make_record(
            str(rid) if rid not in (None, "") else str(index),
            problem=str(row["question"]).strip(),
            answer=choice_letter(str(row["answer"]), options, where),
            options=options,
            media=[media_path(root, f"{row['video_id']}.mp4")],
            categories=dict(group["categories"]),
            extra=extra,
        )

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_characters_regex_v2(response)

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust" or record.problem_type != MULTIPLE_CHOICE:
            result = robust_score(record, response)
            result["v2_score"] = int(float(result["score"]) >= 1.0)
        else:
            letter = self.official_choice(response, record)
            value = v2_question_score(letter, record.answer)
            result = {"score": float(value == 1), "pred": letter, "extraction_failed": not letter}
            result["v2_score"] = value
        result["index"] = record.extra.get("index")
        return result

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        members: dict[int, dict[int, tuple[BenchmarkRecord, int]]] = defaultdict(dict)
        for rec, s in zip(records, per_sample_scores):
            index = int(rec.extra["index"])
            members[index // GROUP_SIZE][index] = (rec, _item_value(s, mode))
        buckets: dict[str, list[float]] = {k: [] for k in RATING_KEYS}
        second: dict[str, list[float]] = defaultdict(list)
        third: dict[str, list[float]] = defaultdict(list)
        incomplete = 0
        for g in sorted(members):
            wanted = range(g * GROUP_SIZE, (g + 1) * GROUP_SIZE)
            if any(i not in members[g] for i in wanted):
                incomplete += 1
                continue
            values = [members[g][i][1] for i in wanted]
            last = members[g][wanted[-1]][0]
            if last.categories["group_type"] == "relevance":
                score, linear = relevance_scores(values)
                buckets["relevance_score"].append(score)
                buckets["relevance_linear_score"].append(linear)
            else:
                score = logic_score(values, last.extra["group_structure"])
                buckets["logic_score"].append(score)
            if "level" in last.categories:
                buckets[f"level_{last.categories['level']}"].append(score)
            buckets["total"].append(score)
            second[last.categories.get("second_head", "None")].append(score)
            third[last.categories.get("third_head", "None")].append(score)
        items = [_item_value(s, mode) for s in per_sample_scores]
        readable = [float(v == 1) for v in items if v >= 0]
        out: dict[str, Any] = {
            "n": len(items),
            "groups": len(buckets["total"]),
            "groups_incomplete": incomplete,
            "unanswered": sum(v < 0 for v in items),
        }
        out.update({k: metrics.mean(v) for k, v in buckets.items()})
        out["overall"] = out["total"]
        out["by_second_head"] = {k: metrics.mean(v) for k, v in sorted(second.items())}
        out["by_third_head"] = {k: metrics.mean(v) for k, v in sorted(third.items())}
        acc = metrics.accuracy(readable)
        out["simple_accuracy"] = None if acc is None else 100.0 * acc
        return out


def _item_value(s: dict[str, Any], mode: str) -> int:
    """The question's group-scoring value: ``v2_score``, else derived from ``score``/``extraction_failed``."""
    if "v2_score" in s:
        return int(s["v2_score"])
    if mode == "official" and s.get("extraction_failed"):
        return -1
    return int(float(s["score"]) >= 1.0)


def _where(path: Path, index: int, row: dict) -> str:
    rid = row.get("question_id", row.get("video_id"))
    key = "question_id" if "question_id" in row else "video_id"
    return f"{path}: record {index} ({key}={rid!r})"
