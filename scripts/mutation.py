"""Mutation check: does the test suite notice small bugs in the pure-math modules?

For each target module, every mutation point is found by an AST walk (``MUTATIONS``: comparison
flipped or loosened, ``+``/``-`` and ``*``/``/`` swapped, ``and``/``or`` swapped, ``not`` or a
unary minus dropped, a number constant changed); each mutant is one such change. A mutant runs the
module's tests (the test files that name the module) in a fresh interpreter that imports the mutated
source in place of the module (nothing in the repository is written), stopping at the first failure:
a failing run **kills** the mutant, a passing one lets it **survive** (a bug the suite would not
see, or an equivalent mutant; read each one). Runs over ``--timeout`` seconds count as killed.

    .venv/bin/python scripts/mutation.py                       # every default target
    .venv/bin/python scripts/mutation.py training/algorithms/kl.py --limit 20 --seed 1

Prints one line per surviving mutant (``path:line: what changed``) and a kill rate per module;
exits 1 when any mutant survives. Docstrings, strings and ``raise`` statements are not mutated.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGETS = (
    "training/algorithms",
    "training/rewards",
    "evaluation/official",
    "cache_store/sampling.py",
)
SKIP = {"__init__.py", "registry.py", "sandbox.py", "judge.py"}  # dispatch, processes and HTTP: not math

_SWAP = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
    ast.Pow: ast.Mult, ast.And: ast.Or, ast.Or: ast.And,
}  # fmt: skip
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
    ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**", ast.And: "and", ast.Or: "or",
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository
    index: int  # the index-th mutation point of the file, in ``_Mutator`` walk order
    line: int
    what: str


class _Mutator(ast.NodeTransformer):
    """Walks a module; records every mutation point, and applies the one numbered ``target``."""

    def __init__(self, target: int = -1):
        self.target, self.points = target, []

    def _point(self, node: ast.AST, what: str) -> bool:
        self.points.append((node.lineno, what))
        return len(self.points) - 1 == self.target

    def visit_Expr(self, node):  # docstrings and bare strings
        return node if isinstance(node.value, ast.Constant) else self.generic_visit(node)

    def visit_Raise(self, node):
        return node

    def visit_JoinedStr(self, node):
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swapped = _SWAP[type(op)]
            if self._point(node, f"{_SYMBOL[type(op)]} -> {_SYMBOL[swapped]}"):
                node.ops[i] = swapped()
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        swapped = _SWAP.get(type(node.op))
        if swapped is not None and self._point(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[swapped]}"):
            node.op = swapped()
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        swapped = _SWAP.get(type(node.op))
        if swapped is not None and self._point(node, f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[swapped]}="):
            node.op = swapped()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        swapped = _SWAP[type(node.op)]
        if self._point(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[swapped]}"):
            node.op = swapped()
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        what = {ast.Not: "not dropped", ast.USub: "unary - dropped"}.get(type(node.op))
        if what is not None and self._point(node, what):
            return node.operand
        return node

    def visit_Constant(self, node):
        value = node.value
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and self._point(node, f"{value!r} -> {value + 1!r}"):
            return ast.copy_location(ast.Constant(value + 1), node)
        return node


def mutants(path: Path) -> list[Mutant]:
    walker = _Mutator()
    walker.visit(ast.parse(path.read_text(encoding="utf-8")))
    rel = str(path.relative_to(ROOT))
    return [Mutant(rel, i, line, what) for i, (line, what) in enumerate(walker.points)]


def mutated_source(mutant: Mutant) -> str:
    tree = _Mutator(mutant.index).visit(ast.parse((ROOT / mutant.path).read_text(encoding="utf-8")))
    return ast.unparse(ast.fix_missing_locations(tree))


_ALSO = {"mathematics": "math", "numbers": "numeric", "math_guards": "math"}  # test files named otherwise


def tests_for(path: Path) -> list[str]:
    """Test files that name the module (``a.b.c``, ``from a.b import c``) or carry its name."""
    dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package, _, name = dotted.rpartition(".")
    pattern = re.compile(rf"\b{re.escape(dotted)}\b|from {re.escape(package)} import [^\n]*\b{name}\b")
    stem = _ALSO.get(name, name)
    return sorted(
        str(test.relative_to(ROOT))
        for test in (ROOT / "tests").glob("test_*.py")
        if test.stem.endswith(f"_{stem}") or pattern.search(test.read_text(encoding="utf-8"))
    )


# Run in the child: import the mutated source under the module's own name and file, then pytest.
_CHILD = """
import importlib.abc, importlib.util, json, sys
spec = json.loads(sys.argv[1])
class Loader(importlib.abc.Loader):
    def create_module(self, module_spec):
        return None
    def exec_module(self, module):
        exec(compile(spec["source"], spec["file"], "exec"), module.__dict__)
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != spec["module"]:
            return None
        return importlib.util.spec_from_file_location(name, spec["file"], loader=Loader())
sys.meta_path.insert(0, Finder())
import pytest
sys.exit(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=-m 'not slow and not gpu and not vllm and not needs_torchvision'", *spec["tests"]]))
"""


def killed(mutant: Mutant, tests: list[str], timeout: float) -> bool:
    spec = {
        "module": ".".join(Path(mutant.path).with_suffix("").parts),
        "file": str(ROOT / mutant.path),
        "source": mutated_source(mutant),
        "tests": tests,
    }
    try:
        run = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            check=False,
            timeout=timeout,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        return True
    return run.returncode != 0


def target_files(targets: list[str]) -> list[Path]:
    files = []
    for target in targets:
        path = ROOT / target
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files += [f for f in found if f.name not in SKIP]
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=list(DEFAULT_TARGETS), help="modules or folders")
    parser.add_argument("--limit", type=int, default=0, help="at most this many mutants per module (sampled)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant run")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    survivors, rates = [], []
    for path in target_files(args.targets):
        tests = tests_for(path)
        found = mutants(path)
        if args.limit and len(found) > args.limit:
            found = sorted(rng.sample(found, args.limit), key=lambda m: m.index)
        if not tests:
            print(
                f"{path.relative_to(ROOT)}: no test file names it; {len(found)} mutants not run", flush=True
            )
            continue
        start, alive = time.monotonic(), []
        for n, mutant in enumerate(found, 1):
            if not killed(mutant, tests, args.timeout):
                alive.append(mutant)
                print(f"  survived {mutant.path}:{mutant.line}: {mutant.what}", flush=True)
            print(f"\r  {mutant.path}: {n}/{len(found)} run", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        rate = 1.0 - len(alive) / len(found) if found else 1.0
        rates.append((str(path.relative_to(ROOT)), len(found), len(found) - len(alive), rate))
        print(
            f"{path.relative_to(ROOT)}: {len(found) - len(alive)}/{len(found)} killed ({rate:.0%}) "
            f"in {time.monotonic() - start:.0f} s by {len(tests)} test file(s)",
            flush=True,
        )
        survivors += alive
    total = sum(r[1] for r in rates)
    dead = sum(r[2] for r in rates)
    print(f"total: {dead}/{total} killed ({dead / total:.0%})" if total else "total: no mutant run")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
