"""LongVideoBench (Wu et al., 2024): referring reasoning over long videos, 4-5 options, validation split.

Annotation formats (detected from the content):

- the official ``lvb_val.json`` (HF ``longvideobench/LongVideoBench``; also its validation parquet):
  a list of ``{id, video_path, duration, duration_group, question, candidates [..] | option0..option4
  ("N/A" padding), correct_choice (0-based int), question_category, subtitle_path,
  starting_timestamp_for_subtitles, ...}``; the video is ``<media_root>/<video_path>`` (``media_root``
  = the release's ``videos/`` folder). The test split has no ``correct_choice`` and is refused;
- EasyVideoR1's unified ``longvideobench.json`` (it keeps neither duration_group nor
  question_category, so those breakdowns read "unknown").

Scoring: ``official`` parses like lmms-eval ``tasks/longvideobench/utils.py``
(``evaluation.official.lmms_mcq.parse_longvideobench``: prefixes deleted, first capital A-E); when it
reads nothing the official code scores a ``random.choice`` of the letters. That pick is kept (it can
score) but made deterministic, seeded by the record id, and the sample is flagged
``extraction_failed`` with ``guessed: True``. ``robust`` is the reward library. Aggregates (percent):
overall micro accuracy (lmms-eval's "Overall": its instance-weighted mean over the duration and
category subsets counts every sample twice, which is the micro accuracy), per duration_group and per
question_category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.adapters.choice import MULTIPLE_CHOICE, ChoiceAdapter
from evaluation.adapters.loading import as_row_list, media_path, require
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official.lmms_mcq import parse_longvideobench
from evaluation.records import BenchmarkRecord
from evaluation.scoring import robust_score

ROW_FIELDS = ("id", "video_path", "duration_group", "question", "question_category")
EXTRA_FIELDS = ("duration", "subtitle_path", "starting_timestamp_for_subtitles", "topic_category", "level")
CATEGORY_FIELDS = ("duration_group", "question_category")
PADDING = "N/A"


@register_benchmark("longvideobench")
class LongVideoBench(ChoiceAdapter):
    unified_signature = UnifiedSignature(data_source="LongVideoBench")
    breakdowns = CATEGORY_FIELDS
    headline = "micro"

    # ------------------------------------------------------------------ loading
    media_layout = MediaLayout(
        annotations="official `lvb_val.json` (or the validation Parquet), or EasyVideoR1 unified `longvideobench.json`",
        media="`<video_path>`: `--media-root` is the release's `videos/` (official); `<path>` (unified)",
    )
    media_settings = MediaSettings(
        {"max_frames": 64},
        source="VLMEvalKit video_dataset_config.py LongVideoBench_64frame: 64 uniform frames; here fps 2 capped at 64",
    )

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        rows = as_row_list(data, path, "LongVideoBench")
        records = []
        for i, row in enumerate(rows):
            where = f"{path}: record {i} (id={row.get('id')!r})"
            only_the_answer = all(row.get(k) is not None for k in ROW_FIELDS)
            hint = " (the test split has no answers)" if only_the_answer else ""
            require(row, (*ROW_FIELDS, "correct_choice"), where, f"lvb_val.json{hint}", none_is_missing=True)
            # plain texts, lettered in order (a text such as "C. Ronaldo" must not name its own letter)
            options = [f"{chr(ord('A') + k)}. {t.strip()}" for k, t in enumerate(_candidates(row, where))]
            choice = row["correct_choice"]
            if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < len(options):
                raise ValueError(
                    f"{where}: correct_choice {choice!r} is not an index into its {len(options)} candidates"
                )
            extra = {"source_format": "official"}
            extra.update({k: row[k] for k in EXTRA_FIELDS if row.get(k) is not None})
            records.append(
                self.make_record(
                    str(row["id"]),
                    problem=str(row["question"]).strip(),
                    answer=chr(ord("A") + choice),
                    options=options,
                    media=[media_path(root, str(row["video_path"]))],
                    categories={k: _label(row[k]) for k in CATEGORY_FIELDS},
                    extra=extra,
                )
            )
        return records

    def categories_from_unified(self, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        return {k: _label(row[k]) for k in CATEGORY_FIELDS if row.get(k) not in (None, "")}

    # ------------------------------------------------------------------ scoring
    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust":
            return robust_score(record, response)
        if record.problem_type != MULTIPLE_CHOICE:
            return self.official_other(record, response)
        letters = [o[0] for o in record.options]
        letter, guessed = parse_longvideobench(response, letters, seed=record.id)
        return {
            "score": float(letter == record.answer),
            "pred": letter,
            "guessed": guessed,
            "extraction_failed": guessed,
        }

    def official_choice(self, response: str, record: BenchmarkRecord) -> str:
        """The letter the official parser reads, the seeded fallback pick included."""
        return parse_longvideobench(response, [o[0] for o in record.options], seed=record.id)[0]


def _candidates(row: dict, where: str) -> list[str]:
    """Option texts: ``candidates``, else ``option0..option4`` up to the first "N/A" (as lmms-eval)."""
    if row.get("candidates") is not None:
        texts = row["candidates"]
        if not isinstance(texts, list) or not texts:
            raise ValueError(f"{where}: candidates must be a non-empty list")
        return [str(t) for t in texts]
    texts = []
    for k in range(5):
        value = row.get(f"option{k}")
        if value is None or value == PADDING:
            break
        texts.append(str(value))
    if not texts:
        raise ValueError(f"{where}: missing fields ['candidates'] (or option0..option4)")
    return texts


def _label(value: Any) -> str:
    """Category text; a float duration group such as 600.0 reads "600" like the int."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
