"""Official judge-based grading shared by the adapters: judge prompts, one call per request, verdict rules.

The prompts are the official scripts' texts, kept as ``evaluation/adapters/templates/judge/*.jinja``
(rendered with the record's fields; each field is cut to ``MAX_PROMPT_FIELD_CHARS`` like the reward
library's judge requests). Each benchmark reads its judge's reply its own way, reproduced here:

- EasyVideoR1 ``eval/code/llm_judge.py`` (commit ad32706): the model answer is the text after the first
  "Therefore, the final answer is:" (case-insensitive), else the output without ``<think>`` blocks
  (else the whole output); the verdict is the last ``Judgement: 0|1`` (case-insensitive), else 1 or 0 when
  the stripped reply ends with that digit, else 0.
- VideoReasonBench ``utils/eval_utils.py`` (llyx97/video_reason_bench @07d2644): the answer is the text
  after the first "Final Answer" (after Kimi's "◁/think▷" when present); none, or an empty one, is wrong
  without asking the judge; correct only when the reply is exactly "Correct".
- MMVU ``utils/eval_utils.py`` (yale-nlp/MMVU @f5bc479): GPT-4o returns ``{"extracted_answer", "correct"}``
  (structured output); the last ``"correct": true|false`` of the reply decides, unreadable -> wrong.
- VCR-Bench ``eval_code/eval.py`` (zhishuifeiqian/VCR-Bench @4e564b7): the judge extracts the answer,
  then a time interval ``[s, e]`` on both sides scores IoU > 0.7, a box ``[x1, y1, x2, y2]`` (integers)
  on both sides IoU > 0.5, anything else goes to a second judge prompt that is correct only when the
  reply is exactly "1"; any exception in this step scores 0.

The judge is a ``training.rewards.judge.Judge`` (``grade_many``). Its own 0..10 parsing is not used: the
reply text is read here. A request that failed (``reply`` None: endpoint error after retries) raises, so
the runner records a scoring error that rescoring retries, never a silent 0.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from training.rewards.judge import MAX_PROMPT_FIELD_CHARS, Judge, JudgeRequest

TEMPLATES = Path(__file__).resolve().parents[1] / "adapters" / "templates" / "judge"
JUDGE_PROMPTS = ("benchmark", "easyvideor1")

_EVR1_MARKER = "therefore, the final answer is:"
_JUDGEMENT = re.compile(r"Judgement\s*+:\s*+([01])", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_MMVU_CORRECT = re.compile(r"""["']?correct["']?\s*+:\s*+["']?(true|false)\b""", re.IGNORECASE)
_KIMI_THINK_END = "\u25c1/think\u25b7"


def no_judge_error(benchmark: str, record_id: str) -> ValueError:
    return ValueError(
        f"{benchmark} record {record_id} needs an LLM judge in official mode (pass a judge / reelrl eval "
        "--judge-url); robust mode scores it without one"
    )


def check_judge_prompt(benchmark: str, judge_prompt: str) -> str:
    if judge_prompt not in JUDGE_PROMPTS:
        raise ValueError(f"{benchmark} judge_prompt must be one of {JUDGE_PROMPTS}, got {judge_prompt!r}")
    return judge_prompt


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_PROMPT_FIELD_CHARS else text[:MAX_PROMPT_FIELD_CHARS] + " …[truncated]"


def render(template: str, **fields: Any) -> str:
    """``templates/judge/<template>`` rendered with ``fields`` (strings cut to the judge's field limit)."""
    clipped = {k: _clip(v) if isinstance(v, str) else v for k, v in fields.items()}
    return _environment().get_template(template).render(**clipped)


def ask(judge: Judge, messages: tuple[tuple[str, str], ...], benchmark: str, record_id: str) -> str:
    """The judge's reply text to one request; raises when the request itself failed."""
    verdict = judge.grade_many([JudgeRequest(messages=messages)])[0]
    if verdict.reply is None:
        raise RuntimeError(
            f"{benchmark} record {record_id}: the judge request failed ({verdict.error}); rescoring retries it"
        )
    return verdict.reply


# ------------------------------------------------------------------------------------ EasyVideoR1
def drop_think(text: str) -> str:
    """``re.sub(r"<think>.*?</think>", "", text, flags=DOTALL | IGNORECASE)`` in linear time."""
    pieces, pos = [], 0
    while (start := _THINK_OPEN.search(text, pos)) and (end := _THINK_CLOSE.search(text, start.end())):
        pieces.append(text[pos : start.start()])
        pos = end.end()
    pieces.append(text[pos:])
    return "".join(pieces)


def easyvideor1_model_answer(output: str) -> str:
    """EasyVideoR1 ``extract_model_answer``: the text after the first "Therefore, the final answer is:"
    (any case), else the output without think blocks, else the whole output, stripped.

    >>> easyvideor1_model_answer("<think>x</think> Therefore, the final answer is: a dog")
    'a dog'
    """
    idx = output.lower().find(_EVR1_MARKER)  # an index into the lower-cased text slices the original
    if idx != -1:
        return output[idx + len(_EVR1_MARKER) :].strip()
    cleaned = drop_think(output).strip()
    return cleaned or output.strip()


def easyvideor1_judgement(reply: str) -> int:
    """EasyVideoR1 ``parse_judgement``: the last "Judgement: 0|1", else the reply's final digit, else 0.

    >>> easyvideor1_judgement("Judgement: 1 ... on reflection Judgement: 0"), easyvideor1_judgement("ok 1")
    (0, 1)
    """
    last = None
    for last in _JUDGEMENT.finditer(reply):
        pass
    if last is not None:
        return int(last.group(1))
    stripped = reply.strip()
    if stripped.endswith("1"):
        return 1
    return 0


def easyvideor1_request(answer: str, response: str) -> tuple[tuple[str, str], ...]:
    """EasyVideoR1's judge prompt (sent raw to ``LLM.generate`` there; one user message here)."""
    text = render("easyvideor1.jinja", answer=answer, extracted_answer=easyvideor1_model_answer(response))
    return (("user", text),)


def easyvideor1_scores(judge: Judge, answer: str, response: str, benchmark: str, record_id: str) -> dict:
    """A judged record's score with EasyVideoR1's judge (every judged adapter's ``judge_prompt="easyvideor1"``)."""
    reply = ask(judge, easyvideor1_request(answer, response), benchmark, record_id)
    correct = easyvideor1_judgement(reply) == 1
    return {"score": float(correct), "judge_reply": reply, "extraction_failed": not response.strip()}


# ------------------------------------------------------------------------------------ VideoReasonBench
def videoreasonbench_final_answer(response: str) -> str | None:
    """The official ``extract_final_answer``: the stripped text after the first "Final Answer" (after the
    first "◁/think▷" piece split, as the script does); None when absent or empty (scored wrong unasked).

    >>> videoreasonbench_final_answer("work...\\nFinal Answer: end, 5\\n"), videoreasonbench_final_answer("5")
    (': end, 5', None)
    """
    if not response:
        return None
    if _KIMI_THINK_END in response:
        response = response.split(_KIMI_THINK_END)[1]
    idx = response.find("Final Answer")
    if idx == -1:
        return None
    return response[idx + len("Final Answer") :].strip() or None


def videoreasonbench_request(question: str, answer: str, ground_truth: str) -> tuple[tuple[str, str], ...]:
    text = render("videoreasonbench.jinja", question=question, response=answer, ground_truth=ground_truth)
    return (("user", text),)


def videoreasonbench_correct(reply: str) -> bool:
    """``judge_response == "Correct"``: exact, so "Correct." or " Correct" is wrong."""
    return reply == "Correct"


# ------------------------------------------------------------------------------------ MMVU
def mmvu_request(question: str, answer: str, response: str) -> tuple[tuple[str, str], ...]:
    """MMVU's open-ended judge request: the instruction as system message, then question, ground truth
    and the full model response."""
    system = render("mmvu_open_ended_system.jinja")
    user = render("mmvu_open_ended_user.jinja", question=question, answer=answer, response=response)
    return (("system", system), ("user", user))


def mmvu_correct(reply: str) -> bool:
    """The last ``"correct": true|false`` of the reply (JSON or Python booleans); unreadable -> False.

    >>> mmvu_correct('{"extracted_answer": "DFS", "correct": true}'), mmvu_correct("yes")
    (True, False)
    """
    last = None
    for last in _MMVU_CORRECT.finditer(reply):
        pass
    return last is not None and last.group(1).lower() == "true"


# ------------------------------------------------------------------------------------ VCR-Bench
def vcr_extract_request(question: str, response: str) -> tuple[tuple[str, str], ...]:
    return (("user", render("vcr_bench_extract.jinja", question=question, response=response)),)


def vcr_score_request(question: str, extracted: str, answer: str) -> tuple[tuple[str, str], ...]:
    text = render("vcr_bench_score.jinja", question=question, extract_answer=extracted, gt_answer=answer)
    return (("user", text),)


def _time_interval(text: Any) -> list[float] | None:
    """``is_valid_time_interval``: a Python literal list of two ints/floats, else None."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value):
        return value
    return None


def _box(text: Any) -> list[int] | None:
    """``is_valid_space_interval``: "[a, b, c, d]" whose four comma parts are ints, else None."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    parts = text[1:-1].split(",")
    if len(parts) != 4:
        return None
    try:
        return [int(p.strip()) for p in parts]
    except ValueError:
        return None


def _box_iou(a: list[int], b: list[int]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if x2 < x1 or y2 < y1:
        return 0.0
    inter = (x2 - x1) * (y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def vcr_rule_match(answer: str, extracted: str) -> bool | None:
    """The official interval/box rules: True/False when they decide, None when the scoring judge must.
    Any exception (e.g. a zero-area union) decides False, as the official ``try`` scores it 0.

    >>> vcr_rule_match("[11, 142]", "[10, 140]"), vcr_rule_match("[0, 10]", "[6, 10]"), vcr_rule_match("Host", "host")
    (True, False, None)
    """
    try:
        gt_span, pred_span = _time_interval(answer), _time_interval(extracted)
        if gt_span is not None and pred_span is not None:
            (s1, e1), (s2, e2) = gt_span, pred_span
            union = max(e1, e2) - min(s1, s2)
            return union != 0 and max(0, min(e1, e2) - max(s1, s2)) / union > 0.7
        gt_box, pred_box = _box(answer), _box(extracted)
        if gt_box is not None and pred_box is not None:
            return _box_iou(gt_box, pred_box) > 0.5
    except Exception:  # noqa: BLE001 - the official match_answer scores any failure 0
        return False
    return None


def vcr_scoring_correct(reply: str) -> bool:
    """``str(answer_scoring) == '1'``: the scoring judge's exact reply."""
    return reply == "1"
