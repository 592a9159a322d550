"""MVBench (Li et al., 2024): 20 temporal tasks x 200 multiple-choice questions.

Annotation formats (detected from the content):

- the official release (HF ``OpenGVLab/MVBench`` ``json/<task>.json``): a list of ``{video, question,
  candidates [texts], answer (text), start?, end?}``; the task is the file stem. A folder of such files
  (``json/``) loads every ``*.json`` in it. The video is ``<media_root>/<task folder>/<video>`` with the
  official task folders (``star/Charades_v1_480``, ``ssv2_video`` ...), so ``media_root`` is the
  release's ``video/`` folder; episodic_reasoning's "video" is a folder of frames (``tvqa/frames_fps3_hq``),
  kept as the media path with ``extra["media_format"] = "frames"``;
- EasyVideoR1's unified ``mvbench.json`` (18 tasks, no fine_grained_pose/episodic_reasoning). It has no
  task field: the task comes from the first folder of ``path`` when that folder holds one task only
  (``./ssv2_video/`` -> action_antonym, ``./sta/`` -> action_localization ...). ``star`` (3 tasks),
  ``clevrer`` (5) and ``perception`` (4) are shared, so their records get task "unknown" (the folder is
  kept as category ``source_folder``), and the task mean over such a file is not the official number.

Ids: EasyVideoR1's ``problem_id``; official rows have none, so ``<task>:<content hash>`` (video,
question, candidates, answer, bounds), ``~2``, ``~3`` for exact repeats.

Scoring: ``official`` is VLMEvalKit's ``check_ans`` (``evaluation.official.mvbench``: first token
substring match, so an EMPTY response scores correct; such a response is flagged ``extraction_failed``);
``robust`` is the reward library. Aggregates (percent): accuracy per task; ``overall`` = the mean of
the per-task accuracies (the paper's average over 20 tasks of 200 questions, = VLMEvalKit's micro
"overall" on the full set); ``tasks_unknown`` counts records without a resolvable task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.adapters.choice import MULTIPLE_CHOICE, ChoiceAdapter
from evaluation.adapters.loading import as_row_list, content_id, media_path, numbered_id, require
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.mvbench import check_ans, ground_truth, matching_letters
from evaluation.records import BenchmarkRecord

UNKNOWN = "unknown"

#: task (json file stem) -> video folder under the release's ``video/`` (VLMEvalKit/MVBench ``data_list``)
TASK_FOLDERS = {
    "action_sequence": "star/Charades_v1_480",
    "action_prediction": "star/Charades_v1_480",
    "action_antonym": "ssv2_video",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "unexpected_action": "FunQA_test/test",
    "object_existence": "clevrer/video_validation",
    "object_interaction": "star/Charades_v1_480",
    "object_shuffle": "perception/videos",
    "moving_direction": "clevrer/video_validation",
    "action_localization": "sta/sta_video",
    "scene_transition": "scene_qa/video",
    "action_count": "perception/videos",
    "moving_count": "clevrer/video_validation",
    "moving_attribute": "clevrer/video_validation",
    "state_change": "perception/videos",
    "fine_grained_pose": "nturgbd",
    "character_order": "perception/videos",
    "egocentric_navigation": "vlnqa",
    "episodic_reasoning": "tvqa/frames_fps3_hq",
    "counterfactual_inference": "clevrer/video_validation",
}
FRAME_TASKS = ("episodic_reasoning",)
ROW_FIELDS = ("video", "question", "candidates", "answer")


def _folder_tasks() -> dict[str, str]:
    """First video-path folder -> task, for folders that hold exactly one task."""
    by_folder: dict[str, list[str]] = {}
    for task, folder in TASK_FOLDERS.items():
        by_folder.setdefault(folder.split("/")[0], []).append(task)
    return {folder: tasks[0] for folder, tasks in by_folder.items() if len(tasks) == 1}


FOLDER_TASKS = _folder_tasks()


def option_text(options: Sequence[str], letter: str) -> str:
    """The text of option ``letter`` among "A. text" options."""
    return next(o[3:] for o in options if o[0] == letter)


def task_from_path(rel: str) -> tuple[str, str]:
    """(task or "unknown", first folder) of an EasyVideoR1 ``path`` such as ``./ssv2_video/1.mp4``."""
    parts = [p for p in str(rel).replace("\\", "/").split("/") if p not in ("", ".")]
    folder = parts[0] if len(parts) > 1 else ""
    return FOLDER_TASKS.get(folder, UNKNOWN), folder


@register_benchmark("mvbench")
class MVBench(ChoiceAdapter):
    unified_signature = UnifiedSignature(fields=("video", "question", "answer"))  # no data_source
    breakdowns = ("task",)
    headline = "macro:task"
    official_unanswered = "wrong"

    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="official `json/` (the folder, or one `json/<task>.json`), or EasyVideoR1 unified `mvbench.json`",
        media="`<task folder>/<video>` (`star/Charades_v1_480/…`, `ssv2_video/…`): `--media-root` is the release's `video/` (official); `<path>` (unified)",
    )
    media_settings = MediaSettings(
        {"max_frames": 8},
        source="VLMEvalKit video_dataset_config.py MVBench_8frame: 8 uniform frames; here fps 2 capped at 8",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "MVBench")
        task = path.stem
        if task not in TASK_FOLDERS:
            raise ValueError(
                f"{path}: the MVBench task is the file stem, and {task!r} is none of the 20 tasks "
                f"({', '.join(sorted(TASK_FOLDERS))})"
            )
        records, seen = [], {}
        for i, row in enumerate(rows):
            where = f"{path}: record {i} (video={row.get('video')!r})"
            require(row, ROW_FIELDS, where, "the official MVBench format")
            candidates = row["candidates"]
            if not isinstance(candidates, list) or len(candidates) < 2:
                raise ValueError(f"{where}: 'candidates' must be a list of at least 2 options")
            texts = [str(c) for c in candidates]
            answer = str(row["answer"])
            hits = [k for k, t in enumerate(texts) if t == answer]
            if not hits or not answer.strip():
                raise ValueError(f"{where}: answer {answer!r} is none of the candidates {texts}")
            extra: dict[str, Any] = {"source_format": "official", "video": str(row["video"])}
            for key in ("start", "end"):  # the clip bounds of the STAR/STA/TVQA tasks
                if key in row:
                    extra[key] = row[key]
            if task in FRAME_TASKS:
                extra["media_format"] = "frames"
            base = f"{task}:" + content_id(
                row["video"], row["question"], texts, answer, row.get("start"), row.get("end")
            )
            rid = numbered_id(base, seen)
            options = [f"{chr(65 + k)}. {t}" for k, t in enumerate(texts)]
            letter = chr(65 + hits[-1])  # the official qa_template keeps the last equal candidate
            records.append(
                self._record(
                    rid,
                    problem=str(row["question"]).strip(),
                    options=options,
                    letter=letter,
                    media=[media_path(root, f"{TASK_FOLDERS[task]}/{row['video']}")],
                    categories={"task": task},
                    extra=extra,
                )
            )
        return records

    def _record(
        self, rid: str, *, letter: str, options: list[str], extra: dict, **fields: Any
    ) -> BenchmarkRecord:
        extra["official_gt"] = ground_truth(letter, option_text(options, letter))
        return self.make_record(rid, answer=letter, options=options, extra=extra, **fields)

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        task, folder = task_from_path(str(row.get("path") or ""))
        return {"task": task, "source_folder": folder}

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        if record.problem_type == MULTIPLE_CHOICE:
            record.extra["official_gt"] = ground_truth(
                record.answer, option_text(record.options, record.answer)
            )
        for key in ("start", "end", "accurate_start", "accurate_end"):
            if key in row:
                record.extra[key] = row[key]
        return record

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        """The one option ``check_ans`` accepts for ``response``; "" when none or several (an empty
        response is accepted for every option)."""
        gts = {o[0]: ground_truth(o[0], o[3:]) for o in record.options}
        letters = matching_letters(response, gts)
        return letters[0] if len(letters) == 1 else ""

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust" or record.problem_type != MULTIPLE_CHOICE:
            return super().score_sample(record, response, mode)
        letter = self.official_choice(response, record)
        correct = check_ans(response, record.extra["official_gt"])
        return {"score": float(correct), "pred": letter, "extraction_failed": not letter}

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        out = super().aggregate(records, per_sample_scores, mode)
        out["tasks_unknown"] = sum(r.categories.get("task", UNKNOWN) == UNKNOWN for r in records)
        return out
