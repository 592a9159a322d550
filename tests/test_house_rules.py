"""House rules of ``training/`` (issue 22), checked on the source with ``ast``:

* the RL step reads what an algorithm needs from its registration (``training.algorithms.registry``), so no
  code in ``training/`` compares a value with a registered estimator or loss name (``== "remax"``,
  ``!= "luffy"``, ``in ("grpo", "rloo")``); the registry itself and the algorithms' own modules, which
  register the names, are the exception;
* no function in ``training/`` has more than ``MAX_BODY_LINES`` lines of body (first statement after the
  docstring to the last line: signatures and docstrings are not logic). ``cache_store/`` is held to the
  stricter whole-function limit of ``tests/test_cache_store_layout.py`` and is not measured twice.

Across the whole tree (every package the import contract names):

* no import circle between modules (every import counts, lazy ones inside functions included; an import of
  a package a module lives in is not an edge: importing a submodule runs its packages first anyway);
* no module imports another module's ``_`` names.

The import layering (which package may import which) is the import contract's (``pyproject.toml``,
``tests/test_import_contract.py``); ``cache_store`` is held further (no ``obj._x`` on another object) by
``tests/test_cache_store_layout.py``. Each check is a function of a ``{path: source}`` map, so the tests
below also show it failing on a hand-made violation.
"""

from __future__ import annotations

import ast
from pathlib import Path

from import_graph import import_cycles

from training.algorithms.registry import advantage_estimator_names, policy_loss_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reelrl", "pipelines", "assets", "evaluation", "demo_kit", "training", "cache_store")
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


def tree_modules(root: Path = ROOT) -> dict[str, str]:
    """``{dotted module name: source}`` of every module of ``PACKAGES`` (a package under its own name)."""
    out = {}
    for pkg in PACKAGES:
        for p in sorted((root / pkg).rglob("*.py")):
            parts = p.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p.read_text()
    return out


def _imported(module: str, node: ast.ImportFrom, packages: set[str]) -> str:
    """The absolute module an ``ImportFrom`` names (relative forms resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module if module in packages else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def import_graph(mods: dict[str, str], packages: set[str] | None = None) -> dict[str, set[str]]:
    """``{module: modules it imports}`` (a ``from pkg import mod`` is an import of ``pkg.mod``); imports of
    the module's own enclosing packages are left out."""
    names = set(mods)
    packages = packages if packages is not None else {m for m in names if any(n.startswith(m + ".") for n in names)}
    graph: dict[str, set[str]] = {}
    for module, source in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _imported(module, node, packages)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in names else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in names:  # `import a.b.c` of a non-module c: its module
                    target = target.rpartition(".")[0]
                if target and target != module and not module.startswith(target + "."):
                    deps.add(target)
        graph[module] = deps
    return graph


def private_imports(mods: dict[str, str]) -> list[str]:
    """``module:line: name from other`` for each ``from other import _name`` between the tree's modules."""
    found = []
    for module, source in mods.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module in mods:
                found += [
                    f"{module}:{node.lineno}: {a.name} from {node.module}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    return found


def test_the_tree_has_no_import_circle():
    graph = import_graph(tree_modules())
    assert len(graph) > 150 and graph["training.loop.trainer"]  # the walk sees the tree and its imports
    assert import_cycles(graph) == []


def test_a_circle_is_found_also_through_a_lazy_or_relative_import():
    mods = {
        "p": "",
        "p.a": "from p import b\n",
        "p.b": "def f():\n    from .c import g\n    return g\n",
        "p.c": "import p.a\n",
        "p.d": "import p\nfrom p.a import x\n",  # its own package: not an edge; p.a: not part of a circle
    }
    assert import_cycles(import_graph(mods)) == [["p.a", "p.b", "p.c", "p.a"]]


def test_no_module_imports_another_modules_private_names():
    assert private_imports(tree_modules()) == []
    bad = {"p.a": "_x = 1\n", "p.b": "from p.a import _x, __version__\nfrom os import _exit\n"}
    assert private_imports(bad) == ["p.b:1: _x from p.a"]


def test_no_folder_of_benchmarks_is_named_like_an_importable_package():
    """Benchmark scripts (run as ``python benchmarks/x.py``) and some tests put ``benchmarks/`` on ``sys.path``;
    a results folder there named like a package becomes a namespace package of that name (a folder
    ``benchmarks/vllm`` once made ``importlib.util.find_spec("vllm")`` succeed where vLLM is absent, so a
    config asking for the vLLM engine no longer failed at load)."""
    from importlib.metadata import packages_distributions

    importable = set(packages_distributions()) | {"vllm", *PACKAGES}
    folders = {p.name for p in (ROOT / "benchmarks").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders and not folders & importable, sorted(folders & importable)
