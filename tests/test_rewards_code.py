"""Code scorer: program extraction, ground-truth parsing, exact pass fractions, reward-hack resistance."""

import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_runs import record_runs

from training.rewards import code as code_module
from training.rewards import score
from training.rewards.code import (
    CodeTests,
    code,
    extract_program,
    parse_code_ground_truth,
    program_is_valid,
    value_test,
)
from training.rewards.sandbox import SandboxLimits

ADD_TESTS = json.dumps(
    {"tests": ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0"]}
)
SUM_CASES = json.dumps({"inputs": ["1 2\n", "3 4\n", "10 -5\n"], "outputs": ["3\n", "7\n", "5\n"]})


def fenced(program: str, language: str = "python") -> str:
    return f"<think>easy</think><answer>\n```{language}\n{program}\n```\n</answer>"


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<answer>```python\nx = 1\n```</answer>", "x = 1"),
        ("<answer>```py\nx = 1\n```\nthen\n```python\nx = 2\n```</answer>", "x = 2"),  # last block
        ("<answer>```json\n{}\n```\n```\nx = 3\n```</answer>", "x = 3"),  # untagged beats other languages
        ("<answer>```python\nx = 4</answer>", "x = 4"),  # unclosed fence runs to the end
        ("<answer>x = 5</answer>", "x = 5"),  # no fence: the answer content
        ("<answer>\n    def f():\n        return 6\n  </answer>", "def f():\n    return 6"),  # dedented
        ("<think>```python\nx = 0\n```</think>```python\nx = 7\n```", "x = 7"),  # no answer: last block
        ("<think>draft</think> x = 8", "x = 8"),  # no answer, no fence: after </think>
        ("\n\nx = 9\n  \n", "x = 9"),  # blank lines dropped
        ("<answer>```python x = 10 ```</answer>", "```python x = 10 ```"),  # no newline: not a fence
    ],
)
def test_extract_program(response, expected):
    assert extract_program(response) == expected


def test_parse_ground_truth_forms():
    assert parse_code_ground_truth(ADD_TESTS).asserts == (
        "assert add(1, 2) == 3",
        "assert add(2, 2) == 4",
        "assert add(-1, 1) == 0",
    )
    both = parse_code_ground_truth(
        '<answer>{"tests": ["assert f()"], "inputs": ["x"], "outputs": ["y"], "setup": "import math", '
        '"timeout_s": 2}</answer>'
    )
    assert both == CodeTests(("assert f()",), (("x", "y"),), "import math", 2.0)
    assert both.count == 2


@pytest.mark.parametrize(
    "truth, message",
    [
        ("assert f(1) == 2", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"tests": []}', "no tests"),
        ("{}", "no tests"),
        ('{"tests": ["assert 1"], "fn_name": "f"}', "JSON object"),  # APPS call-based form: unsupported
        ('{"tests": "assert 1"}', "list of strings"),
        ('{"inputs": ["1"], "outputs": [1]}', "list of strings"),
        ('{"inputs": ["1", "2"], "outputs": ["1"]}', "2 inputs but 1 outputs"),
        ('{"tests": ["assert f(1) =="]}', "compiles"),
        ('{"tests": ["assert 1"], "setup": "def"}', "compiles"),
        ('{"tests": ["assert 1"], "timeout_s": 0}', "timeout_s"),
        ('{"tests": ["assert 1"], "timeout_s": NaN}', "timeout_s"),
        ('{"tests": ["assert 1"], "timeout_s": 61}', "timeout_s"),
        ('{"tests": ["assert 1"], "timeout_s": true}', "timeout_s"),
    ],
)
def test_malformed_ground_truth_raises(truth, message):
    with pytest.raises(ValueError, match=message):
        code("<answer>x = 1</answer>", truth)


