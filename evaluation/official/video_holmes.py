"""Video-Holmes official answer extraction: TencentARC/Video-Holmes ``evaluate.py`` (commit 7745c875).

The script asks for ``<think>...</think><answer>...</answer>`` and reads the answer like this:

- the text is the content of the **last** ``<answer>...</answer>`` block (stripped), else the whole
  response;
- then, trying the letters A to F in that order, the first letter X for which "X ", "X:" or "[X"
  occurs anywhere in the text wins; failing that, the first letter of A to F that occurs anywhere
  (capital letters only); otherwise the prediction is "WRONG".

Quirks: "Final Answer: C" -> "A" (the "A" of "Answer"), "Based on the clues, D" -> "B" (the "B" of
"Based"), "I choose (C) and not A " -> "A"; a response without any capital A-F is "WRONG" (counted wrong,
here an extraction failure). Accuracy per ``Question Type`` and overall = correct / questions.
"""

from __future__ import annotations

LETTERS = "ABCDEF"


def holmes_choice(response: str) -> str:
    """The letter ``evaluate.py`` reads from ``response``; "" where it records "WRONG".

    >>> holmes_choice("<think>...</think><answer>C</answer>")
    'C'
    >>> holmes_choice("Final Answer: C")
    'A'
    """
    text = _last_answer_block(response)
    for letter in LETTERS:
        if f"{letter} " in text or f"{letter}:" in text or f"[{letter}" in text:
            return letter
    for letter in LETTERS:
        if letter in text:
            return letter
    return ""


def _last_answer_block(response: str) -> str:
    """``re.findall(r"<answer>\\s*(.*?)\\s*</answer>", response, re.DOTALL)[-1].strip()``, else the
    response; a linear scan (the lazy regex is quadratic on many unclosed tags)."""
    last, pos = None, 0
    while True:
        start = response.find("<answer>", pos)
        if start < 0:
            break
        end = response.find("</answer>", start + len("<answer>"))
        if end < 0:
            break
        last, pos = response[start + len("<answer>") : end], end + len("</answer>")
    return last.strip() if last is not None else response
