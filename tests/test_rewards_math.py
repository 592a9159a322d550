"""Math answers: math-verify equivalence, answer extraction, and time bounds without signals
(``mathematics`` and its ``math_guards``)."""

import doctest
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import training.rewards.mathematics as math_module
from training.rewards import score
from training.rewards.math_guards import call_with_deadline, expression_is_tame, text_is_tame
from training.rewards.mathematics import extract_math_answer, math_answer_is_valid, mathematics


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<think>1+1</think><answer>2</answer>", "2"),
        (r"<answer>so \boxed{3}</answer>", "3"),  # the block's boxed content
        (r"<think>\boxed{1}</think> then \boxed{\frac{3}{4}}.", r"\frac{3}{4}"),  # no block: last boxed
        ("<think>work</think> x = 4", "x = 4"),  # no block, no boxed: text after think
        ("<answer></answer>", ""),
        ("just 5", None),
    ],
)
def test_extract_math_answer(response, expected):
    assert extract_math_answer(response) == expected


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        (r"<answer>\frac{1}{2}</answer>", "0.5", 1.0),
        ("<answer>0.5</answer>", r"\frac{1}{2}", 1.0),
        ("<answer>1/2</answer>", r"\frac12", 1.0),
        (r"<think>so</think> \boxed{2x+1}", "1+2x", 1.0),
        (r"<answer>\sqrt{2}/2</answer>", r"\frac{\sqrt{2}}{2}", 1.0),
        ("<answer>x = 3</answer>", "3", 1.0),  # an assignment's value
        ("<answer>2**10</answer>", "1024", 1.0),  # Python power read as ^{10}
        ("<answer>[1, 2)</answer>", "[1,2)", 1.0),  # intervals
        (r"<answer>(-\infty, 2]</answer>", r"(-\infty,2]", 1.0),
        ("<answer>(1, 2]</answer>", "[1,2)", 0.0),
        (r"<answer>\{1,2,3\}</answer>", r"\{3,2,1\}", 1.0),  # sets ignore order
        ("<answer>3, 4</answer>", r"\{3,4\}", 1.0),
        (r"<answer>\{1,2\}</answer>", r"\{3,2,1\}", 0.0),
        (r"<answer>50\%</answer>", "50", 1.0),  # percent
        (r"<answer>50\%</answer>", "0.5", 1.0),
        ("<answer>50%</answer>", r"50\%", 1.0),
        (r"<answer>e^{-x^{2}}</answer>", "e^{-x^2}", 1.0),
        ("<answer>4</answer>", "3", 0.0),  # wrong answers
        ("<answer>2x+2</answer>", "2x+1", 0.0),
        (r"<answer>\pi</answer>", "3.14", 0.0),
        ("<answer></answer>", "3", 0.0),
        ("no answer at all", "3", 0.0),
        ("<answer>5</answer>", r"<answer>\boxed{5}</answer>", 1.0),  # wrapped key
    ],
)
def test_mathematics(response, truth, expected):
    assert mathematics(response, truth) == expected


@pytest.mark.parametrize(
    "truth", ["", "   ", "}{", r"\frac{", "(", "=", "?", "9^{9^{9^{9}}}", r"\Gamma(9999)", "1" * 301]
)
def test_unparsable_or_refused_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="math ground truth"):
        mathematics("<answer>1</answer>", truth)


def test_timeout_is_checked():
    with pytest.raises(ValueError, match="timeout_s"):
        mathematics("<answer>1</answer>", "1", timeout_s=0)


@pytest.mark.parametrize(
    "text, tame",
    [
        ("e^{-x^{2}}", True), ("2^{10}", True), ("x^{n^{2}}", True), (r"\binom{5}{2}", True),
        (r"\sqrt[3]{x^{2}}", True), ("10^{9999}", True), (r"\frac{1}{2}", True),
        ("2^123", True), ("9^{9^{9^{9}}}", False), ("2^{2^{100}}", False), ("2^{99999}", False),
        ("100000^99999999", False), (r"2^\frac{99999999}{1}", False), ("2^(99999)", False),
        ("9^9^9", False), ("e^{e^{x}}", False),
        ("2^{10!}", False), (r"\binom{1000000}{500000}", False), (r"\binom{10}{2}^{2}", False),
        (r"\Gamma(1000000)", False), (r"\Gamma(\Gamma(99))", False), (r"\gcd(10^{100000}, 5)", False),
        (r"\sqrt[10^{10}]{2}", False),
        (r"\binom{5}{2} + \binom{4}{2}", False),  # an eager construct has no second one
        (r"\operatorname{eye}(3000)", False), (r"\det(A)", False), ("1" * 301, False),
    ],
)  # fmt: skip
def test_text_is_tame(text, tame):
    assert text_is_tame(text) is tame


