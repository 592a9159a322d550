"""Python code, scored by running the sample's tests in the sandbox.

**Program** (``extract_program``): with an ``<answer>`` block, its last fenced code block tagged
``python``/``py``/``python3`` (else its last untagged fenced block, else the whole answer content);
without one, the last such fenced block anywhere in the response, else the text after ``</think>``,
else the whole response. The program is dedented and leading and trailing blank lines are dropped.

**Ground truth** (``parse_code_ground_truth``): a JSON object (optionally ``<answer>``-wrapped) with

- ``"tests"``: assert statements, each run after the program (``["assert f(1) == 2", ...]``);
- ``"inputs"`` + ``"outputs"``: stdin/stdout cases (equal-length lists of strings);
- ``"setup"`` (optional): code run first, in the program's namespace;
- ``"timeout_s"`` (optional): per-process time limit in seconds, in (0, 60].

At least one test; every test and the setup must compile; anything else raises ValueError.

**Score**: ``accuracy = passed / (len(tests) + len(inputs))``. A test ``assert EXPRESSION == LITERAL``
(either side a literal ``ast.literal_eval`` reads: numbers, strings, bytes, tuples, lists, dicts, sets,
booleans, None; ``value_test``) is a *value test*: only the expression goes into the sandbox, its value
comes back as plain data (a subclass as its base type: an ``int`` whose ``__eq__`` always says True is
the int it holds; any other object fails), and it passes when that value ``==`` the literal, compared
here. Any other assert passes when it runs without raising. A stdin case passes when the program exits 0 in time and its stdout equals the expected
output line by line after trailing whitespace is stripped from each line and trailing blank lines
are dropped. A program that does not compile, or is empty, scores 0 without running (so that
``validate_ground_truth``, which scores an empty response, starts no process). Extras: ``compile_error``
(1.0 or 0.0) and ``timeouts`` (number of processes killed by the time limit).

**Processes**: all asserts share one process and every stdin case gets its own (a program consumes
its stdin and may keep state, so cases cannot share one). Sharing is safe for the score:

- each test's pass is reported the moment it passes, so a test that hangs, crashes the interpreter
  or exits keeps the passes before it and fails itself and the rest (never more credit than due);
- an exception in one test (SystemExit included) fails only that test;
- the report of a value test is its value, which a program can only produce by computing it (the
  expected one never enters the sandbox; a test reported twice fails); the report of any other test
  *i* is a secret random nonce, written to a private copy of stdout only after the test passed; the program's own stdout goes to ``/dev/null``, so printing "passed" or exiting
  early earns nothing. The harness takes ``exec``/``compile`` before the program runs and restores
  the builtins module before each test (patching ``builtins`` earns nothing), and refuses the program
  every way to a frame or to the object graph (``sys._getframe``, ``tb_frame``/``gi_frame``,
  ``sys.settrace``, ``gc.get_objects``, …, raising ValueError, which ``namedtuple``, ``typing`` and
  ``logging`` expect), so it cannot read the nonces.

The program runs in its own namespace with ``__name__ == "__solution__"``, so its ``__main__`` block
does not run. What no harness can stop, in asserts that are not value tests: a tested function that
returns an object whose ``__eq__`` always says True, or that rebinds a builtin the test looks up after
calling it; and a program that runs crafted bytecode or its own native code (see the sandbox's
docstring) can read the nonces, so such asserts can be forged by it. Value tests and stdin cases
cannot: their verdict is taken here, from values or output the program must compute, against
expected ones that never enter the sandbox.

After a stdin case times out, the remaining cases are not run and count as failed, which bounds a
sample's cost at one timeout plus its fast cases.
"""

from __future__ import annotations

import ast
import json
import secrets
import textwrap
from dataclasses import dataclass, replace

from . import tags
from .registry import register_scorer
from .sandbox import DEFAULT_LIMITS, SandboxLimits, run_python

_PYTHON_FENCES = frozenset({"python", "py", "python3"})
_MAX_TIMEOUT_S = 60.0
_GROUND_TRUTH_KEYS = frozenset({"tests", "inputs", "outputs", "setup", "timeout_s"})

