"""MMVU: expert-level, multi-discipline video understanding (validation set: 625 multiple choice with five
options + 375 open-ended questions, 27 subjects).

Annotation formats (detected from the content):

- EasyVideoR1 unified ``mmvu-all.json`` (1000 rows; ``mmvu.json`` / ``mmvu-mc.json`` hold the 625 MC only):
  the unified fields plus ``original_question_type`` ("multiple-choice"/"open-ended"); the subject is the
  video's folder ("./videos/Preventive_Medicine/1.mp4");
- the official ``data/validation.json`` (yale-nlp/MMVU): ``id, video`` (a Hugging Face URL ending in
  ``videos/<Subject>/<n>.mp4``, read as ``<media_root>/videos/<Subject>/<n>.mp4``), ``question_type``,
  ``metadata.subject``, ``question``, ``choices`` (A-E, empty strings for open-ended), ``answer`` (a
  letter, or the answer text).

Official mode: the official MMVU script has GPT-4o grade every answer; here multiple choice is read by
EasyVideoR1's extraction (``evaluation.official.easyvideor1``, its reference harness; unreadable =
wrong) and open-ended answers are graded by the judge: ``judge_prompt="benchmark"`` (default) sends
MMVU's GPT-4o instruction and reads its ``"correct"`` verdict, ``"easyvideor1"`` sends EasyVideoR1's
``llm_judge.py`` prompt (the one behind EasyVideoR1's MMVU numbers). Without a judge an open-ended
record is a scoring error in official mode (robust mode grades it with the reward library's rules).

Aggregates (percent): ``overall`` (micro), ``by_question_type``, ``by_discipline`` (subject folder) and
``by_field`` (Science / Engineering / Healthcare / Humanities_and_Social_Science: lmms-eval's
``TASK_MAP`` of the 27 subjects).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evaluation.adapters.choice import MULTIPLE_CHOICE, ChoiceAdapter
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature, choice_letter, lettered_options
from evaluation.official import judged
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord

OPEN_ENDED = "open-ended"
# lmms-eval tasks/mmvu/utils.py TASK_MAP (subject folder -> field)
FIELDS = {
    **dict.fromkeys(("Biology", "Chemistry", "Modern_Physics", "Astronomy", "Geography", "Materials_Science",
                     "Neurobiology", "Electromagnetism", "Thermodynamics", "Mechanics"), "Science"),
    **dict.fromkeys(("Civil_Engineering", "Electrical_Engineering", "Mechanical_Engineering",
                     "Biomedical_Engineering", "Electronics_and_Communication", "Computer_Science"),
                    "Engineering"),
    **dict.fromkeys(("Clinical_Medicine", "Basic_Medicine", "Preventive_Medicine", "Pharmacy", "Dentistry"),
                    "Healthcare"),
    **dict.fromkeys(("Art", "Literature", "History", "Law", "Economics", "Management"),
                    "Humanities_and_Social_Science"),
}  # fmt: skip
OFFICIAL_KEYS = ("id", "video", "question_type", "question", "choices", "answer")


@register_benchmark("mmvu")
class MMVU(ChoiceAdapter):
    """``judge``: a ``training.rewards.judge.Judge`` for the open-ended answers in official mode;
    ``judge_prompt``: "benchmark" (MMVU's GPT-4o prompt) or "easyvideor1" (module docstring)."""

    unified_signature = UnifiedSignature(
        data_source=r"https?://.+", fields=("original_question_type",), path=r"(\./)?videos/[^/]+/[^/]+"
    )  # data_source is the video's URL; the path is videos/<Subject>/<n>.mp4

    uses_judge = True
    breakdowns = ("question_type", "discipline", "field")

    media_layout = MediaLayout(
        annotations="official `data/validation.json`, or EasyVideoR1 unified `mmvu-all.json`",
        media="`videos/<Subject>/<n>.mp4` (both)",
    )

    def __init__(self, prompt_style: str = "letter", judge: Any = None, judge_prompt: str = "benchmark"):
        super().__init__(prompt_style)
        self.judge = judge
        self.judge_prompt = judged.check_judge_prompt(self.name, judge_prompt)

    # ------------------------------------------------------------------ loading
    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        qtype = row.get("original_question_type") or (
            "multiple-choice" if record.problem_type == MULTIPLE_CHOICE else OPEN_ENDED
        )
        record.categories = _categories(str(qtype), str(row.get("path") or ""))
        return record

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "MMVU")
        return [self._official_record(row, i, path, root) for i, row in enumerate(rows)]

    def _official_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        where = f"{path}: record {index} (id={row.get('id')!r})"
        require(row, OFFICIAL_KEYS, where, "the MMVU validation format")
        video = str(row["video"])
        m = re.search(r"/resolve/[^/]+/(.+)$", video) or re.search(r"^[a-z]+://[^/]+/(.+)$", video)
        rel = m.group(1) if m else video
        qtype = str(row["question_type"]).strip()
        fields: dict[str, Any] = {"problem": str(row["question"]).strip(), "media": [media_path(root, rel)]}
        if qtype == "multiple-choice":
            choices = row["choices"]
            if not isinstance(choices, dict) or not any(str(v).strip() for v in choices.values()):
                raise ValueError(f"{where}: a multiple-choice question needs non-empty choices")
            options = lettered_options({k: v for k, v in choices.items() if str(v).strip()}, where)
            fields.update(options=options, answer=choice_letter(str(row["answer"]), options, where))
        elif qtype == OPEN_ENDED:
            fields.update(problem_type=OPEN_ENDED, answer=str(row["answer"]).strip())
            if not fields["answer"]:
                raise ValueError(f"{where}: empty answer")
        else:
            raise ValueError(
                f"{where}: question_type {qtype!r} is neither 'multiple-choice' nor 'open-ended'"
            )
        subject = (row.get("metadata") or {}).get("subject")
        extra = {"source_format": "mmvu_official", "subject": subject}
        return self.make_record(row["id"], categories=_categories(qtype, rel), extra=extra, **fields)

    # ------------------------------------------------------------------ official scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_answer(response, MULTIPLE_CHOICE)

    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        if self.judge is None:
            raise judged.no_judge_error(self.name, record.id)
        if self.judge_prompt == "easyvideor1":
            return judged.easyvideor1_scores(self.judge, record.answer, response, self.name, record.id)
        messages = judged.mmvu_request(record.problem, record.answer, response)
        reply = judged.ask(self.judge, messages, self.name, record.id)
        correct = judged.mmvu_correct(reply)
        return {"score": float(correct), "judge_reply": reply, "extraction_failed": not response.strip()}


def _categories(question_type: str, video_path: str) -> dict[str, str]:
    discipline = Path(video_path).parent.name or "unknown"
    return {
        "question_type": question_type,
        "discipline": discipline,
        "field": FIELDS.get(discipline, "other"),
    }