x = sympy.Symbol("x")
Pow = sympy.Pow


@pytest.mark.parametrize(
    "expr, tame",
    [
        (x**1000 + 1, True),
        (Pow(2, 3000, evaluate=False), True),  # 904 digits
        (Pow(2, 9999, evaluate=False), False),  # 3010 digits: isprime on it would take seconds in C
        (sympy.factorial(9998), False),  # what parsing \Gamma(9999) builds: 35656 digits
        (Pow(9, Pow(9, 9, evaluate=False), evaluate=False), False),  # 9^(9^9): 370 million digits
        (Pow(Pow(2, 9999, evaluate=False), 9999, evaluate=False), False),
        (Pow(x + 1, 2000, evaluate=False), False),  # degree 2000
        (Pow(Pow(x + 1, 100, evaluate=False), 100, evaluate=False), False),  # degree 10^4
        (sympy.factorial(10**6, evaluate=False), False),
        (sympy.factorial(100, evaluate=False), True),
        (sympy.factorial(sympy.Add(x, -x, 10**5, evaluate=False), evaluate=False), False),  # x - x cancels
        (sympy.factorial(5000, evaluate=False), False),  # 16326 digits
        (sympy.Mul(10**8, sympy.log(9, evaluate=False), evaluate=False), False),  # log(9^(10^8))
        (sympy.Mul(999, sympy.log(9, evaluate=False), evaluate=False), True),
        (sympy.Integral(x, (x, 0, 1)), False),
        (sympy.Sum(x, (x, 1, 10**9)), False),
        (sympy.Add(*sympy.symbols("a:150")), False),  # too many nodes
        (sympy.FiniteSet(1, 2, 3), True),
        (sympy.Interval(1, 2), True),
    ],
)
def test_expression_is_tame(expr, tame):
    assert expression_is_tame(expr) is tame


PATHOLOGICAL = [
    "9^9^9^9", "9^{9^{9^{9}}}", "10**10**10", "100000!", "1000000!", "(10^{10})!", "10^{9999}!",
    "2^{2^{100}}",
    r"\binom{1000000}{500000}", r"\Gamma(1000000)", r"\gcd(10^{100000}, 5)", r"[9^{9^{9^{9}}}, 2)",
    r"\sqrt[10^{10^{10}}]{2}", "9^{x-x+99999999}", "(x-x+10^{9999})^{999}", r"\lfloor 10^{999}/3 \rfloor",
    r"\operatorname{eye}(3000)", r"\sum_{i=1}^{1000000} i!", r"\prod_{i=1}^{100000} i", r"\binom{e}{999}",
    r"99999999 \log 9",  # simplify's logcombine would build 9^99999999
    r"\Gamma(9999)",  # evaluated while parsing; factor() would run isprime on its 35656 digits
    "100000 < 1e9 = i-100000^99999999",  # a chained relation evaluates 100000^99999999 while parsing
]  # fmt: skip


@pytest.fixture
def deadlines(monkeypatch) -> list:
    """What each ``call_with_deadline`` in the math scorer returned (None: its deadline ended it)."""
    mathematics("<answer>5</answer>", "5")  # math-verify's parser built outside any short deadline
    results = []

    def recording(fn, seconds):
        results.append(call_with_deadline(fn, seconds))
        return results[-1]

    monkeypatch.setattr(math_module, "call_with_deadline", recording)
    return results


@pytest.mark.parametrize("answer", PATHOLOGICAL)
def test_pathological_answers_return(answer, deadlines):
    # Most are refused by the guards in milliseconds, the rest by the deadline (timed in a slow test).
    assert mathematics(f"<answer>{answer}</answer>", "5", timeout_s=0.5) == 0.0
    assert deadlines[-1] in (None, False)  # the comparison timed out or was refused


@pytest.mark.slow
@pytest.mark.parametrize("answer", PATHOLOGICAL)
def test_pathological_answers_return_quickly(answer):
    mathematics("<answer>5</answer>", "5")  # parser built before the clock starts
    start = time.perf_counter()
    assert mathematics(f"<answer>{answer}</answer>", "5", timeout_s=0.5) == 0.0
    assert time.perf_counter() - start < 5.0  # at most the 0.5 s deadline and a 50 ms refire


def test_deadline_stops_slow_verification(deadlines):
    # solve() on a degree-40 equation runs for minutes; the deadline ends it.
    assert mathematics("<answer>x = 2</answer>", "(x+1)^{40} = 3", timeout_s=0.5) == 0.0
    assert deadlines[-1] is None  # the comparison ran into its deadline (not a quick False)


