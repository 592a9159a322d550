"""EasyVideoR1's answer extraction and reward, the reference harness of several video benchmarks.

Reproduces ``extract_answer`` and ``reward_fn`` of cyuQ1n/EasyVideoR1
``eval/code/AsyncLLMEngine_eval_videobench_qwen3vl_multi_task.py`` (commit 65fb76d3), the script behind
EasyVideoR1's published numbers, with its quirks:

- extraction order: (0) grounding types: ``<answer>`` content, else the first ``{...}`` of ``<think>``,
  else the first ``{...}`` of the text without think blocks, else that text; (1) the first
  ``<answer>`` block: any content for a non-multiple-choice type; for multiple choice, content of at
  most 2 characters whose upper case minus trailing "." is a *substring* of "ABCDEFGHIJ" ("ab" -> "AB",
  "." -> "" and extraction stops there); (2) "Therefore/So/Thus/Hence/Finally ... answer is X", then
  "answer is X", then "答案是X", all case-insensitive, so "The answer is a dog" -> "A"; (2.5) non-MC:
  the text after "Therefore ... answer is"; (3) the text after the first ``</think>``: a lone letter,
  a leading capital letter followed by ".", ")", ":", a space or the end ("I think B" -> "I"), or
  "answer is X"; (4) "(I) choose/select/pick (option) X", case-insensitive ("select a clip" -> "A");
  (5) the last 5 lines: a lone letter, "A." / "A)", or a line under 30 characters ending in a capital
  letter; (6) non-MC: the text without think blocks. Else "".
- MC reward: exact letter; an empty extraction falls back to the whole response (stripped).
- numerical: the ground truth and the answer must both contain or both lack a "." or ","; then the
  numbers (leading junk and trailing non-digits stripped, commas dropped) are equal after round(., 2).
- regression: MRA with ``torch.arange(0.5, 0.95 + 0.025, 0.05)`` thresholds and a **strict** ``<``,
  all in float32 (emulated here with ``struct``): MRA(1, 2) = 0.0, (3, 4) = 0.5, (1.9, 2.0) = 0.9
  (the official VSI-Bench ``<=`` gives 0.1, 0.6, 1.0). The result is the float32 mean as a Python
  float: (9, 10) gives 0.8999999761581421 (9 of 10 thresholds pass).
- temporal grounding: 1-D IoU of ``{"time": [s, e]}``; spatial-temporal grounding: 0.5 tIoU + 0.5 mean
  box IoU over the seconds present in both; any other type scores 0. Any exception scores 0.

Deviations (performance only, same results): the tag, brace and think-block searches and the number
clean-up are linear scans instead of the original regexes, which are quadratic on pathological input.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import struct
from typing import Any

MULTIPLE_CHOICE = "multiple choice"
GROUNDING = ("temporal grounding", "spatial-temporal grounding")
LETTERS = "ABCDEFGHIJ"

_FINAL_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?:Therefore|So|Thus|Hence|Finally)[,\s]*(?:the\s+)?(?:final\s+|best\s+|correct\s+)?answer\s+is[:\s]+([A-J])\b",
        r"(?:the\s+)?(?:final\s+|best\s+|correct\s+)?answer\s+is[:\s]+([A-J])\b",
        r"答案[是为：:]\s*([A-J])\b",
    )
)
_FINAL_TEXT = re.compile(
    r"(?:Therefore|So|Thus|Hence|Finally)[,\s]*(?:the\s+)?(?:final\s+|best\s+|correct\s+)?answer\s+is[:\s]+(.+)",
    re.IGNORECASE | re.DOTALL,
)
_LEADING_LETTER = re.compile(r"([A-J])(?:\s*[.。\):]|$|\s)")
_ANSWER_IS = re.compile(r"answer\s+is[:\s]+([A-J])\b", re.IGNORECASE)
_CHOOSE = re.compile(r"(?:I\s+)?(?:choose|select|pick)\s+(?:option\s+)?([A-J])\b", re.IGNORECASE)
_LINE_LETTER = re.compile(r"([A-J])\s*[.):\s。]?\s*")
_LINE_END_LETTER = re.compile(r"\b([A-J])\s*[.)]?\s*$")
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def tag_content(text: str, tag: str) -> str:
    """Stripped content of the first ``<tag>...</tag>`` (the first closing tag after the first opening
    tag); "" when there is none (EasyVideoR1 ``extract_between``)."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    start = text.find(opening)
    if start < 0:
        return ""
    end = text.find(closing, start + len(opening))
    return text[start + len(opening) : end].strip() if end >= 0 else ""


