"""pyproject.toml declares what is imported where: the notebooks and the library need only the
core install (Colab installs nothing else), `dann course` needs the notebooks extra, and the
core bounds keep Colab's preinstalled ipywidgets 7.7.1."""

import ast
import json
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
KERNEL = {"ipython"}  # every Jupyter kernel, Colab's included, runs on IPython
RUNNER = ROOT / "dannlib" / "course.py"  # `dann course`: the notebooks extra


def requirements(group: str = "core") -> dict[str, Requirement]:
    specs = PROJECT["dependencies"] if group == "core" else PROJECT["optional-dependencies"][group]
    return {_norm(r.name): r for r in map(Requirement, specs)}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(source: str) -> set[str]:
    """Top-level names of the absolute imports in Python `source` (IPython magics dropped)."""
    magic = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)
    code = magic.sub(lambda m: f"{m.group(1)}pass", source)
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"dannlib", "__future__"}


def distributions(modules: set[str]) -> set[str]:
    """The installed distributions that provide `modules`."""
    provided = packages_distributions()
    missing = modules - provided.keys()
    assert not missing, f"not installed here, so not checked: {missing}"
    return {_norm(dist) for module in modules for dist in provided[module]}


def notebook_sources() -> str:
    cells = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells += ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return "\n".join(cells)


def test_notebooks_import_only_core_dependencies():
    used = distributions(imported_modules(notebook_sources()))
    assert used - KERNEL <= requirements().keys(), used - KERNEL - requirements().keys()


def test_library_imports_core_dependencies_and_the_runner_the_notebooks_extra():
    library = [p for p in (ROOT / "dannlib").rglob("*.py") if p != RUNNER]
    used = distributions(set().union(*(imported_modules(p.read_text()) for p in library)))
    assert used <= requirements().keys(), used - requirements().keys()
    runner = distributions(imported_modules(RUNNER.read_text()))
    assert runner <= requirements().keys() | requirements("notebooks").keys()


def test_core_keeps_colabs_ipywidgets_and_the_extras_are_layered():
    assert requirements()["ipywidgets"].specifier.contains("7.7.1")
    assert not requirements("notebooks")["ipywidgets"].specifier.contains("7.7.1")
    assert {"jupyterlab", "ipykernel", "papermill", "nbformat", "nbconvert"} <= set(
        requirements("notebooks")
    )
    assert "pandas" in requirements()
    assert not {"papermill", "jupyterlab", "pytest"} & set(requirements())
    dev = requirements("dev")
    assert dev["dannlib"].extras == {"notebooks"} and {"pytest", "nbval", "ruff"} <= set(dev)