@pytest.mark.slow
def test_deadline_stops_slow_verification_in_time():
    mathematics("<answer>5</answer>", "5")  # parser built before the clock starts
    start = time.perf_counter()
    assert mathematics("<answer>x = 2</answer>", "(x+1)^{40} = 3", timeout_s=0.5) == 0.0
    assert time.perf_counter() - start < 5.0


def test_big_number_next_to_a_log_in_the_key_is_refused(deadlines):
    # gold − answer over the common denominator ln 10 holds 99999999·log(10), which simplify's
    # logcombine would turn into log(10^99999999): one C-level power no deadline can stop.
    assert mathematics("<answer>99999999</answer>", r"\frac{9e}{\ln 10}", timeout_s=0.5) == 0.0
    assert deadlines[-1] is False  # refused by the log guard, not stopped by the deadline
    assert mathematics(r"<answer>\log_2 1024</answer>", "10") == 1.0


@pytest.mark.slow
def test_big_number_next_to_a_log_in_the_key_is_refused_quickly():
    mathematics("<answer>5</answer>", "5")  # parser built before the clock starts
    start = time.perf_counter()
    assert mathematics("<answer>99999999</answer>", r"\frac{9e}{\ln 10}", timeout_s=0.5) == 0.0
    assert time.perf_counter() - start < 5.0


def test_call_with_deadline():
    def spin():
        while True:
            pass

    def swallow_first_deadline():  # a bare except in library code must not defeat the deadline
        try:
            spin()
        except BaseException:  # noqa: BLE001, S110
            pass
        spin()

    for fn in (spin, swallow_first_deadline):
        assert call_with_deadline(fn, 0.2) is None
    assert call_with_deadline(lambda: 7, 0.05) == 7
    total = call_with_deadline(lambda: sum(i for i in range(3 * 10**6)), 60.0)  # bytecode: interruptible
    assert total == sum(range(3 * 10**6))  # the deadline does not fire early
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:  # a deadline that has passed raises nothing later
        pass


@pytest.mark.slow
def test_call_with_deadline_timing():
    def spin():
        while True:
            pass

    start = time.perf_counter()
    assert call_with_deadline(spin, 0.2) is None
    assert 0.2 <= time.perf_counter() - start < 2.0  # not before the deadline; soon after it


def test_scoring_in_threads_needs_no_signals():
    # math-verify's own timeouts use signal.alarm, which raises ValueError outside the main thread.
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda r: mathematics(r, "0.5"), [r"<answer>\frac{1}{2}</answer>"] * 4))
    assert results == [1.0] * 4
    assert threading.current_thread() is threading.main_thread()


def test_format_and_aliases():
    assert score(r"<answer>\frac{1}{2}</answer>", "0.5", "Mathematics") == {
        "overall": 1.0, "accuracy": 1.0, "format": 1.0,
    }  # fmt: skip
    assert score("<answer>}{</answer>", "0.5", "math word problem")["format"] == 0.5
    assert score("<answer>1</answer>", "0.5", "math", timeout_s=2.0)["accuracy"] == 0.0
    assert math_answer_is_valid(r"\boxed{3}") and not math_answer_is_valid("")


def test_doctests():
    assert doctest.testmod(math_module).failed == 0


FRAGMENTS = [
    "<answer>", "</answer>", "</think>", "\\boxed{", "{", "}", "(", ")", "[", "]", "^", "^{", "!", "9", "99",
    "10", "0", "x", "e", "=", "+", "-", "/", ",", "**", "\\frac{", "\\binom{", "\\sqrt[", "\\Gamma(",
    "\\gcd(", "\\%", "\\infty", "\\pi", "\\{", "\\}", "\\int ", "\\sum_{", " ", "$", "é", "\x00",
]  # fmt: skip
any_text = st.one_of(st.text(max_size=100), st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(response=any_text, truth=st.sampled_from(["5", "x^2+1", "[1,2)", r"\frac{1}{2}", r"\{1,2\}"]))
def test_any_response_scores_in_range(response, truth):
    result = score(response, truth, "math", timeout_s=1.0)
    assert result["accuracy"] in (0.0, 1.0) and result["format"] in (0.0, 0.5, 1.0)
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())


UNITS = ["9^", "\\boxed{", "{", "\\frac{", "<answer>", "(", "1", "x^{", "9!", "<answer>9^{", "\\sqrt[",
         "</think>9"]  # fmt: skip


@pytest.mark.parametrize("unit", UNITS)
def test_100kb_adversarial_responses(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    assert score(response, "5", "math", timeout_s=1.0)["accuracy"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("unit", UNITS)
def test_100kb_adversarial_responses_are_fast(unit):
    mathematics("<answer>5</answer>", "5")  # parser built before the clock starts
    start = time.perf_counter()
    test_100kb_adversarial_responses(unit)
    assert time.perf_counter() - start < 6.0  # guards refuse in milliseconds; the deadline is 1 s