ADD = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    "program, expected",
    [
        (ADD, 1.0),
        ("def add(a, b):\n    return a * b if a > 0 else a + b", 2 / 3),  # 1*2 != 3; 2*2 == 4; -1+1 == 0
        ("def add(a, b):\n    return 4", 1 / 3),
        ("def add(a, b):\n    raise ValueError", 0.0),
        # A __main__ block does not run in assert mode, so a program that also reads stdin still scores.
        (ADD + "\nif __name__ == '__main__':\n    print(add(*map(int, input().split())))", 1.0),
    ],
)
def test_asserts_pass_fraction(program, expected):
    assert code(fenced(program), ADD_TESTS) == {"accuracy": expected, "compile_error": 0.0, "timeouts": 0.0}


def test_stdin_cases_compare_trimmed_lines():
    program = "a, b = map(int, input().split())\nprint(a + b)"
    assert code(fenced(program), SUM_CASES)["accuracy"] == 1.0
    padded = json.dumps({"inputs": ["1 2"], "outputs": ["3   \n\n\n"]})  # trailing spaces and blank lines
    assert code(fenced("print(3, end='  \\n\\n')"), padded)["accuracy"] == 1.0
    assert code(fenced("print(' 3')"), padded)["accuracy"] == 0.0  # leading spaces matter
    # Case 3 expects 5; a program that prints abs(a) + abs(b) gets 15 there: 2 of 3.
    assert (
        code(fenced("a, b = map(int, input().split())\nprint(abs(a) + abs(b))"), SUM_CASES)["accuracy"]
        == 2 / 3
    )
    # The right output then a crash is a failure (exit status 1).
    assert code(fenced("print(3)\nraise SystemExit(1)"), padded)["accuracy"] == 0.0


def test_asserts_and_stdin_cases_together_with_setup():
    truth = json.dumps(
        {
            "setup": "import math\nTOL = 1e-9",
            "tests": ["assert math.isclose(area(1.0), math.pi, rel_tol=TOL)", "assert area(0) == 0"],
            "inputs": ["2\n"],
            "outputs": ["12.57\n"],
        }
    )
    program = (
        "def area(r):\n    return math.pi * r * r\n"
        "if __name__ == '__main__':\n    print(f'{area(float(input())):.2f}')"
    )
    assert code(fenced(program), truth) == {"accuracy": 1.0, "compile_error": 0.0, "timeouts": 0.0}
    assert code(fenced("def area(r):\n    return 3.14 * r * r"), truth)["accuracy"] == 1 / 3  # only area(0)


def test_compile_error_scores_zero_without_running(monkeypatch):
    monkeypatch.setattr("training.rewards.code.run_python", None)  # would raise TypeError if called
    result = code(fenced("def add(a, b):\n    return a +"), ADD_TESTS)
    assert result == {"accuracy": 0.0, "compile_error": 1.0, "timeouts": 0.0}


@pytest.mark.parametrize("response", ["", "<answer>  </answer>", "<answer>```python\n```</answer>"])
def test_empty_program_scores_zero_without_running(response, monkeypatch):
    monkeypatch.setattr("training.rewards.code.run_python", None)  # would raise TypeError if called
    trivial = json.dumps({"tests": ["assert True"], "inputs": [""], "outputs": [""]})
    assert code(response, trivial) == {"accuracy": 0.0, "compile_error": 0.0, "timeouts": 0.0}


