"""VCR-Bench: video chain-of-thought reasoning (1034 questions: 510 multiple choice with four options,
524 open-ended, some answered by a time span ``[s, e]`` or a box ``[x1, y1, x2, y2]``).

Annotation formats (detected from the content):

- EasyVideoR1 unified ``vcrbench.json``: the unified fields; the source dataset is the video's first
  folder under ``video/`` ("video/videoEspresso/000304_1_1.mp4" -> videoEspresso);
- the official release (zhishuifeiqian/VCR-Bench, the fields its ``eval_code`` reads): ``id,
  video_path, duration`` (seconds), ``dimension``, ``question`` (for multiple choice the options follow
  the question inline), ``multiple-choice`` (bool), ``choices`` (A-D), ``answer``, ``reasoning`` (the
  annotated steps). The inline options are cut from the prompt's question (the record lists them);
  the judge sees the official question text.

Official mode: multiple choice is read by EasyVideoR1's extraction (``evaluation.official.easyvideor1``,
the reference harness of the unified file; unreadable = wrong). The official VCR-Bench script sends
every answer (multiple choice too) through GPT-4o; open-ended answers are graded that way here:
``judge_prompt="benchmark"`` (default) runs VCR-Bench's two steps (the judge extracts the answer; a
time span scores IoU > 0.7, a box IoU > 0.5, anything else goes to the scoring prompt, correct on a
reply of exactly "1"); ``"easyvideor1"`` sends EasyVideoR1's ``llm_judge.py`` prompt instead. Without a
judge an open-ended record is a scoring error in official mode. The CoT precision/recall scores are not
computed.

Aggregates (percent): ``overall`` (micro, as ``cau_acc.py``), ``by_question_type``, and per
``dimension`` and duration bucket (0-60, 60-300, 300+ seconds) for the official format, per
``source`` dataset for the unified one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from evaluation.benchmarks.choice import MULTIPLE_CHOICE, ChoiceAdapter
from evaluation.benchmarks.registry import register_benchmark
from evaluation.benchmarks.unified import as_row_list, choice_letter, lettered_options, media_path
from evaluation.official import judged
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord

OPEN_ENDED = "open-ended"
OFFICIAL_KEYS = ("id", "video_path", "duration", "dimension", "question", "multiple-choice", "answer")
BREAKDOWNS = ("question_type", "dimension", "duration", "source")


@register_benchmark("vcr_bench")
class VCRBench(ChoiceAdapter):
    """``judge``: a ``training.rewards.judge.Judge`` for the open-ended answers in official mode;
    ``judge_prompt``: "benchmark" (VCR-Bench's two-step GPT-4o grading) or "easyvideor1"."""

    uses_judge = True

    def __init__(self, prompt_style: str = "letter", judge: Any = None, judge_prompt: str = "benchmark"):
        super().__init__(prompt_style)
        self.judge = judge
        self.judge_prompt = judged.check_judge_prompt(self.name, judge_prompt)

    # ------------------------------------------------------------------ loading
    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        parts = PurePosixPath(str(row.get("path") or "")).parts
        parts = parts[1:] if parts[:1] == ("video",) else parts
        return {
            "question_type": _qtype(fields["problem_type"]),
            "source": parts[0] if len(parts) > 1 else "unknown",
        }

    def load_official(self, data: Any, path: Any, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "VCR-Bench")
        return [self._official_record(row, i, path, root) for i, row in enumerate(rows)]

    def _official_record(self, row: dict[str, Any], index: int, path: Any, root: str) -> BenchmarkRecord:
        where = f"{path}: record {index} (id={row.get('id')!r})"
        missing = [k for k in OFFICIAL_KEYS if k not in row]
        if missing:
            raise ValueError(f"{where}: missing fields {missing} of the VCR-Bench release format")
        question = str(row["question"])
        try:
            duration = float(row["duration"])
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: duration must be a number of seconds, got {row['duration']!r}"
            ) from None
        bucket = "0-60" if duration <= 60 else "60-300" if duration <= 300 else "300+"
        fields: dict[str, Any] = {"media": [media_path(root, str(row["video_path"]))]}
        if row["multiple-choice"]:
            choices = {k: v for k, v in (row.get("choices") or {}).items() if str(v).strip()}
            if not choices:
                raise ValueError(f"{where}: a multiple-choice question without choices")
            options = lettered_options(choices, where)
            fields.update(options=options, answer=choice_letter(str(row["answer"]), options, where))
            inline = question.find(f"A. {choices.get('A', '')}") if "A" in choices else -1
            problem = question[:inline] if inline > 0 else question
        else:
            fields.update(problem_type=OPEN_ENDED, answer=str(row["answer"]).strip())
            problem = question
            if not fields["answer"]:
                raise ValueError(f"{where}: empty answer")
        categories = {
            "question_type": _qtype(fields.get("problem_type", MULTIPLE_CHOICE)),
            "dimension": str(row["dimension"]),
            "duration": bucket,
        }
        extra = {
            "source_format": "vcr_bench_official",
            "question": question,
            "reasoning": row.get("reasoning"),
        }
        return self.make_record(
            row["id"], problem=problem.strip(), categories=categories, extra=extra, **fields
        )

    # ------------------------------------------------------------------ official scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_answer(response, MULTIPLE_CHOICE)

    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        if self.judge is None:
            raise judged.no_judge_error(self.name, record.id)
        if self.judge_prompt == "easyvideor1":
            return judged.easyvideor1_scores(self.judge, record.answer, response, self.name, record.id)
        question = record.extra.get("question", record.problem)
        extracted = judged.ask(
            self.judge, judged.vcr_extract_request(question, response), self.name, record.id
        )
        result: dict[str, Any] = {"pred": extracted, "extraction_failed": extracted.strip() in ("", "Z")}
        correct = judged.vcr_rule_match(record.answer, extracted)
        if correct is None:
            messages = judged.vcr_score_request(question, extracted, record.answer)
            reply = judged.ask(self.judge, messages, self.name, record.id)
            result["judge_reply"] = reply
            correct = judged.vcr_scoring_correct(reply)
        result["score"] = float(correct)
        return result

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        self.breakdowns = tuple(f for f in BREAKDOWNS if any(f in r.categories for r in records))
        return super().aggregate(records, per_sample_scores, mode)


def _qtype(problem_type: str) -> str:
    return "multiple-choice" if problem_type == MULTIPLE_CHOICE else OPEN_ENDED
