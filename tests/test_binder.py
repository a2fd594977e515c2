"""Binder: repo2docker's generated Dockerfile (--no-build: no Docker needed) installs the conda
environment before the repository is copied (so the image layer is cached) and dannlib after;
the environments stay in step with pyproject.toml."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base", "seaborn": "seaborn-base"}

repo2docker = pytest.importorskip("repo2docker", reason="pip install -e '.[dev]' installs it")
tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile repo2docker would build for this repository, line by line."""
    command = [sys.executable, "-m", "repo2docker", "--no-build", "--debug",
               "--user-id", "1000", "--user-name", "jovyan", str(ROOT)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    lines = (done.stdout + done.stderr).splitlines()
    assert any(line.startswith("FROM ") for line in lines), "no Dockerfile in the output"
    return lines


def _first(lines: list[str], pattern: str) -> int:
    found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r}"
    return found[0]


def test_environment_is_installed_before_the_repository_is_copied(dockerfile):
    copy_env = _first(dockerfile, r"^COPY .*src/binder/environment\.yml ")
    install_env = _first(dockerfile, r"env update .*--file \"binder/environment\.yml\"")
    copy_repo = _first(dockerfile, r"^COPY .*src/ \$\{REPO_DIR\}/$")
    post_build = _first(dockerfile, r"^RUN \./binder/postBuild$")
    assert copy_env < install_env < copy_repo < post_build


def test_post_build_installs_dannlib_without_dependencies():
    script = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in script
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def _conda_names(environment: dict) -> set[str]:
    names = set()
    for spec in environment["dependencies"]:
        if isinstance(spec, str):
            names.add(re.split(r"[ =<>!\[]", spec, maxsplit=1)[0].replace("_", "-"))
    return names


def _pip_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[ =<>!\[;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_binder_environment_has_cpu_pytorch_and_everything_dannlib_declares():
    environment = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    assert "pytorch=*=cpu*" in environment["dependencies"]
    assert not any(isinstance(d, dict) for d in environment["dependencies"]), "no pip section"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    needed = {CONDA_NAMES.get(name, name) for name in _pip_names(declared)}
    assert needed <= _conda_names(environment), needed - _conda_names(environment)


def test_local_conda_environment_installs_the_checkout():
    from repo2docker.utils import is_local_pip_requirement

    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pip == ["-e .[dev]"] and is_local_pip_requirement(pip[0])
    assert {"pytorch", "torchvision"} <= _conda_names(environment)  # never PyPI's CUDA wheels


def test_peak_memory_reads_the_kernels_own_high_water_mark(tmp_path):
    """scripts/peak_memory.py: a kernel that held 320 MB reports at least that; an idle one
    far less (its parent's memory, which ru_maxrss would carry over, is not counted)."""
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("peak", ROOT / "scripts" / "peak_memory.py")
    peak_memory = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peak_memory)
    peaks = {}
    for name, source in (("idle", "x = 1"), ("big", "import numpy\nx = numpy.ones(40_000_000)")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source)]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        peaks[name] = peak_memory.peak_mb(tmp_path / f"{name}.ipynb", "quick")
    assert peaks["big"] >= 320 > 200 > peaks["idle"], peaks
