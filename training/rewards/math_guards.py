"""Bounded time for math-verify without signals: a text guard, a tree guard and a deadline.

math-verify's own timeouts use ``signal.alarm``, which works only in the main thread, so the math
scorer disables them (``parsing_timeout=None``, ``timeout_seconds=None``) and relies on:

1. ``text_is_tame``, before parsing (which evaluates ``\\binom``, ``\\Gamma``, ``\\gcd`` and
   interval bounds eagerly): at most ``MAX_ANSWER_CHARS`` characters; an exponent holds at most 4
   digits, no factorial or combinatorial function, and ``^`` only on a lone variable
   (``e^{-x^{2}}`` passes, ``9^{9^{9}}``, ``9^9^9`` and ``2^{2^{n}}`` do not); a text with an eager construct
   has no second one, no ``^`` or ``!`` and at most 5 digits; no matrix operations (``\\det``…);
2. ``measure``/``expression_is_tame``, after parsing: at most ``MAX_NODES`` nodes; no unevaluated
   calculus (integrals, sums, products, limits, derivatives) and no matrix powers; no integer an
   exact evaluation could build has more than ``MAX_DIGITS`` digits (an upper bound computed
   bottom-up, symbols included, so ``(x - x + 10^{9999})^{999}`` is refused too); polynomial degree
   at most ``MAX_DEGREE``; combinatorial arguments at most 10^4; and ``logs_are_tame``: when the
   answer or the key has a ``log(a)``, the product ``c`` of all their numbers outside log arguments
   keeps ``a^c`` within ``MAX_DIGITS`` digits (simplify's logcombine turns ``c·log(a)`` into
   ``log(a^c)``, ``c`` gathered over a common denominator). ``MAX_DIGITS`` is small because
   the C-level steps grow fast with size: one ``pow(a, n - 1, n)`` in ``isprime`` (reached from
   ``factor``) takes 0.07 s for 1000 digits, 1.6 s for 3000;
3. ``call_with_deadline``: a watcher thread raises an exception in the scoring thread with
   ``PyThreadState_SetAsyncExc`` (any thread, no signals; again every 50 ms until it lands),
   ending slow pure-Python work such as ``solve`` on a degree-40 equation.

Layers 1-2 exist because the deadline cannot stop a single C-level operation (``9^9^9^9`` is one
``int.__pow__``). What is left: a construct the guards do not know that builds a huge integer in
one C call, and the usual hazard of asynchronous exceptions (one landing between a lock's acquire
and its ``try`` in library code would leave the lock held).
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sympy
from sympy.matrices import MatrixBase
from sympy.matrices.expressions import MatrixExpr

MAX_ANSWER_CHARS = 300
MAX_NODES = 120
MAX_DIGITS = 1_000
MAX_DEGREE = 1_000
_MAX_COMBINATORIAL_DIGITS = 4
_LOG10_2 = 0.30102999566398120

T = TypeVar("T")

# ------------------------------------------------------------------------------------- text guard

_EAGER = re.compile(r"\\(?:[dt]?binom|choose|Gamma)|\\gamma\s*+[({\\]|gcd|lcm")
_MATRIX_OPS = re.compile(
    r"\\det(?![a-zA-Z])|\\operatorname\s*+\{\s*+(?:eye|zeros|ones|diag|[hv]stack|orth|rank|trace|tr|rref"
    r"|nullspace|norm|cols|rows|eig|diagonalize|svd|SVD)"
)
_EXPONENT_TOKEN = re.compile(r"\\[a-zA-Z]*+|[-+]?[\d.\s]*+")
_EXPONENT_FORBIDDEN = ("!", "\\binom", "\\dbinom", "\\tbinom", "\\choose", "\\Gamma", "\\gamma", "\\exp",
                       "\\sinh", "\\cosh", "\\operatorname", "\\sum", "\\prod")  # fmt: skip


def _group(text: str, start: int, opening: str, closing: str) -> str:
    """The text inside the bracket opened at ``start`` (to the end if never closed)."""
    depth = 0
    for pos in range(start, len(text)):
        if text[pos] == opening:
            depth += 1
        elif text[pos] == closing:
            depth -= 1
            if depth == 0:
                return text[start + 1 : pos]
    return text[start + 1 :]


def _exponent(text: str, caret: int) -> tuple[str, int]:
    """The exponent after the ``^`` at ``caret`` and where it ends: a braced or bracketed group, a
    command with its braced arguments (``^\\frac{1}{2}``), or a run of digits (latex2sympy reads
    ``2^123`` as ``2^{123}``), else one character."""
    pos = caret + 1
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos < len(text) and text[pos] in "{(":
        inner = _group(text, pos, text[pos], "}" if text[pos] == "{" else ")")
        return inner, pos + len(inner) + 2
    match = _EXPONENT_TOKEN.match(text, pos)
    end = match.end() if match and match.end() > pos else min(pos + 1, len(text))
    while text[end : end + 1] == "{":  # a command's arguments
        end += len(_group(text, end, "{", "}")) + 2
    return text[pos:end], end


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _symbolic_base(text: str, caret: int) -> bool:
    """True when the ``^`` at ``caret`` raises a lone variable letter (not e, i or a command)."""
    base = text[caret - 1] if caret >= 1 else ""
    before = text[caret - 2] if caret >= 2 else ""
    return base.isascii() and base.isalpha() and base not in "ei" and not (before.isalpha() or before == "\\")


def text_is_tame(text: str) -> bool:
    """The text guard (module docstring, point 1); False refuses the text before parsing."""
    if len(text) > MAX_ANSWER_CHARS or _MATRIX_OPS.search(text):
        return False
    eager = len(_EAGER.findall(text))
    if eager > 1 or (eager and ("^" in text or "!" in text or _digits(text) > 5)):
        return False
    for match in re.finditer(r"\\sqrt\s*+\[", text):
        index = _group(text, match.end() - 1, "[", "]")
        if "^" in index or "!" in index or _digits(index) > 4:
            return False
    for caret in (pos for pos, char in enumerate(text) if char == "^"):
        exponent, end = _exponent(text, caret)
        if _digits(exponent) > 4 or any(token in exponent for token in _EXPONENT_FORBIDDEN):
            return False
        if any(char == "^" and not _symbolic_base(exponent, pos) for pos, char in enumerate(exponent)):
            return False  # a tower with a numeric base, such as 9^{9^{9}}
        if _digits(exponent) and text[end:].lstrip().startswith("^"):
            return False  # 9^9^9 may be read as a tower
    return True


# ------------------------------------------------------------------------------------- tree guard

_CALCULUS = (sympy.Integral, sympy.Sum, sympy.Product, sympy.Limit, sympy.Derivative)
_COMBINATORIAL_MODULES = ("sympy.functions.combinatorial", "sympy.functions.special")


def _size(value: Any) -> float:
    """log10 of the largest integer needed to write an evaluated number exactly (0 if not finite)."""
    if isinstance(value, sympy.Rational):
        return max(math.log10(abs(n)) if n else 0.0 for n in (value.p, value.q))
    if isinstance(value, sympy.Float):
        _, _, exponent, bits = value._mpf_
        return abs(exponent + bits) * _LOG10_2 if bits else 0.0
    if isinstance(value, sympy.Expr) and value.is_number and not value.is_Atom:
        return max((_size(part) for part in value.as_real_imag()), default=0.0)
    return 0.0


def _children(node: Any) -> tuple[Any, ...]:
    if isinstance(node, MatrixBase):
        return tuple(node)
    return node.args if isinstance(node, sympy.Basic) else ()


def _check(node: Any, kids: list[tuple[float, float]]) -> tuple[float, float] | None:
    """``(size, degree)`` of one node from its children's, or None to refuse the expression."""
    if isinstance(node, _CALCULUS):
        return None
    if isinstance(node, (sympy.Rational, sympy.Float)):
        size = _size(node)
        return (size, 0.0) if size <= MAX_DIGITS else None
    if isinstance(node, sympy.Symbol):
        return 0.0, 1.0
    sizes, degrees = [k[0] for k in kids], [k[1] for k in kids]
    if isinstance(node, sympy.Pow):
        base, exponent = node.args
        if isinstance(base, (MatrixBase, MatrixExpr)):
            return None
        if not exponent.is_number:
            return max(sizes), max(degrees)
        bound = 10.0 ** min(sizes[1], 300.0)  # an upper bound on |exponent|
        size, degree = bound * sizes[0], bound * degrees[0]
        if size > MAX_DIGITS or degree > MAX_DEGREE:
            return None
        return size, degree
    if isinstance(node, sympy.Mul):
        return sum(sizes), sum(degrees)
    if isinstance(node, sympy.Add):
        return max(sizes) + math.log10(len(sizes)), max(degrees)
    combinatorial = type(node).__module__.startswith(_COMBINATORIAL_MODULES)
    if combinatorial and max(sizes, default=0.0) > _MAX_COMBINATORIAL_DIGITS:
        return None  # also with symbols: simplify may cancel (x - x + 10^5)! down to a number
    own = _size(node.evalf(15)) if isinstance(node, sympy.Function) and node.is_number else 0.0
    size = max([own, *sizes])
    return (size, max(degrees, default=0.0)) if size <= MAX_DIGITS else None


