"""Video-MME (Fu et al., 2024): 900 videos x 3 four-option questions, short/medium/long.

Annotation formats (detected from the content):

- the official HF release (``lmms-lab/Video-MME`` ``videomme/test-00000-of-00001.parquet``, or the same
  rows as JSON/JSONL): ``video_id, duration (short/medium/long), domain, sub_category, url, videoID,
  question_id, task_type, question, options ["A. ..", ...], answer (letter)``; the video is
  ``<media_root>/<videoID>.mp4`` (lmms-eval's ``data/<videoID>.mp4``);
- the official results layout of BradyFU/Video-MME ``evaluation/output_test_template.json``: a list of
  videos ``{video_id, duration_category, video_category, video_subcategory, questions: [{question_id,
  task_type, question, choices|options, answer, ...}]}``; the responses it may hold are ignored. It has
  no YouTube id, so the video is ``<media_root>/<videoID or video_id>.mp4``;
- EasyVideoR1's unified ``videomme.json`` (keeps duration, domain, sub_category, task_type).

Record ids are the official ``question_id`` ("001-2") in every format, so predictions join across them.

Scoring: ``official`` reads the letter like ``eval_your_results.py`` (``evaluation.official.videomme``,
"Answer: B" -> "A") and, like it, leaves unreadable answers out of the denominator
(``official_unanswered = "excluded"``); ``robust`` is the reward library. Aggregates (percent): overall
micro accuracy and accuracy per duration, domain (the script's "video categories"), sub_category and
task_type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.adapters.choice import ChoiceAdapter
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature, choice_letter, lettered_options
from evaluation.official.videomme import extract_characters_regex
from evaluation.records import BenchmarkRecord

ROW_FIELDS = (
    "video_id",
    "duration",
    "domain",
    "sub_category",
    "videoID",
    "question_id",
    "task_type",
    "question",
    "options",
    "answer",
)
VIDEO_FIELDS = ("video_id", "duration_category", "video_category", "video_subcategory", "questions")
QUESTION_FIELDS = ("question_id", "task_type", "question", "answer")
CATEGORY_FIELDS = ("duration", "domain", "sub_category", "task_type")


@register_benchmark("video_mme")
class VideoMME(ChoiceAdapter):
    unified_signature = UnifiedSignature(
        fields=("videoID", "question_id", "duration", "domain", "task_type")
    )  # no data_source
    breakdowns = CATEGORY_FIELDS
    headline = "micro"
    official_unanswered = "excluded"

    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="official `videomme/test-00000-of-00001.parquet` (or its rows as JSON/JSONL) or BradyFU's results template, or EasyVideoR1 unified `videomme.json`",
        media="`<videoID>.mp4` (lmms-eval's `data/`) (official); `<path>` (unified)",
    )
    media_settings = MediaSettings(
        {"max_frames": 64},
        source="VLMEvalKit video_dataset_config.py Video-MME_64frame: 64 uniform frames; here fps 2 capped at 64",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "Video-MME")
        if rows and "questions" in rows[0]:
            return self._load_results_layout(rows, path, root)
        records = []
        for i, row in enumerate(rows):
            where = f"{path}: record {i} (question_id={row.get('question_id')!r})"
            require(row, ROW_FIELDS, where, "the official Video-MME rows", none_is_missing=True)
            categories = {k: str(row[k]) for k in CATEGORY_FIELDS}
            video = media_path(root, f"{row['videoID']}.mp4")
            extra = {"source_format": "official", "video_id": str(row["video_id"])}
            extra["videoID"] = str(row["videoID"])
            if row.get("url"):
                extra["url"] = str(row["url"])
            records.append(self._record(row, where, video, categories, extra))
        return records

    def _load_results_layout(self, videos: list[dict], path: Path, root: str) -> list[BenchmarkRecord]:
        records = []
        for vi, video_row in enumerate(videos):
            vwhere = f"{path}: video {vi} (video_id={video_row.get('video_id')!r})"
            require(
                video_row, VIDEO_FIELDS, vwhere, "the official Video-MME results layout", none_is_missing=True
            )
            questions = video_row["questions"]
            if not isinstance(questions, list) or not all(isinstance(q, dict) for q in questions):
                raise ValueError(f"{vwhere}: 'questions' must be a list of objects")
            vid = str(video_row.get("videoID") or video_row["video_id"])
            for qi, q in enumerate(questions):
                where = f"{vwhere}, question {qi} (question_id={q.get('question_id')!r})"
                require(q, QUESTION_FIELDS, where, "a Video-MME results question", none_is_missing=True)
                if "options" not in q and "choices" not in q:
                    raise ValueError(f"{where}: missing field 'options' (or 'choices')")
                categories = {
                    "duration": str(video_row["duration_category"]),
                    "domain": str(video_row["video_category"]),
                    "sub_category": str(video_row["video_subcategory"]),
                    "task_type": str(q["task_type"]),
                }
                row = {**q, "options": q.get("options", q.get("choices"))}
                extra = {"source_format": "official_results", "video_id": str(video_row["video_id"])}
                records.append(self._record(row, where, media_path(root, f"{vid}.mp4"), categories, extra))
        return records

    def _record(
        self, row: dict, where: str, video: str, categories: dict[str, str], extra: dict
    ) -> BenchmarkRecord:
        options = lettered_options(row["options"], where)
        if not options:
            raise ValueError(f"{where}: no options")
        return self.make_record(
            str(row["question_id"]),
            problem=str(row["question"]).strip(),
            answer=choice_letter(str(row["answer"]), options, where),
            options=options,
            media=[video],
            categories=categories,
            extra=extra,
        )

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        if row.get("question_id") not in (None, ""):  # the official id, shared with the official formats
            record.extra["problem_id"] = record.id
            record.id = str(row["question_id"])
        for key in ("video_id", "videoID"):
            if row.get(key) not in (None, ""):
                record.extra[key] = str(row[key])
        return record

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        return {k: str(row[k]) for k in CATEGORY_FIELDS if row.get(k) not in (None, "")}

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_characters_regex(response)
