"""VideoMathQA's official answer extraction (lmms-eval ``lmms_eval/tasks/videomathqa/utils.py``).

Reproduces ``extract_characters_regex`` of EvolvingLMMs-Lab/lmms-eval (commit 1741440), used for both the
MCQ and the multi-binary (MBin) tasks:

- the response is stripped and every occurrence of "The best answer is", "The correct answer is",
  "The answer is", "The answer" is deleted, and (missing commas in the original list) the concatenations
  "The best option isThe correct option is" and "Best answer:Best option:";
- more than 10 words and no capital A-E anywhere -> "";
- else the first capital A-E anywhere in what is left (case-sensitive): "Answer: B" -> "A" (the A of
  "Answer"), "(C) because" -> "C", "Explanation first ... E" -> "E" of "Explanation".

MBin (``videomathqa_multi_binary_aggregate_results``): the binary items of one question (same
``question_id``) count as one question, correct only when every item is.

CoT step evaluation (``lmms_eval/tasks/videomathqa/cot_step_evaluation.py``, commit 19085f3): the prompt
(``step_prompt``), the reading of the judge's "SCORE_CARD: {...}" (``parse_step_score``: an unreadable reply
scores 0 and is counted) and the mean score on the 0-10 scale (``mean_step_score``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from typing import Any

_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)
_LETTER = re.compile(r"[ABCDE]")


def extract_letter(response: str) -> str:
    """The letter lmms-eval reads from ``response``; "" when it reads none.

    >>> extract_letter("The best answer is: C"), extract_letter("Answer: B"), extract_letter("c")
    ('C', 'A', '')
    """
    s = response.strip()
    for prefix in _PREFIXES:
        s = s.replace(prefix, "")
    m = _LETTER.search(s)
    if len(s.split()) > 10 and m is None:
        return ""
    return m.group(0) if m else ""


# ------------------------------------------------------------------------------------ CoT step evaluation
# lmms-eval lmms_eval/tasks/videomathqa/cot_step_evaluation.py (commit 19085f3): the judge (Qwen/Qwen3-4B in
# thinking mode there, temperature 0.6, top_p 0.95, top_k 20, max_tokens 32768) gets one user message.
STEP_INSTRUCTIONS = """
You are a intelligent assistant for grading math question solutions. You will be given:
- A mathematical question (question) with multiple-choice options (options).
- A list of numbered ground truth steps (gt_steps) showing the correct reasoning to solve a math problem.
- A answer (answer) that is the correct final solution to the question.
- A model prediction (prediction) that includes the steps the model followed and possibly the final answer.

TASK: Compare the prediction to gt_steps and assign a score out of 10 using the rubric below. You must reward both matching logic and valid alternative reasoning. Avoid overly strict step-by-step comparison, instead focus if the model follows a coherent and plausible mathematical approach.

---

### Scoring Rubric:

#### 1. Relative Step Matching (Main Criterion)
- Count the total number of ground truth steps: N
- Evaluate how many predicted steps correctly align with gt_steps in terms of mathematical logic, reasoning, or computations. 
- Score = (matching steps / N) \u00d7 10, rounded to nearest whole number. 
- Remember: A step MATCHES if it serves the same mathematical purpose, even if phrased or ordered differently.

#### 2. Correct Final Answer via Different Reasoning
- If the model's final answer is correct, and the steps are logically valid (even if they differ from gt_steps), assign a full score of 10.
- Ignore number of matching steps in this case unless the reasoning is clearly flawed or incoherent.
- Carefully analyze if predicted alternative reasoning includes incorrect observations that contradict parts of the ground truth. Reduce the score proportionally even if the final answer is correct.
- Remember: Reward even PARTIALLY correct reasoning if the steps are accurate, meaningful and follow a valid alternative path to the correct answer.

#### 3. **Implicit or Inferred Steps**
- Do NOT penalize if early steps are skipped, but later logic clearly depends on them.
- E.g., if a model does not mention "identify the chart," but proceeds to use values from that chart correctly, assume the step was completed implicitly.
- Remember: ALWAYS check for implied steps before reducing the score. Credit should be given when logic shows the step was likely understood.

