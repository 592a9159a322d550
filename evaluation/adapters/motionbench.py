"""MotionBench (THUDM, fine-grained motion): 8052 questions over 5385 videos; dev answers are public,
test answers are "NA" (scored only by the official leaderboard).

Annotation formats (detected from the content):

- official ``video_info.meta.jsonl`` (HF THUDM/MotionBench): one video per line,
  ``{key, video_path, video_type, question_type, qa: [{uid, question, answer}]}`` with the options inline
  in ``question`` ("...\\nA. x\\nB. y"); ``question_type`` (the category) belongs to the video. Questions
  whose answer is "NA" (the test split) are skipped: they cannot be scored. The video is
  ``<media_root>/<video_path>`` (``<key>.mp4`` without one); the record id is the ``uid``;
- EasyVideoR1 unified JSON (``eval/data/valid_data/motionbench.json``, dev only): its
  ``original_question_type`` is the category.

Official mode (``evaluation.official.lvbench``, MotionBench's own copy of LVBench's ``polish_answer``):
first character of the polished answer vs the letter; an unreadable answer is wrong. Aggregates
(percent): ``overall`` = ``acc`` = right / questions, ``answered_acc`` (the same here: every loaded
question is scored; the official script differs only for questions missing from the answer file), and
``by_question_type`` over the six categories (Motion Recognition, Location-related Motion, Action Order,
Repetition Count, Motion-related Objects, Camera Motion).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.adapters.choice import ChoiceAdapter
from evaluation.adapters.loading import as_row_list, media_path, one_line_jsonl, require, split_inline_options
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.lvbench import NA, polish_answer
from evaluation.records import BenchmarkRecord


@register_benchmark("motionbench")
class MotionBench(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="MotionBench")
    breakdowns = ("question_type",)
    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="official `video_info.meta.jsonl`, or EasyVideoR1 unified `motionbench.json`",
        media="`<video_path>`, else `<key>.mp4` (official); `<path>` (unified)",
    )

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        qtype = row.get("original_question_type")
        return {"question_type": str(qtype)} if qtype is not None else {}

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        records, hidden = [], 0
        for i, video in enumerate(
            as_row_list(one_line_jsonl(data), path, "MotionBench video_info.meta.jsonl")
        ):
            where = f"{path}: record {i} (key={video.get('key')!r})"
            require(video, ("key", "question_type", "qa"), where)
            if not isinstance(video["qa"], list):
                raise ValueError(f"{where}: 'qa' must be a list")  # noqa: TRY004
            rel = video.get("video_path") or f"{video['key']}.mp4"
            for j, qa in enumerate(video["qa"]):
                q_where = f"{where}, qa {j} (uid={qa.get('uid') if isinstance(qa, dict) else None!r})"
                if not isinstance(qa, dict):
                    raise ValueError(f"{q_where}: expected an object")  # noqa: TRY004
                require(qa, ("uid", "question", "answer"), q_where)
                if str(qa["answer"]).strip() == NA:
                    hidden += 1
                    continue
                records.append(self._record(qa, video, rel, root, q_where))
        if not records and hidden:
            raise ValueError(
                f"{path}: all {hidden} questions have the answer {NA!r} (the test split's hidden answers); "
                "only the dev split can be scored here"
            )
        return records

    def _record(self, qa: dict, video: dict, rel: str, root: str, where: str) -> BenchmarkRecord:
        stem, options = split_inline_options(str(qa["question"]), where)
        answer = str(qa["answer"]).strip()
        if answer not in [o[0] for o in options]:
            raise ValueError(f"{where}: answer {qa['answer']!r} is not one of the option letters")
        return self.make_record(
            qa["uid"],
            problem=stem,
            answer=answer,
            options=options,
            media=[media_path(root, str(rel))],
            categories={"question_type": str(video["question_type"])},
            extra={
                "source_format": "official",
                "video_key": str(video["key"]),
                "video_type": str(video.get("video_type", "")),
            },
        )

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return polish_answer(response)

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        out = super().aggregate(records, per_sample_scores, mode)
        out["acc"] = out["answered_acc"] = out["overall"]
        return out
