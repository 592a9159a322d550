"""LVBench (THUDM, extreme long videos): four-option questions on hour-long YouTube videos (1492 in
EasyVideoR1's copy).

Annotation formats (detected from the content):

- official ``video_info.meta.jsonl`` (HF THUDM/LVBench): one video per line,
  ``{key, qa: [{uid, question, answer, question_type: [...], time_reference}], ...}`` with the options
  inline in ``question`` ("...?\\n(A) x\\n(B) y ..."); the video is ``<media_root>/<video_path>`` when the
  row names one, else ``<media_root>/<key>.mp4`` (the YouTube id); the record id is the ``uid``;
- EasyVideoR1 unified JSON (``eval/data/valid_data/lvbench.json``): no ``question_type``, so the
  per-category accuracies need the official file.

Official mode (``evaluation.official.lvbench``): ``polish_answer`` ("(B) x" -> "B", "The answer is C"
-> "T") then exact letter; an unreadable answer is still an entry of the answer file, so it counts as
wrong. Aggregates (percent): ``overall`` = accuracy over the scored questions, ``by_question_type``
with each question counted in every one of its (multi-label) types: key information retrieval, event
understanding, summarization, entity recognition, reasoning, temporal grounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import ChoiceAdapter, percent
from evaluation.adapters.loading import as_row_list, media_path, one_line_jsonl, require, split_inline_options
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.lvbench import polish_answer
from evaluation.records import BenchmarkRecord

#: separator of a multi-label category value (``question_type`` "reasoning|temporal grounding")
LABEL_SEP = "|"


def multi_label_means(values: Sequence[float], labels: Sequence[str]) -> dict[str, float]:
    """Percent mean of ``values`` per label, a value counting in each label of its "a|b" string."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for v, joined in zip(values, labels):
        for label in filter(None, joined.split(LABEL_SEP)):
            sums[label] = sums.get(label, 0.0) + float(v)
            counts[label] = counts.get(label, 0) + 1
    return {k: 100.0 * sums[k] / counts[k] for k in sorted(sums)}


@register_benchmark("lvbench")
class LVBench(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="LVBench")
    official_unanswered = "wrong"

    media_layout = MediaLayout(
        annotations="official `video_info.meta.jsonl`, or EasyVideoR1 unified `lvbench.json`",
        media="`<video_path>`, else `<key>.mp4` (official); `<path>` (unified)",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        records = []
        for i, video in enumerate(as_row_list(one_line_jsonl(data), path, "LVBench video_info.meta.jsonl")):
            where = f"{path}: record {i} (key={video.get('key')!r})"
            require(video, ("key", "qa"), where)
            if not isinstance(video["qa"], list):
                raise ValueError(f"{where}: 'qa' must be a list")  # noqa: TRY004
            rel = video.get("video_path") or f"{video['key']}.mp4"
            for j, qa in enumerate(video["qa"]):
                q_where = f"{where}, qa {j} (uid={qa.get('uid') if isinstance(qa, dict) else None!r})"
                if not isinstance(qa, dict):
                    raise ValueError(f"{q_where}: expected an object")  # noqa: TRY004
                require(qa, ("uid", "question", "answer", "question_type"), q_where)
                records.append(self._record(qa, video, rel, root, q_where))
        return records

    def _record(self, qa: dict, video: dict, rel: str, root: str, where: str) -> BenchmarkRecord:
        stem, options = split_inline_options(str(qa["question"]), where)
        answer = str(qa["answer"]).strip()
        if answer not in [o[0] for o in options]:
            raise ValueError(f"{where}: answer {qa['answer']!r} is not one of the option letters")
        types = qa["question_type"]
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ValueError(f"{where}: question_type must be a list of strings, got {types!r}")
        return self.make_record(
            qa["uid"],
            problem=stem,
            answer=answer,
            options=options,
            media=[media_path(root, str(rel))],
            categories={"question_type": LABEL_SEP.join(types)},
            extra={
                "source_format": "official",
                "video_key": str(video["key"]),
                "time_reference": str(qa.get("time_reference", "")),
            },
        )

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return polish_answer(response)

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        values = [float(s["score"]) for s in per_sample_scores]
        labels = [r.categories.get("question_type", "") for r in records]
        out: dict[str, Any] = {"n": len(values), "excluded": 0}
        out["accuracy"] = percent(metrics.accuracy(values))
        out["by_question_type"] = multi_label_means(values, labels)
        out["overall"] = out["accuracy"]
        return out
