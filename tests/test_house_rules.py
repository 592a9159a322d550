"""House rules of ``training/`` (issue 22), checked on the source with ``ast``:

* the RL step reads what an algorithm needs from its registration (``training.algorithms.registry``), so no
  code in ``training/`` compares a value with a registered estimator or loss name (``== "remax"``,
  ``!= "luffy"``, ``in ("grpo", "rloo")``); the registry itself and the algorithms' own modules, which
  register the names, are the exception;
* no function in ``training/`` has more than ``MAX_BODY_LINES`` lines of body (first statement after the
  docstring to the last line: signatures and docstrings are not logic). ``cache_store/`` is held to the
  stricter whole-function limit of ``tests/test_cache_store_layout.py`` and is not measured twice.

The import layering (which package may import which) is the import contract's (``pyproject.toml``,
``tests/test_import_contract.py``); ``cache_store``'s own circle and private-name rules are in
``tests/test_cache_store_layout.py``. Each check is a function of a ``{path: source}`` map, so the tests
below also show it failing on a hand-made violation.
"""

from __future__ import annotations

import ast
from pathlib import Path

from training.algorithms.registry import advantage_estimator_names, policy_loss_names

ROOT = Path(__file__).resolve().parents[1]
MAX_BODY_LINES = 60
# where the names are registered (and may be spelled): the registry and the algorithm modules
NAME_OWNERS = ("training/algorithms/",)


def sources(*packages: str) -> dict[str, str]:
    return {
        p.relative_to(ROOT).as_posix(): p.read_text()
        for pkg in packages
        for p in sorted((ROOT / pkg).rglob("*.py"))
    }


def algorithm_names() -> set[str]:
    return set(advantage_estimator_names()) | set(policy_loss_names())


def name_comparisons(files: dict[str, str], names: set[str]) -> list[str]:
    """``path:line: <comparison>`` for every ``==`` / ``!=`` / ``in`` / ``not in`` against a string in
    ``names`` (directly or inside a literal tuple, list or set)."""

    def strings(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return set()

    found = []
    for path, source in files.items():
        if path.startswith(NAME_OWNERS):
            continue
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            hits = set().union(*(strings(n) for n in [node.left, *node.comparators])) & names
            if hits:
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


def long_functions(files: dict[str, str], limit: int = MAX_BODY_LINES) -> list[str]:
    """``path:line: name (N lines)`` for every function whose body, after its docstring, is over ``limit``."""
    found = []
    for path, source in files.items():
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            lines = node.end_lineno - body[0].lineno + 1
            if lines > limit:
                found.append(f"{path}:{node.lineno}: {node.name} ({lines} lines)")
    return found


def test_training_branches_on_registrations_not_on_algorithm_names():
    names = algorithm_names()
    assert {"grpo", "remax", "luffy", "ppo"} <= names  # the registries are populated
    assert name_comparisons(sources("training"), names) == []


def test_the_name_check_finds_a_comparison_with_an_algorithm_name():
    bad = {
        "training/loop/update.py": 'if cfg.loss_type == "luffy":\n    pass\n',
        "training/loop/experience.py": 'ok = est in ("remax", "x")\nfine = mode == "token-mean"\n',
        "training/algorithms/losses.py": 'if name == "luffy":\n    pass\n',  # an owner: allowed
    }
    assert name_comparisons(bad, {"luffy", "remax"}) == [
        "training/loop/update.py:1: cfg.loss_type == 'luffy'",
        "training/loop/experience.py:1: est in ('remax', 'x')",
    ]


def test_no_function_in_training_is_over_the_limit():
    assert long_functions(sources("training")) == []


def test_the_length_check_counts_the_body_after_the_docstring():
    body = "".join(f"    x{i} = {i}\n" for i in range(5))
    src = f'def short():\n    """doc\n\n    more doc\n    """\n{body}\n\ndef long(\n    a,\n):\n{body}{body}'
    assert long_functions({"m.py": src}, limit=6) == ["m.py:13: long (10 lines)"]
