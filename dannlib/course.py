"""Run the course: execute the notebooks in order with papermill and record how each went."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dannlib.config import profile_name

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
INLINE_FIGURES = "module://matplotlib_inline.backend_inline"  # kernels show figures in outputs


@dataclass(frozen=True)
class NotebookRun:
    """How one notebook went: status 'ok' or 'failed', seconds, the executed copy, the error."""

    notebook: Path
    output: Path
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True if every cell ran (tagged exercise stubs may raise)."""
        return self.error is None

    @property
    def status(self) -> str:
        """'ok' or 'failed'."""
        return "ok" if self.ok else "failed"


def course_notebooks(folder: str | os.PathLike) -> list[Path]:
    """The lessons NN_name.ipynb in `folder`, in order."""
    return sorted(p for p in Path(folder).iterdir() if NOTEBOOK_PATTERN.match(p.name))


def find_notebooks_dir(folder: str | os.PathLike | None = None) -> Path:
    """`folder` if given, else ./notebooks, ./ (if it holds lessons), or the repository's."""
    if folder is not None:
        candidates = [Path(folder)]
    else:
        repo = Path(__file__).resolve().parents[1]
        candidates = [Path("notebooks"), Path("."), repo / "notebooks"]
    for candidate in candidates:
        if candidate.is_dir() and course_notebooks(candidate):
            return candidate.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no course notebooks (NN_name.ipynb) found in {looked}. Run from the course repository "
        "(git clone https://github.com/dann-course/dann-course) or pass --notebooks DIR."
    )


def select_notebooks(folder: str | os.PathLike, only: Sequence[str] | None = None) -> list[Path]:
    """The lessons in `folder`; with `only` (e.g. ['03', '04']) those whose names start so."""
    notebooks = course_notebooks(folder)
    if not only:
        return notebooks
    unknown = [k for k in only if not any(p.name.startswith(k) for p in notebooks)]
    if unknown:
        names = ", ".join(p.name for p in notebooks)
        raise ValueError(f"no notebook matches {', '.join(unknown)}; choose from: {names}")
    return [p for p in notebooks if any(p.name.startswith(k) for k in only)]


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (kernels inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _error_summary(err: BaseException) -> str:
    """One line: the exception name and message of a failed cell (papermill), else the error."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    cell = getattr(err, "exec_count", None)
    if ename:
        where = f" in cell [{cell}]" if cell is not None else ""
        return f"{ename}: {' '.join(str(evalue).split())[:300]}{where}"
    return f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"


def run_notebook(
    notebook: str | os.PathLike,
    output: str | os.PathLike,
    profile: str | None = None,
    parameters: dict | None = None,
    timeout: int | None = None,
    kernel_name: str | None = None,
) -> NotebookRun:
    """Execute `notebook` with papermill (cwd: its folder) into `output`; failures are returned."""
    import papermill

    notebook, output = Path(notebook).resolve(), Path(output).resolve()
    profile = profile_name(profile)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    try:
        with environment(DANNLIB_PROFILE=profile, MPLBACKEND=INLINE_FIGURES):
            papermill.execute_notebook(
                notebook,
                output,
                parameters={"PROFILE": profile, **(parameters or {})},
                cwd=notebook.parent,
                kernel_name=kernel_name,
                progress_bar=False,
                execution_timeout=timeout,
            )
    except papermill.PapermillExecutionError as err:
        error = _untagged_error(output) if output.is_file() else _error_summary(err)
    except Exception as err:  # a failed notebook is a result, not a crash
        error = _error_summary(err)
    return NotebookRun(notebook, output, time.perf_counter() - start, error)


def _untagged_error(output: Path) -> str | None:
    """The first error outside cells tagged `raises-exception` in an executed notebook, or None.

    Papermill treats any error output as a failure, exercise stubs included; when only tagged
    stubs raised, the run succeeded, and the error banner papermill inserted is removed again.
    """
    import nbformat

    nb = nbformat.read(output, as_version=4)
    for cell in nb.cells:
        if "raises-exception" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                where = f" in cell [{cell.execution_count}]"
                return f"{out.ename}: {' '.join(str(out.evalue).split())[:300]}{where}"
    nb.cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.metadata.get("tags", [])]
    nbformat.write(nb, output)
    return None


def run_course(
    notebooks: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    profile: str | None = None,
    *,
    progress: bool = True,
    timeout: int | None = None,
    kernel_name: str | None = None,
) -> list[NotebookRun]:
    """Execute `notebooks` in order, the executed copies into `out_dir`; one NotebookRun each."""
    results = []
    bar = tqdm(notebooks, desc="course", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(Path(notebook).name)
        output = Path(out_dir, Path(notebook).name)
        results.append(run_notebook(notebook, output, profile, None, timeout, kernel_name))
    bar.close()
    return results
