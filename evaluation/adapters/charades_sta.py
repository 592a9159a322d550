"""Charades-STA temporal grounding: find the [start, end] seconds of a described event.

Annotation formats (detected from the file's content):

- official ``charades_sta_test.txt`` (Gao et al., TALL): one ``<VID> <start> <end>##<sentence>`` per
  line; the video is ``<media_root>/<VID>.mp4``;
- EasyVideoR1 unified JSON (``eval/data/valid_data/charades_sta.json``): a list of
  ``{path, problem, problem_id, problem_type, solution, ...}`` whose ``solution`` carries
  ``{"time": [s, e]}`` as JSON inside ``<answer>`` or ``<think>`` (EasyVideoR1's re-quantised times);
  the video is ``<media_root>/<path>``.

Scoring: ``official`` parses the response like lmms-eval/TimeChat ``eval_tvg.py`` (see
``evaluation.official.tvg``; no parse -> IoU 0, counted as an extraction failure); ``robust`` is the
reward library's temporal-grounding IoU. Aggregates (both modes): R@1 IoU>=0.3/0.5/0.7 and mIoU in
percent over the scored samples, as the official script prints them; ``overall`` (the headline) is the mIoU.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.loading import as_row_list, numbered_id, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import BenchmarkAdapter, check_mode, register_benchmark
from evaluation.adapters.unified import UnifiedSignature, check_signature
from evaluation.inputs import parse_json, read_text
from evaluation.official.tvg import extract_time
from evaluation.records import BenchmarkRecord
from evaluation.scoring import robust_score

PROBLEM_TYPE = "temporal grounding"
THRESHOLDS = (0.3, 0.5, 0.7)
_TEMPLATES = Path(__file__).parent / "templates"

# The lmms-eval task prompt (lmms_eval/tasks/charades_sta/charades.yaml), typo "seonds" included.
LMMS_EVAL_PRE = (
    "Please find the visual event described by a sentence in the video, determining its starting and ending "
    "times. The format should be: 'The event happens in the start time - end time'. For example, The event "
    "'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give you the textual sentence: "
)
LMMS_EVAL_POST = "Please return its start time and end time."

_OFFICIAL_LINE = re.compile(r"(\S+)\s+(\S+)\s+(\S+)##(.*)")
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_SOLUTION_BLOCKS = (
    re.compile(r"<answer>(.*?)</answer>", re.DOTALL),
    re.compile(r"<think>(.*?)</think>", re.DOTALL),
)


def ground_truth(span: Sequence[float]) -> str:
    """The reward library's temporal-grounding key for ``span``."""
    return "<answer>" + json.dumps({"time": [float(span[0]), float(span[1])]}) + "</answer>"


