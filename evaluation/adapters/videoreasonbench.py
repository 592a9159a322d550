"""VideoReasonBench: vision-centric reasoning over videos of state changes (1440 open-ended questions,
6 domains x 240: card, chip, cup, file_sys, grid, hrd).

Annotation formats (detected from the content):

- EasyVideoR1 unified ``videoreasonbench.json`` (1440 rows, ``problem_type`` "open-ended", the video
  ``path`` "<domain>/state<N>_op<M>_<start|end>.mp4");
- the official ``questions/<domain>.json`` (llyx97/video_reason_bench): an object ``{key: {video,
  question, answer, dim, num_state, num_operation, visible_time, ...}}``; ids are "<domain>_<key>" as
  the official ``load_data`` builds them.

The domain, the state size and the number of operations come from the video path (and the official
fields when present). 244 of the 1440 questions have no ground-truth answer: they ask for a sequence of
operations reaching a target state (flagged ``extra["gt_is_none"]``, reported apart in
``overall_answerable``). The official script checks them by simulation (``evaluate_operation``), which
is reproduced here for the official format in official mode with ``judge_prompt="benchmark"``: at load
time the recorded start state (``states``/``coords`` at index 0 when ``visible_time`` is "end", else
the last) goes to ``extra["planning_state"]`` and the question's target is checked; at scoring the text
after "Final Answer" (none -> wrong unasked) goes to the judge with the official per-domain extraction
prompt (``extract_move_hrd`` for hrd and grid, ``extract_move_cup``, ``extract_file_cmd``,
``extract_move_card``, ``extract_move_chip``), the reply is read as a Python literal
(``ast.literal_eval``; unreadable -> wrong, ``extraction_failed``) or, for file_sys, split on " & ",
and the moves are simulated from the start state and compared with the target, quirks included (see
``evaluation.official.videoreasonbench_sim``). The EasyVideoR1 unified file carries no states: there,
as with ``judge_prompt="easyvideor1"`` and in robust mode, these questions keep the literal answer
"None" that EasyVideoR1 gives them and are graded like the others.

Prompt: with ``prompt_style="letter"`` (the official prompt) the question text alone, which asks for
"Final Answer:" as the official parser expects. Official mode needs a judge:
``judge_prompt="benchmark"`` (default) reproduces ``evaluate``: the text after "Final Answer" (none ->
wrong without asking), VideoReasonBench's judge prompt, correct on a reply of exactly "Correct";
``"easyvideor1"`` sends EasyVideoR1's ``llm_judge.py`` prompt. Robust mode: the reward library's
open-ended rules, no judge.

Aggregates (percent), as ``utils/show_results.py`` prints them: ``overall`` and per ``domain``,
``state`` (state_1: N in {1, 3}, state_2: N in {2, 4}), ``num_op`` (5_9, 10_14) and, for the official
format, ``dim`` (order_state and counting_state merged into infer_state).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import metrics
from evaluation.adapters.choice import TEMPLATES, ChoiceAdapter, percent
from evaluation.adapters.loading import media_path, require
from evaluation.adapters.media import MediaLayout
from evaluation.adapters.registry import register_benchmark
from evaluation.adapters.unified import UnifiedSignature
from evaluation.official import judged
from evaluation.official import videoreasonbench_sim as sim
from evaluation.records import BenchmarkRecord
from training.rewards.judge import MAX_PROMPT_FIELD_CHARS

DOMAINS = ("card", "chip", "cup", "file_sys", "grid", "hrd")
OPEN_ENDED = "open-ended"
STATE_SIZE = {1: 1, 2: 2, 3: 1, 4: 2}  # show_results.state_size_map
OFFICIAL_KEYS = ("video", "question", "answer", "dim", "num_state", "num_operation")
_VIDEO = re.compile(r"(?:^|/)(" + "|".join(DOMAINS) + r")/state(\d+)_op(\d+)_(start|end)\.mp4$")
BREAKDOWNS = ("domain", "state", "num_op", "dim")

# utils/eval_utils.py's extraction prompts (one user message; the official asks with max_tokens=512).
_MOVES_PROMPT = (
    "You will be given a model-generated response describing a sequence of movements. Your task is to extract "
    "the movements in the order they appear and return them as a list (e.g., ['left', 'up', 'down', "
    "'right']).\n\nModel Response: {response}\n\nExtracted Movements:\n"
)
_OPERATIONS_TASK = (
    "\n\nYour task:\n- Extract all valid operations and return them as a list of strings.\n\n- Each "
    "operation must involve either adding or removing a {thing} to or from {a} or {b}.\n\n- If no valid "
    "operations are found, return an empty list ([]).\n\n"
)
EXTRACTION_PROMPTS = {
    "hrd": _MOVES_PROMPT,
    "grid": _MOVES_PROMPT,
    "cup": (
        "You will be given a model-generated response describing a sequence of cup swaps. Each swap is "
        "represented as a pair of coordinates\u2014for example, (a1, b2)\u2014indicating the two positions being "
        "swapped. \n\nYour task:\nExtract all coordinate pairs from the response in the exact order they "
        "appear, and return them as a list of tuples.\n\nFormat your answer like this:\n[('a1', 'b2'), "
        "('c1', 'b1'), ('a3', 'b2')]\n\nModel Response:\n{response}\n\nExtracted Swaps:\n"
    ),
    "file_sys": (
        "You will be given a model-generated response regarding a file operation command in Linux system."
        "\n\nYour task:\nIdentify and extract only the actual command from the model response, removing any "
        "irrelevant or descriptive text.\n\nModel Response:\n{response}\n\nExtracted Command:\n"
    ),
    "card": (
        "You will be given a model-generated response describing a sequence of operations performed to cards. "
        "Each operation either adds or removes a card from pile0 or pile1."
        + _OPERATIONS_TASK.format(thing="card", a="pile0", b="pile1")
        + "Format your answer like this:\n['add 6 of Hearts to pile0', 'remove King of Clubs from pile0']"
        "\n\nModel Response:\n{response}\n\nExtracted Operations:\n"
    ),
    "chip": (
        "You will be given a model-generated response describing a sequence of operations involving chips and "
        "cups. Each operation either adds or removes a chip from cup0 or cup1."
        + _OPERATIONS_TASK.format(thing="chip", a="cup0", b="cup1")
        + "\nFormat your answer like this:\n['add 20 to cup0', 'remove 50 cup0']\n\nModel Response:\n"
        "{response}\n\nExtracted Operations:\n"
    ),
}


@register_benchmark("videoreasonbench")
class VideoReasonBench(ChoiceAdapter):
    """``judge``: a ``training.rewards.judge.Judge`` (official mode needs it for every record);
    ``judge_prompt``: "benchmark" (VideoReasonBench's prompt and parsing) or "easyvideor1"."""

    unified_signature = UnifiedSignature(data_source="VideoReasonBench")

    uses_judge = True

    media_layout = MediaLayout(
        annotations="official `questions/<domain>.json`, or EasyVideoR1 unified `videoreasonbench.json`",
        media="`<video>` (official); `<path>`, `<domain>/state<N>_op<M>_<start|end>.mp4` (unified)",
    )

    def __init__(self, prompt_style: str = "letter", judge: Any = None, judge_prompt: str = "benchmark"):
        super().__init__(prompt_style)
        if prompt_style == "letter":
            self.prompt_template = str(TEMPLATES / "verbatim.jinja")
        self.judge = judge
        self.judge_prompt = judged.check_judge_prompt(self.name, judge_prompt)

    # ------------------------------------------------------------------ loading
    def unified_record(self, row: dict[str, Any], index: int, path: Path, root: str) -> BenchmarkRecord:
        record = super().unified_record(row, index, path, root)
        where = f"{path}: record {index} (problem_id={row.get('problem_id')!r})"
        if record.problem_type != OPEN_ENDED:
            raise ValueError(f"{where}: problem_type {record.problem_type!r} is not {OPEN_ENDED!r}")
        record.categories = _video_categories(str(row.get("path") or ""), where)
        record.extra["gt_is_none"] = record.answer == "None"
        return record

    def load_official(self, data: Any, path: Path, root: str) -> list[BenchmarkRecord]:
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError(
                f"{path}: neither an EasyVideoR1 unified file nor an official VideoReasonBench questions file "
                "(an object of {key: {video, question, answer, ...}})"
            )
        return [self._official_record(key, row, path, root) for key, row in data.items()]

    def _official_record(self, key: str, row: dict[str, Any], path: Path, root: str) -> BenchmarkRecord:
        where = f"{path}: record {key!r}"
        require(row, OFFICIAL_KEYS, where, "the VideoReasonBench questions format")
        categories = _video_categories(str(row["video"]), where)
        try:
            num_state, num_op = int(row["num_state"]), int(row["num_operation"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: num_state/num_operation must be integers") from None
        if num_state not in STATE_SIZE:
            raise ValueError(f"{where}: num_state {num_state} is not one of {sorted(STATE_SIZE)}")
        dim = str(row["dim"])
        categories.update(
            state=f"state_{STATE_SIZE[num_state]}",
            num_op=_num_op(num_op),
            dim="infer_state" if dim in ("order_state", "counting_state") else dim,
        )
        answer = row["answer"]
        extra = {"source_format": "videoreasonbench_official", "gt_is_none": not answer, "dim": dim}
        if not answer:
            state = _planning_state(categories["domain"], row, where)
            if state is not None:
                extra["planning_state"] = state
        return self.make_record(
            f"{categories['domain']}_{key}",
            problem=str(row["question"]).strip(),
            problem_type=OPEN_ENDED,
            answer=str(answer).strip() if answer else "None",
            media=[media_path(root, str(row["video"]))],
            categories=categories,
            extra=extra,
        )

    # ------------------------------------------------------------------ official scoring
    def official_other(self, record: BenchmarkRecord, response: str) -> dict[str, Any]:
        if self.judge is None:
            raise judged.no_judge_error(self.name, record.id)
        if self.judge_prompt == "easyvideor1":
            return judged.easyvideor1_scores(self.judge, record.answer, response, self.name, record.id)
        answer = judged.videoreasonbench_final_answer(response)
        if answer is None:  # the official evaluate() returns False before asking the judge
            return {"score": 0.0, "pred": None, "extraction_failed": True}
        if "planning_state" in record.extra:
            return self._planning_scores(record, answer)
        messages = judged.videoreasonbench_request(record.problem, answer, record.answer)
        reply = judged.ask(self.judge, messages, self.name, record.id)
        correct = judged.videoreasonbench_correct(reply)
        return {"score": float(correct), "pred": answer, "judge_reply": reply, "extraction_failed": False}

    def _planning_scores(self, record: BenchmarkRecord, answer: str) -> dict[str, Any]:
        """``evaluate_operation``: the judge extracts the moves, the simulation checks the target."""
        domain = record.categories["domain"]
        messages = (("user", extraction_request(domain, answer)),)
        reply = judged.ask(self.judge, messages, self.name, record.id)
        moves = sim.read_reply(domain, reply)
        if moves is None:  # the official eval() failed: False
            return {"score": 0.0, "pred": answer, "judge_reply": reply, "extraction_failed": True}
        correct = sim.planning_correct(domain, record.problem, record.extra["planning_state"], moves)
        return {"score": float(correct), "pred": answer, "judge_reply": reply, "extraction_failed": False}

    # ------------------------------------------------------------------ aggregates
    def aggregate(
        self, records: Sequence[BenchmarkRecord], per_sample_scores: Sequence[dict[str, Any]], mode: str
    ) -> dict[str, Any]:
        self.breakdowns = tuple(f for f in BREAKDOWNS if any(f in r.categories for r in records))
        out = super().aggregate(records, per_sample_scores, mode)
        answerable = [
            float(s["score"]) for r, s in zip(records, per_sample_scores) if not r.extra.get("gt_is_none")
        ]
        out["n_gt_none"] = len(records) - len(answerable)
        out["overall_answerable"] = percent(metrics.accuracy(answerable))
        return out


def extraction_request(domain: str, answer: str) -> str:
    """The official extraction prompt of ``domain`` with the final-answer text (cut to the judge's field
    limit like every judge request here)."""
    if len(answer) > MAX_PROMPT_FIELD_CHARS:
        answer = answer[:MAX_PROMPT_FIELD_CHARS] + " …[truncated]"
    return EXTRACTION_PROMPTS[domain].replace("{response}", answer)


def _planning_state(domain: str, row: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The start state of a planning question (None without recorded states); its target must parse."""
    try:
        state = sim.start_state(domain, row)
        if state is not None:
            sim.target(domain, str(row["question"]))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return state


def _video_categories(video: str, where: str) -> dict[str, str]:
    m = _VIDEO.search(video)
    if m is None:
        raise ValueError(
            f"{where}: video path {video!r} is not <domain>/state<N>_op<M>_<start|end>.mp4 with a domain of "
            f"{DOMAINS}"
        )
    domain, num_state, num_op, visible = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    if num_state not in STATE_SIZE:
        raise ValueError(f"{where}: state count {num_state} in {video!r} is not one of {sorted(STATE_SIZE)}")
    return {
        "domain": domain,
        "state": f"state_{STATE_SIZE[num_state]}",
        "num_op": _num_op(num_op),
        "visible_time": visible,
    }


def _num_op(n: int) -> str:
    return "5_9" if 5 <= n < 10 else "10_14" if 10 <= n < 15 else "other"