def test_hanging_test_keeps_earlier_passes_and_counts_a_timeout():
    truth = json.dumps(
        {"tests": ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3"], "timeout_s": 1}
    )
    program = "def f(x):\n    while x == 2:\n        pass\n    return x"
    assert code(fenced(program), truth) == {"accuracy": 1 / 3, "compile_error": 0.0, "timeouts": 1.0}


def spy_on_runs(monkeypatch) -> list:
    """Records (stdin, result) of every sandbox run the code scorer starts."""
    return record_runs(monkeypatch, "training.rewards.code")


def test_stdin_cases_stop_after_a_timeout(monkeypatch):
    runs = spy_on_runs(monkeypatch)
    truth = json.dumps({"inputs": ["1", "2", "3", "4"], "outputs": ["1", "2", "3", "4"], "timeout_s": 3})
    result = code(fenced("x = input()\nwhile x == '2':\n    pass\nprint(x)"), truth)
    assert result == {"accuracy": 1 / 4, "compile_error": 0.0, "timeouts": 1.0}
    # One timeout (case 2); cases 3 and 4 are not run.
    assert [stdin for stdin, _ in runs] == ["1", "2"]
    assert [r.timed_out for _, r in runs] == [False, True] and runs[1][1].kill_reason == "timeout"


@pytest.mark.slow
def test_stdin_cases_after_a_timeout_cost_no_wall_time():
    # Every case hangs: stopping after the first timeout takes ~3.5 s, running all four over 12 s.
    truth = json.dumps({"inputs": ["1", "2", "3", "4"], "outputs": ["1", "2", "3", "4"], "timeout_s": 3})
    start = time.monotonic()
    result = code(fenced("while True:\n    pass"), truth)
    assert result == {"accuracy": 0.0, "compile_error": 0.0, "timeouts": 1.0}
    assert time.monotonic() - start < 11.0


def test_limits_keyword_reaches_the_sandbox():
    truth = json.dumps({"tests": ["assert len(make()) == 10**8"]})
    program = "def make():\n    return bytearray(10**8)"
    assert code(fenced(program), truth)["accuracy"] == 1.0
    assert code(fenced(program), truth, limits=SandboxLimits(memory_mb=64))["accuracy"] == 0.0
    assert score(fenced(program), truth, "code", limits=SandboxLimits(memory_mb=64))["accuracy"] == 0.0


@pytest.mark.parametrize(
    "program",
    [
        "print('PASS')\nprint('ok ' * 100)",
        "import sys\nsys.exit(0)",
        "import os\nos._exit(0)",
        "import os\nos.write(1, b'0' * 32 + b'\\n')",
        "import builtins\nbuiltins.AssertionError = type('E', (BaseException,), {})",
        "def add(a, b):\n    raise SystemExit(0)",
        "def add(a, b):\n    import os\n    os._exit(0)",
        "import sys\nsys.stdout.write('\\n'.join('%032x' % i for i in range(99)))",
    ],
)
def test_reward_hacks_earn_nothing(program):
    assert code(fenced(program), ADD_TESTS)["accuracy"] == 0.0


FRAME_HUNT = """
import os, sys
def leak(frame):  # write every bytes token found in any caller's locals to every plausible fd
    while frame is not None:
        for value in list(frame.f_locals.values()):
            for item in value if isinstance(value, list) else [value]:
                for token in item.split() if isinstance(item, bytes) else []:
                    for fd in range(3, 12):
                        try:
                            os.write(fd, token + b"\\n")
                        except OSError:
                            pass
        frame = frame.f_back
    os._exit(0)
def add(a, b):
    leak(%s)
"""
HUNTS = {
    "sys._getframe": FRAME_HUNT % "sys._getframe(1)",
    "tb_frame": FRAME_HUNT % "(lambda e: e.__traceback__.tb_frame)(next(iter([ValueError()])))",
    "settrace": FRAME_HUNT % "sys.settrace(lambda frame, *_: leak(frame)) or (lambda: 0)()",
    "gc": FRAME_HUNT % "next(o for o in __import__('gc').get_objects() if type(o).__name__ == 'frame')",
    "exec patched": "import builtins\nbuiltins.exec = lambda *args, **kwargs: None",
}


@pytest.mark.parametrize("name", sorted(HUNTS))
def test_nonce_hunting_earns_nothing(name):
    """Each of these read the harness's nonces and reported every test passed before the harness
    hid frames, the object graph and its own exec."""
    assert code(fenced(HUNTS[name]), ADD_TESTS)["accuracy"] == 0.0


def test_patched_builtins_are_restored_before_each_test():
    truth = json.dumps({"tests": ["assert sorted(f()) == [1, 2, 3]"]})
    program = (
        "import builtins\nbuiltins.sorted = lambda *args, **kwargs: [1, 2, 3]\ndef f():\n    return [3, 3]"
    )
    assert code(fenced(program), truth)["accuracy"] == 0.0


def test_common_standard_library_works_under_the_harness():
    program = """
import asyncio, collections, dataclasses, enum, functools, logging, sys, threading, typing, warnings
P = collections.namedtuple("P", "x y")
Color = enum.Enum("Color", "RED GREEN")
class Q(typing.NamedTuple):
    a: int
@dataclasses.dataclass(frozen=True)
class D:
    v: int
logging.getLogger("x").error("logged")
warnings.warn("careful")
@functools.lru_cache(None)
def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)
def deep():
    sys.setrecursionlimit(20_000)
    threading.stack_size(64 << 20)
    out = []
    worker = threading.Thread(target=lambda: out.append(depth(5000)))
    worker.start()
    worker.join()
    return out[0]
async def five():
    await asyncio.sleep(0)
    return 5
def f():
    return P(1, 2).x, Color.RED.name, Q(3).a, D(4).v
"""
    truth = json.dumps(
        {
            "tests": [
                "assert f() == (1, 'RED', 3, 4)",
                "assert deep() == 5000",
                "assert asyncio.run(five()) == 5",
            ]
        }
    )
    assert code(fenced(program), truth)["accuracy"] == 1.0


def test_a_raising_test_fails_alone():
    truth = json.dumps({"tests": ["assert f() == 1", "raise SystemExit(0)", "assert f() == 1"]})
    assert code(fenced("def f():\n    return 1"), truth)["accuracy"] == 2 / 3


@pytest.mark.parametrize(
    "answer, valid",
    [
        ("```python\ndef f():\n    return 1\n```", True),
        ("def f(): return 1", True),
        ("    x = 1\n    y = 2", True),  # dedented
        ("```python\ndef f(:\n```", False),
        ("", False),
        ("   \n", False),
        ("print('a')\x00", False),  # a null byte in the source
        ("The function adds two numbers.", False),
    ],
)
def test_program_is_valid(answer, valid):
    assert program_is_valid(answer) is valid


def test_registered_names_and_format():
    good = score(fenced(ADD), ADD_TESTS, "Python Code")
    assert (good["accuracy"], good["format"], good["overall"]) == (1.0, 1.0, pytest.approx(1.0))
    broken = score("<answer>def add(a, b) return a + b</answer>", ADD_TESTS, "coding")
    assert (broken["accuracy"], broken["format"], broken["compile_error"]) == (0.0, 0.5, 1.0)
    assert score(fenced(ADD), ADD_TESTS, "python")["accuracy"] == 1.0


FRAGMENTS = [
    "<answer>", "</answer>", "<think>", "</think>", "```", "```python\n", "\n", "    ", "def add(a, b):",
    " return a + b", "return", "import os", "os.fork()", "while True: pass", "print(", ")", "'", '"""',
    "\x00", "é", "🙂", "1/0", "raise SystemExit", "assert", ":", "=", "lambda", "\\", "#",
]  # fmt: skip
any_text = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(response=any_text)
def test_any_response_scores_in_range(response):
    result = score(response, ADD_TESTS, "code", limits=SandboxLimits(timeout_s=0.3))
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert 0.0 <= result["accuracy"] <= 1.0 and result["format"] in (0.0, 0.5, 1.0)


ADVERSARIAL_UNITS = [
    "```",
    "```python\n",
    "<answer>",
    "</answer>",
    "(",
    "-",
    "1+",
    "not ",
    "\n",
    "é",
    "\\\n",
    "x=1\n",
]


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_100kb_adversarial_responses_are_bounded(unit):
    response = (unit * (100_000 // len(unit) + 1))[:100_000]
    result = score(response, ADD_TESTS, "code", limits=SandboxLimits(timeout_s=2.0))
    assert 0.0 <= result["accuracy"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_100kb_adversarial_responses_are_fast(unit):
    # Extraction is linear (~0.05 s); a run is one sandbox start (~1 s on a loaded 2-core machine) plus
    # at most the 2 s timeout. A quadratic extraction of 100 KB takes minutes.
    start = time.perf_counter()
    test_100kb_adversarial_responses_are_bounded(unit)
    assert time.perf_counter() - start < 10.0


# --- value tests: decided outside the sandbox -------------------------------------------------


@pytest.mark.parametrize(
    "test, expected",
    [
        ("assert add(1, 2) == 3", ("add(1, 2)", 3)),
        ("assert 3 == add(1, 2)", ("add(1, 2)", 3)),
        ("assert (f('a') == ['b', (1, -2.5)]), 'message'", ("f('a')", ["b", (1, -2.5)])),
        ("assert f() == set()", ("f()", set())),
        ("assert f() == {'k': None}", ("f()", {"k": None})),
        ("assert f() == g()", None),  # no literal side: the nonce path
        ("assert f() != 3", None),
        ("assert 1 < f() == 3", None),
        ("assert f()", None),
        ("x = f()\nassert x == 3", None),
        ("assert math.isclose(f(), 3.0)", None),
    ],
)
def test_value_test_recognises_expression_equals_literal(test, expected):
    assert value_test(test) == expected


RETURNS = {  # what add returns -> passes "assert add(1, 2) == 3"?
    "3": True,
    "3.0": True,
    "True + 2": True,
    "'3'": False,
    "type('AlwaysEqual', (int,), {'__eq__': lambda self, other: True})(0)": False,  # compared as the int 0
    "type('Three', (int,), {})(3)": True,
    "object()": False,  # not plain data
    "[3]": False,
}


@pytest.mark.parametrize("returned", sorted(RETURNS))
def test_value_tests_compare_plain_data_outside_the_sandbox(returned):
    truth = json.dumps({"tests": ["assert add(1, 2) == 3"]})
    result = code(fenced(f"def add(a, b):\n    return {returned}"), truth)
    assert result["accuracy"] == float(RETURNS[returned])


def test_nested_values_round_trip():
    value = "[(1, 'a', None), {2: frozenset({3})}, {4.5, -1}, b'\\x00', 1j, True]"
    truth = json.dumps({"tests": [f"assert f() == {value}"]})
    assert code(fenced(f"def f():\n    return {value}"), truth)["accuracy"] == 1.0


def test_stolen_nonces_do_not_pass_value_tests(monkeypatch):
    """A program that reads the harness's memory (crafted bytecode, its own native code) has every
    nonce; simulated here by a harness that reports them all up front. Value tests still fail, since
    their verdict is the value, compared here with an expected value the sandbox never held; only the
    other asserts can be forged this way."""
    leaky = code_module._ASSERT_HARNESS.replace(
        "    os.close(0)\n", "    os.close(0)\n    os.write(1, blob)\n", 1
    )
    assert leaky != code_module._ASSERT_HARNESS
    monkeypatch.setattr(code_module, "_ASSERT_HARNESS", leaky)
    truth = json.dumps({"tests": ["assert add(1, 2) == 3", "assert add(2, 2) in (4,)"]})
    assert code(fenced("def add(a, b):\n    return 0"), truth)["accuracy"] == 0.5  # the `in` test: forged


def test_a_value_reported_twice_fails():
    program = 'import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b\'value 0 ["i", "3"]\\n\')\n    except OSError:\n        pass\ndef add(a, b):\n    return a + b'
    truth = json.dumps({"tests": ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]})
    assert code(fenced(program), truth)["accuracy"] == 0.5  # test 0 reported twice; test 1 once
