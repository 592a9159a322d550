"""MLVU (Zhou et al., 2024): long-video multiple choice, dev (7 tasks, 2174 questions, 4 options) and
test (9 tasks, 502 questions, up to 6 options A-F).

Annotation formats (detected from the content):

- the official release: dev ``MLVU/json/<N>_<task>.json`` (``video, duration, question, candidates
  [texts], answer (text), question_type``), test ``test_mcq_gt.json`` (the same plus ``question_id``).
  A folder of such files loads every ``*.json`` in it. The dev video is
  ``<media_root>/<file stem>/<video>`` (``MLVU/video/1_plotQA/...``, so ``media_root`` is the release's
  ``video/`` folder; a row's ``_source_file`` overrides the stem), a test video (or a file whose stem is
  not ``<N>_<task>``) is ``<media_root>/<video>``. The generation tasks (dev ``8_sub_scene``,
  ``9_summary``: question types subPlot/summary, free-text answers judged by GPT-4 in the official
  ``open_bench``) are not multiple choice: their rows are skipped with a warning;
- EasyVideoR1's unified ``mlvu-test.json`` (= ``mlvu.json``, the test split). It has no question type;
  the video name ``test_<source>_<n>.mp4`` names it where the source holds one task only (surveil ->
  anomaly_reco, needle -> needleQA, ego, count, order); other sources (movies, cartoons, TV ...) mix
  plotQA/topic_reasoning/sportsQA/tutorialQA and get "unknown" (the source is kept as category
  ``video_source``), so M-avg over such a file is not the official number.

Ids: the official ``question_id`` when there is one, else EasyVideoR1's ``problem_id``, else
``<question_type>:<content hash>`` (video, question, candidates, answer).

Scoring: ``official`` is choice_bench's ``check_ans`` on the stripped response
(``evaluation.official.mlvu``: the character before the first ")", else the whole response must be
the letter; "B." is wrong); ``robust`` is the reward library. Aggregates (percent): accuracy per
question type; ``overall`` = M-avg, the mean of the per-type accuracies.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from evaluation.adapters.choice import ChoiceAdapter
from evaluation.adapters.loading import as_row_list, content_id, media_path, require
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.mlvu import read_option
from evaluation.records import BenchmarkRecord

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
ROW_FIELDS = ("video", "question", "candidates", "answer", "question_type")
GENERATION_TYPES = ("subPlot", "summary")
#: ``test_<source>_<n>.mp4`` sources that hold one question type (the MLVU test names)
SOURCE_TYPES = {
    "surveil": "anomaly_reco",
    "needle": "needleQA",
    "ego": "ego",
    "count": "count",
    "order": "order",
}
_TEST_VIDEO = re.compile(r"test_(.+?)_\d+\.\w+")
_DEV_FILE = re.compile(r"\d+_\w+")


class GenerationTaskFile(ValueError):
    """A file of MLVU generation tasks only (no multiple-choice record in it)."""


def type_from_video(name: str) -> tuple[str, str]:
    """(question type or "unknown", source) of an MLVU test video name such as ``test_surveil_3.mp4``."""
    m = _TEST_VIDEO.fullmatch(Path(name).name)
    source = m.group(1) if m else ""
    return SOURCE_TYPES.get(source, UNKNOWN), source


@register_benchmark("mlvu")
class MLVU(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="MLVU")
    breakdowns = ("question_type",)
    headline = "macro:question_type"
    official_unanswered = "wrong"

    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="official dev `MLVU/json/` (the folder, or one `<N>_<task>.json`) or test `test_mcq_gt.json`, or EasyVideoR1 unified `mlvu-test.json`",
        media="dev `<N>_<task>/<video>`: `--media-root` is the release's `video/`; test `<video>`; `<path>` (unified)",
    )
    media_settings = MediaSettings(
        {"max_frames": 64},
        source="VLMEvalKit video_dataset_config.py MLVU_64frame: 64 uniform frames; here fps 2 capped at 64",
    )

    def load_folder_file(self, path: Path, root: str) -> list[BenchmarkRecord]:
        """A folder of task files: 8_sub_scene.json / 9_summary.json hold only generation tasks, skipped."""
        try:
            return self.load_file(path, root)
        except GenerationTaskFile as e:
            log.warning("%s", e)
            return []

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "MLVU")
        records, skipped = [], 0
        for i, row in enumerate(rows):
            rid = row.get("question_id")
            where = f"{path}: record {i} (question_id={rid!r}, video={row.get('video')!r})"
            if row.get("question_type") in GENERATION_TYPES:
                skipped += 1
                continue
            require(row, ROW_FIELDS, where, "the official MLVU format")
            records.append(self._official_record(row, where, path, root))
        if skipped:
            if not records:
                raise GenerationTaskFile(
                    f"{path}: only generation-task rows ({', '.join(GENERATION_TYPES)}): no multiple choice"
                )
            log.warning(
                "%s: skipped %d generation-task rows (%s)", path, skipped, ", ".join(GENERATION_TYPES)
            )
        return records

    def _official_record(self, row: dict[str, Any], where: str, path: Path, root: str) -> BenchmarkRecord:
        candidates = row["candidates"]
        if not isinstance(candidates, list) or len(candidates) < 2:
            raise ValueError(f"{where}: 'candidates' must be a list of at least 2 options")
        texts = [str(c) for c in candidates]
        answer = str(row["answer"])
        hits = [k for k, t in enumerate(texts) if t == answer]
        if not hits:
            raise ValueError(f"{where}: answer {answer!r} is none of the candidates {texts}")
        letter = chr(65 + hits[-1])  # the official qa_template keeps the last equal candidate
        qtype = str(row["question_type"])
        stem = Path(str(row.get("_source_file") or path.name)).stem
        video = str(row["video"])
        rel = f"{stem}/{video}" if "question_id" not in row and _DEV_FILE.fullmatch(stem) else video
        if "question_id" in row:
            rid = str(row["question_id"])
        else:
            rid = f"{qtype}:" + content_id(video, row["question"], texts, answer)
        extra: dict[str, Any] = {"source_format": "official", "video": video}
        if "duration" in row:
            extra["duration"] = row["duration"]
        return self.make_record(
            rid,
            problem=str(row["question"]).strip(),
            answer=letter,
            options=[f"{chr(65 + k)}. {t}" for k, t in enumerate(texts)],
            media=[media_path(root, rel)],
            categories={"question_type": qtype},
            extra=extra,
        )

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        if row.get("question_type"):
            return {"question_type": str(row["question_type"])}
        qtype, source = type_from_video(str(row.get("path") or row.get("video") or ""))
        return {"question_type": qtype, "video_source": source}

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        """What choice_bench compares with the gt letter (stripped response), when it is an option
        letter; "" otherwise (never equal to the answer, as in the official check)."""
        read = read_option(response.strip())
        return read if read in {o[0] for o in record.options} else ""