_ASSERT_HARNESS = """
def _reelrl_tests(setup, program, tests):
    import builtins, json, os, sys, types  # types reads a tb_frame when imported: before the hook
    run, build, caught, write, table = exec, compile, BaseException, os.write, builtins.__dict__
    evaluate, dumps, original = eval, json.dumps, dict(table)
    plain = ((bool, "b", bool.__repr__), (int, "i", int.__repr__), (float, "f", float.__repr__),
             (complex, "c", complex.__repr__), (str, "s", str.__str__), (bytes, "y", bytes.hex))
    nested = ((list, "l"), (tuple, "t"), (set, "S"), (frozenset, "F"))

    def encode(value, depth=0):  # plain data, tagged; subclasses as their base (their methods unused)
        if value is None or depth > 100:
            return ["n"] if value is None else None
        for kind, tag, text in plain:
            if isinstance(value, kind):
                return [tag, text(value)]
        for kind, tag in nested:
            if isinstance(value, kind):
                return [tag, [encode(item, depth + 1) for item in kind.__iter__(value)]]
        if isinstance(value, dict):
            return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]]
        return None

    blob = b""  # the nonces, 33 bytes each; one bytes object, in no container the program could list
    while chunk := os.read(0, 65536):
        blob += chunk
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # takes fd 0: input() sees end of file
    report = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    hidden = {"sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile",
              "gc.get_objects", "gc.get_referrers", "gc.get_referents"}
    frame_attributes = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}

    def hide_frames(event, args):
        if event in hidden or (event == "object.__getattr__" and args[1] in frame_attributes):
            raise ValueError(f"{event} is not available to a program under test")

    checks = [(kind, build(test, "<test>", "exec" if kind == "assert" else "eval")) for kind, test in tests]
    sys.addaudithook(hide_frames)
    namespace = {"__name__": "__solution__", "__builtins__": builtins}
    run(build(setup, "<setup>", "exec"), namespace)
    run(build(program, "<program>", "exec"), namespace)
    table.clear()
    table.update(original)
    for index, (kind, check) in enumerate(checks):
        table.clear()  # builtins as they were before the program ran
        table.update(original)
        namespace["__builtins__"] = builtins
        try:
            if kind == "assert":
                run(check, namespace)
                write(report, blob[33 * index : 33 * index + 33])
            else:  # the value goes out; the expected one never came in
                write(report, f"value {index} {dumps(encode(evaluate(check, namespace)))}\\n".encode())
        except caught:
            continue
"""

_STDIN_HARNESS = """
def _reelrl_main(setup, program):
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(setup, "<setup>", "exec"), namespace)
    exec(compile(program, "<program>", "exec"), namespace)
"""


@dataclass(frozen=True)
class CodeTests:
    """A sample's parsed tests (see the module docstring)."""

    asserts: tuple[str, ...] = ()
    stdin_cases: tuple[tuple[str, str], ...] = ()
    setup: str = ""
    timeout_s: float | None = None

    @property
    def count(self) -> int:
        return len(self.asserts) + len(self.stdin_cases)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block, in order; an unclosed last fence runs to the end.

    One forward pass of ``str.find`` (linear time, no regex).
    """
    blocks = []
    pos = 0
    while (start := text.find("```", pos)) >= 0:
        line_end = text.find("\n", start + 3)
        if line_end < 0:
            break
        end = text.find("```", line_end + 1)
        blocks.append(
            (text[start + 3 : line_end].strip().lower(), text[line_end + 1 : end if end >= 0 else None])
        )
        if end < 0:
            break
        pos = end + 3
    return blocks


def _code_block(text: str) -> str | None:
    blocks = _fenced_blocks(text)
    for wanted in (lambda lang: lang.split(" ")[0] in _PYTHON_FENCES, lambda lang: not lang):
        bodies = [body for language, body in blocks if wanted(language)]
        if bodies:
            return bodies[-1]
    return None


def extract_program(response: str) -> str:
    """The program a response proposes (rules in the module docstring), dedented, without leading or
    trailing blank lines. The ``<answer>`` content is taken unstripped so that an indented unfenced
    program keeps its first line's indentation until the dedent."""
    span = tags.answer_span(response)
    if span is not None:
        answer = response[span[0] : span[1]]
        program = _code_block(answer)
        program = answer if program is None else program
    else:
        program = _code_block(response)
        if program is None:
            after = tags.after_think(response)
            program = response if after is None else after
    return textwrap.dedent(program).strip("\r\n")


