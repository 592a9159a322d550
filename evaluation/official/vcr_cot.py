"""VCR-Bench's CoT evaluation (zhishuifeiqian/VCR-Bench ``eval_code/eval.py`` @4e564b7, ``prompt.py``,
``cau_total.py`` @5821d78): recall and precision of the model's reasoning against the annotated steps.

- Recall: the judge gets ``Recall_Evaluation_Prompt`` (question, answer, the model response as the
  solution, the annotated ``reasoning`` printed by ``str.format``, so a list appears as its Python repr) and
  labels every annotated step ``Matched``/``Unmatched`` with a step type. Per type, recall =
  matched / (matched + unmatched); ``overall`` pools the Video Description and Logical Inference steps
  (Background Review steps are left out of it); a type with no step has no value ("" there, None here).
- Precision: the judge gets ``Precision_Evaluation_Prompt``, splits the response into steps and labels each
  ``Matched``/``Wrong``/``Redundant``. Per type, precision = matched / (matched + wrong) (redundant steps
  are in neither); ``overall`` pools Video Description and Logical Inference; ``efficiency`` =
  (steps - redundant) / steps over all types.
- A reply is read as the JSON between the first "```json\\n" and the next "```"; it must be a list of
  objects whose ``step_type`` is one of the three types and whose ``judgment`` is one of the labels, else
  it is unreadable (the official ``while True`` asks again until it reads).
- ``cau_total.py``: for Video, logic and overall, precision and recall are each the mean over the items
  that have a value (0 when only the other one has values; a name without any value is not printed);
  F1 = 2PR / (P + R), 0 when P + R = 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

VIDEO, LOGIC, BACKGROUND = "Video Description Steps", "Logical Inference Steps", "Background Review Steps"
STEP_TYPES = (VIDEO, LOGIC, BACKGROUND)
RECALL_LABELS = ("Matched", "Unmatched")
PRECISION_LABELS = ("Matched", "Wrong", "Redundant")
#: per-item value names of eval.py, also the keys ``cau_total.py`` reads ("Video", "logic", "overall")
TYPE_PREFIX = {VIDEO: "Video", LOGIC: "logic", BACKGROUND: "background"}
AGGREGATED = ("Video", "logic", "overall")
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)

_STEP_TYPES_TEXT = """1. Logical Inference Steps
   - Contains exactly one logical deduction
   - Must produce a new derived conclusion
   - Cannot be just a summary or observation

2. Video Description Steps
   - Pure visual observations
   - Only includes directly visible elements
   - No inferences or assumptions
   - Contains event time

3. Background Review Steps: 
   - Repetition or review of the problem
   - Not directly related to solving the problem.
"""

RECALL_PROMPT = (
    """You are an expert system for verifying solutions to video-based problems. Your task is to match the ground truth middle steps with the provided solution.

INPUT FORMAT:
1. Problem: The original question/task
2. A Solution of a model
3. Ground Truth: Essential steps required for a correct answer

MATCHING PROCESS:

You need to match each ground truth middle step with the solution:

Match Criteria:
- The middle step should exactly match in the content or is directly entailed by a certain content in the solution
- All the details must be matched, including the specific value and content
- You should judge all the middle steps for whethere there is a match in the solution

Step Types:
"""
    + _STEP_TYPES_TEXT
    + """
OUTPUT FORMAT:
JSON array of judgments:
[
  {{
    "step": ground truth middle step,
    "step_type": "Video Description Steps|Logical Inference Steps|Background Review Steps",
    "judgment": "Matched" | "Unmatched",
  }}
]

ADDITIONAL RULES:
1. Only output the json array with no additional information.
2. Judge each ground truth middle step in order without omitting any step.

Here is the problem, answer, solution, and the ground truth middle steps:

[Problem]
{question}

[Answer]
{answer}

[Solution]
{solution}

[Ground Truth Information]
{gt_annotation}
"""
)

PRECISION_PROMPT = (
    """
# Task Overview
Given a solution with multiple reasoning steps for an video-based problem, reformat it into well-structured steps and evaluate their correctness.

# Step 1: Reformatting the Solution
Convert the unstructured solution into distinct reasoning steps while:
- Preserving all original content and order
- Not adding new interpretations
- Not omitting any steps

## Step Types
"""
    + _STEP_TYPES_TEXT
    + """
## Step Requirements
- Each step must be atomic (one conclusion per step)
- No content duplication across steps
- Initial analysis counts as background information
- Final answer determination counts as logical inference

# Step 2: Evaluating Correctness
Evaluate each step against:

## Ground Truth Matching
For video descriptions:
- Key elements must match ground truth descriptions

For logical inferences:
- Conclusion must EXACTLY match or be DIRECTLY entailed by ground truth

For Background review:
-  Without special circumstances are deemed to be redundant

## Reasonableness Check (if no direct match)
If Step:
- Premises must not contradict any ground truth or correct answer
- Logic is valid
- Conclusion must not contradict any ground truth 
- Conclusion must support or be neutral to correct answer
- Helpful in solving the problem, non-redundant steps
this Step be viewed as matched.

