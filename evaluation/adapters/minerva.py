"""MINERVA (Google DeepMind, complex video reasoning): 1515 five-option questions with reasoning traces.

Annotation formats (detected from the content):

- official ``minerva.json`` (google-deepmind/neptune; fields as read by lmms-eval
  ``tasks/minerva/utils.py``): a list of ``{key, video_id, question, answer, answer_choice_0..4,
  answer_id, reasoning, "question type", split, category}``; ``answer_id`` (0-4) names the correct
  choice; ``"question type"`` is a comma-separated list of skills (``question_type`` is accepted too).
  The video is ``<media_root>/<video_id>.mp4``; the record id is ``key``;
- EasyVideoR1 unified JSON (``eval/data/valid_data/minerva.json``, data_source "Minderva"): no
  question type, split or category, so only the overall accuracy can be computed from it.

MINERVA ships no scoring script (the release is the json), so "official" here is the reference
harness the ReelRL numbers are compared with: EasyVideoR1's ``extract_answer`` then exact letter
(``evaluation.official.easyvideor1``); an unreadable answer is wrong. lmms-eval instead takes the last
"answer/option is X" or the last capital A-E anywhere and guesses at random when it finds none.
Aggregates (percent): ``overall`` = micro accuracy, and, as lmms-eval logs them, ``by_question_type``
(the raw skill string), ``by_split`` and ``by_category``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.adapters.choice import ChoiceAdapter
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord

LETTERS = "ABCDE"
FIELDS = ("key", "video_id", "question", "answer", "answer_id", "split", "category") + tuple(
    f"answer_choice_{i}" for i in range(len(LETTERS))
)


@register_benchmark("minerva")
class Minerva(ChoiceAdapter):
    unified_signature = UnifiedSignature(
        data_source="(?i)minerva|minderva"
    )  # EasyVideoR1 spells it "Minderva"
    breakdowns = ("question_type", "split", "category")
    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="official `minerva.json`, or EasyVideoR1 unified `minerva.json`",
        media="`<video_id>.mp4` (official); `<path>` (unified)",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        return [
            self._record(row, root, f"{path}: record {i} (key={row.get('key')!r})")
            for i, row in enumerate(as_row_list(data, path, "MINERVA"))
        ]

    def _record(self, row: dict[str, Any], root: str, where: str) -> BenchmarkRecord:
        require(row, FIELDS, where)
        qtype = row.get("question type", row.get("question_type"))
        if qtype is None:
            raise ValueError(f"{where}: missing fields ['question type']")
        answer_id = row["answer_id"]
        if isinstance(answer_id, str) and answer_id.strip().isdigit():
            answer_id = int(answer_id)
        if isinstance(answer_id, bool) or not isinstance(answer_id, int) or not 0 <= answer_id < len(LETTERS):
            raise ValueError(f"{where}: answer_id must be 0-{len(LETTERS) - 1}, got {row['answer_id']!r}")
        options = [f"{LETTERS[i]}. {str(row[f'answer_choice_{i}']).strip()}" for i in range(len(LETTERS))]
        return self.make_record(
            row["key"],
            problem=str(row["question"]).strip(),
            answer=LETTERS[answer_id],
            options=options,
            media=[media_path(root, f"{row['video_id']}.mp4")],
            categories={
                "question_type": str(qtype),
                "split": str(row["split"]),
                "category": str(row["category"]),
            },
            extra={"source_format": "official", "video_id": str(row["video_id"])},
        )

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_answer(response)
