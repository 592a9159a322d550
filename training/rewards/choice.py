"""Multiple-choice scoring: read an option letter out of a response and compare it with the key.

Letter extraction (``extract_choice``) tries the candidate texts of ``tags.candidates`` in order
(``<answer>`` content, text after ``</think>``, whole response) and, within each, these rules in
order; the first rule that yields a letter wins:

1. ``\\boxed{B}`` (last box; ``\\boxed{(B)}`` and ``\\boxed{B. blue}`` too);
2. the whole text is one letter, optionally parenthesised or followed by ``.``/``)``/``:``
   (``B``, ``(B)``, ``b.``; lower case is read only here, where it cannot be an article);
3. the text starts with an upper-case letter and a delimiter: ``B. blue``, ``(B) blue``, ``B: …``;
4. the whole text is one option's text, compared case-, space- and punctuation-insensitively
   (``a dog`` -> the letter of the option "a dog", when ``options`` are given);
5. the last phrase ``answer is (B)``, ``answer: B``, ``option B``, ``choose B``, ``答案是B`` …;
6. the last bold letter ``**B**`` / ``**B.** blue``;
7. parenthesised letters ``(B)`` anywhere, when they all name the same letter;
8. rules 2 and 3 on each of the last five non-empty lines, last line first.

Only upper-case letters count outside rule 2, a letter must be followed by a delimiter or the
end of the phrase, and in rule 5 an "A" followed by a lower-case word is the article, so "a dog",
"A dog" and "Answer: A dog" are never read as option A (the price: "answer is A because" is not
read by rule 5 either; "answer is A." and "answer is A, because" are). With ``options`` given, only
their letters are valid answers; without them, A-J.
"""

from __future__ import annotations

import re
import string

from . import tags
from .registry import register_scorer

_ALL_LETTERS = "ABCDEFGHIJ"
_OPTION = re.compile(r"\s*+\(?\s*+([A-Za-z])\s*+[.):：]\s*+(.*)", re.DOTALL)
_LONE = re.compile(r"[(\[]?\s*+([A-Ja-j])\s*+[)\]]?\s*+[.:：)]?")
_LEADING = re.compile(r"[(\[]?\s*+([A-J])\s*+[.):：\]]")
_PHRASE = re.compile(
    r"(?:\b(?i:answer|option|choice|choose|select|pick)\b(?:\s++(?i:is))?|答案|选项|选择|选)"
    r"\s*+[:：是为]?\s*+[*(\[]*+([A-J])(?![A-Za-z0-9])(?!(?<=A)\s++[a-z])"
)
_BOLD = re.compile(r"\*\*\s*+\(?([A-J])\)?\s*+(?:[.):]|\*\*)")
_PAREN = re.compile(r"\(([A-J])\)")
_PUNCT = str.maketrans("", "", string.punctuation)


def parse_options(options: list[str] | None) -> dict[str, str]:
    """``{letter: option text}``. Options carry their letter ("A. red", "(B) blue", "C: green");
    options without letters ("red", "blue") get A, B, … in order.

    >>> parse_options(["A. red", "(B) blue"])
    {'A': 'red', 'B': 'blue'}
    >>> parse_options(["red", "blue"])
    {'A': 'red', 'B': 'blue'}
    """
    if not options:
        return {}
    parsed = [_OPTION.fullmatch(str(option)) for option in options]
    letters = [m.group(1).upper() for m in parsed if m is not None]
    if len(letters) == len(options) and len(set(letters)) == len(letters):
        return {m.group(1).upper(): m.group(2).strip() for m in parsed if m is not None}
    return {string.ascii_uppercase[i]: str(option).strip() for i, option in enumerate(options[:26])}


def _normalise(text: str) -> str:
    return " ".join(text.translate(_PUNCT).lower().split())


def _letters_in(text: str, valid: str, options: dict[str, str]) -> str | None:
    """Rules 1-7 of the module docstring on one candidate text."""
    boxed = tags.boxed_content(text)
    if boxed is not None:
        letter = _lone_or_leading(boxed, valid)
        if letter is not None:
            return letter
    letter = _lone_or_leading(text, valid)
    if letter is not None:
        return letter
    if options and len(text) <= 1000:  # option texts are short; skip normalising a whole essay
        wanted = _normalise(text)
        matches = [letter for letter, option in options.items() if _normalise(option) == wanted and wanted]
        if len(matches) == 1:
            return matches[0]
    for pattern in (_PHRASE, _BOLD):
        letter = _last_valid(pattern, text, valid)
        if letter is not None:
            return letter
    named = {m.group(1) for m in _PAREN.finditer(text)}
    if len(named) == 1 and (letter := named.pop()) in valid:
        return letter
    return None