## Judgement Categories
- "Match": Aligns with ground truth
- "Wrong": Contradictory with ground truth
- "Redundant": Redundant steps that do not help solve the problem

# Output Requirements
1. The output format MUST be in valid JSON format without ANY other content.
2. For highly repetitive patterns, output it as a single step.
3. Output maximum 35 steps. Always include the final step that contains the answer.

Here is the json output format:
## Output Format
[
  {{
    "step": "reformatted the solution step",
    "step_type": "Video Description Steps|Logical Inference Steps|Background Review Steps",
    "reasons_for_judgment": "The reason for judging the matching result of the step in the solution based on Ground Truth Information. Sufficient evidence needs to be found in Ground Truth Information to determine the correctness of the reformatted the solution step. The video event description time error is no more than 3 seconds and is considered correct. If the solution step does not specify the time, it is considered wrong.",
    "judgment": "Matched|Wrong|Redundant",
  }}
]

Here is the problem, and the solution that needs to be reformatted to steps:

[Problem]
{question}

[Solution]
{solution}

[Ground Truth Information]
{gt_annotation}
"""
)


def recall_prompt(question: str, answer: Any, response: str, reasoning: Any) -> str:
    return RECALL_PROMPT.format(question=question, answer=answer, solution=response, gt_annotation=reasoning)


def precision_prompt(question: str, response: str, reasoning: Any) -> str:
    return PRECISION_PROMPT.format(question=question, solution=response, gt_annotation=reasoning)


def judgment_counts(reply: str, labels: Sequence[str]) -> dict[str, dict[str, int]] | None:
    """Per step type, how many steps the judge gave each label; None when the reply is unreadable
    (no "```json" block, invalid JSON, not a list of objects, an unknown step type or label).

    >>> judgment_counts('```json\\n[{"step_type": "Logical Inference Steps", "judgment": "Matched"}]\\n```',
    ...                 RECALL_LABELS)[LOGIC]
    {'Matched': 1, 'Unmatched': 0}
    >>> judgment_counts('[{"step_type": "Logical Inference Steps", "judgment": "Matched"}]', RECALL_LABELS)
    """
    m = _JSON_BLOCK.search(reply)
    if m is None:
        return None
    try:
        items = json.loads(m.group(1).strip())
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list):  # a dict iterates its keys, a string its characters: both fail there
        return None
    counts = {t: dict.fromkeys(labels, 0) for t in STEP_TYPES}
    for item in items:
        if not isinstance(item, dict):
            return None
        step_type, label = item.get("step_type"), item.get("judgment")
        if step_type not in STEP_TYPES or label not in labels:
            return None
        counts[step_type][label] += 1
    return counts


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def recall_values(counts: dict[str, dict[str, int]]) -> dict[str, float | None]:
    """eval.py ``recall``: ``Video_recall``, ``logic_recall``, ``background_recall``, ``overall_recall``
    (None where the denominator is 0, "" in the official output)."""
    out = {
        f"{TYPE_PREFIX[t]}_recall": _ratio(c["Matched"], c["Matched"] + c["Unmatched"])
        for t, c in counts.items()
    }
    pooled = [counts[VIDEO], counts[LOGIC]]
    matched = sum(c["Matched"] for c in pooled)
    out["overall_recall"] = _ratio(matched, matched + sum(c["Unmatched"] for c in pooled))
    return out


def precision_values(counts: dict[str, dict[str, int]]) -> dict[str, float | None]:
    """eval.py ``precision``: per-type and ``overall_precision`` (None where the denominator is 0) and
    ``efficiency``; with no step at all efficiency is 0/0, which fails the official item (None here)."""
    out: dict[str, float | None] = {
        f"{TYPE_PREFIX[t]}_precision": _ratio(c["Matched"], c["Matched"] + c["Wrong"])
        for t, c in counts.items()
    }
    pooled = [counts[VIDEO], counts[LOGIC]]
    matched = sum(c["Matched"] for c in pooled)
    out["overall_precision"] = _ratio(matched, matched + sum(c["Wrong"] for c in pooled))
    steps = sum(sum(c.values()) for c in counts.values())
    redundant = sum(c["Redundant"] for c in counts.values())
    out["efficiency"] = (steps - redundant) / steps if steps else None
    return out


def total_metrics(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``cau_total.calculate_metrics``: for Video, logic and overall, the mean precision and recall over the
    items holding a value (0 when only the other one has values; a name with no value at all is left out)
    and their F1 (0 when both are 0); fractions, not percent.

    >>> total_metrics([{"overall_precision": 1.0, "overall_recall": 0.5}, {"overall_precision": 0.5}])
    {'overall': {'precision': 0.75, 'recall': 0.5, 'f1': 0.6}}
    """
    items = list(items)
    out: dict[str, dict[str, float]] = {}
    for name in AGGREGATED:
        values = {
            kind: [it[f"{name}_{kind}"] for it in items if it.get(f"{name}_{kind}") is not None]
            for kind in ("precision", "recall")
        }
        if not values["precision"] and not values["recall"]:
            continue
        p, r = (sum(v) / len(v) if v else 0 for v in values.values())
        out[name] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r > 0 else 0}
    return out
