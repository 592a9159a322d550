"""VideoMathQA: mathematical reasoning over videos, five-way MCQ plus multi-binary (MBin) questions.

Annotation format: EasyVideoR1's unified ``videomathqa.jsonl`` (2100 rows = 420 five-option MCQ + 1680
two-option MBin items): the unified fields plus ``video_id``, ``category`` (Geometry Angle, Chart, ...),
``length`` (short/medium/long), ``steps`` (annotated CoT steps, a JSON string) and, for MBin items,
``mbinary_id``. An MCQ row and the MBin rows of the same question share ``problem_id``, so record ids
are ``problem_id`` for the MCQ and ``problem_id/mbin-<mbinary_id>`` for each MBin item. The official
HF release (MBZUAI/VideoMathQA, read by lmms-eval) is not in the stores here, so only this format is read.

Official mode: lmms-eval's ``extract_characters_regex`` (first capital A-E, see
``evaluation.official.videomathqa``), unreadable counted wrong. Aggregates (percent), as
``videomathqa_mcq_aggregate_results`` / ``videomathqa_multi_binary_aggregate_results`` print them: MCQ
accuracy, MBin accuracy (a question counts when all its binary items are correct), each per category and
per video length; ``overall`` is the MCQ accuracy (the MBin one when a file has no MCQ);
``easyvideor1_mean`` is EasyVideoR1's number, the mean over all rows.

CoT step evaluation (official mode, lmms-eval ``videomathqa/cot_step_evaluation.py``, reproduced in
``evaluation.official.videomathqa``): with a ``judge``, each MCQ record that carries ``steps`` gets one judge
call with the official prompt (question, options as the parquet cell prints them, ``json.dumps(steps,
indent=2)``, the answer letter, the full response cut to the judge's field limit); the reply's last
"SCORE_CARD: {...}" gives ``cot_step_score`` (an int, 0 for an unreadable reply, as there, flagged
``cot_step_unparsed`` with the reply kept). Aggregate ``cot_step_score`` is the official mean on the 0-10 scale
times 10, a percentage like every aggregate (the official 6.5 reads 65.0), with
``cot_step_n``, ``cot_step_unparsed`` and ``cot_step_judge_needed``. Without a judge the answers score as
before, eligible records are marked ``judge_needed`` (rescored once a judge is configured) and the aggregate
has ``cot_unavailable`` (the reason) instead of a score. Not reproduced: the official judge model and
sampling (Qwen3-4B thinking, temperature 0.6: the configured judge's business); MBin items are not
step-scored (the official script matches its 420-question MCQ file); the official script drops the last
partial batch of 8 (its final 4 questions are never scored), all are scored here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import ChoiceAdapter, percent
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official import judged
from evaluation.official.videomathqa import extract_letter, mean_step_score, parse_step_score, step_prompt
from evaluation.records import BenchmarkRecord
from training.rewards.judge import MAX_PROMPT_FIELD_CHARS

REQUIRED = ("category", "length")


@register_benchmark("videomathqa")
class VideoMathQA(ChoiceAdapter):
    """``judge``: a ``training.rewards.judge.Judge`` for the CoT step score in official mode (the
    official judge is Qwen/Qwen3-4B in thinking mode; answers never need it)."""

    unified_signature = UnifiedSignature(data_source="VideoMathQA")

    official_unanswered = "wrong"
    uses_judge = True

    media_layout = MediaLayout(
        annotations="EasyVideoR1 unified `videomathqa.jsonl`",
        media="`<path>`",
    )

    def __init__(self, prompt_style: str = "letter", judge: Any = None):
        super().__init__(prompt_style)
        self.judge = judge

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        missing = [k for k in REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
        if missing:
            raise ValueError(f"{where}: missing fields {missing} (VideoMathQA category and video length)")
        binary = row.get("mbinary_id")
        if binary is not None:
            if len(record.options) != 2:
                raise ValueError(f"{where}: an MBin item (mbinary_id={binary!r}) needs 2 options")
            record.id = f"{record.id}/mbin-{binary}"
        record.categories = {
            "subset": "mbin" if binary is not None else "mcq",
            "category": row["category"].strip(),
            "length": row["length"].strip(),
        }
        record.extra.update(
            question_id=str(row["problem_id"]),
            video_id=str(row.get("video_id", "")),
            steps=row.get("steps"),
            **({"mbinary_id": binary} if binary is not None else {}),
        )
        return record

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_letter(response)

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        out = super().score_sample(record, response, mode)
        if mode != "official" or not _step_scored(record):
            return out
        if self.judge is None:
            out["judge_needed"] = True  # rescored once a judge is configured
            return out
        prediction = response[:MAX_PROMPT_FIELD_CHARS]
        prompt = step_prompt(record.problem, record.options, record.extra["steps"], record.answer, prediction)
        reply = judged.ask(self.judge, (("user", prompt),), self.name, record.id)
        score, card = parse_step_score(reply)
        out["cot_step_score"] = score
        if card is None:
            out.update(cot_step_unparsed=True, cot_judge_reply=reply)
        else:
            out["cot_score_card"] = card
        return out

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        values = [float(s["score"]) for s in per_sample_scores]
        mcq = [(r, v) for r, v in zip(records, values) if r.categories.get("subset") != "mbin"]
        groups: dict[str, list[tuple[BenchmarkRecord, float]]] = defaultdict(list)
        for r, v in zip(records, values):
            if r.categories.get("subset") == "mbin":
                groups[r.extra["question_id"]].append((r, v))
        # one MBin question: correct only when every binary item is; its metadata from the first item
        mbin = [(items[0][0], float(all(v == 1.0 for _, v in items))) for items in groups.values()]
        out: dict[str, Any] = {
            "n": len(values),
            "n_mcq": len(mcq),
            "n_mbin_items": len(values) - len(mcq),
            "n_mbin_questions": len(mbin),
            "easyvideor1_mean": percent(metrics.accuracy(values)),
        }
        for name, pairs in (("mcq", mcq), ("mbin", mbin)):
            scores = [v for _, v in pairs]
            out[f"{name}_accuracy"] = percent(metrics.accuracy(scores))
            for field in ("category", "length"):
                labels = [r.categories[field] for r, _ in pairs]
                means = metrics.category_means(scores, labels)
                out[f"{name}_by_{field}"] = {k: percent(v) for k, v in means.items()}
        out["overall"] = out["mcq_accuracy"] if mcq else out["mbin_accuracy"]
        out.update(_step_aggregates(records, per_sample_scores, mode))
        return out


def _step_scored(record: BenchmarkRecord) -> bool:
    """The official step evaluation reads the 420-question MCQ release: MCQ records with annotated steps."""
    return record.categories.get("subset") == "mcq" and record.extra.get("steps") not in (None, "")


def _step_aggregates(
    records: Sequence[BenchmarkRecord], scores: Sequence[dict[str, Any]], mode: str
) -> dict[str, Any]:
    """``cot_step_score`` (the 0-10 mean, in percent) with its counts, or ``cot_unavailable`` saying why."""
    eligible = [s for r, s in zip(records, scores) if _step_scored(r)]
    judged_scores = [s["cot_step_score"] for s in eligible if "cot_step_score" in s]
    waiting = sum(bool(s.get("judge_needed")) for s in eligible)
    if mode != "official":
        return {"cot_unavailable": "the CoT step score is an official-mode metric"}
    if not eligible:
        return {"cot_unavailable": "no MCQ record carries annotated steps (the step evaluation scores MCQs)"}
    if not judged_scores:
        return {"cot_unavailable": f"no judge configured: {waiting} MCQ responses await the step judge"}
    return {
        "cot_step_score": percent(mean_step_score(judged_scores) / 10),  # 0-10 scale -> percent
        "cot_step_n": len(judged_scores),
        "cot_step_unparsed": sum(bool(s.get("cot_step_unparsed")) for s in eligible),
        "cot_step_judge_needed": waiting,
    }