Measure = tuple[float, float | None]  # (coefficient size, largest log-argument size or None)


def measure(expr: Any) -> Measure | None:
    """``(coefficient size, largest log-argument size or None)`` of a tame tree; None if refused.

    The coefficient size sums the sizes of the largest log-free subtrees outside log arguments: a
    bound on log10 of any product of numbers that could end up multiplying a log.
    """
    order, stack = [], [(expr, None)]
    while stack:
        node, parent = stack.pop()
        order.append((node, parent))
        if len(order) > MAX_NODES:
            return None
        stack.extend((kid, node) for kid in _children(node))
    seen: dict[int, tuple[float, float]] = {}
    has_log: dict[int, bool] = {}
    log_arg = None
    try:
        for node, _ in reversed(order):  # children before parents
            kids = _children(node)
            result = _check(node, [seen[id(kid)] for kid in kids])
            if result is None:
                return None
            seen[id(node)] = result
            is_log = isinstance(node, sympy.log)
            has_log[id(node)] = is_log or any(has_log[id(kid)] for kid in kids)
            if is_log:
                log_arg = max(log_arg or 0.0, *(seen[id(kid)][0] for kid in kids))
    except Exception:  # noqa: BLE001 - evalf giving up (PrecisionExhausted) or an odd tree: refuse
        return None
    coefficients = sum(
        seen[id(node)][0]
        for node, parent in order
        if not has_log[id(node)]
        and (parent is None or (has_log[id(parent)] and not isinstance(parent, sympy.log)))
    )
    return coefficients, log_arg


