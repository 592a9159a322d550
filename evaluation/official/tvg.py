"""Temporal video grounding answer parsing of TimeChat / lmms-eval ``tasks/charades_sta/eval_tvg.py``.

Reproduced from EvolvingLMMs-Lab/lmms-eval ``lmms_eval/tasks/charades_sta/eval_tvg.py``
(``extract_time``), the script behind published Charades-STA R@m / mIoU numbers, including its quirks:

- the text is lowercased and **every** "to" is replaced by "-" (so "2.5 to 7" parses, and so does the
  inside of "towards"; "00:00:18 to 00:00:23" becomes "00:00:18 - 00:00:23" and parses as 18-0);
- the first pattern ``(\\d+\\.*\\d*)\\s*-\\s*(\\d+\\.*\\d*)`` runs on the whole text, not only on
  keyword sentences; "2.5s to 7s" does not match it (the "s" sits between number and dash);
- otherwise sentences (split on ``[!?\\n]`` only, not on ".") that contain a keyword contribute the
  first number each, paired in order; an odd count drops the last one;
- then an HH:MM:SS pass that never converts anything (see the comment in ``extract_time``);
- pairs are swapped when end <= start and only the first pair is kept.

Deviation: the official regex also accepts "1..5", on which its ``float()`` raises and the whole
script dies; here such a pair is skipped.
"""

from __future__ import annotations

import re

_EXAMPLE = "A specific example is : 20.8 - 30.0 seconds".lower()
_KEYWORDS = ("starts", "ends", "happens in", "start time", "end time", "start", "end", "happen")
_PAIR = re.compile(r"(\d+\.*\d*)\s*-\s*(\d+\.*\d*)")
_NUMBER = re.compile(r"\b(\d+\.\d+\b|\b\d+)\b")
_HMS = re.compile(r"\b((\d{1,2}:\d{2}:\d{2}))\b")


def _pairs(times: list[float]) -> list[tuple[float, float]]:
    times = times[: len(times) // 2 * 2]
    return [(times[i], times[i + 1]) for i in range(0, len(times), 2)]


def extract_time(paragraph: str) -> list[tuple[float, float]]:
    """Official parse of a response into at most one ``(start, end)`` pair (``[]`` when none).

    >>> extract_time("The event happens from 2.5 to 7 seconds")
    [(2.5, 7.0)]
    >>> extract_time("It starts at 5 seconds.")
    []
    """
    paragraph = paragraph.lower().replace(_EXAMPLE, "").replace("to", "-")
    sentences = re.split(r"[!?\n]", paragraph)
    candidates = [s for s in sentences if any(k in s for k in _KEYWORDS)]

    timestamps: list[tuple[float, float]] = []
    for start, end in _PAIR.findall(paragraph):
        try:
            timestamps.append((float(start), float(end)))
        except ValueError:  # "1..5": the official script crashes here
            continue

    last_number: float | None = None
    if not timestamps:
        times = []
        for sentence in candidates:
            found = _NUMBER.findall(sentence)
            if found:
                last_number = float(found[0])
                times.append(last_number)
        timestamps = _pairs(times)

    if not timestamps:
        # The official HH:MM:SS pass is broken: its regex has two groups, so ``findall`` yields tuples,
        # ``t.count(':')`` is 0, neither conversion runs and the stale ``time_in_sec`` of the number
        # pass above is appended once per keyword sentence holding an HH:MM:SS time.
        times = [last_number for s in candidates if _HMS.search(s)] if last_number is not None else []
        timestamps = _pairs(times)

    results = [(s, e) if e > s else (e, s) for s, e in timestamps]
    return results[:1]
