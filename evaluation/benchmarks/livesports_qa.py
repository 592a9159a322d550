"""LiveSports-3K QA (LiveCC, CVPR 2025): 1174 four-option questions on sports clips.

Annotation format: EasyVideoR1 unified JSON (``eval/data/valid_data/livesports3k_qa.json``), which keeps
the benchmark's question type in ``q_type_livesports`` (Who / What / When ...) and its OCR flag in
``ocr_livesports`` (1 = answering needs on-screen text); the video is ``<media_root>/<path>`` (a clip
named ``<youtube id>_<begin>_<end>.mp4``). The official release (HF stdKonjac/LiveSports-3K
``LiveSports-3K-QA.json``) is not read: its field list could not be checked here.

The official LiveCC evaluation (showlab/livecc ``evaluation/livesports3kqa``) does not parse text: it
picks the option letter with the highest next-token logit after "Answer:", which a generated response
cannot reproduce. So "official" here is the reference harness: EasyVideoR1's ``extract_answer`` then
exact letter (``evaluation.official.easyvideor1``); an unreadable answer is wrong. Aggregates (percent),
as LiveCC's ``evaluate_livesports3kqa_results`` prints them: ``overall`` (micro), ``by_q_type``, and
``OCR`` = accuracy over the OCR questions only (None when there are none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evaluation import metrics
from evaluation.benchmarks.choice import ChoiceAdapter, percent
from evaluation.benchmarks.registry import register_benchmark
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord


@register_benchmark("livesports_qa")
class LiveSportsQA(ChoiceAdapter):
    breakdowns = ("q_type",)
    official_unanswered = "wrong"

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        out = {}
        if row.get("q_type_livesports") is not None:
            out["q_type"] = str(row["q_type_livesports"])
        if row.get("ocr_livesports") is not None:
            out["ocr"] = str(int(row["ocr_livesports"]))
        return out

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_answer(response)

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        out = super().aggregate(records, per_sample_scores, mode)
        ocr = [
            float(s["score"]) for r, s in zip(records, per_sample_scores) if r.categories.get("ocr") == "1"
        ]
        out["OCR"] = percent(metrics.accuracy(ocr))
        return out
