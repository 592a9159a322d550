"""VSI-Bench scoring of vision-x-nyu/thinking-in-space ``lmms_eval/tasks/vsibench/utils.py``.

Reproduced from the official task (``vsibench_process_results`` / ``vsibench_aggregate_results``),
quirks included:

- the prediction is ``pred.split(' ')[0].rstrip('.').strip()``: the first **space**-separated token
  (a newline does not split), trailing dots removed, then whitespace. "B." and "b" read as B;
  "(B)", "Answer: B" and "The answer is B" read "(B)", "Answer:", "The" and score 0;
- multiple choice (MCA): that token equals the key letter case-insensitively;
- numerical answers (NA): ``float(token)`` (Python's float: "1e3", "1_000", "nan" and "inf" parse),
  anything else scores 0; the score is the Mean Relative Accuracy
  ``mean over θ in linspace(.5, .95, 10) of [|p - g| / g <= 1 - θ]`` with the official ``<=``, the
  thresholds built exactly as ``numpy.linspace`` builds them (so ties such as p=1.9, g=2 agree);
- aggregate: mean per question type; the three ``object_rel_direction_{easy,medium,hard}`` means are
  popped and replaced by their sum / 3 (a missing sub-type counts 0, and the combined entry is added
  even when none is present); ``overall`` = mean of the remaining entries (the 8 tasks on the full
  benchmark, the tasks present on a subset).

Deviation: a ground truth of 0 makes the official script divide by zero and die; here the relative
error is 0 when the prediction is exactly 0, else infinite (score 1 or 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MCA_TYPES = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
    "object_rel_distance",
    "route_planning",
    "obj_appearance_order",
)
NA_TYPES = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")
REL_DIRECTION = MCA_TYPES[:3]
#: the eight tasks of the official overall: the NA types, the MCA types but the three direction levels
#: folded into one ``object_rel_direction``
TASKS = (*NA_TYPES, *MCA_TYPES[3:], "object_rel_direction")


def _linspace(start: float, stop: float, num: int) -> list[float]:
    """``numpy.linspace(start, stop, num)`` bit for bit: ``i * step + start``, the last one ``stop``."""
    step = (stop - start) / (num - 1)
    return [float(i) * step + start for i in range(num - 1)] + [stop]


# The official ``mean_relative_accuracy(start=.5, end=.95, interval=.05)``: int((.95 - .5) / .05 + 2)
# = 10 points (the float sum is 10.999...).
_TOLERANCES = [1 - c for c in _linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))]


def first_token(response: str) -> str:
    """The official ``fuzzy_matching``: the first space-separated token, trailing dots stripped.

    >>> first_token("B. The red chair"), first_token("The answer is B")
    ('B', 'The')
    """
    return response.split(" ")[0].rstrip(".").strip()


def mca_choice(response: str, letters: Sequence[str]) -> str:
    """The option letter the official exact match accepts (the first token equal to it ignoring case),
    "" when the token is none of ``letters``.

    >>> mca_choice("c.", "ABCD"), mca_choice("(C)", "ABCD")
    ('C', '')
    """
    token = first_token(response).lower()
    return next((letter for letter in letters if letter.lower() == token), "")


def to_float(text: str) -> float | None:
    """The official ``to_float``: ``float(text)`` or None."""
    try:
        return float(text)
    except (ValueError, TypeError, OverflowError):
        return None


def mean_relative_accuracy(pred: float, target: float) -> float:
    """MRA over the ten official tolerances (``<=``), see the module docstring for ``target == 0``.

    >>> mean_relative_accuracy(1.0, 2.0), mean_relative_accuracy(3.0, 4.0), mean_relative_accuracy(1.9, 2.0)
    (0.1, 0.6, 1.0)
    """
    if target == 0:
        error = 0.0 if pred == 0 else float("inf")
    else:
        error = abs(pred - target) / target
    return sum(1 for tol in _TOLERANCES if error <= tol) / len(_TOLERANCES)


def na_score(response: str, ground_truth: str) -> tuple[float, float | None]:
    """``(MRA, the number read)`` of a numerical-answer response; ``(0.0, None)`` when the first token
    is not a number (the official ``TypeError`` branch)."""
    pred, target = to_float(first_token(response)), to_float(ground_truth)
    if pred is None or target is None:
        return 0.0, pred
    return mean_relative_accuracy(pred, target), pred


def task_scores(type_means: Mapping[str, float]) -> dict[str, float]:
    """The official per-task output (fractions) from the per-question-type means: the direction levels
    folded into ``object_rel_direction`` = (easy + medium + hard) / 3 with a missing level as 0."""
    out = {t: v for t, v in type_means.items() if t not in REL_DIRECTION}
    out["object_rel_direction"] = sum(type_means.get(t, 0.0) for t in REL_DIRECTION) / 3.0
    return out


def overall(tasks: Mapping[str, float]) -> float:
    """The official ``overall``: the mean of the task entries."""
    return sum(tasks.values()) / len(tasks)
