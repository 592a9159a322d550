"""OVO-Bench (Li et al., CVPR 2025): online video understanding, asked at a timestamp of the video.

Twelve tasks in three categories: backward (EPM, ASI, HLD) and realtime (STU, OJR, ATR, ACR, OCR, FPD)
multiple choice; forward active responding REC (count so far), SSR (is this step happening now?)
and CRR (is there enough to answer yet?), asked at several times each.

Annotation formats (detected from the content):

- official ``data/ovo_bench_new.json`` (JoeLeelyf/OVO-Bench): backward/realtime ``{id, task, video,
  realtime, question, options [texts], answer, gt (option index)}``; forward REC ``{activity,
  test_info [{realtime, count}]}``, SSR ``{test_info [{realtime, step, type}]}``, CRR ``{question,
  test_info [{realtime, type}]}``. Each forward ``test_info`` entry becomes one record
  ``<id>_<index>`` (index from 0), as the official scorer counts them;
- EasyVideoR1 unified JSON (``eval/data/valid_data/ovobench.json``): ``ovo_task``, ``ovo_category``,
  ``ovo_id``, forward records already expanded (``problem_type`` REC/SSR/CRR, ``ovo_type`` 1=yes).

Media: the question is about the video **up to** ``realtime`` seconds (kept in ``extra``). The
runner passes the whole file a record names: the EasyVideoR1 paths are clips already cut at that
time (OVO's ``chunked_videos``); an official record names the source video, so for official numbers
point ``media_root`` at clips cut at ``realtime`` under the same relative names, or accept that the
model sees the whole video.

Records: REC is ``numerical`` (answer ``str(count)``), SSR/CRR ``boolean`` (answer Yes/No), so robust
mode uses the reward library's number and yes/no scorers. ``official`` mode reproduces
``utils/OVOBenchScore.py`` (``evaluation.official.ovobench``: the substring letter test, digits
concatenation, "Y"/"N" or "Yes"/"No" substrings). Aggregates (percent): accuracy per task, per
category the mean of its tasks, ``overall`` = the official ``Total Avg.`` (mean of all task
accuracies), ``category_mean`` = mean of the category scores (EasyVideoR1's ``ovo_total``).
Prompts: the official OVO prompts (``templates/ovobench``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import MULTIPLE_CHOICE, TEMPLATES, ChoiceAdapter, percent
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature, solution_text, unified_row
from evaluation.official import ovobench
from evaluation.records import BenchmarkRecord

NUMERICAL, BOOLEAN = "numerical", "boolean"
FORMAT = "the OVO-Bench format"  # what a row lacking a field is told it does not follow
_FORWARD_FIELDS = {"REC": ("activity",), "SSR": (), "CRR": ("question",)}
_ENTRY_FIELDS = {
    "REC": ("realtime", "count"),
    "SSR": ("realtime", "step", "type"),
    "CRR": ("realtime", "type"),
}


def _category(task: Any, where: str) -> str:
    if task not in ovobench.TASK_CATEGORY:
        raise ValueError(f"{where}: unknown OVO-Bench task {task!r}; known: {sorted(ovobench.TASK_CATEGORY)}")
    return ovobench.TASK_CATEGORY[task]


def _yes_no_type(value: Any, where: str) -> int:
    if isinstance(value, bool) or value not in (0, 1):
        raise ValueError(f"{where}: type must be 0 (no) or 1 (yes), got {value!r}")
    return int(value)


@register_benchmark("ovobench")
class OVOBench(ChoiceAdapter):
    """OVO-Bench; ``prompt_style`` "letter" (default) renders the official OVO prompts."""

    unified_signature = UnifiedSignature(data_source="OVO-Bench")

    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="official `data/ovo_bench_new.json`, or EasyVideoR1 unified `ovobench.json`",
        media="`<video>`, the whole video unless clips cut at `realtime` stand under the same names (official); `<path>`, clips already cut (unified)",
    )

    def __init__(self, prompt_style: str = "letter", **options: Any):
        super().__init__(prompt_style, **options)
        if prompt_style == "letter":
            self.prompt_template = str(TEMPLATES / "ovobench")

    def prompt_fields(self, record: BenchmarkRecord) -> dict[str, Any]:
        return {**super().prompt_fields(record), "task": record.categories["task"]}

    # ------------------------------------------------------------------ loading
    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        records = []
        for i, row in enumerate(as_row_list(data, path, "OVO-Bench")):
            where = f"{path}: record {i} (id={row.get('id')!r})"
            require(row, ("id", "task", "video"), where, FORMAT, none_is_missing=True)
            task = row["task"]
            if _category(task, where) == "forward":
                records.extend(self._forward_records(row, task, where, root))
            else:
                records.append(self._choice_record(row, task, where, root))
        return records

    def _choice_record(self, row: dict[str, Any], task: str, where: str, root: str) -> BenchmarkRecord:
        require(row, ("realtime", "question", "options", "gt"), where, FORMAT, none_is_missing=True)
        options, gt = row["options"], row["gt"]
        if not isinstance(options, list) or not options:
            raise ValueError(f"{where}: options must be a non-empty list of texts")
        if isinstance(gt, bool) or not isinstance(gt, int) or not 0 <= gt < len(options):
            raise ValueError(f"{where}: gt must be an option index 0..{len(options) - 1}, got {gt!r}")
        return self.make_record(
            row["id"],
            problem=str(row["question"]).strip(),
            answer=chr(65 + gt),  # the official ground_truth
            options=[f"{chr(65 + k)}. {str(o).strip()}" for k, o in enumerate(options)],
            media=[media_path(root, str(row["video"]))],
            categories={"task": task, "category": ovobench.TASK_CATEGORY[task]},
            extra={"source_format": "official", "ovo_id": row["id"], "realtime": row["realtime"]},
        )

    def _forward_records(
        self, row: dict[str, Any], task: str, where: str, root: str
    ) -> list[BenchmarkRecord]:
        require(row, ("test_info", *_FORWARD_FIELDS[task]), where, FORMAT, none_is_missing=True)
        entries = row["test_info"]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{where}: test_info must be a non-empty list")
        records = []
        for j, entry in enumerate(entries):
            at = f"{where} test_info[{j}]"
            if not isinstance(entry, dict):
                raise ValueError(f"{at}: expected an object, got {type(entry).__name__}")  # noqa: TRY004
            require(entry, _ENTRY_FIELDS[task], at, FORMAT, none_is_missing=True)
            extra = {"source_format": "official", "ovo_id": row["id"], "test_index": j}
            extra["realtime"] = entry["realtime"]
            if task == "REC":
                count = entry["count"]
                if isinstance(count, bool) or not isinstance(count, (int, float)):
                    raise ValueError(f"{at}: count must be a number, got {count!r}")
                problem, ptype, answer = f"How many times did they {row['activity']}?", NUMERICAL, str(count)
            else:
                extra["type"] = _yes_no_type(entry["type"], at)
                problem = str(entry["step"] if task == "SSR" else row["question"])
                ptype, answer = BOOLEAN, "Yes" if extra["type"] == 1 else "No"
            records.append(
                self.make_record(
                    f"{row['id']}_{j}",
                    problem=problem.strip(),
                    problem_type=ptype,
                    answer=answer,
                    media=[media_path(root, str(row["video"]))],
                    categories={"task": task, "category": "forward"},
                    extra=extra,
                )
            )
        return records

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        require(row, ("ovo_task", "ovo_category"), where, FORMAT, none_is_missing=True)
        task = row["ovo_task"]
        category = _category(task, where)
        if row["ovo_category"] != category:
            raise ValueError(f"{where}: ovo_category {row['ovo_category']!r} but task {task} is {category}")
        if category != "forward":
            record = super().unified_record(row, index, path, root)
            if record.problem_type != MULTIPLE_CHOICE:
                raise ValueError(f"{where}: a {task} record must be multiple choice")
        else:
            fields = unified_row(row, index, path, root)  # REC would resolve to "spatial grounding"
            extra: dict[str, Any] = {"source_format": "easyvideor1"}
            if task == "REC":
                ptype, answer = NUMERICAL, solution_text(row["solution"])
                if not answer.isdigit():
                    raise ValueError(f"{where}: REC solution {row['solution']!r} holds no count")
            else:
                require(row, ("ovo_type",), where, FORMAT, none_is_missing=True)
                extra["type"] = _yes_no_type(row["ovo_type"], where)
                ptype, answer = BOOLEAN, "Yes" if extra["type"] == 1 else "No"
            record = self.make_record(
                fields["id"],
                problem=fields["problem"],
                problem_type=ptype,
                answer=answer,
                media=fields["media"],
                extra=extra,
            )
        record.categories = {"task": task, "category": category}
        for key in ("ovo_id", "ovo_test_idx"):
            if key in row:
                record.extra[key] = row[key]
        return record

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return ovobench.read_letter(response, record.answer, [o[0] for o in record.options])

    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        task = record.categories["task"]
        if task == "REC":
            score = ovobench.rec_score(response, record.answer)
            return {"score": float(score), "extraction_failed": not any(c.isdigit() for c in response)}
        if task not in ("SSR", "CRR"):
            raise ValueError(f"record {record.id}: OVO task {task!r} is not a forward task")
        score = ovobench.yes_no_score(response, int(record.extra["type"]))
        read = response in ("Y", "N") or "Yes" in response or "No" in response
        return {"score": float(score), "extraction_failed": not read}

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        values = [float(s["score"]) for s in per_sample_scores]
        tasks = [r.categories.get("task", "unknown") for r in records]
        for r, task in zip(records, tasks):
            _category(task, f"record {r.id}")
        task_acc = metrics.category_means(values, tasks)
        cats = ovobench.category_scores(task_acc)
        return {
            "n": len(values),
            "excluded": 0,
            "overall": percent(ovobench.total(task_acc)) if task_acc else None,
            "by_category": {c: percent(v) for c, v in cats.items()},
            "by_task": {t: percent(v) for t, v in task_acc.items()},
            "category_mean": percent(metrics.macro_mean(cats)),
            "accuracy": percent(metrics.accuracy(values)),
        }