def _lone_or_leading(text: str, valid: str) -> str | None:
    text = text.strip().strip("*").strip()
    lone = _LONE.fullmatch(text)
    if lone is not None:
        letter = lone.group(1).upper()
        return letter if letter in valid else None
    leading = _LEADING.match(text)
    if leading is not None and leading.group(1) in valid:
        return leading.group(1)
    return None


def _last_valid(pattern: re.Pattern[str], text: str, valid: str) -> str | None:
    letter = None
    for match in pattern.finditer(text):
        if match.group(1) in valid:
            letter = match.group(1)
    return letter


def extract_choice(response: str, options: list[str] | None = None) -> str | None:
    """The option letter a response chooses (rules in the module docstring), or None.

    >>> extract_choice("<think>…</think><answer>The answer is (B)</answer>")
    'B'
    >>> extract_choice("a dog") is None, extract_choice("a dog", ["A. a cat", "B. a dog"])
    (True, 'B')
    """
    parsed = parse_options(options)
    valid = "".join(parsed) if parsed else _ALL_LETTERS
    for text in tags.candidates(response):
        letter = _letters_in(text, valid, parsed)
        if letter is not None:
            return letter
        lines = [line for line in text.splitlines()[-50:] if line.strip()][-5:]
        for line in reversed(lines):
            letter = _lone_or_leading(line, valid)
            if letter is not None:
                return letter
    return None


def parse_choice_ground_truth(ground_truth: str, options: list[str] | None = None) -> str:
    """The key's letter: "B", "(B)", "B. blue", "<answer>B</answer>", or an option's exact text.

    Raises ValueError when the key names no valid option (a data error, caught at dataset load).
    """
    parsed = parse_options(options)
    valid = "".join(parsed) if parsed else _ALL_LETTERS
    text = tags.answer_content(ground_truth)
    text = ground_truth.strip() if text is None else text
    letter = _lone_or_leading(text, valid)
    if letter is None and parsed:
        wanted = _normalise(text)
        matches = [key for key, option in parsed.items() if wanted and _normalise(option) == wanted]
        letter = matches[0] if len(matches) == 1 else None
    if letter is None:
        known = f"one of the options {list(parsed)}" if parsed else "a letter A-J"
        raise ValueError(
            f"multiple-choice ground truth {ground_truth!r} is not {known} "
            "(expected e.g. 'B', '(B)', 'B. blue' or an option's exact text)"
        )
    return letter


def check_options(ground_truth: str, options: list[str] | None = None) -> None:
    """ValueError when ``options`` cannot be told apart: an empty option, or labels that repeat
    (``["A. red", "A. blue"]``: ``parse_options`` would renumber them, so the letters the model sees and
    the ones it is scored on differ). No options is fine (any letter A-J).

    >>> check_options("B", ["A. red", "B. blue"])
    >>> check_options("A", ["A. red", "A. blue"])
    Traceback (most recent call last):
    ...
    ValueError: options repeat the label(s) ['A'] (["A. red", "A. blue"]); give every option its own letter
    """
    if not options:
        return
    empty = [
        i
        for i, o in enumerate(options)
        if not str(o).strip() or (m := _OPTION.fullmatch(str(o))) and not m.group(2).strip()
    ]
    if empty:
        raise ValueError(
            f"option(s) {empty} (0-based) are empty in {options!r:.120}; give each option its text"
        )
    parsed = [_OPTION.fullmatch(str(o)) for o in options]
    letters = [m.group(1).upper() for m in parsed if m is not None]
    repeated = sorted({x for x in letters if letters.count(x) > 1})
    if len(letters) == len(options) and repeated:
        shown = "[" + ", ".join(f'"{o}"' for o in options) + "]"
        raise ValueError(
            f"options repeat the label(s) {repeated} ({shown:.120}); give every option its own letter"
        )


def choice_answer_is_valid(answer: str, options: list[str] | None = None) -> bool:
    """Format check: an option letter can be read from the answer text itself (no fallbacks)."""
    parsed = parse_options(options)
    return _letters_in(answer, "".join(parsed) if parsed else _ALL_LETTERS, parsed) is not None


@register_scorer(
    "multiple choice",
    aliases=("multiple_choice", "mc", "mcq"),
    answer_valid=choice_answer_is_valid,
    ground_truth_check=check_options,
)
def multiple_choice(response: str, ground_truth: str, options: list[str] | None = None) -> float:
    """1.0 when the extracted letter equals the key's letter, else 0.0 (also when none is found).

    >>> multiple_choice("<answer>**B**</answer>", "B. blue", options=["A. red", "B. blue"])
    1.0
    """
    key = parse_choice_ground_truth(ground_truth, options)
    return 1.0 if extract_choice(response, options) == key else 0.0
