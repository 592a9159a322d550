"""TempCompass (Liu et al., 2024): temporal perception in four task formats over the same videos.

Annotation format: the official ``questions/<format>.json`` (llyx97/TempCompass), each
``{video_id: {dimension: [{question, answer}]}}`` for the formats multi-choice (answer "B. text", options
inline "A. x" lines), yes_no ("yes"/"no"), caption_matching (option lines "Caption A: ...",
"Option 1: ...", "Sentence B: ..."; answer = one of them) and captioning (the answer is the letter of
an "Information X" line; unused by the official scorer). The annotation path is one format file (its
stem names the format), the ``questions/`` folder (every format file in it), or one JSON object
``{format: {...}, "meta_info": {...}}`` holding several formats (the layout of the shipped sample).
``meta_info.json`` (next to the files or one folder up), when present, adds the fine-grained dimension
(``eval_dim[dim].type``) the official ``print_result`` also reports. Captioning is scored through the
first multi-choice question of the same video and dimension, so it needs ``multi-choice.json`` (or the
multi-choice part of the combined object). The video is ``<media_root>/<video_id>.mp4`` (the release's
``videos/`` folder). Ids: ``<format>:<video_id>:<dimension>:<content hash of question and answer>``.

Prompt styles: "official" (default) renders the official inference prompt verbatim (question +
"Please directly give the best option:" / "Please answer yes or no:"; the official rules read answers
in the form it asks for); "reelrl" renders the training templates from the parsed question and options.

Scoring: ``official`` applies the official rules (``evaluation.official.tempcompass``); when they
cannot decide (and always for captioning) the official scripts ask ChatGPT. Here the constructor's
``judge`` (a ``training.rewards.judge.Judge``) is asked the official prompt, and its reply is read by the
official rules (its 0..10 score is not used, so a ``JudgeClient`` counts these replies as parse failures
in its stats); without a judge the rating is 0, as ``--disable_llm`` does, with ``judge_needed: True``
in the score. A failed request or an unreadable reply raises ``JudgeFailed`` (the runner records a
scoring error and a rescore retries it; note that a ``JudgeClient`` cache returns the same reply). ``robust`` is the reward library
(multiple choice, boolean, open-ended against the captioning answer text). Aggregates (percent):
``overall`` = total rating / total questions, and the same per format, per dimension, per format and
dimension (the official per-format tables) and per fine-grained dimension.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import TEMPLATES, ChoiceAdapter, percent
from evaluation.adapters.loading import content_id, media_path, numbered_id, read_rows
from evaluation.adapters.media import MediaLayout, MediaSettings
from evaluation.adapters.registry import check_mode, register_benchmark
from evaluation.official import tempcompass as official
from evaluation.records import BenchmarkRecord, check_unique_ids
from evaluation.scoring import robust_score
from training.rewards.judge import MAX_PROMPT_FIELD_CHARS, Judge, JudgeRequest

FORMATS = official.FORMATS
PROMPT_STYLES = ("official", "reelrl")
PROBLEM_TYPES = {
    "multi-choice": "multiple choice",
    "yes_no": "boolean",
    "caption_matching": "multiple choice",
    "captioning": "open-ended",
}
_MC_OPTION = re.compile(r"([A-Z])\.\s*(.*)", re.DOTALL)


class JudgeFailed(RuntimeError):
    """The judge gave no usable verdict for a sample the rules could not decide."""


@register_benchmark("tempcompass")
class TempCompass(ChoiceAdapter):
    uses_judge = True

    media_layout = MediaLayout(
        annotations="official `questions/` (the folder, or one `questions/<format>.json`; `meta_info.json` beside it or one folder up)",
        media="`<video_id>.mp4`: `--media-root` is the release's `videos/`",
    )
    media_settings = MediaSettings(
        {"fps": 1.0}, source="VLMEvalKit video_dataset_config.py TempCompass_1fps: 1 frame per second"
    )

    def __init__(self, prompt_style: str = "official", judge: Judge | None = None):
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"tempcompass prompt_style must be one of {PROMPT_STYLES}, got {prompt_style!r}")
        self.prompt_style = prompt_style
        self.judge = judge
        self.prompt_template = str(TEMPLATES / "verbatim.jinja") if prompt_style == "official" else None

    def prompt_fields(self, record: BenchmarkRecord) -> dict[str, Any]:
        fields = super().prompt_fields(record)
        if self.prompt_style == "official":
            fields["problem"] = record.extra["official_prompt"]
        return fields

    # ------------------------------------------------------------------ loading
    def load(self, annotation_path: str | Path, media_root: str | Path | None) -> list[BenchmarkRecord]:
        path = Path(annotation_path)
        root = os.path.abspath(
            media_root if media_root is not None else (path if path.is_dir() else path.parent)
        )
        sets, mc, meta = _read_sets(path)
        records = [
            r for fmt in FORMATS if fmt in sets for r in self._records(fmt, *sets[fmt], mc, meta, root)
        ]
        if not records:
            raise ValueError(f"{path}: no TempCompass questions found")
        try:
            check_unique_ids(records)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        return records

    def _records(
        self, fmt: str, data: Any, src: str, mc: tuple | None, meta: tuple | None, root: str
    ) -> list:
        records, seen = [], {}
        for vid, dim, qi, item in _walk(data, src, fmt):
            where = f"{src}: {fmt} video {vid!r} dimension {dim!r} question {qi}"
            if not isinstance(item, dict) or any(k not in item for k in ("question", "answer")):
                raise ValueError(
                    f"{where}: expected an object with 'question' and 'answer', got {item!r:.200}"
                )
            question, answer = str(item["question"]), str(item["answer"])
            fields, extra = _parse(fmt, question, answer, where), {}
            if fmt == "captioning":
                extra.update(_mc_reference(mc, vid, dim, where))
            categories = {"format": fmt, "dimension": dim}
            if meta is not None:
                categories["fine_dimension"] = _fine_dimension(meta, vid, dim, where)
            rid = numbered_id(f"{fmt}:{vid}:{dim}:{content_id(question, answer)}", seen)
            extra.update(question=question, gt=answer, video_id=vid, source_format="official")
            extra["official_prompt"] = question + official.ANSWER_PROMPTS[fmt]
            records.append(
                self.make_record(
                    rid,
                    problem_type=PROBLEM_TYPES[fmt],
                    media=[media_path(root, f"{vid}.mp4")],
                    categories=categories,
                    extra=extra,
                    **fields,
                )
            )
        return records

    # ------------------------------------------------------------------ scoring
    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust":
            return robust_score(record, response)
        fmt, x = record.categories["format"], record.extra
        pred = official.clean_prediction(response)
        if fmt == "captioning":
            pred = pred.strip()
        rating, read = official.rule_rating(fmt, pred, x["question"], x["gt"])
        out: dict[str, Any] = {"pred": read, "match_success": rating is not None}
        out.update(judge_used=False, judge_needed=False)
        if rating is None and self.judge is None:
            rating, out["judge_needed"] = 0, True  # the official --disable_llm rating
        elif rating is None:
            rating, out["judge_reply"] = self._judge(record, fmt, pred)
            out["judge_used"] = True
        out.update(score=float(rating), rating=rating, extraction_failed=out["judge_needed"])
        return out

    def _judge(self, record: BenchmarkRecord, fmt: str, pred: str) -> tuple[int, str]:
        x, pred = record.extra, _clip(pred)
        if fmt == "captioning":
            prompt = official.caption_judge_prompt(pred, x["mc_question"])
        else:
            prompt = official.judge_prompt(fmt, x["question"], x["gt"], pred)
        request = JudgeRequest(messages=(("system", official.SYSTEM_PROMPT), ("user", prompt)))
        verdict = self.judge.grade_many([request])[0]
        # the official reply rules, not the client's 0..10 score (which these prompts do not ask for)
        rating = None
        if verdict.reply is not None and fmt == "captioning":
            rating = official.caption_judge_rating(verdict.reply, x["mc_answer"])
        elif verdict.reply is not None:
            rating = official.judge_reply_rating(verdict.reply)
        if rating is None:
            why = (
                verdict.error if verdict.reply is None else f"unreadable judge reply {verdict.reply[:200]!r}"
            )
            raise JudgeFailed(f"record {record.id}: no TempCompass judge verdict ({why})")
        return rating, verdict.reply or ""

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        values = [float(s["score"]) for s in per_sample_scores]

        def by(field: str, recs: Sequence[BenchmarkRecord], vals: list[float]) -> dict[str, float | None]:
            labels = [r.categories.get(field, "unknown") for r in recs]
            return {k: percent(v) for k, v in metrics.category_means(vals, labels).items()}

        out: dict[str, Any] = {"n": len(values), "overall": percent(metrics.accuracy(values))}
        out["accuracy"] = out["overall"]
        out["by_format"] = by("format", records, values)
        out["by_dimension"] = by("dimension", records, values)
        out["by_format_dimension"] = {}
        for fmt in out["by_format"]:
            keep = [i for i, r in enumerate(records) if r.categories["format"] == fmt]
            out["by_format_dimension"][fmt] = by(
                "dimension", [records[i] for i in keep], [values[i] for i in keep]
            )
        if any("fine_dimension" in r.categories for r in records):
            out["by_fine_dimension"] = by("fine_dimension", records, values)
        if mode == "official":
            out["judge_needed"] = sum(bool(s.get("judge_needed")) for s in per_sample_scores)
            out["judge_used"] = sum(bool(s.get("judge_used")) for s in per_sample_scores)
            matched = [float(bool(s.get("match_success"))) for s in per_sample_scores]
            out["match_success_rate"] = percent(metrics.mean(matched))
        return out


# ---------------------------------------------------------------------- reading
def _read_sets(path: Path) -> tuple[dict[str, tuple[Any, str]], tuple | None, tuple | None]:
    """({format: (data, source file)}, the multi-choice (data, file) for captioning, meta (data, file))."""
    if path.is_dir():
        sets = {f: (read_rows(path / f"{f}.json"), str(path / f"{f}.json")) for f in FORMATS
                if (path / f"{f}.json").is_file()}  # fmt: skip
        if not sets:
            raise ValueError(
                f"{path}: folder holds none of the TempCompass files {[f + '.json' for f in FORMATS]}"
            )
        return sets, sets.get("multi-choice"), _meta_beside(path)
    data = read_rows(path)
    if isinstance(data, dict) and data and set(data) <= {*FORMATS, "meta_info"} and set(data) & set(FORMATS):
        sets = {f: (data[f], f"{path} [{f}]") for f in FORMATS if f in data}
        meta = (data["meta_info"], f"{path} [meta_info]") if "meta_info" in data else None
        return sets, sets.get("multi-choice"), meta
    if path.stem not in FORMATS:
        raise ValueError(
            f"{path}: a TempCompass question file is named after its format ({', '.join(FORMATS)}), or is one "
            f"object keyed by format; got a file named {path.name!r} holding a JSON {type(data).__name__}"
        )
    sibling = path.parent / "multi-choice.json"
    mc = (data, str(path)) if path.stem == "multi-choice" else None
    if mc is None and path.stem == "captioning" and sibling.is_file():
        mc = (read_rows(sibling), str(sibling))
    return {path.stem: (data, str(path))}, mc, _meta_beside(path.parent)


def _meta_beside(folder: Path) -> tuple | None:
    for candidate in (folder / "meta_info.json", folder.parent / "meta_info.json"):
        if candidate.is_file():
            return read_rows(candidate), str(candidate)
    return None


def _walk(data: Any, src: str, fmt: str):
    """(video_id, dimension, index, item) of a ``{video_id: {dimension: [items]}}`` file, checked."""
    shape = "{video_id: {dimension: [questions]}}"
    if not isinstance(data, dict):
        raise ValueError(f"{src}: expected {shape}, got a JSON {type(data).__name__}")  # noqa: TRY004
    for vid, dims in data.items():
        if not isinstance(dims, dict):
            raise ValueError(f"{src}: {fmt} video {vid!r}: expected {shape}, got {dims!r:.200}")  # noqa: TRY004
        for dim, items in dims.items():
            if not isinstance(items, list):
                msg = f"{src}: {fmt} video {vid!r} dimension {dim!r}: expected a list of questions"
                raise ValueError(msg)  # noqa: TRY004
            for qi, item in enumerate(items):
                yield str(vid), str(dim), qi, item


def _parse(fmt: str, question: str, answer: str, where: str) -> dict[str, Any]:
    """The record fields (problem, answer, options) of one official question, checked."""
    lines = question.split("\n")
    if fmt == "yes_no":
        if answer not in ("yes", "no"):
            raise ValueError(f"{where}: a yes_no answer must be 'yes' or 'no', got {answer!r}")
        return {"problem": question.strip(), "answer": answer}
    if fmt == "captioning":
        m = _MC_OPTION.fullmatch(answer)
        if m is None:
            raise ValueError(f"{where}: a captioning answer is 'X. text', got {answer!r}")
        return {"problem": question.strip(), "answer": m.group(2).strip()}
    if len(lines) < 3:
        raise ValueError(f"{where}: expected the question then one line per option, got {question!r}")
    if fmt == "multi-choice":  # the question's last lines are the options "A. text"
        start = len(lines)
        while start > 1 and _MC_OPTION.fullmatch(lines[start - 1]):
            start -= 1
        parsed = [_MC_OPTION.fullmatch(line) for line in lines[start:]]
        if len(parsed) < 2 or answer[:2] not in {f"{m.group(1)}." for m in parsed}:
            raise ValueError(f"{where}: expected option lines 'A. text' and an answer 'X. text', got {question!r} / {answer!r}")  # fmt: skip
        options = [f"{m.group(1)}. {m.group(2).strip()}" for m in parsed]
        return {"problem": "\n".join(lines[:start]).strip(), "answer": answer[0], "options": options}
    if fmt != "caption_matching":
        raise ValueError(f"{where}: unknown TempCompass format {fmt!r}")
    if not all(": " in line for line in lines[1:]) or answer not in lines[1:] or ": " not in answer:
        raise ValueError(f"{where}: expected option lines '<index>: <caption>' and the answer one of them, got {question!r} / {answer!r}")  # fmt: skip
    options = [f"{chr(65 + k)}. {line.split(': ', 1)[1].strip()}" for k, line in enumerate(lines[1:])]
    letter = chr(65 + lines[1:].index(answer))
    return {"problem": lines[0].strip(), "answer": letter, "options": options}


def _mc_reference(mc: tuple | None, vid: str, dim: str, where: str) -> dict[str, str]:
    """The first multi-choice question of (vid, dim), which the official captioning scorer asks the judge."""
    if mc is None:
        raise ValueError(
            f"{where}: captioning is scored through the multi-choice questions of the same release; "
            "put multi-choice.json next to captioning.json (or load the questions/ folder)"
        )
    data, src = mc
    items = data.get(vid, {}).get(dim) if isinstance(data, dict) and isinstance(data.get(vid), dict) else None
    if not items or not isinstance(items[0], dict) or any(k not in items[0] for k in ("question", "answer")):
        raise ValueError(f"{where}: {src} has no multi-choice question for this video and dimension")
    return {"mc_question": str(items[0]["question"]), "mc_answer": str(items[0]["answer"])}


def _fine_dimension(meta: tuple, vid: str, dim: str, where: str) -> str:
    """``print_result``'s fine-grained aspect: ``meta_info[vid]["eval_dim"][dim]["type"]``; "order" for order."""
    if dim == "order":
        return "order"
    data, src = meta
    try:
        return str(data[vid]["eval_dim"][dim]["type"])
    except (KeyError, TypeError):
        raise ValueError(f"{where}: {src} has no eval_dim.{dim}.type for video {vid!r}") from None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_PROMPT_FIELD_CHARS else text[:MAX_PROMPT_FIELD_CHARS] + " …[truncated]"
