"""TempCompass official scoring rules (llyx97/TempCompass ``eval_multi-choice.py``, ``eval_yes_no.py``,
``eval_caption_matching.py``, ``eval_captioning.py``, ``prompt_templates.py``, ``utils/eval_utils.py``).

Every script first deletes ``"</s>"`` from the prediction; nothing else is normalised. Rule matching
gives a rating 1/0, or ``None`` when the rules cannot decide (the script then asks ChatGPT, or rates 0
with ``--disable_llm``):

- multi-choice: ``pred == answer`` ("B. text" verbatim); else ``pred`` is exactly one of "A".."D":
  1 iff it is the answer's first character; else ``pred`` starts with "A."-"D." (or "A)"-"D)"): 1 iff
  the text before the first "." (")") is the answer's letter ("B. wrong text" counts as B); anything
  else (" B", "(B)", "Answer: B", "E") is undecided;
- yes_no: the lower-cased prediction *starts with* "yes" / "no" ("Yesterday" is yes, "Nope" and
  "None" are no; " yes" is undecided); rating 1 iff it equals the answer;
- caption_matching (``eval_rule``): the option lines are the question's lines after the first, each
  "<index>: <sentence>" (index "Caption A", "Option 1", "Sentence B"). The prediction is read as the
  option line it equals, or a sentence it equals (also the part after the first ") "), or an index it
  equals with every "." removed ("Sentence A." -> "Sentence A"); later matches override earlier ones
  (index beats sentence beats line). Rating 1 iff what was read is the answer line, its index or its
  sentence ("Caption B" for "Caption A: ..." is 0);
- captioning: no rule. The judge (gpt-3.5-turbo-1106) gets the description and the FIRST
  multi-choice question of the same video and dimension and answers it; rating 1 iff the text before
  ". " in its "Answer:" line equals the multi-choice answer's letter and its answer holds exactly one
  of "A."-"D." (``parse_llm_output``); an empty judge reply is the script's -1 (here: a failure).

Aggregation (``print_result``): per dimension and overall, total rating / number of questions x 100,
one table per format.

Judge: the official prompts verbatim (system "You are an AI assistant for question answering."); the
rule formats' reply is read by ``llm_output_to_rating`` (stripped reply starting with "Correct" -> 1,
"Incorrect" -> 0, else "Correct" without "Incorrect" anywhere -> 1, "Incorrect" anywhere -> 0; a
reply with neither word fails the script's assertion and is retried, here: no verdict).
"""

from __future__ import annotations

FORMATS = ("multi-choice", "yes_no", "caption_matching", "captioning")

#: appended to the question by the official inference scripts (``run_qwen2_vl.py`` ``answer_prompt``)
ANSWER_PROMPTS = {
    "multi-choice": "\nPlease directly give the best option:",
    "yes_no": "\nPlease answer yes or no:",
    "caption_matching": "\nPlease directly give the best option:",
    "captioning": "",  # the question already ends with "Generated Caption:"
}

SYSTEM_PROMPT = "You are an AI assistant for question answering."

_RULE_TASK = {
    "multi-choice": ("a multi-choice question", "Multi-Choice Question"),
    "yes_no": ("a Yes/No question", "Yes/No Question"),
    "caption_matching": ("a caption matching question", "Caption Matching Question"),
}

CAPTION_EVALUATION_PROMPT = """
You will receive a video description and a multi-choice question. Your task is to choose the correct answer and briefly explain the reason why you choose the answer. \
If none of the choice candidates are correct or the video description lacks enough information to answer the question, just answer "None of the choices are correct". \
Please organize your response in this format:
```
Reasoning: [Your reason to obtain the answer]
Answer: [Your answer]
```

Here are some examples of video description, multi-choice question and the expected answer:
```
Video Description: A person is palying football.
Multi-Choice Question:
What is the person doing in the video?
A. cooking
B. palying football
C. playing basketball
D. reading book
Reasoning: The video description mentions that the person is playing football.
Answer: B. palying football

Video Description: A bird is flying clockwise.
Multi-Choice Question:
In which direction is the bird flying?
A. backwark
B. counter-clockwise
C. clockwise
D. downward
Reasoning: The video description mentions that the bird is flying clockwise
Answer: C. clockwise

Video Description: An air balloon is inflating.
Multi-Choice Question:
What is happening to the air balloon?
A. exploding
B. getting smaller
C. flying
Reasoning: The video description mentions that the air balloon is inflating, while none of the coices can be explained as inflating.
Answer: None of the choices are correct
```
"""  # the official prompt text, verbatim (typos included)


def clean_prediction(prediction: str) -> str:
    """What every official script does to a prediction first: delete ``"</s>"``."""
    return prediction.replace("</s>", "")


def rate_multi_choice(pred: str, answer: str) -> int | None:
    """``eval_multi-choice.py``'s rules; None = undecided (the judge's turn).

    >>> rate_multi_choice("B", "B. cat"), rate_multi_choice("B) dog", "B. cat"), rate_multi_choice(" B", "B. x")
    (1, 1, None)
    """
    if pred == answer:
        return 1
    if pred in ("A", "B", "C", "D"):
        return int(pred == answer[0])
    if any(pred.startswith(prefix) for prefix in ("A.", "B.", "C.", "D.")):
        return int(pred.split(".")[0] == answer[0])
    if any(pred.startswith(prefix) for prefix in ("A)", "B)", "C)", "D)")):
        return int(pred.split(")")[0] == answer[0])
    return None


