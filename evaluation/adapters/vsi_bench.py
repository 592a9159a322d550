"""VSI-Bench (Yang et al., "Thinking in Space"): spatial questions on indoor scene videos.

Annotation formats (detected from the content):

- official release (HF ``nyu-visionx/VSI-Bench``, Parquet or JSON): ``id, dataset, scene_name,
  question_type, question, options ("A. x" list, null for numerical questions), ground_truth``
  (a letter or a number as a string); the video is ``<media_root>/<dataset>/<scene_name>.mp4``;
- EasyVideoR1 unified JSON (``eval/data/valid_data/vsibench.json``): multiple choice and
  ``regression`` records whose ``original_question_type`` is the official ``question_type``.

Ten question types: six multiple choice (MCA) and four numerical (NA, ``problem_type`` "regression").

Scoring: ``official`` reproduces ``lmms_eval/tasks/vsibench/utils.py`` of vision-x-nyu/thinking-in-space
(first space-separated token; MCA exact letter, NA Mean Relative Accuracy, see
``evaluation.official.vsibench``). ``robust`` is the reward library: multiple choice, and its
"regression" scorer, which is the same MRA (official ``<=`` and the same ten thresholds; it reads the
number anywhere in the answer instead of the first token only, and scores ``g = 0`` instead of dying).

Aggregates (both modes, percent): the mean per question type, the eight task scores of the official
script (the three relative-direction levels folded into one, a missing level counting 0) and
``overall`` = their mean, plus the micro means of the multiple-choice and numerical records
(EasyVideoR1's ``mean_acc`` / ``mean_mra``). Prompt: the official VSI-Bench prompts
(``templates/vsi_bench``), since the official parser reads only the first token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import MULTIPLE_CHOICE, TEMPLATES, ChoiceAdapter, percent
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature, choice_letter, lettered_options
from evaluation.official import vsibench
from evaluation.records import BenchmarkRecord

REGRESSION = "regression"
QUESTION_TYPES = (*vsibench.MCA_TYPES, *vsibench.NA_TYPES)
OFFICIAL_FIELDS = ("id", "dataset", "scene_name", "question_type", "question", "ground_truth")


def _problem_type(question_type: str, where: str) -> str:
    if question_type in vsibench.MCA_TYPES:
        return MULTIPLE_CHOICE
    if question_type in vsibench.NA_TYPES:
        return REGRESSION
    raise ValueError(f"{where}: unknown VSI-Bench question_type {question_type!r}; known: {QUESTION_TYPES}")


def _number(answer: Any, where: str) -> str:
    text = str(answer).strip()
    if vsibench.to_float(text) is None:
        raise ValueError(f"{where}: numerical ground_truth {answer!r} is not a number")
    return text


@register_benchmark("vsi_bench")
class VSIBench(ChoiceAdapter):
    """VSI-Bench; ``prompt_style`` "letter" (default) renders the official VSI-Bench prompts."""

    unified_signature = UnifiedSignature(data_source="VSIBench")

    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="official release (Parquet or JSON), or EasyVideoR1 unified `vsibench.json`",
        media="`<dataset>/<scene_name>.mp4` (official); `<path>` (unified)",
    )

    def __init__(self, prompt_style: str = "letter", **options: Any):
        super().__init__(prompt_style, **options)
        if prompt_style == "letter":
            self.prompt_template = str(TEMPLATES / "vsi_bench")

    # ------------------------------------------------------------------ loading
    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "VSI-Bench")
        return [self._official_record(row, i, path, root) for i, row in enumerate(rows)]

    def _official_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        where = f"{path}: record {index} (id={row.get('id')!r})"
        require(row, OFFICIAL_FIELDS, where, "the VSI-Bench release format", none_is_missing=True)
        qtype = str(row["question_type"])
        ptype = _problem_type(qtype, where)
        options: list[str] = []
        if ptype == MULTIPLE_CHOICE:
            options = lettered_options(row.get("options"), where)
            if not options:
                raise ValueError(f"{where}: a multiple-choice question ({qtype}) without options")
            answer = choice_letter(str(row["ground_truth"]), options, where)
        else:
            answer = _number(row["ground_truth"], where)
        dataset, scene = str(row["dataset"]), str(row["scene_name"])
        return self.make_record(
            row["id"],
            problem=str(row["question"]).strip(),
            problem_type=ptype,
            answer=answer,
            options=options,
            media=[media_path(root, f"{dataset}/{scene}.mp4")],
            categories={"question_type": qtype, "dataset": dataset},
            extra={"source_format": "official", "scene_name": scene},
        )

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        qtype = row.get("original_question_type")
        if qtype is None:
            raise ValueError(f"{where}: missing field 'original_question_type' (the VSI-Bench question_type)")
        qtype = str(qtype)
        expected = _problem_type(qtype, where)
        record = super().unified_record(row, index, path, root)
        if record.problem_type != expected:
            raise ValueError(
                f"{where}: problem_type {record.problem_type!r} does not fit question_type {qtype!r} "
                f"(expected {expected!r})"
            )
        if expected == REGRESSION:
            _number(record.answer, where)
        record.categories = {"question_type": qtype}
        return record

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return vsibench.mca_choice(response, [o[0] for o in record.options])

    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        if record.problem_type != REGRESSION:
            raise ValueError(f"record {record.id}: VSI-Bench has no {record.problem_type!r} questions")
        value, pred = vsibench.na_score(response, record.answer)
        shown = pred if pred is None or math.isfinite(pred) else str(pred)  # NaN/inf are not JSON
        return {"score": value, "pred": shown, "extraction_failed": pred is None}

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        values = [float(s["score"]) for s in per_sample_scores]
        labels = []
        for r in records:
            qtype = r.categories.get("question_type")
            if qtype not in QUESTION_TYPES:
                raise ValueError(f"record {r.id}: unknown VSI-Bench question_type {qtype!r}")
            labels.append(qtype)
        out: dict[str, Any] = {"n": len(values), "excluded": 0}
        type_means = metrics.category_means(values, labels)
        tasks = vsibench.task_scores(type_means) if values else {}
        out["overall"] = percent(vsibench.overall(tasks)) if tasks else None
        out["by_task"] = {t: percent(tasks[t]) for t in vsibench.TASKS if t in tasks}
        out["by_question_type"] = {t: percent(v) for t, v in type_means.items()}
        out["missing_question_types"] = [t for t in QUESTION_TYPES if t not in type_means]
        mc = [v for v, r in zip(values, records) if r.problem_type == MULTIPLE_CHOICE]
        na = [v for v, r in zip(values, records) if r.problem_type != MULTIPLE_CHOICE]
        out["mc_accuracy"] = percent(metrics.mean(mc))
        out["mean_mra"] = percent(metrics.mean(na))
        return out
