"""The house plan's import contract (pyproject's ``[tool.importlinter]``, run by ``make test``): it holds on
the tree, and it breaks, naming the import, when one wrong import is added to a copy of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {c["id"]: c["name"] for c in CONFIG["contracts"]}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    # lint-imports puts its working directory first on sys.path, so it reads the packages under ``root``
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_the_contract():
    out = lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    """The contract's packages (their .py files) and pyproject.toml, copied; the copy keeps the contract."""
    root = tmp_path_factory.mktemp("tree")
    for pkg in CONFIG["root_packages"]:
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__", "samples"))
    shutil.copy(REPO / "pyproject.toml", root)
    out = lint_imports(root)
    assert out.returncode == 0, out.stdout + out.stderr
    return root


# (module file, code added to it, the contract it breaks, the import the report must name); a wrong import
# may break more than one contract (cache_store importing pipelines brings dagster along)
WRONG_IMPORTS = [
    pytest.param(
        "cache_store/errors.py",
        "import pipelines\n",
        "layers",
        "cache_store.errors -> pipelines",
        id="layer-up",
    ),
    pytest.param(
        "evaluation/metrics.py",
        "\n\ndef _lazy():\n    import assets.lineage\n",
        "layers",
        "evaluation.metrics -> assets.lineage",
        id="lazy-layer-up",
    ),
    pytest.param(
        "evaluation/records.py",
        "from demo_kit.synthetic import TASKS\n",
        "layers",
        "evaluation.records -> demo_kit.synthetic",
        id="evaluation-uses-demo-data",
    ),
    pytest.param(
        "training/hardware.py",
        "\n\ndef _lazy():\n    import dagster\n",
        "dagster",
        "training.hardware -> dagster",
        id="dagster-in-training",
    ),
    pytest.param(
        "reelrl/sparkline.py",
        "\n\ndef _lazy():\n    import dagster\n",
        "cli-dagster",
        "reelrl.sparkline -> dagster",
        id="dagster-in-the-cli",
    ),
    pytest.param(
        "training/algorithms/kl.py", "import ray\n", "pure", "training.algorithms.kl -> ray", id="ray-in-math"
    ),
]


@pytest.mark.parametrize(("module", "code", "contract", "named"), WRONG_IMPORTS)
def test_a_wrong_import_breaks_the_contract(tmp_path, clean_copy, module, code, contract, named):
    root = tmp_path / "tree"
    shutil.copytree(clean_copy, root)
    target = root / module
    text = target.read_text()
    if code.startswith("\n"):  # a lazy import inside a function, at the end
        target.write_text(text + code)
    else:  # a module-level import after the docstring and ``from __future__``
        lines = text.splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.startswith(("import ", "from ")))
        at += lines[at].startswith("from __future__")
        target.write_text("".join([*lines[:at], code, *lines[at:]]))
    out = lint_imports(root)
    assert out.returncode != 0
    assert f"{CONTRACTS[contract]} BROKEN" in out.stdout, out.stdout
    assert named in out.stdout, out.stdout
