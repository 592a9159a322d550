"""Video-MMMU: knowledge acquisition from lecture videos, in three tracks (Perception, Comprehension,
Adaptation), 300 questions each; multiple choice (up to 10 options) plus numerical open questions.

Annotation format: EasyVideoR1's unified ``videommmu_with_image.json`` (900 rows; ``problem_type``
"multiple choice" or "numerical", ``original_question_type`` "multiple-choice"/"open", the video
``path`` "./<split>_<Subject>_<n>.mp4" and, for Adaptation, ``image_path``). The file has no track field:
the track is Adaptation for a row with ``image_path`` (EasyVideoR1 appends that image after the video),
else it follows EasyVideoR1's file order, which lists the three tracks of the same 300 videos one after
the other: ``problem_id`` 1-300 Adaptation, 301-600 Comprehension, 601-900 Perception (checked on the
file: ./validation_Geography_1.mp4 is problem 20, 320 and 620; the Comprehension block asks "if we
change ..." questions, the Perception block "what is shown/said ..."). A row may instead carry ``track``.
The official HF release (lmms-lab/VideoMMMU parquet, one config per track) is not read here.

Media: the record's media is the video; the Adaptation image is ``images_after``, so the model sees video,
image, then the question prefixed with EasyVideoR1's hint ("The image for this question is at the end of
the video."), as EasyVideoR1's evaluator sends it.

Official mode (lmms-eval ``tasks/videommmu/utils.py``, see ``evaluation.official.videommmu``): the MMMU
letter parser for multiple choice (options read as their texts), ``parse_open_response`` +
``eval_open`` for numerical questions; an empty response is an "API Error" and leaves the denominator.
Aggregates (percent): accuracy per track and ``overall`` over all counted samples (lmms-eval's
instance-level accuracy), plus per question type.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.adapters.choice import MULTIPLE_CHOICE, ChoiceAdapter
from evaluation.adapters.loading import media_path
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.videommmu import API_ERROR, open_correct, parse_choice, parse_open
from evaluation.records import BenchmarkRecord

TRACKS = ("Perception", "Comprehension", "Adaptation")
IMAGE_HINT = "The image for this question is at the end of the video."
# EasyVideoR1's file order (problem_id 1-300 are the Adaptation rows, which carry the image)
_ID_BLOCKS = ((301, 600, "Comprehension"), (601, 900, "Perception"))


@register_benchmark("video_mmmu")
class VideoMMMU(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source=r"https?://.+", path=r"(\./)?[^/_]+_[^/]+_\d+\.mp4")
    # data_source is the video's URL; the path is ./<split>_<Subject>_<n>.mp4
    breakdowns = ("track", "question_type")

    media_layout = MediaLayout(
        annotations="EasyVideoR1 unified `videommmu_with_image.json`",
        media="`<path>` (`<split>_<Subject>_<n>.mp4`); Adaptation's image `<image_path>`",
    )
    media_settings = MediaSettings(
        {"max_frames": 64},
        source="VLMEvalKit video_dataset_config.py VideoMMMU_64frame: 64 uniform frames; here fps 2 capped at 64",
    )

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        image = row.get("image_path")
        track = _track(row, image, where)
        video_id = Path(str(row.get("path") or "")).stem
        m = re.fullmatch(r"[^_]+_(.+?)_\d+", video_id)
        record.categories = {
            "track": track,
            "question_type": "multiple-choice" if record.problem_type == MULTIPLE_CHOICE else "open",
            "subject": m.group(1) if m else "unknown",
        }
        record.extra["video_id"] = video_id
        if image:
            record.images_after = [media_path(root, str(image))]
        return record

    def prompt_fields(self, record: BenchmarkRecord) -> dict[str, Any]:
        """EasyVideoR1's message for an Adaptation row: video, image, then the hint before the question."""
        fields = super().prompt_fields(record)
        if record.images_after:
            fields["problem"] = f"{IMAGE_HINT}\n{fields['problem']}"
        return fields

    # ------------------------------------------------------------------ official scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        letter = parse_choice(response, [o[3:] for o in record.options])
        return letter if len(letter) == 1 else ""

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        result = super().score_sample(record, response, mode)
        if mode == "official":
            result["api_error"] = response == ""  # lmms-eval drops these from the denominator
        return result

    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        preds = parse_open(response)
        correct = open_correct(record.answer, preds)
        pred = None if preds == API_ERROR else [p if isinstance(p, str) else float(p) for p in preds]
        return {"score": float(correct), "pred": pred, "extraction_failed": preds == API_ERROR}

    def counted(self, scores: Sequence[dict[str, Any]], mode: str) -> list[bool]:
        return [not (mode == "official" and s.get("api_error")) for s in scores]


def _track(row: dict[str, Any], image: Any, where: str) -> str:
    if row.get("track") is not None:
        track = str(row["track"]).strip().capitalize()
        if track not in TRACKS:
            raise ValueError(f"{where}: track {row['track']!r} is not one of {TRACKS}")
        return track
    if image:
        return "Adaptation"
    try:
        pid = int(row["problem_id"])
    except (TypeError, ValueError):
        pid = None
    for low, high, track in _ID_BLOCKS:
        if pid is not None and low <= pid <= high:
            return track
    raise ValueError(
        f"{where}: no image_path and a problem_id outside EasyVideoR1's Comprehension (301-600) and "
        "Perception (601-900) blocks, so the track is unknown (add a 'track' field)"
    )
