"""OCR: accuracy = max(0, 1 − word error rate) on lower-cased, whitespace-split words."""

import doctest
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import training.rewards.ocr as ocr_module
from training.rewards import score
from training.rewards.ocr import extract_text, ocr, word_error_rate


# Edits counted by hand: S substitutions, D deletions, I insertions over |R| reference words.
@pytest.mark.parametrize(
    "reference, hypothesis, wer",
    [
        ("the cat sat on the mat", "the cat sat on the mat", 0.0),
        ("the cat sat on the mat", "the cat sit on mat", 2 / 6),  # S: sat->sit, D: the
        ("The  CAT\nsat", "the cat sat", 0.0),  # case and whitespace never count
        ("a b", "a b c d", 2 / 2),  # I: c, d
        ("a", "a b c", 2 / 1),  # WER can exceed 1
        ("exit 12", "exit 21", 1 / 2),  # S: 12->21
        ("a b c", "", 3 / 3),  # D: everything
        ("hello world", "hello, world!", 2 / 2),  # punctuation is kept: two substitutions
        ("Café Ünïcode", "café ünïcode", 0.0),
        ("", "", 0.0),
        ("", "x y", 2.0),  # empty reference: insertions ÷ max(1, 0)
    ],
)
def test_word_error_rate(reference, hypothesis, wer):
    assert word_error_rate(reference, hypothesis) == wer


def test_ignore_punctuation_deletes_unicode_punctuation():
    assert word_error_rate("hello world", "Hello, world!", ignore_punctuation=True) == 0.0
    assert word_error_rate("dont stop", "don't «stop»", ignore_punctuation=True) == 0.0
    assert word_error_rate("3.5 kg", "35 kg", ignore_punctuation=True) == 0.0  # why it is off by default
    assert word_error_rate("3.5 kg", "35 kg") == 0.5


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<think>reading the sign</think><answer>STOP</answer>", "STOP"),
        ("<think>reading</think> EXIT 12", "EXIT 12"),
        ("  just the text ", "just the text"),
        ("", ""),
    ],
)
def test_extract_text(response, expected):
    assert extract_text(response) == expected


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        ("<answer>STOP here</answer>", "stop there", {"accuracy": 0.5, "wer": 0.5}),
        ("<answer>the cat sit on mat</answer>", "the cat sat on the mat",
         {"accuracy": 1 - 2 / 6, "wer": 2 / 6}),
        ("<answer>a b c d</answer>", "a b", {"accuracy": 0.0, "wer": 1.0}),
        ("<answer>a b c</answer>", "a", {"accuracy": 0.0, "wer": 2.0}),  # clipped at 0
        ("<answer>Exit 12</answer>", "<answer>exit 12</answer>", {"accuracy": 1.0, "wer": 0.0}),  # wrapped
        ("<answer></answer>", "", {"accuracy": 1.0, "wer": 0.0}),  # empty reference, empty prediction
        ("<answer>x</answer>", "", {"accuracy": 0.0, "wer": 1.0}),  # empty reference, any word
        ("<answer></answer>", "a b", {"accuracy": 0.0, "wer": 1.0}),
    ],
)
def test_ocr(response, truth, expected):
    assert ocr(response, truth) == expected


def test_ocr_through_score_and_aliases():
    result = score("<answer>a b</answer>", "a b c", "Text Recognition")
    assert result == {"overall": 0.9 * (1 - 1 / 3) + 0.1, "accuracy": 1 - 1 / 3, "format": 1.0, "wer": 1 / 3}
    result = score("<answer>Hello, World!</answer>", "hello world", "optical_character_recognition",
                   ignore_punctuation=True)  # fmt: skip
    assert (result["accuracy"], result["wer"]) == (1.0, 0.0)
    assert score("no tags", "no tags", "ocr")["format"] == 0.0


def test_doctests():
    assert doctest.testmod(ocr_module).failed == 0


FRAGMENTS = ["<answer>", "</answer>", "<think>", "</think>", "word", "WORD", " ", "\n", "\t", ",", "!", "é",
             "🙂", "\x00", "\u200b", "ǅ", "ß"]  # fmt: skip
texts = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))


@settings(max_examples=150, deadline=None, database=None)
@given(response=texts, truth=texts, ignore_punctuation=st.booleans())
def test_any_strings_score_in_range(response, truth, ignore_punctuation):
    result = score(response, truth, "ocr", ignore_punctuation=ignore_punctuation)
    assert 0.0 <= result["accuracy"] <= 1.0
    assert math.isfinite(result["wer"]) and result["wer"] >= 0.0
    # Also for an empty reference: its WER is a whole number of insertions, so 1 − WER is 1 or <= 0.
    assert result["accuracy"] == max(0.0, 1.0 - result["wer"])


@pytest.mark.parametrize("unit", ["word ", "<answer>", "</answer>", "<think>", "a", " ", "é ", "<answer>a b"])
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    for truth in ("the quick brown fox", "", "word " * 200):
        result = score(response, truth, "ocr")
        assert 0.0 <= result["accuracy"] <= 1.0 and math.isfinite(result["wer"])


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["word ", "<answer>", "</answer>", "<think>", "a", " ", "é ", "<answer>a b"])
def test_100kb_adversarial_responses_are_fast(unit):
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    assert time.perf_counter() - start < 6.0  # ~0.15 s; a quadratic alignment takes minutes