def _compiles(source: str) -> bool:
    try:
        compile(source, "<program>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return False  # ValueError: null bytes, unencodable surrogates; MemoryError: parser stack
    return True


def _strings(value: object, what: str, ground_truth: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"code ground truth {what!r} must be a list of strings: {ground_truth[:200]!r}")
    return tuple(value)


def parse_code_ground_truth(ground_truth: str) -> CodeTests:
    """The sample's tests; ValueError for anything but the JSON form in the module docstring."""
    text = tags.answer_content(ground_truth)
    try:
        data = json.loads(ground_truth if text is None else text)
    except json.JSONDecodeError as err:
        raise ValueError(f"code ground truth is not JSON ({err}): {ground_truth[:200]!r}") from None
    if not isinstance(data, dict) or not set(data) <= _GROUND_TRUTH_KEYS:
        raise ValueError(
            f"code ground truth must be a JSON object with keys among {sorted(_GROUND_TRUTH_KEYS)}: "
            f"{ground_truth[:200]!r}"
        )
    asserts = _strings(data.get("tests", []), "tests", ground_truth)
    inputs = _strings(data.get("inputs", []), "inputs", ground_truth)
    outputs = _strings(data.get("outputs", []), "outputs", ground_truth)
    setup = data.get("setup", "")
    timeout = data.get("timeout_s")
    if len(inputs) != len(outputs):
        raise ValueError(f"code ground truth has {len(inputs)} inputs but {len(outputs)} outputs")
    if not asserts and not inputs:
        raise ValueError(f"code ground truth holds no tests: {ground_truth[:200]!r}")
    if not isinstance(setup, str) or not all(_compiles(source) for source in (setup, *asserts)):
        raise ValueError(
            f"code ground truth setup and tests must be Python that compiles: {ground_truth[:200]!r}"
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= _MAX_TIMEOUT_S  # NaN fails too
    ):
        raise ValueError(f"code ground truth timeout_s must be in (0, {_MAX_TIMEOUT_S:g}], got {timeout!r}")
    return CodeTests(asserts, tuple(zip(inputs, outputs)), setup, None if timeout is None else float(timeout))


def _normalized_lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.rstrip().splitlines()]


_NO_VALUE = object()  # a reported value that is not plain data


def value_test(test: str) -> tuple[str, object] | None:
    """``(expression, expected)`` of a test ``assert EXPRESSION == LITERAL`` (or ``LITERAL == …``;
    literal as ``ast.literal_eval`` reads it), else None."""
    body = ast.parse(test).body
    if len(body) != 1 or not isinstance(body[0], ast.Assert):
        return None
    check = body[0].test
    if not (isinstance(check, ast.Compare) and len(check.ops) == 1 and isinstance(check.ops[0], ast.Eq)):
        return None
    for expression, literal in ((check.left, check.comparators[0]), (check.comparators[0], check.left)):
        try:
            expected = ast.literal_eval(literal)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return ast.unparse(expression), expected
    return None


def _decode(tagged: object, depth: int = 0) -> object:
    """The value the harness encoded (plain data), or ``_NO_VALUE`` for anything else."""
    if not isinstance(tagged, list) or not tagged or depth > 100:
        return _NO_VALUE
    tag, *rest = tagged
    try:
        if tag == "n" and not rest:
            return None
        (data,) = rest
        if tag in _SCALARS and isinstance(data, str):
            return _SCALARS[tag](data)
        if tag in _SEQUENCES and isinstance(data, list):
            items = [_decode(item, depth + 1) for item in data]
            return _NO_VALUE if any(i is _NO_VALUE for i in items) else _SEQUENCES[tag](items)
        if tag == "d" and isinstance(data, list):
            pairs = [(_decode(k, depth + 1), _decode(v, depth + 1)) for k, v in data]
            return _NO_VALUE if any(_NO_VALUE in pair for pair in pairs) else dict(pairs)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    return _NO_VALUE