@register_benchmark("charades_sta")
class CharadesSTA(BenchmarkAdapter):
    """Charades-STA. ``prompt_style``:

    - "lmms-eval" (default): the official task prompt rendered verbatim. It asks for "start - end",
      which both the official parser and the robust scorer read, so both modes are meaningful;
    - "reelrl": the training template's temporal-grounding prompt (JSON ``{"time": [s, e]}`` in
      ``<answer>``), the format an RL-trained model learned. The official parser cannot read JSON, so
      its numbers are ~0 there by construction (visible as ``extraction_failure_rate``).
    """

    unified_signature = UnifiedSignature(data_source="charades_sta")

    media_layout = MediaLayout(
        annotations="official `charades_sta_test.txt` (`<VID> <start> <end>##<sentence>` per line), or EasyVideoR1 unified `charades_sta.json`",
        media="`<VID>.mp4` (official); `<path>` (unified)",
    )

    def __init__(self, prompt_style: str = "lmms-eval"):
        if prompt_style not in ("reelrl", "lmms-eval"):
            raise ValueError(
                f"charades_sta prompt_style must be 'reelrl' or 'lmms-eval', got {prompt_style!r}"
            )
        self.prompt_style = prompt_style
        if prompt_style == "lmms-eval":
            self.prompt_template = str(_TEMPLATES / "verbatim.jinja")

    # ------------------------------------------------------------------ loading
    def load(self, annotation_path: str | Path, media_root: str | Path | None) -> list[BenchmarkRecord]:
        """Records from either format; ``media_root`` defaults to the annotation file's folder."""
        path = Path(annotation_path)
        text = read_text(path)
        root = os.path.abspath(media_root if media_root is not None else path.parent)
        head = text.lstrip()[:1]
        if head in ("[", "{"):
            records = self._load_easyvideor1(path, text, root)
        else:
            records = self._load_official(path, text, root)
        if not records:
            raise ValueError(f"{path}: no Charades-STA records found")
        return records

    def question(self, sentence: str) -> str:
        """The prompt's question for an annotation sentence (its final "." dropped: the templates add one)."""
        sentence = sentence.rstrip(".").strip()
        if self.prompt_style == "lmms-eval":
            return f"{LMMS_EVAL_PRE}{sentence}. {LMMS_EVAL_POST}"
        return (
            f'Find the time span in the video during which this event happens: "{sentence}". '
            "Give its start and end time in seconds."
        )

    def _record(
        self, rid: str, sentence: str, span: tuple[float, float], video: str, extra: dict
    ) -> BenchmarkRecord:
        return BenchmarkRecord(
            id=rid,
            benchmark=self.name,
            problem=self.question(sentence),
            problem_type=PROBLEM_TYPE,
            answer=ground_truth(span),
            data_type="video",
            media=[video],
            media_kind="video",
            extra={"sentence": sentence, "span": [span[0], span[1]], **extra},
        )

    def _load_official(self, path: Path, text: str, root: str) -> list[BenchmarkRecord]:
        records, seen = [], {}
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            m = _OFFICIAL_LINE.fullmatch(line.strip())
            where = f"{path}:{lineno}"
            if m is None:
                raise ValueError(f"{where}: expected '<VIDEO_ID> <start> <end>##<sentence>', got {line!r}")
            vid, s_txt, e_txt, sentence = m.groups()
            span = _span(s_txt, e_txt, where)
            if not sentence.strip():
                raise ValueError(f"{where}: empty sentence after '##'")
            # Content-based id, stable under subsetting or reordering of the file; repeats get ~2, ~3.
            base = f"{vid}@{s_txt}-{e_txt}#{hashlib.sha1(sentence.encode()).hexdigest()[:8]}"
            rid = numbered_id(base, seen)
            video = os.path.join(root, f"{vid}.mp4")
            records.append(
                self._record(
                    rid,
                    sentence.strip(),
                    span,
                    video,
                    {"video_id": vid, "source_format": "official_txt", "line": lineno},
                )
            )
        return records

    def _load_easyvideor1(self, path: Path, text: str, root: str) -> list[BenchmarkRecord]:
        data = parse_json(text, path)
        if not isinstance(data, list):
            # a format error of the file (ValueError like every other), not a caller's type error
            kind = type(data).__name__
            raise ValueError(f"{path}: expected a JSON list of EasyVideoR1 records, got {kind}")  # noqa: TRY004
        check_signature(as_row_list(data, path, "Charades-STA"), path, self.name, self.unified_signature)
        records, ids = [], set()
        for i, item in enumerate(data):
            where = f"{path}: record {i}"
            if not isinstance(item, dict):
                raise ValueError(f"{where}: expected an object, got {type(item).__name__}")  # noqa: TRY004
            require(
                item,
                ("path", "problem", "problem_id", "solution"),
                f"{where} (problem_id={item.get('problem_id')!r})",
            )
            where = f"{where} (problem_id={item['problem_id']!r})"
            ptype = str(item.get("problem_type", PROBLEM_TYPE)).strip().lower()
            if ptype != PROBLEM_TYPE:
                raise ValueError(f"{where}: problem_type {item['problem_type']!r} is not {PROBLEM_TYPE!r}")
            rid = str(item["problem_id"])
            if rid in ids:
                raise ValueError(f"{where}: duplicate problem_id {rid!r}")
            ids.add(rid)
            span = _solution_span(str(item["solution"]), where)
            video = item["path"] if os.path.isabs(item["path"]) else os.path.join(root, item["path"])
            records.append(
                self._record(
                    rid,
                    str(item["problem"]).strip(),
                    span,
                    video,
                    {"video_id": Path(item["path"]).stem, "source_format": "easyvideor1"},
                )
            )
        return records

    # ------------------------------------------------------------------ scoring
    def score_sample(self, record: BenchmarkRecord, response: str, mode: str) -> dict[str, Any]:
        check_mode(mode)
        if mode == "robust":
            result = robust_score(record, response)
            result["iou"] = result["accuracy"]
            return result
        gt = record.extra["span"]
        pairs = extract_time(response)
        if len(pairs) != 1:  # the official script substitutes [gt_e+10, gt_e+20]: IoU 0, a bad prediction
            return {"score": 0.0, "iou": 0.0, "pred": None, "extraction_failed": True}
        iou = metrics.interval_iou(pairs[0], gt)
        return {"score": iou, "iou": iou, "pred": list(pairs[0]), "extraction_failed": False}

    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        check_mode(mode)
        ious = [float(s["iou"]) for s in per_sample_scores]
        out: dict[str, Any] = {"n": len(ious)}
        for t in THRESHOLDS:
            out[f"R@{t}"] = _percent(metrics.recall_at_iou(ious, t))
        out["mIoU"] = _percent(metrics.mean_iou(ious))
        out["overall"] = out["mIoU"]  # the headline number (the comparison view plots it)
        return out


def _percent(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _span(s_txt: str, e_txt: str, where: str) -> tuple[float, float]:
    try:
        s, e = float(s_txt), float(e_txt)
    except ValueError:
        raise ValueError(f"{where}: start/end must be numbers of seconds, got {s_txt!r} {e_txt!r}") from None
    if not (0 <= s <= e):
        raise ValueError(f"{where}: need 0 <= start <= end, got {s} {e}")
    return s, e


def _solution_span(solution: str, where: str) -> tuple[float, float]:
    """``time`` of the JSON object in ``<answer>``, else in ``<think>``, else the first ``{...}``."""
    texts = [m.group(1) for pattern in _SOLUTION_BLOCKS for m in pattern.finditer(solution)] + [solution]
    for text in texts:
        m = _JSON_OBJECT.search(text)
        if m is None:
            continue
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        time = obj.get("time") if isinstance(obj, dict) else None
        if isinstance(time, list) and len(time) == 2:
            return _span(str(time[0]), str(time[1]), where)
    raise ValueError(f'{where}: solution holds no {{"time": [start, end]}} JSON: {solution[:120]!r}')
