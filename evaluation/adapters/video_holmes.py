"""Video-Holmes (TencentARC, reasoning over suspense short films): 1837 six-option questions.

Annotation formats (detected from the content):

- official ``test_Video-Holmes.json`` (HF TencentARC/Video-Holmes, read by the official
  ``evaluate.py``): a list of ``{"video ID", "Question ID", "Question Type", "Question",
  "Options": {"A": ..., "F": ...}, "Answer", "Explanation"}``; ``Question Type`` is one of SR, IMC,
  TCI, TA, MHR, PAR, CTI. The video is ``<media_root>/<video ID>.mp4``; the record id is the
  ``Question ID`` (a content hash of video, question and options when a file lacks it);
- EasyVideoR1 unified JSON (``eval/data/valid_data/holmes.json``): no question type, so only the
  overall accuracy can be computed from it.

Official mode (``evaluation.official.video_holmes``): the last ``<answer>`` block, then the first of
A-F followed by a space or ":" or preceded by "[", then the first capital A-F anywhere ("Final Answer:
C" -> "A"); no letter at all is wrong. Aggregates (percent): ``overall`` = correct / questions and
``by_question_type``, as the script's CSV reports them (it prints fractions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.adapters.choice import ChoiceAdapter
from evaluation.adapters.loading import as_row_list, content_id, media_path, require
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature, lettered_options
from evaluation.official.video_holmes import holmes_choice
from evaluation.records import BenchmarkRecord

FIELDS = ("video ID", "Question", "Options", "Answer", "Question Type")


@register_benchmark("video_holmes")
class VideoHolmes(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="Video-Holmes")
    breakdowns = ("question_type",)
    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="official `test_Video-Holmes.json`, or EasyVideoR1 unified `holmes.json`",
        media="`<video ID>.mp4` (official); `<path>` (unified)",
    )
    media_settings = MediaSettings(
        {"max_frames": 64},
        source="VLMEvalKit video_dataset_config.py Video_Holmes_64frame: 64 uniform frames; here fps 2 capped at 64",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        return [
            self._record(row, root, f"{path}: record {i} (Question ID={row.get('Question ID')!r})")
            for i, row in enumerate(as_row_list(data, path, "Video-Holmes"))
        ]

    def _record(self, row: dict[str, Any], root: str, where: str) -> BenchmarkRecord:
        require(row, FIELDS, where)
        if not isinstance(row["Options"], dict) or len(row["Options"]) < 2:
            raise ValueError(f"{where}: Options must be an object of at least two lettered options")
        options = lettered_options(row["Options"], where)
        answer = str(row["Answer"]).strip()
        if answer not in [o[0] for o in options]:
            raise ValueError(f"{where}: Answer {row['Answer']!r} is not one of the option letters")
        rid = row.get("Question ID")
        if rid is None:
            rid = content_id(row["video ID"], row["Question"], *options)
        return self.make_record(
            rid,
            problem=str(row["Question"]).strip(),
            answer=answer,
            options=options,
            media=[media_path(root, f"{row['video ID']}.mp4")],
            categories={"question_type": str(row["Question Type"])},
            extra={"source_format": "official", "video_id": str(row["video ID"])},
        )

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return holmes_choice(response)
