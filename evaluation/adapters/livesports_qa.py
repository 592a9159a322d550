"""LiveSports-3K QA (LiveCC, CVPR 2025): 1174 four-option questions on sports clips (Who / When / What,
plus a flag for the questions that need on-screen text).

Annotation formats (detected from the content; a JSON list or JSON Lines):

- EasyVideoR1 unified JSON (``eval/data/valid_data/livesports3k_qa.json``, seen: the 20-row sample in
  ``evaluation/samples/livesports_qa``): the question type in ``q_type_livesports``, the OCR flag in
  ``ocr_livesports`` (1 = answering needs on-screen text); the video is ``<media_root>/<path>``, a
  pre-cut clip named ``<video_id>_<begin>_<end>.mp4`` (EasyVideoR1 ``eval/preprocess/cilp.py`` cuts it
  from ``videos/<video_id>.mp4``); the clip name's ``video_id`` / bounds go to ``extra`` (``video_id``,
  ``start``, ``end``).
- the LiveCC evaluation input (``sports3k-qa.jsonl``, the file showlab/livecc
  ``evaluation/livesports3kqa/distributed_evaluate_livesports3kqa.py`` feeds to
  ``evaluation/distributed_mcq_predictor.py``). Not seen as a file: its fields are the ones that code
  reads, which are ``video_id, question_id, q_type, OCR`` (compared ``== 1``), ``question``,
  ``options`` (strings shown one per line under the question; the script takes
  ``options[i][0]`` as option i's letter, so "A. text"-style) and ``answer`` (that letter), plus the
  optional video fields ``tos_key`` (the video's key in LiveCC's object store), ``video_start`` and
  ``video_end`` (seconds; handed to the video reader with the video). Required here: ``video_id, question,
  options, answer, q_type, OCR``; a row missing one raises ValueError naming the file and the record.
  ``begin``/``end`` are read as bounds too when ``video_start``/``video_end`` are absent (the names
  the HF CC track uses; whether the QA file uses them is not known). The record id is ``question_id``
  when the file has it once, else a content id (video, bounds, question, options; ``~2``, ``~3`` for
  exact repeats), since whether ``question_id`` is unique over the benchmark could not be checked.

Media of the LiveCC format: ``<media_root>/<tos_key>`` when the row has one, else
``<media_root>/<video_id>.mp4`` (the release's ``videos/`` layout, as EasyVideoR1's ``cilp.py`` reads
it), i.e. the WHOLE video. The bounds are kept in ``extra["start"]`` / ``extra["end"]`` but the runner
passes the whole file (it does not cut), so these records do not reproduce LiveCC's clip input; for
that, cut the clips (EasyVideoR1 ``cilp.py``) and use the unified file.

A file is EasyVideoR1's when its first row has ``problem, problem_id, solution``, else LiveCC's when
that row has ``q_type`` or ``OCR``; anything else raises ValueError naming the file.

Not read: the HF release itself (``stdKonjac/LiveSports-3K``: ``LiveSports-3K-QA.json``, earlier
``LiveSports-3K-QA.csv``, config ``LiveSports_3K_QA``). Its README's QA section could not be read: the
stored copies reachable here (raw and blame mirrors of the README, of several revisions) break off
inside the CC track's column table (``video_id, url, event_id, begin, end, event_title, event_type,
video, class ...``), so the QA file's field names and its option/answer encoding are unknown; if they
differ from LiveCC's input above, loading fails with the missing fields named.

The official LiveCC evaluation does not parse text: it picks the option letter with the highest
next-token logit after "Answer:", which a generated response cannot reproduce. So "official" here is
the reference harness: EasyVideoR1's ``extract_answer`` then exact letter
(``evaluation.official.easyvideor1``); an unreadable answer is wrong. Aggregates (percent), as LiveCC's
``evaluate_livesports3kqa_results`` prints them: ``overall`` (micro), ``by_q_type``, and ``OCR`` =
accuracy over the OCR questions only (None when there are none).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import ChoiceAdapter, percent
from evaluation.adapters.loading import as_row_list, content_id, media_path, numbered_id, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature, choice_letter, lettered_options
from evaluation.official.easyvideor1 import extract_answer
from evaluation.records import BenchmarkRecord

#: fields of a LiveCC ``sports3k-qa.jsonl`` row this adapter needs (``question_id`` is optional here)
LIVECC_FIELDS = ("video_id", "question", "options", "answer", "q_type", "OCR")
#: (start, end) key pairs, in order of preference: LiveCC's predictor, then the HF CC track's names
BOUND_KEYS = (("video_start", "video_end"), ("begin", "end"))
#: EasyVideoR1 clip names ``{video_id}_{begin}_{end}.mp4`` (``cilp.py``; the id may hold "_" and "-")
_CLIP = re.compile(r"^(.+)_([\d.]+)_([\d.]+)\.mp4$")


@register_benchmark("livesports_qa")
class LiveSportsQA(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="LiveSports-3K-QA")
    breakdowns = ("q_type",)
    official_unanswered = "wrong"

    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="EasyVideoR1 unified `livesports3k_qa.json`, or LiveCC's `sports3k-qa.jsonl`",
        media="`<path>`, a clip `<video_id>_<begin>_<end>.mp4` cut from `videos/<video_id>.mp4` (unified); `<tos_key>`, else `<video_id>.mp4` (LiveCC)",
    )

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        out = {}
        if row.get("q_type_livesports") is not None:
            out["q_type"] = str(row["q_type_livesports"])
        if row.get("ocr_livesports") is not None:
            out["ocr"] = str(int(row["ocr_livesports"]))
        return out

    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        clip = _CLIP.match(Path(str(row.get("path", ""))).name)
        if clip:
            record.extra.update(video_id=clip.group(1), start=float(clip.group(2)), end=float(clip.group(3)))
        return record

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "LiveSports-3K QA")
        if rows and not {"q_type", "OCR"} & rows[0].keys():
            raise ValueError(
                f"{path}: neither an EasyVideoR1 unified file (objects with problem, problem_id, solution) "
                f"nor LiveCC's LiveSports-3K QA input (objects with {', '.join(LIVECC_FIELDS)})"
            )
        qid_counts = Counter(str(r["question_id"]) for r in rows if r.get("question_id") is not None)
        records, seen = [], {}
        for i, row in enumerate(rows):
            where = f"{path}: record {i} (question_id={row.get('question_id')!r})"
            require(row, LIVECC_FIELDS, where, "LiveCC's LiveSports-3K QA format", none_is_missing=True)
            options = lettered_options(row["options"], where)
            if len(options) < 2:
                raise ValueError(f"{where}: 'options' must hold at least 2 options, got {row['options']!r}")
            answer = choice_letter(str(row["answer"]), options, where)
            video = str(row["tos_key"]) if row.get("tos_key") else f"{row['video_id']}.mp4"
            start, end = _bounds(row, where)
            extra: dict[str, Any] = {"source_format": "livecc_jsonl", "video_id": str(row["video_id"])}
            extra.update({k: v for k, v in (("start", start), ("end", end)) if v is not None})
            qid = row.get("question_id")
            if qid is not None:
                extra["question_id"] = qid
            if qid is not None and qid_counts[str(qid)] == 1:
                rid = str(qid)
            else:  # no id, or one the file repeats: a content id, ~2, ~3 for exact repeats
                base = content_id(video, start, end, row["question"], *options)
                rid = numbered_id(base, seen)
            records.append(
                self.make_record(
                    rid,
                    problem=str(row["question"]).strip(),
                    answer=answer,
                    options=options,
                    media=[media_path(root, video)],
                    categories={"q_type": str(row["q_type"]).strip(), "ocr": _flag(row["OCR"], where)},
                    extra=extra,
                )
            )
        return records

    # ------------------------------------------------------------------ scoring
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


def _flag(value: Any, where: str) -> str:
    """The OCR flag as "0"/"1" (an int, a bool or a digit string in the file)."""
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return str(int(value))
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip()
    raise ValueError(f"{where}: OCR must be 0 or 1, got {value!r}")


def _bounds(row: dict[str, Any], where: str) -> tuple[float | None, float | None]:
    """(start, end) seconds from the first bound-key pair the row has (None where absent)."""
    for lo, hi in BOUND_KEYS:
        if row.get(lo) is None and row.get(hi) is None:
            continue
        try:
            start = None if row.get(lo) is None else float(row[lo])
            end = None if row.get(hi) is None else float(row[hi])
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: {lo}/{hi} must be seconds, got {row.get(lo)!r}/{row.get(hi)!r}"
            ) from None
        if start is not None and end is not None and end <= start:
            raise ValueError(f"{where}: {hi} {end} is not after {lo} {start}")
        return start, end
    return None, None
