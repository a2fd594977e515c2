"""The notebooks' widget cells run on Colab's ipywidgets 7.7.1 (a separate virtual environment,
kept in build/ between runs) and on the installed ipywidgets 8: each `interact_manual` cell is
executed as written (its callback replaced by a recorder), then its Run Interact button is
clicked and the callback must receive every slider's and dropdown's value.

The Colab check builds its environment from the package index, so it is opt-in, like the
student-copy runs (the unit suite stays offline): DANNLIB_TEST_COLAB_WIDGETS=1 pytest ..."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_IPYWIDGETS = "7.7.1"
VENV = ROOT / "build" / f"ipywidgets-{COLAB_IPYWIDGETS}-venv"

# Runs inside the environment under test (which needs only ipywidgets): prints one JSON line.
CHECK = r"""
import json, sys
import ipywidgets as widgets

class Names(dict):
    # Names a cell uses but does not define (its callback) become recorders.
    def __missing__(self, name):
        def recorder(**kwargs):
            recorder.calls.append(kwargs)
        recorder.calls = []
        self[name] = recorder
        return recorder

results = []
for path in sys.argv[1:]:
    cells = [c for c in json.load(open(path))["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in cells]
    tags = [c["metadata"].get("tags", []) for c in cells]
    parameters = next(s for s, t in zip(sources, tags) if "parameters" in t)
    for source in (s for s in sources if "interact_manual(" in s):
        names = Names(widgets=widgets)
        exec(parameters, {}, names)
        exec(source.replace("# NBVAL_IGNORE_OUTPUT", ""), {}, names)
        recorders = [v for v in names.values() if hasattr(v, "calls") and hasattr(v, "widget")]
        for recorder in recorders:
            controls = recorder.widget.kwargs_widgets
            values = {w.description: w.value for w in controls}
            recorder.widget.manual_button.click()
            types = sorted({type(w).__name__ for w in controls})
            results.append({"notebook": path, "controls": values, "calls": recorder.calls,
                            "types": types})
print(json.dumps({"version": widgets.__version__, "results": results}, default=repr))
"""


def widget_notebooks() -> list[str]:
    """The lessons with an interact_manual cell."""
    found = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [str(p) for p in found if "interact_manual(" in p.read_text(encoding="utf-8")]


def run_check(python: str) -> dict:
    done = subprocess.run(
        [python, "-c", CHECK, *widget_notebooks()], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def colab_python() -> str:
    """Python of a virtual environment with ipywidgets 7.7.1 (created once, from PyPI)."""
    python = VENV / "bin" / "python"
    if python.is_file():
        return str(python)
    venv.create(VENV, with_pip=True, clear=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"ipywidgets=={COLAB_IPYWIDGETS}"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    if install.returncode != 0:
        python.unlink(missing_ok=True)  # try again next time
        pytest.skip(
            f"could not install ipywidgets {COLAB_IPYWIDGETS} (PyPI unreachable?): "
            f"{install.stderr.strip().splitlines()[-1:]}"
        )
    return str(python)


COLAB = pytest.param(
    "colab",
    marks=pytest.mark.skipif(
        not os.environ.get("DANNLIB_TEST_COLAB_WIDGETS"),
        reason="needs the package index: set DANNLIB_TEST_COLAB_WIDGETS=1 to build its venv",
    ),
)


@pytest.mark.parametrize("where", [COLAB, "installed"])
def test_widget_cells_run_and_the_button_calls_back(where):
    notebooks = widget_notebooks()
    assert notebooks, "no notebook uses interact_manual: update this test"
    report = run_check(colab_python() if where == "colab" else sys.executable)
    expected = COLAB_IPYWIDGETS if where == "colab" else "8."
    assert report["version"].startswith(expected)
    assert {r["notebook"] for r in report["results"]} == set(notebooks)
    for result in report["results"]:
        assert result["calls"] == [result["controls"]], result  # one call, every value passed
        assert set(result["types"]) <= {"FloatSlider", "IntSlider", "Dropdown"}