def rate_yes_no(pred: str, answer: str) -> int | None:
    """``eval_yes_no.py``'s ``extract_pred``: the lower-cased prediction starts with yes / no.

    >>> rate_yes_no("Yes.", "yes"), rate_yes_no("Nope", "no"), rate_yes_no("I think so", "yes")
    (1, 1, None)
    """
    low = pred.lower()
    read = "yes" if low.startswith("yes") else "no" if low.startswith("no") else None
    return None if read is None else int(read == answer)


def caption_matching_read(pred: str, question: str) -> str | None:
    """What ``eval_rule`` reads from the prediction (an option line, sentence or index), or None.

    The question's lines after the first must each hold ": " (checked when records are loaded).
    """
    option_strs = question.split("\n")[1:]
    option_sents = [opt.split(": ")[1] for opt in option_strs]
    option_inds = [opt.split(": ")[0] for opt in option_strs]
    read = None
    for option_str in option_strs:
        if option_str == pred:
            read = option_str
    for sent in option_sents:
        if sent == pred or (") " in pred and sent == pred.split(") ")[1]):
            read = sent
    for ind in option_inds:
        if ind == pred or ind == pred.replace(".", ""):
            read = ind
    return read


def rate_caption_matching(pred: str, question: str, answer: str) -> int | None:
    """``eval_caption_matching.py``'s ``eval_rule``; None = undecided.

    >>> q = "Which caption matches the video better?\\nCaption A: A dog.\\nCaption B: A cat."
    >>> gt = "Caption A: A dog."
    >>> rate_caption_matching("Caption B", q, gt), rate_caption_matching("A dog.", q, gt)
    (0, 1)
    """
    read = caption_matching_read(pred, question)
    if read is None:
        return None
    return int(read == answer or read == answer.split(":")[0] or read == answer.split(": ")[1])


def rule_rating(fmt: str, pred: str, question: str, answer: str) -> tuple[int | None, str | None]:
    """(rating or None, what the rules read) of a cleaned prediction in format ``fmt``."""
    if fmt == "multi-choice":
        rating = rate_multi_choice(pred, answer)
        return rating, (None if rating is None else pred.split(".")[0].split(")")[0])
    if fmt == "yes_no":
        rating = rate_yes_no(pred, answer)
        return rating, (None if rating is None else ("yes" if pred.lower().startswith("yes") else "no"))
    if fmt == "caption_matching":
        return rate_caption_matching(pred, question, answer), caption_matching_read(pred, question)
    if fmt == "captioning":
        return None, None
    raise ValueError(f"unknown TempCompass format {fmt!r}; known: {', '.join(FORMATS)}")


def judge_prompt(fmt: str, question: str, answer: str, prediction: str) -> str:
    """The official ChatGPT prompt of a rule format: ``base_prompt`` then the question block."""
    if fmt not in _RULE_TASK:
        raise ValueError(f"no rule-format judge prompt for TempCompass format {fmt!r}")
    task, label = _RULE_TASK[fmt]
    base = (
        f"\nYou will receive {task}, the ground-truth answer and the prediction from a question answering "
        "(QA) model. Your task is to determine whether QA model prediction is correct, based on the "
        'question and ground-truth answer. If the prediction is correct, respond "Correct". If the '
        'prediction is incorrect, respond "Incorrect".\n'
    )
    return f"{base}\n{label}:\n{question}\nGround-Truth Answer: {answer}\nModel Prediction: {prediction}"


def judge_reply_rating(reply: str) -> int | None:
    """``llm_output_to_rating`` of ``utils/eval_utils.py``: 1/0 from a rule-format judge reply, None
    when it holds neither "Correct" nor "Incorrect" (case-sensitive).

    >>> judge_reply_rating("Correct."), judge_reply_rating("The prediction is Incorrect"), judge_reply_rating("no")
    (1, 0, None)
    """
    reply = reply.strip()
    if "Correct" not in reply and "Incorrect" not in reply:
        return None
    if reply.startswith("Correct"):
        return 1
    if reply.startswith("Incorrect"):
        return 0
    return int("Incorrect" not in reply)


def caption_judge_prompt(description: str, mc_question: str) -> str:
    """``eval_captioning.py``'s prompt: the description and the multi-choice question to answer."""
    return f"{CAPTION_EVALUATION_PROMPT}\nVideo Description:{description}\nMulti-Choice Question:\n{mc_question}\n"


def caption_judge_rating(reply: str, mc_answer: str) -> int | None:
    """``parse_llm_output`` of ``eval_captioning.py``: 1/0 from the judge's reply, None for an empty
    reply (the script's -1).

    >>> caption_judge_rating("Reasoning: it says so.\\nAnswer: B. dunking", "B. dunking a ball")
    1
    """
    reply = reply.strip()
    if not reply or reply == "invalid_request_error":
        return None
    chosen = None
    for line in reply.split("\n"):
        line = line.strip()
        if "Answer" in line:
            chosen = line.replace("Answer:", "").strip()
    if chosen is None:
        chosen = reply
    count = sum(chosen.count(prefix) for prefix in ("A.", "B.", "C.", "D."))
    return int(chosen.split(". ")[0] == mc_answer.split(". ")[0] and count == 1)