#### 4. **Ignore Superficial Differences**  
- Do NOT deduct score for formatting, using a different notation or variable names, or additional clarifications.
- Remember: FOCUS on the underlying mathematical meaning rather than literal step-by-step matching.

---

**Output Format: Score Dict (strict):**  
SCORE_CARD: {"matched_steps": "X/N", "final_answer_correct": <0 or 1>, "critique": "<2\u20133 sentence summary>", "score": <0\u201310>}

Be strict when awarding credit. Do NOT be lenient. Carefully evaluate how far the model's reasoning aligns with the ground truth steps before assigning a score.
"""
STEP_RESPONSE_FORMAT = (
    'SCORE_CARD: {"matched_steps": "X/N", "final_answer_correct": <0 or 1>, '
    '"critique": "<2\u20133 sentence summary>", "score": <0\u201310>}'
)
_SCORE_CARD = "SCORE_CARD: "


def options_text(options: Sequence[str]) -> str:
    """How the official prompt prints ``options``: a pandas cell read from the parquet release is a numpy
    object array, so ``f"{options}"`` is numpy's ``str`` of it (quoted items, space-separated, wrapped).

    >>> options_text(["A. 90", "B. 80"])
    "['A. 90' 'B. 80']"
    """
    import numpy as np  # lazy: only the judge path needs it

    return str(np.array(list(options), dtype=object))


def step_prompt(question: str, options: Sequence[str], steps: Any, answer: str, prediction: str) -> str:
    """``get_user_prompt``: the annotated ``steps`` go through ``json.dumps(steps, indent=2)`` as given (the
    release stores them as a JSON string, which is dumped once more, quoted and escaped)."""
    return (
        f"\nINSTRUCTIONS: {STEP_INSTRUCTIONS}\n\nQUESTION: {question}\n\nOPTIONS: {options_text(options)}\n\n"
        f"GROUND TRUTH STEPS:\n{json.dumps(steps, indent=2)}\n\nCORRECT FINAL ANSWER:\n{answer}\n\n"
        f"PREDICTION:\n{prediction}\n\n"
        f"Now evaluate this prediction and return the response in the specified format: {STEP_RESPONSE_FORMAT}\n\n"
    )


def _load_card(text: str) -> Any:
    """``safe_parse_response``: JSON, else a Python literal made JSON; None when neither reads."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return json.loads(json.dumps(ast.literal_eval(text)))
        except Exception:  # noqa: BLE001 - the official parser returns None on any failure
            return None


def parse_step_score(reply: str) -> tuple[int, dict[str, Any] | None]:
    """The official reading of a judge reply: ``(score, score card)``; ``(0, None)`` when unreadable.

    The text after the last "SCORE_CARD: " of the stripped reply is read as JSON (else a Python literal);
    the score is ``int(card.get("score", 0))``, not clamped. Anything failing (no dict, a critique that is
    not a string, a score ``int`` cannot take) gives the official error card, score 0.

    >>> parse_step_score('...SCORE_CARD: {"matched_steps": "3/4", "final_answer_correct": 1, "critique": "ok", "score": 8}')
    (8, {'matched_steps': '3/4', 'final_answer_correct': 1, 'critique': 'ok', 'score': 8})
    >>> parse_step_score("Score: 8/10"), parse_step_score('SCORE_CARD: {"score": "7.5"}')
    ((0, None), (0, None))
    """
    card = _load_card(reply.strip().split(_SCORE_CARD)[-1])
    if card is None:
        return 0, None
    try:
        parsed = {
            "matched_steps": card.get("matched_steps", ""),
            "final_answer_correct": card.get("final_answer_correct", 0),
            "critique": card.get("critique", "").strip(),
            "score": int(card.get("score", 0)),
        }
    except Exception:  # noqa: BLE001 - the official scorer keeps the error card on any failure
        return 0, None
    return parsed["score"], parsed


def mean_step_score(scores: Sequence[float]) -> float | None:
    """``sum(scores) / len(scores)`` on the 0-10 scale (unreadable replies count 0); None when empty."""
    return sum(scores) / len(scores) if scores else None