def logs_are_tame(measures: list[Measure]) -> bool:
    """simplify's logcombine turns ``c·log(a)`` into ``log(a^c)``, and once ``gold − prediction`` is
    over a common denominator ``c`` may be a product of numbers from both sides: when a log is
    present, ``a^c`` must stay within ``MAX_DIGITS`` digits for the product of all of them."""
    logs = [m[1] for m in measures if m[1] is not None]
    total = sum(m[0] for m in measures)
    return not logs or 10.0 ** min(total, 300.0) * max(*logs, 1.0) <= MAX_DIGITS


def expression_is_tame(expr: Any) -> bool:
    """The tree guard (module docstring, point 2); False refuses a parsed expression."""
    found = measure(expr)
    return found is not None and logs_are_tame([found])


# --------------------------------------------------------------------------------------- deadline


class _Deadline(BaseException):
    """Raised asynchronously in a scoring thread that ran past its deadline (a BaseException, so
    that math-verify's and SymPy's ``except Exception`` handlers do not swallow it)."""


_SET_ASYNC_EXC = ctypes.pythonapi.PyThreadState_SetAsyncExc
_REFIRE_S = 0.05


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T | None:
    """``fn()``, or None if it runs past ``seconds``; works in any thread (no signals).

    A watcher thread raises ``_Deadline`` in this thread, again every 50 ms until ``fn`` has
    stopped (an exception raised inside a weakref callback or a bare ``except`` is lost). The
    exception is checked between bytecodes, so one long C call is not interrupted (the guards
    prevent those). No lock is taken in this thread while it can be interrupted: disarming is one
    list store, and the watcher tests the flag and fires with no bytecode between that lets this
    thread run (CPython switches threads only at calls' ends and backward jumps).
    """
    target, exception = ctypes.c_ulong(threading.get_ident()), ctypes.py_object(_Deadline)
    armed, finished = [True], threading.Event()

    def watch() -> None:
        if finished.wait(seconds):
            return
        while armed[0]:
            _SET_ASYNC_EXC(target, exception)
            finished.wait(_REFIRE_S)

    threading.Thread(target=watch, name="math-deadline", daemon=True).start()
    result = None
    try:
        try:
            result = fn()
        finally:
            armed[0] = False
            _SET_ASYNC_EXC(target, None)  # drop an exception set but not raised yet
    except _Deadline:
        pass
    finished.set()  # after disarming: nothing can interrupt this thread any more
    return result
