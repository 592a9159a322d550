"""The house rules of ``cache_store`` (DESIGN.md, "The joints"), checked on its source with ``ast``:

* no import circle among its modules: every import counts, at module level, inside a function or under
  ``TYPE_CHECKING`` (a lazy import that closes a circle is still a circle);
* no module uses another module's ``_`` names: no ``from .x import _y``, no ``x._y`` on an imported
  ``cache_store`` module, and no ``obj._y`` on anything but ``self`` / ``cls`` (another object's private
  members, e.g. ``cache._open`` or ``self.cache._open``); what a module from outside ``cache_store``
  exposes (``os._exit``, ``process.current_process()._inheriting``) is not judged here;
* no function longer than ``MAX_FUNCTION_LINES`` lines (``def`` line to last line, decorators excluded).

Each check is a plain function over a ``{module: source}`` map, so the tests below also show that it
fails on a hand-made violation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from import_graph import import_cycles as find_cycles

PACKAGE = "cache_store"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
MAX_FUNCTION_LINES = 60


def package_sources(root: Path = ROOT) -> dict[str, str]:
    """``{module name: source}`` of every module of the package (``__init__`` under the package name)."""
    out = {}
    for path in sorted(root.glob("*.py")):
        name = PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"
        out[name] = path.read_text()
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """Absolute module name an ``ImportFrom`` in ``module`` names (``from . import x`` -> the package)."""
    if not node.level:
        return node.module or ""
    package = module if module == PACKAGE else module.rsplit(".", node.level)[0]
    return f"{package}.{node.module}" if node.module else package


def imports(module: str, source: str, modules: set[str]) -> dict[str, set[str]]:
    """``{imported package module: names taken from it}`` for every import anywhere in ``source``
    (``{}`` of names for ``import x``); ``from pkg import mod`` counts as an import of ``pkg.mod``."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    found.setdefault(f"{target}.{alias.name}", set())
                elif target in modules:
                    found.setdefault(target, set()).add(alias.name)
    return found


def import_cycles(sources: dict[str, str]) -> list[list[str]]:
    """Every import circle among the modules (each as the path that closes it); ``__init__`` is left
    out, since every submodule import runs it first and it only re-exports names lazily."""
    modules = set(sources)
    graph = {
        m: sorted(t for t in imports(m, src, modules) if t != PACKAGE)
        for m, src in sources.items()
        if m != PACKAGE
    }
    return find_cycles(graph)


def _root_name(node: ast.expr) -> str | None:
    """The name an attribute/call/subscript chain starts from (``os`` in ``os.path.join(x)._y``)."""
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def private_access(sources: dict[str, str]) -> list[str]:
    """``module:line: what`` for each use of another module's or object's ``_`` name."""
    modules = set(sources)
    problems = []
    for module, source in sources.items():
        tree = ast.parse(source)
        local_modules, outside_modules = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, node)
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if f"{target}.{alias.name}" in modules:
                        local_modules.add(bound)
                    elif target in modules and _is_private(alias.name):
                        problems.append(f"{module}:{node.lineno}: imports {alias.name} from {target}")
                    elif target not in modules:
                        outside_modules.add(bound)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    (local_modules if alias.name in modules else outside_modules).add(bound)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            root = _root_name(node.value)
            if owner in ("self", "cls") or (root in outside_modules and root not in local_modules):
                continue
            problems.append(f"{module}:{node.lineno}: uses {ast.unparse(node)}")
    return problems


def long_functions(sources: dict[str, str], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``module:line name (n lines)`` for each function or method longer than ``limit`` lines."""
    out = []
    for module, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    out.append(f"{module}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_cache_store_has_no_import_circle():
    assert import_cycles(package_sources()) == []


def test_cache_store_modules_use_no_private_names_of_each_other():
    assert private_access(package_sources()) == []


def test_cache_store_functions_are_at_most_60_lines():
    assert long_functions(package_sources()) == []


# -- the checks catch what they are meant to catch ----------------------------------------------------
BASE = {
    PACKAGE: "from .a import f\n",
    f"{PACKAGE}.a": "import os\n\ndef f():\n    return os._exit, os.getcwd()._x\n",  # outside modules' names: not judged
    f"{PACKAGE}.b": "from .a import f\n\nclass C:\n    def g(self):\n        return self._x\n",
}


def test_the_checks_pass_a_clean_package():
    assert import_cycles(BASE) == private_access(BASE) == long_functions(BASE) == []


@pytest.mark.parametrize(
    "extra",
    [
        "from .b import C\n",  # at module level
        "def h():\n    from . import b\n    return b\n",  # lazily, inside a function
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import C\n",  # for type hints
    ],
)
def test_a_circle_is_found_however_it_is_imported(extra):
    sources = {**BASE, f"{PACKAGE}.a": BASE[f"{PACKAGE}.a"] + extra}
    assert import_cycles(sources) == [[f"{PACKAGE}.a", f"{PACKAGE}.b", f"{PACKAGE}.a"]]


@pytest.mark.parametrize(
    "extra",
    [
        "from .a import _hidden\n",
        "from . import a\nx = a._hidden\n",
        "def h(cache):\n    return cache._open('x')\n",
        "class D:\n    def h(self):\n        return self.cache._open('x')\n",
    ],
)
def test_private_access_across_modules_is_found(extra):
    sources = {**BASE, f"{PACKAGE}.b": BASE[f"{PACKAGE}.b"] + extra}
    assert len(private_access(sources)) == 1


def test_a_long_function_is_found():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    sources = {**BASE, f"{PACKAGE}.c": f"def long():\n{body}"}
    assert long_functions(sources) == [f"{PACKAGE}.c:1 long ({MAX_FUNCTION_LINES + 1} lines)"]
