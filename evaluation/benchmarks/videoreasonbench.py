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
operations reaching a target state, which the official script checks by simulating the proposed moves
(``evaluate_operation``). EasyVideoR1 converted them to the literal answer "None" and grades them like the
others; so does this adapter (the official simulation needs the recorded states and is not reproduced),
in both formats. They are flagged ``extra["gt_is_none"]`` and reported apart (``overall_answerable``).

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
from evaluation.benchmarks.choice import TEMPLATES, ChoiceAdapter, percent
from evaluation.benchmarks.registry import register_benchmark
from evaluation.benchmarks.unified import media_path
from evaluation.official import judged
from evaluation.records import BenchmarkRecord

DOMAINS = ("card", "chip", "cup", "file_sys", "grid", "hrd")
OPEN_ENDED = "open-ended"
STATE_SIZE = {1: 1, 2: 2, 3: 1, 4: 2}  # show_results.state_size_map
OFFICIAL_KEYS = ("video", "question", "answer", "dim", "num_state", "num_operation")
_VIDEO = re.compile(r"(?:^|/)(" + "|".join(DOMAINS) + r")/state(\d+)_op(\d+)_(start|end)\.mp4$")
BREAKDOWNS = ("domain", "state", "num_op", "dim")


@register_benchmark("videoreasonbench")
class VideoReasonBench(ChoiceAdapter):
    """``judge``: a ``training.rewards.judge.Judge`` (official mode needs it for every record);
    ``judge_prompt``: "benchmark" (VideoReasonBench's prompt and parsing) or "easyvideor1"."""

    uses_judge = True

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
        missing = [k for k in OFFICIAL_KEYS if k not in row]
        if missing:
            raise ValueError(f"{where}: missing fields {missing} of the VideoReasonBench questions format")
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
        messages = judged.videoreasonbench_request(record.problem, answer, record.answer)
        reply = judged.ask(self.judge, messages, self.name, record.id)
        correct = judged.videoreasonbench_correct(reply)
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