_SCALARS = {"b": {"True": True, "False": False}.__getitem__, "i": int, "f": float, "c": complex,
            "s": str, "y": bytes.fromhex}  # fmt: skip
_SEQUENCES = {"l": list, "t": tuple, "S": set, "F": frozenset}


def _run_asserts(program: str, tests: CodeTests, limits: SandboxLimits) -> tuple[int, int]:
    """(passed, timeouts) of all asserts, run in one process. A value test (``value_test``) passes when
    the harness reports exactly one value for it and that value equals the expected literal, compared
    here; any other test when its nonce is reported."""
    plans = [value_test(test) for test in tests.asserts]
    checks = [("assert", t) if p is None else ("value", p[0]) for t, p in zip(tests.asserts, plans)]
    nonces = [secrets.token_hex(16) for _ in tests.asserts]
    harness = _ASSERT_HARNESS + f"\n_reelrl_tests({tests.setup!r}, {program!r}, {checks!r})\n"
    result = run_python(harness, stdin="".join(nonce + "\n" for nonce in nonces), limits=limits)
    reported, values = set(), {}
    for line in result.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        index, _, data = rest.partition(" ")
        if kind == "value" and index.isdigit():
            values.setdefault(int(index), []).append(data)
        else:
            reported.update(line.split())
    passed = 0
    for index, (nonce, plan) in enumerate(zip(nonces, plans)):
        if plan is None:
            passed += nonce in reported
        elif len(values.get(index, [])) == 1:
            value = _decode(_json_or_none(values[index][0]))
            passed += value is not _NO_VALUE and _equal(value, plan[1])
    return passed, int(result.timed_out)


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _equal(value: object, expected: object) -> bool:
    try:
        return bool(value == expected)
    except (RecursionError, ValueError, TypeError):
        return False


def _run_stdin_cases(program: str, tests: CodeTests, limits: SandboxLimits) -> tuple[int, int]:
    """(passed, timeouts) of the stdin cases, one process each, stopping after a timeout."""
    source = program
    if tests.setup:
        source = _STDIN_HARNESS + f"\n_reelrl_main({tests.setup!r}, {program!r})\n"
    passed = 0
    for stdin, expected in tests.stdin_cases:
        result = run_python(source, stdin=stdin, limits=limits)
        if result.timed_out:
            return passed, 1
        if (
            result.ok
            and not result.truncated
            and _normalized_lines(result.stdout) == _normalized_lines(expected)
        ):
            passed += 1
    return passed, 0


def program_is_valid(answer: str) -> bool:
    """Format check: the answer holds a non-empty program that compiles.

    The format reward passes the stripped answer content, so an unfenced program whose lines are all
    indented loses its first line's indentation here and fails this check (the scorer, which reads
    the raw answer, still runs it). Fenced programs are unaffected.
    """
    program = _code_block(answer)
    program = textwrap.dedent(answer if program is None else program)
    return bool(program.strip()) and _compiles(program)


@register_scorer("code", aliases=("coding", "python", "python code"), answer_valid=program_is_valid)
def code(response: str, ground_truth: str, limits: SandboxLimits | None = None) -> dict[str, float]:
    """Fraction of the sample's tests the program passes (module docstring), run under ``limits``
    (default ``sandbox.DEFAULT_LIMITS``; the ground truth's ``timeout_s`` overrides its timeout)."""
    tests = parse_code_ground_truth(ground_truth)
    program = extract_program(response)
    if not program.strip() or not _compiles(program):
        return {"accuracy": 0.0, "compile_error": float(bool(program.strip())), "timeouts": 0.0}
    limits = DEFAULT_LIMITS if limits is None else limits
    if tests.timeout_s is not None:
        limits = replace(limits, timeout_s=tests.timeout_s)
    passed = timeouts = 0
    if tests.asserts:
        passed, timeouts = _run_asserts(program, tests, limits)
    if tests.stdin_cases:
        case_passes, case_timeouts = _run_stdin_cases(program, tests, limits)
        passed, timeouts = passed + case_passes, timeouts + case_timeouts
    return {"accuracy": passed / tests.count, "compile_error": 0.0, "timeouts": float(timeouts)}
