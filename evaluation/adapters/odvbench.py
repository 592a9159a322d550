"""ODV-Bench (StreamForest, Zeng et al. 2025): online video understanding in autonomous driving.

Multiple choice on driving clips, grouped by ``task`` / ``subtask`` (the release ships three subsets:
single static objects, single dynamic objects, multi-object interaction scenarios or events).

Annotation formats (detected from the content). Neither file could be read here: the HF release
(``MCG-NJU/ODV-Bench``) and EasyVideoR1's ``odvbench.json`` are not in any store this adapter was
written from, so both readers follow the code that consumes them, not a sample:

- official (the fields StreamForest's ``lmms_eval/tasks/odvbench/utils.py`` reads): ``video,
  question, candidates [texts], answer (text), task, subtask``, optional ``subsubtask``, ``start``/
  ``end`` (clip bounds in seconds, kept in ``extra``), ``fps``; an ``id`` when present, else a content
  id. The key is the first candidate equal to ``answer`` (none: ValueError, where the official
  script silently scores 0). The video is ``<media_root>/<video>``; the runner passes the whole file,
  while lmms-eval decodes only ``[start, end]`` of it;
- EasyVideoR1 unified JSON (fields its evaluation script reads): ``problem, options, solution,
  problem_id, path, odv_task, odv_subtask``; ``path`` is the pre-cut clip
  ``{index}_{video_stem}_s{start}_e{end}.mp4`` (``eval/preprocess/cilp.py``), whose bounds are kept.

Scoring: ``official`` reproduces the StreamForest matcher (``evaluation.official.odvbench``), and an
empty response is left out of the denominators as there; ``robust`` is the reward library.
Aggregates (percent): accuracy overall (``overall``), per task and subtask (EasyVideoR1's
``odv_task_scores`` / ``odv_subtask_scores``), per subsubtask when the records have one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import ChoiceAdapter, percent
from evaluation.adapters.loading import as_row_list, content_id, media_path, numbered_id, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official import odvbench
from evaluation.records import BenchmarkRecord

OFFICIAL_FIELDS = ("video", "question", "candidates", "answer", "task", "subtask")
_CLIP = re.compile(r"^(\d+)_(.+)_s([\d.]+)_e([\d.]+)\.mp4$")


@register_benchmark("odvbench")
class ODVBench(ChoiceAdapter):
    unified_signature = UnifiedSignature(fields=("odv_task", "odv_subtask"))
    breakdowns = ("task", "subtask")
    headline = "micro"
    official_unanswered = "excluded"  # only the empty response: see ``counted``

    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="official ODV-Bench rows (`video, question, candidates, answer, task, subtask`), or EasyVideoR1 unified `odvbench.json`",
        media="`<video>` (official); `<path>`, a pre-cut clip (unified)",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        records, seen = [], {}
        for i, row in enumerate(as_row_list(data, path, "ODV-Bench")):
            where = f"{path}: record {i} (id={row.get('id')!r})"
            require(row, OFFICIAL_FIELDS, where, "the ODV-Bench format", none_is_missing=True)
            candidates = row["candidates"]
            if not isinstance(candidates, list) or not candidates:
                raise ValueError(f"{where}: candidates must be a non-empty list of texts")
            if row["answer"] not in candidates:
                raise ValueError(f"{where}: answer {row['answer']!r} is none of the candidates")
            key = chr(65 + candidates.index(row["answer"]))
            rid = row.get("id")
            if rid is None:  # content id; identical questions get ~2, ~3 in file order
                base = content_id(
                    row["video"], row["question"], *candidates, row.get("start"), row.get("end")
                )
                rid = numbered_id(base, seen)
            categories = {"task": str(row["task"]), "subtask": str(row["subtask"])}
            if row.get("subsubtask") is not None:
                categories["subsubtask"] = str(row["subsubtask"])
            extra = {"source_format": "official"}
            extra.update({k: row[k] for k in ("start", "end", "fps") if row.get(k) is not None})
            records.append(
                self.make_record(
                    rid,
                    problem=str(row["question"]).strip(),
                    answer=key,
                    options=[f"{chr(65 + k)}. {str(c).strip()}" for k, c in enumerate(candidates)],
                    media=[media_path(root, str(row["video"]))],
                    categories=categories,
                    extra=extra,
                )
            )
        return records

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        require(
            row, ("odv_task", "odv_subtask"), where, "EasyVideoR1's ODV-Bench records", none_is_missing=True
        )
        record = super().unified_record(row, index, path, root)
        record.categories = {"task": str(row["odv_task"]), "subtask": str(row["odv_subtask"])}
        clip = _CLIP.match(Path(str(row.get("path", ""))).name)
        if clip:
            record.extra.update(
                video_stem=clip.group(2), start=float(clip.group(3)), end=float(clip.group(4))
            )
        return record

    # ------------------------------------------------------------------ scoring
    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        return odvbench.read_choice(response, record.answer)

    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        result = super().score_sample(record, response, mode)
        result["answered"] = response != ""
        return result

    def counted(self, scores: Sequence[dict[str, Any]], mode: str) -> list[bool]:
        """Official mode drops the empty responses only (``pred_answer != ""``), not unreadable ones."""
        return [mode != "official" or bool(s.get("answered", True)) for s in scores]

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        out = super().aggregate(records, per_sample_scores, mode)
        keep = self.counted(per_sample_scores, mode)
        pairs = [
            (float(s["score"]), r.categories["subsubtask"])
            for r, s, k in zip(records, per_sample_scores, keep)
            if k and "subsubtask" in r.categories
        ]
        if pairs:
            means = metrics.category_means([v for v, _ in pairs], [c for _, c in pairs])
            out["by_subsubtask"] = {c: percent(v) for c, v in means.items()}
        return out
