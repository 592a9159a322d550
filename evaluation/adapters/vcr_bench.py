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
judge an open-ended record is a scoring error in official mode.

CoT evaluation (official mode, ``eval_code/eval.py`` + ``cau_total.py``, reproduced in
``evaluation.official.vcr_cot``): with a ``judge``, a record with annotated ``reasoning`` (official release
format only; the unified file has none) gets the official recall and precision prompts (official
question, answer and reasoning, the response cut to the judge's field limit); per sample ``cot`` holds
eval.py's values (``Video_/logic_/background_/overall_recall``, the same for precision, ``efficiency``).
Aggregates: ``cot_precision``, ``cot_recall``, ``cot_f1`` (cau_total's overall row, percent),
``cot_by_step_type`` (its Video and logic rows), ``cot_efficiency`` (mean, not printed by cau_total), and
counts ``cot_n``, ``cot_recall_unparsed``, ``cot_precision_unparsed``, ``cot_dropped``,
``cot_judge_needed``. An unreadable reply is flagged and kept (``cot_<kind>_reply``) and its values are
left out of the means: the official script re-asks until the reply reads, which a judge client that caches
identical requests cannot do. A precision reply with no step makes the official item fail (0/0
efficiency) and vanish from output.json: here its CoT values are dropped (``cot_dropped``) but its answer
still counts. Without a judge, answers score as before (multiple choice needs none), eligible records are
marked ``judge_needed`` and the aggregate has ``cot_unavailable`` (the reason) instead of the metrics.

Aggregates (percent): ``overall`` (micro, as ``cau_acc.py``), ``by_question_type``, and per
``dimension`` and duration bucket (0-60, 60-300, 300+ seconds) for the official format, per
``source`` dataset for the unified one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from evaluation.adapters.choice import MULTIPLE_CHOICE, ChoiceAdapter, percent
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature, choice_letter, lettered_options
from evaluation.official import judged, vcr_cot
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord
from training.rewards.judge import MAX_PROMPT_FIELD_CHARS

OPEN_ENDED = "open-ended"
OFFICIAL_KEYS = ("id", "video_path", "duration", "dimension", "question", "multiple-choice", "answer")
BREAKDOWNS = ("question_type", "dimension", "duration", "source")


@register_benchmark("vcr_bench")
class VCRBench(ChoiceAdapter):
    """``judge``: a ``training.rewards.judge.Judge`` for the open-ended answers in official mode;
    ``judge_prompt``: "benchmark" (VCR-Bench's two-step GPT-4o grading) or "easyvideor1"."""

    unified_signature = UnifiedSignature(data_source="VCR-Bench")

    uses_judge = True

    media_layout = MediaLayout(
        annotations="official VCR-Bench rows (`id, video_path, …`), or EasyVideoR1 unified `vcrbench.json`",
        media="`<video_path>` (official); `<path>`, `video/<source>/<name>.mp4` (unified)",
    )
    media_settings = MediaSettings(
        {"max_frames": 32},
        source="VLMEvalKit video_dataset_config.py VCRBench_32frame_nopack: 32 uniform frames; here fps 2 capped at 32",
    )

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
        require(row, OFFICIAL_KEYS, where, "the VCR-Bench release format")
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
            "answer_text": row["answer"],  # as the official CoT recall prompt prints it
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

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        out = super().score_sample(record, response, mode)
        if mode != "official" or not _cot_scored(record):
            return out
        if self.judge is None:
            out["judge_needed"] = True  # rescored once a judge is configured
            return out
        out.update(self._cot(record, response[:MAX_PROMPT_FIELD_CHARS]))
        return out

    def _cot(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        """The official recall and precision judge calls on one response (module docstring)."""
        question, reasoning = record.extra["question"], record.extra["reasoning"]
        answer = record.extra.get("answer_text", record.answer)
        prompts = {
            "recall": vcr_cot.recall_prompt(question, answer, response, reasoning),
            "precision": vcr_cot.precision_prompt(question, response, reasoning),
        }
        labels = {"recall": vcr_cot.RECALL_LABELS, "precision": vcr_cot.PRECISION_LABELS}
        values = {"recall": vcr_cot.recall_values, "precision": vcr_cot.precision_values}
        out: dict[str, Any] = {}
        cot: dict[str, Any] = {}
        for kind, prompt in prompts.items():
            reply = judged.ask(self.judge, (("user", prompt),), self.name, record.id)
            counts = vcr_cot.judgment_counts(reply, labels[kind])
            if counts is None:
                out.update({f"cot_{kind}_unparsed": True, f"cot_{kind}_reply": reply})
            else:
                cot.update(values[kind](counts))
        if cot.get("efficiency", 0.0) is None:  # no precision step: the official item fails on 0/0
            out["cot_dropped"] = True
        elif cot:
            out["cot"] = cot
        return out

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        self.breakdowns = tuple(f for f in BREAKDOWNS if any(f in r.categories for r in records))
        out = super().aggregate(records, per_sample_scores, mode)
        out.update(_cot_aggregates(records, per_sample_scores, mode))
        return out


def _cot_scored(record: BenchmarkRecord) -> bool:
    return record.extra.get("reasoning") not in (None, "", [])


def _cot_aggregates(
    records: Sequence[BenchmarkRecord], scores: Sequence[dict[str, Any]], mode: str
) -> dict[str, Any]:
    """``cau_total.py``'s numbers in percent (overall row as ``cot_precision``/``cot_recall``/``cot_f1``),
    with the counts, or ``cot_unavailable`` saying why there are none."""
    eligible = [s for r, s in zip(records, scores) if _cot_scored(r)]
    items = [s["cot"] for s in eligible if "cot" in s]
    if mode != "official":
        return {"cot_unavailable": "CoT precision/recall is an official-mode metric"}
    if not eligible:
        return {
            "cot_unavailable": "no record carries annotated reasoning steps (the official release's "
            "`reasoning`; EasyVideoR1's unified file has none)"
        }
    counts = {
        "cot_n": len(items),
        "cot_recall_unparsed": sum(bool(s.get("cot_recall_unparsed")) for s in eligible),
        "cot_precision_unparsed": sum(bool(s.get("cot_precision_unparsed")) for s in eligible),
        "cot_dropped": sum(bool(s.get("cot_dropped")) for s in eligible),
        "cot_judge_needed": sum(bool(s.get("judge_needed")) for s in eligible),
    }
    totals = vcr_cot.total_metrics(items)
    if "overall" not in totals:
        reason = (
            f"no judge configured: {counts['cot_judge_needed']} responses await the CoT judge"
            if counts["cot_judge_needed"] == len(eligible)
            else "no readable CoT judge reply with a Video Description or Logical Inference step"
        )
        return {"cot_unavailable": reason, **counts}
    pct = {name: {k: percent(v) for k, v in row.items()} for name, row in totals.items()}
    efficiency = [it["efficiency"] for it in items if it.get("efficiency") is not None]
    return {
        "cot_precision": pct["overall"]["precision"],
        "cot_recall": pct["overall"]["recall"],
        "cot_f1": pct["overall"]["f1"],
        "cot_by_step_type": {name: row for name, row in pct.items() if name != "overall"},
        "cot_efficiency": percent(sum(efficiency) / len(efficiency)) if efficiency else None,
        **counts,
    }


def _qtype(problem_type: str) -> str:
    return "multiple-choice" if problem_type == MULTIPLE_CHOICE else OPEN_ENDED