def _first_braces(text: str) -> str | None:
    """What ``re.search(r"\\{.*\\}", text, re.DOTALL)`` matches: first "{" to last "}"."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else None


def _drop_think(text: str) -> str:
    """``re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL | re.IGNORECASE)``, in linear time."""
    opens = [m.start() for m in _THINK_OPEN.finditer(text)]
    closes = [m for m in _THINK_CLOSE.finditer(text)]
    close_starts = [m.start() for m in closes]
    pieces, pos = [], 0
    while True:
        i = bisect.bisect_left(opens, pos)
        if i == len(opens):
            break
        j = bisect.bisect_left(close_starts, opens[i] + len("<think>"))
        if j == len(closes):
            break
        pieces.append(text[pos : opens[i]])
        pos = closes[j].end()
    pieces.append(text[pos:])
    return "".join(pieces)


def extract_answer(response: str, problem_type: str = MULTIPLE_CHOICE) -> str:
    """The answer EasyVideoR1 reads from ``response`` ("" = none); see the module docstring.

    >>> extract_answer("Therefore, the final answer is: C")
    'C'
    >>> extract_answer("The answer is a dog")
    'A'
    >>> extract_answer("Based on the video, the answer is (B).")
    ''
    """
    s = response
    if problem_type in GROUNDING:
        inner = tag_content(s, "answer")
        if inner:
            return inner
        think = tag_content(s, "think")
        found = _first_braces(think) if think else None
        if found is not None:
            return found
        cleaned = _drop_think(s).strip()
        found = _first_braces(cleaned)
        if found is not None:
            return found
        return cleaned or s.strip()

    mc = problem_type == MULTIPLE_CHOICE
    inner = tag_content(s, "answer")
    if inner and not mc:
        return inner
    if inner and len(inner) <= 2:
        letter = inner.strip().rstrip(".").upper()
        if letter in LETTERS:  # a substring test: "AB" and "" pass
            return letter

    for pattern in _FINAL_PATTERNS:
        m = pattern.search(s)
        if m:
            return m.group(1).upper()
    if not mc:
        m = _FINAL_TEXT.search(s)
        if m:
            return m.group(1).strip()

    close = _THINK_CLOSE.search(s)
    if close:
        after = s[close.end() :].strip()
        if after:
            if len(after) == 1 and after.upper() in LETTERS:
                return after.upper()
            m = _LEADING_LETTER.match(after)
            if m:
                return m.group(1)
            m = _ANSWER_IS.search(after)
            if m:
                return m.group(1).upper()

    m = _CHOOSE.search(s)
    if m:
        return m.group(1).upper()

    for line in reversed(s.strip().split("\n")[-5:]):
        line = line.strip()
        if len(line) == 1 and line.upper() in LETTERS:
            return line.upper()
        m = _LINE_LETTER.fullmatch(line)
        if m:
            return m.group(1)
        if len(line) < 30:
            m = _LINE_END_LETTER.search(line)
            if m:
                return m.group(1)

    if not mc:
        return _drop_think(s).strip() or s.strip()
    return ""


# ---------------------------------------------------------------------------------------- numbers
def normalize_number(text: str) -> float | None:
    """EasyVideoR1 ``normalize_number``: drop leading characters other than digits, "-", "+", "." and
    trailing characters other than digits and ".", remove commas, ``float``; None when that fails."""
    text = text.strip()
    start, end = 0, len(text)
    while start < end and not (text[start].isdecimal() or text[start] in "-+."):
        start += 1
    while end > start and not (text[end - 1].isdecimal() or text[end - 1] == "."):
        end -= 1
    try:
        return float(text[start:end].replace(",", ""))
    except ValueError:
        return None


def _f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (double arithmetic then this rounding is exact float32
    arithmetic for one +, -, * or /)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:  # beyond float32 range: torch gives inf
        return math.copysign(math.inf, x)


def mean_relative_accuracy(
    pred: float, target: float, start: float = 0.5, end: float = 0.95, interval: float = 0.05
) -> float:
    """EasyVideoR1's MRA in float32: ``mean(|p - t| / (|t| + 1e-8) < 1 - arange(start, end + interval/2,
    interval))``.

    >>> mean_relative_accuracy(3, 4)
    0.5
    """
    p, t = _f32(float(pred)), _f32(float(target))
    rel = _f32(abs(_f32(p - t)) / _f32(abs(t) + _f32(1e-8)))
    count = math.ceil((end + interval / 2 - start) / interval)
    passed = sum(rel < _f32(1.0 - _f32(start + interval * i)) for i in range(count))
    return _f32(passed / count)


# ---------------------------------------------------------------------------------------- grounding
def _numbers(x: Any, n: int) -> list[float] | None:
    if not isinstance(x, list) or len(x) != n:
        return None
    try:
        return [float(v) for v in x]
    except (TypeError, ValueError):
        return None


def iou_1d(pred: Any, gt: Any) -> float:
    """Interval IoU over the hull; 0 for malformed spans or a hull of at most 1e-12."""
    p, g = _numbers(pred, 2), _numbers(gt, 2)
    if p is None or g is None:
        return 0.0
    inter = max(0.0, min(p[1], g[1]) - max(p[0], g[0]))
    union = max(p[1], g[1]) - min(p[0], g[0])
    return inter / union if union > 1e-12 else 0.0


def iou_2d(a: Any, b: Any) -> float:
    p, g = _numbers(a, 4), _numbers(b, 4)
    if p is None or g is None:
        return 0.0
    inter = max(0.0, min(p[2], g[2]) - max(p[0], g[0])) * max(0.0, min(p[3], g[3]) - max(p[1], g[1]))
    area_p = max(0.0, p[2] - p[0]) * max(0.0, p[3] - p[1])
    area_g = max(0.0, g[2] - g[0]) * max(0.0, g[3] - g[1])
    union = area_p + area_g - inter
    return inter / union if union > 1e-12 else 0.0


def _box_miou(pred: Any, gt: dict) -> float:
    if not isinstance(pred, dict):
        return 0.0
    common = [k for k in pred if k in gt]
    return sum(iou_2d(pred[k], gt[k]) for k in common) / len(common) if common else 0.0


# ---------------------------------------------------------------------------------------- reward
def reward_fn(response: str, solution: str, problem_type: str) -> float:
    """EasyVideoR1's per-sample reward of ``response`` against ``solution`` (the record's ``solution``,
    e.g. "<answer>C</answer>", or a bare answer: both go through ``extract_answer``)."""
    try:
        return _reward(response, solution, problem_type)
    except Exception:  # noqa: BLE001 - the original scores any failure 0
        return 0.0


def _reward(response: str, solution: str, problem_type: str) -> float:
    out = extract_answer(response, problem_type) or response
    gt = extract_answer(solution, problem_type)
    if problem_type == MULTIPLE_CHOICE:
        return 1.0 if out.strip() == gt.strip() else 0.0
    if problem_type == "numerical":
        if ("." in gt or "," in gt) != ("." in out or "," in out):
            return 0.0
        g, o = normalize_number(gt), normalize_number(out)
        if g is None or o is None:
            return 0.0
        return 1.0 if round(g, 2) == round(o, 2) else 0.0
    if problem_type == "regression":
        g, o = normalize_number(gt), normalize_number(out)
        if g is None or o is None:
            return 0.0
        return mean_relative_accuracy(o, g)
    if problem_type in GROUNDING:
        pred, truth = json.loads(out), json.loads(gt)
        if not isinstance(pred, dict) or not isinstance(truth, dict):
            return 0.0
        tiou = iou_1d(pred.get("time"), truth.get("time"))
        if problem_type == "temporal grounding":
            return tiou
        boxes = truth.get("boxes")
        if not isinstance(boxes, dict) or not boxes:
            return tiou
        return 0.5 * tiou + 0.5 * _box_miou(pred.get("boxes"), boxes)
    return 0.0
