"""Official Charades-STA answer parsing (lmms-eval / TimeChat ``eval_tvg.py``), case by case.

Each expectation follows from the script's rules: lowercase; every "to" -> "-"; the number-pair
regex over the whole text; else the first number of each keyword sentence (split on [!?\\n]) paired;
swap when end <= start; keep the first pair.
"""

import pytest

from evaluation.official.tvg import extract_time

CASES = [
    ("the event happens from 2.5 to 7 seconds", [(2.5, 7.0)]),  # "to" -> "-"
    ("The event happens in the 24.3 - 30.4 seconds.", [(24.3, 30.4)]),
    ("It happens in 30 - 20 seconds", [(20.0, 30.0)]),  # swapped
    ("0 - 5 and later 10 - 15", [(0.0, 5.0)]),  # only the first pair
    ("The start time is 3.5 seconds\nThe end time is 8 seconds", [(3.5, 8.0)]),  # keyword sentences
    ("Starting time: 0.8 seconds\nEnding time: 1.1 seconds", [(0.8, 1.1)]),  # "start"/"end" substrings
    ("The event starts at 5 seconds. It ends at 9 seconds.", []),  # "." does not split: one number only
    ("It starts at 5 seconds.", []),  # a single number is no pair
    ("I do not know", []),
    ("", []),
    ("5 and 9", []),  # numbers but no keyword sentence and no dash
    ("the event happens from 2.5s to 7s", []),  # the "s" between number and dash breaks the pair regex
    ("Timestamps: 00:00:18 to 00:00:23", [(0.0, 18.0)]),  # "18 - 00" is the pair, then swapped
    (
        "it starts at 00:00:05\nit ends at 00:00:09",
        [(0.0, 0.0)],
    ),  # the "00" of each time, HH:MM:SS never read
    (
        "A specific example is : 20.8 - 30.0 seconds. The event happens in 1 - 2",
        [(1.0, 2.0)],
    ),  # example deleted
    ("He walks towards the door, 4 - 6", [(4.0, 6.0)]),  # "towards" -> "-wards" is harmless here
    ("THE EVENT HAPPENS IN 3 TO 4", [(3.0, 4.0)]),  # lowercased before "to" is replaced
    ("from 1..5 - 3", []),  # the official script crashes on float("1..5"); skipped here
]


@pytest.mark.parametrize("text,expected", CASES)
def test_extract_time(text, expected):
    assert extract_time(text) == expected


def test_the_first_pair_of_keyword_times_is_read_when_a_response_names_several():
    """Times read one per keyword sentence are paired in order (start, end), (start, end), …; the first pair
    is the answer."""
    text = "The event starts at 12 seconds!\nIt ends at 20 seconds!\nIt starts again at 30!\nIt ends at 40"
    assert extract_time(text) == [(12.0, 20.0)]
    assert extract_time(text.rsplit("\n", 1)[0]) == [(12.0, 20.0)]  # an odd count: the last time is unpaired
