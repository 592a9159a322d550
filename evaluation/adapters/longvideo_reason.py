"""LongVideo-Reason (NVlabs Long-RL): 851 multiple-choice reasoning questions on long videos, with
timestamps in the question text.

Annotation format: EasyVideoR1 unified JSON (``eval/data/valid_data/longvideoreason.json``), the only
form this evaluation set is published in; its options are listed out of letter order ("A.", "C.",
"B.", "D.") and are put back in letter order (the letters, hence the key, are unchanged). The video is
``<media_root>/<path>``.

No official scorer exists, so "official" here is the reference harness: EasyVideoR1's
``extract_answer`` then exact letter (``evaluation.official.easyvideor1``); an unreadable answer is
wrong. Aggregate (percent): ``overall`` = micro accuracy (EasyVideoR1's ``mean_acc``).
"""

from __future__ import annotations

from evaluation.adapters.choice import ChoiceAdapter
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord


@register_benchmark("longvideo_reason")
class LongVideoReason(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="LongVideo-Reason")
    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="EasyVideoR1 unified `longvideoreason.json`",
        media="`<path>`",
    )

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return extract_answer(response)
