"""Video-MMMU's official answer parsing and matching (lmms-eval ``lmms_eval/tasks/videommmu/utils.py``).

Reproduces EvolvingLMMs-Lab/lmms-eval (utils.py @2bb5e98, the MC parser shared as
``_task_utils/mmmu_mcq_utils.parse_videommmu_multi_choice_response``) with its quirks:

- an empty response is "API Error": left out of the track's denominator (``videommmu_aggregate_results``);
- multiple choice: strip ``, . ! ? ; : '`` from both ends, pad with spaces; candidates are letters followed
  by "." anywhere (so "Dr. B" reads "D"), then (same pass) letters followed by ":"; only if there are none,
  "(X)"; then "X "; then, for responses of more than 5 words, options whose text occurs in the response.
  Several candidates: the one whose marker occurs last (by the first candidate kind found); none: "No
  Answer Found." (wrong). Case-sensitive: "a." is no candidate.
- open (numerical) questions: the response is lower-cased and split on newlines only (the ". (?=[A-Z])"
  split never fires after lower-casing); in each line the shortest tail after an indicator ("is ", "so ",
  "answer ", ... and "=" in the last line) is a key response; numbers (with commas, scientific, plain) are
  added, everything is normalised (numbers -> float rounded to 2 decimals, text lower-cased, a
  one-character text padded with a space); correct when a parsed number equals the numeric answer or the
  answer text occurs in a parsed string.
"""

from __future__ import annotations

import re

API_ERROR = "API Error"
NO_ANSWER = "No Answer Found."

_STRIP = (",", ".", "!", "?", ";", ":", "'")
_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", "are ",
               "in total ", "total ", "identify ", "recognize ", "calculated as ", "counted as ", "measured as ",
               "observed as ", "concluded as ", "found to be ", "equals ", "determined to be ", "number of ",
               "value is ", "adds up to ", "have ", "has ")  # fmt: skip
_TRIVIAL = (":", ",", ".", "!", "?", ";", "'")
_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def parse_choice(response: str, options: list[str]) -> str:
    """The letter lmms-eval reads; ``API_ERROR`` for an empty response, ``NO_ANSWER`` when none.

    ``options`` are the option texts in letter order (A, B, ...).

    >>> parse_choice("The answer is B.", ["6", "9"]), parse_choice("See Fig. C. So (B)", ["w", "x", "y", "z"])
    ('B', 'C')
    """
    if response in (API_ERROR, ""):
        return API_ERROR
    choices = [chr(ord("A") + i) for i in range(len(options))]
    index2ans = dict(zip(choices, options))
    for char in _STRIP:
        response = response.strip(char)
    response = f" {response} "
    candidates: list[str] = []
    kind = "space"
    for choice in choices:
        if f"{choice}." in response:
            candidates.append(choice)
            kind = "period"
    for choice in choices:
        if f"{choice}:" in response:
            candidates.append(choice)
            kind = "period" if kind == "period" else "colon"
    if not candidates:
        for choice in choices:
            if f"({choice})" in response:
                candidates.append(choice)
                kind = "bracket"
    if not candidates:
        candidates = [c for c in choices if f"{c} " in response]
    if not candidates and len(response.split()) > 5:
        candidates = [c for c, text in index2ans.items() if text.lower() in response.lower()]
        kind = "content"
    if not candidates:
        return NO_ANSWER
    if len(candidates) == 1:
        return candidates[0]
    marker = {"period": "{}.", "colon": "{}:", "bracket": "({})", "space": " {} "}
    if kind == "content":
        positions = [response.lower().rfind(index2ans[c].lower()) for c in candidates]
    else:
        positions = [response.rfind(marker[kind].format(c)) for c in candidates]
    return candidates[positions.index(max(positions))]  # np.argmax: the first maximum


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize(text: str) -> list[float | str]:
    """``normalize_str``: a number -> [float rounded to 2 decimals]; text -> [lower case] (one character
    -> [" x", "x "])."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def extract_numbers(text: str) -> list[str]:
    return _COMMAS.findall(text) + _SCIENTIFIC.findall(text) + _SIMPLE.findall(text)


def _key_responses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    lines = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys = []
    for index, line in enumerate(lines):
        indicators = _INDICATORS + (("=",) if index == len(lines) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in line:
                tail = line.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    return keys or [response]


def parse_open(response: str) -> list[float | str] | str:
    """``parse_open_response``: the normalised candidate answers; ``API_ERROR`` for an empty response.

    >>> sorted(parse_open("The mass is 12.97 g"), key=str)
    [12.97, '12.97 g']
    """
    if response in (API_ERROR, ""):
        return API_ERROR
    keys = _key_responses(response)
    preds: list[str] = list(keys)
    for key in keys:
        preds.extend(extract_numbers(key))
    out: list[float | str] = []
    for pred in preds:
        for value in normalize(pred):
            if value not in out:
                out.append(value)
    return out


def open_correct(answer: str, preds: list[float | str] | str) -> bool:
    """``eval_open``: a parsed number equal to a normalised answer number, or a normalised answer text
    contained in a parsed string."""
    if preds == API_ERROR:
        return False
    gold = normalize(answer)
    for pred in preds:
        if isinstance(pred, str):
            if any(isinstance(g, str) and g in pred for g in gold):
                return True
        elif pred in gold:
            return True
    return False
