"""Run the course: execute the notebooks in order with papermill and record how each went.

Each cell has a time limit (DEFAULT_TIMEOUT, far above the slowest default-profile cell), so
a notebook that loops fails instead of hanging a CI run. The kernel's own stderr (e.g. ZMQ
tracebacks when a timed-out kernel is shut down) goes to NN_name.kernel.log beside the
executed copy, kept only when the notebook failed, instead of into the summary.

Nothing is written through a symbolic link: every output path (executed copies and logs) is
checked before the first notebook runs, and a log is opened without following links. A
"notebook" that is not a regular file (a FIFO, a device, a link loop) is reported and skipped,
never opened, so it cannot hang the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dannlib.config import REPO_URL, profile_name
from dannlib.files import (
    NotRegularFile,
    OutputError,
    check_output,
    file_kind,
    one_line,
    open_own_file,
    printable,
)

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
INLINE_FIGURES = "module://matplotlib_inline.backend_inline"  # kernels show figures in outputs
DEFAULT_TIMEOUT = 1800  # seconds per cell; a whole default-profile notebook takes 4 minutes at most


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
        f"(git clone {REPO_URL}) or pass --notebooks DIR."
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
        return _cell_error(ename, evalue, cell)
    return f"{type(err).__name__}: {one_line(err)}"


def _cell_error(ename: str, evalue, cell: int | None) -> str:
    where = f" in cell [{cell}]" if cell is not None else ""
    return f"{ename}: {one_line(str(evalue))}{where}"


def _kernel_manager(log):
    """A kernel manager class whose kernels write their stderr to the open file `log`."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs):
            kwargs.setdefault("stderr", log)
            return await super().start_kernel(**kwargs)

    return QuietKernelManager


def run_notebook(
    notebook: str | os.PathLike,
    output: str | os.PathLike,
    profile: str | None = None,
    parameters: dict | None = None,
    timeout: int | None = DEFAULT_TIMEOUT,
    kernel_name: str | None = None,
) -> NotebookRun:
    """Execute `notebook` with papermill (cwd: its folder) into `output`; failures are returned.

    `timeout`: seconds per cell (None: no limit). A notebook that is not a regular file is
    skipped; `output` and its kernel log must be new or regular files (OutputError otherwise).
    """
    import papermill

    kind = file_kind(notebook)
    if kind is not None:
        shown = printable(notebook)
        return NotebookRun(
            Path(notebook), Path(output), 0.0, f"{shown} is {kind}, not a notebook file; skipped"
        )
    notebook, output = Path(notebook).resolve(), Path(os.path.abspath(output))
    profile = profile_name(profile)
    output.parent.mkdir(parents=True, exist_ok=True)
    log_path = output.with_suffix(".kernel.log")
    for path in (output, log_path):
        check_output(path, what="--out")
    start = time.perf_counter()
    error = None
    try:
        with (
            environment(DANNLIB_PROFILE=profile, MPLBACKEND=INLINE_FIGURES),
            _open_log(log_path) as log,
        ):
            papermill.execute_notebook(
                notebook,
                output,
                parameters={"PROFILE": profile, **(parameters or {})},
                cwd=notebook.parent,
                kernel_name=kernel_name,
                progress_bar=False,
                execution_timeout=timeout,
                kernel_manager_class=_kernel_manager(log),
            )
    except OutputError:
        raise
    except papermill.PapermillExecutionError as err:
        error = _untagged_error(output) if output.is_file() else _error_summary(err)
    except Exception as err:  # a failed notebook is a result, not a crash
        error = _error_summary(err)
    if error and error.startswith("CellTimeoutError"):
        error = f"CellTimeoutError: a cell ran past the limit of {timeout} s per cell"
    if error is None:
        log_path.unlink(missing_ok=True)
    return NotebookRun(notebook, output, time.perf_counter() - start, error)


def _open_log(path: Path):
    """`path` opened for writing (truncated) without following a symbolic link and without
    blocking on a FIFO; OutputError if it is not (or cannot become) a regular file."""
    try:
        fd = open_own_file(path, os.O_WRONLY)
    except NotRegularFile:
        raise OutputError(f"the kernel log {printable(path)} is not a regular file") from None
    except OSError as err:
        raise OutputError(
            f"cannot write the kernel log {printable(path)}: {err.strerror}"
        ) from None
    os.ftruncate(fd, 0)
    return os.fdopen(fd, "wb")


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
                return _cell_error(out.ename, out.evalue, cell.execution_count)
    nb.cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.metadata.get("tags", [])]
    nbformat.write(nb, output)
    return None


def _folder_of(notebook: str | os.PathLike) -> Path:
    """The folder `notebook` really lives in (its link's target's), or its own if unresolvable."""
    try:
        return Path(notebook).resolve(strict=True).parent
    except (OSError, RuntimeError):  # missing, a link loop: it is skipped when run
        return Path(notebook).parent.resolve()


def run_course(
    notebooks: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    profile: str | None = None,
    *,
    progress: bool = True,
    timeout: int | None = DEFAULT_TIMEOUT,
    kernel_name: str | None = None,
) -> list[NotebookRun]:
    """Execute `notebooks` in order, the executed copies into `out_dir`; one NotebookRun each.

    `out_dir` must be a folder (or new) outside the notebooks' folders, so the course's own
    notebooks are never overwritten, and the files to write in it new or regular files (not
    links); OutputError before anything runs otherwise.
    """
    folders = {_folder_of(n) for n in notebooks}
    check_output(out_dir, folder=True, outside=folders, what="--out")
    for notebook in notebooks:  # every output, before anything runs
        output = Path(out_dir, Path(notebook).name)
        check_output(output, what="--out")
        check_output(output.with_suffix(".kernel.log"), what="--out")
    results = []
    bar = tqdm(notebooks, desc="course", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(Path(notebook).name)
        output = Path(out_dir, Path(notebook).name)
        results.append(run_notebook(notebook, output, profile, None, timeout, kernel_name))
    bar.close()
    return results
