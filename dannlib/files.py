"""Safe writes: output paths checked before work starts, atomic replacement, stale temps removed.

A write goes to a temporary file beside the target (named `.NAME.PID-RANDOM.tmp`), is synced,
then renamed over the target in one step, so readers see the old file or the new one, never
half of one. Temporary files left by a killed process are removed by the next write to the
same target. Also home to `one_line`, the package's one way to put an error on a single line,
`printable`, which shows a path's control characters as escapes, and `open_regular`, which
opens only regular files and never blocks on a FIFO.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import torch

NEW_FILE_MODE = 0o644  # mkstemp makes 0600; a new result should read like any other file
STALE_SECONDS = 30  # a temp file untouched this long whose writer has exited is left over


class OutputError(OSError):
    """An output path that must not or cannot be written; the message says what to pass."""


def one_line(err: BaseException | str, limit: int = 300) -> str:
    """`err` as one line of at most `limit` characters: 'message' (or the type name if empty)."""
    text = " ".join(str(err).split())
    if not text and isinstance(err, BaseException):
        text = type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(path: str | os.PathLike) -> str:
    """`path` for a message on one line: undecodable bytes and control characters (a newline
    or a terminal escape in a file name) shown as backslash escapes, never printed raw."""
    text = os.fsencode(os.fspath(path)).decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class NotRegularFile(OSError):
    """A path that is not a regular file (a folder, a FIFO, a device, a link loop, ...)."""


def open_regular(path: str | os.PathLike):
    """`path` opened for reading in binary mode, without ever blocking (a FIFO is not waited
    on); NotRegularFile unless it is a regular file (symbolic links followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        kind = file_kind(path)
        if kind in (None, "missing"):
            raise
        raise NotRegularFile(f"{printable(path)} is {kind}, not a regular file") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        kind = file_kind(path) or "replaced while being opened"
        raise NotRegularFile(f"{printable(path)} is {kind}, not a regular file")
    return os.fdopen(fd, "rb")


def open_own_file(path: str | os.PathLike, flags: int) -> int:
    """A descriptor of `path` opened with `flags`, created if missing, never through a
    symbolic link and never waiting on a FIFO (for a file the caller writes: a lock, a log);
    NotRegularFile unless it is a regular file, OSError if it cannot be opened."""
    nofollow = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | os.O_CREAT | nofollow, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegularFile(f"{printable(path)} is not a regular file")
    return fd


def _kind(mode: int) -> str:
    """What an st_mode is, in words: 'a regular file', 'a folder', 'a FIFO (named pipe)', ..."""
    kinds = [
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def file_kind(path: str | os.PathLike) -> str | None:
    """None for a regular file (symlinks followed); else what `path` is, in words."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing" if not os.path.lexists(path) else "a broken symbolic link"
    except OSError as err:
        loop = err.errno == errno.ELOOP
        return "a symbolic link loop" if loop else f"unreadable ({err.strerror})"
    return None if stat.S_ISREG(mode) else _kind(mode)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _writable_parent(path: Path) -> None:
    """OutputError unless the folders up to `path` exist or can be created, and are writable."""
    parent = path.parent
    while not parent.exists():
        if os.path.lexists(parent):
            raise OutputError(
                f"cannot write {printable(path)}: {printable(parent)} is a broken symbolic link"
            )
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(
            f"cannot write {printable(path)}: {printable(parent)} is a file, not a folder"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write {printable(path)}: {printable(parent)} is not writable (read-only or no "
            "permission); choose a writable folder"
        )


def check_output(
    path: str | os.PathLike,
    *,
    folder: bool = False,
    protect: Iterable[str | os.PathLike] = (),
    outside: Iterable[str | os.PathLike] = (),
    what: str = "output",
) -> Path:
    """Refuse an output path before any work starts; return it resolved.

    The path must be new or an existing regular file (a folder when `folder`); never one of
    `protect` (e.g. the checkpoint being read) nor inside one of `outside` (e.g. the input
    folder). Symbolic links are refused rather than replaced. Its folder must be writable.
    """
    path = Path(path)
    if os.path.lexists(path):
        mode = os.lstat(path).st_mode
        wanted = stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)
        if not wanted:
            expected = "a folder" if folder else "a regular file"
            raise OutputError(
                f"{what} {printable(path)} is {_kind(mode)}, not {expected}; pass a new path or an "
                f"existing {expected[2:]}"
            )
    resolved = path.resolve()
    for other in protect:
        if resolved == Path(other).resolve():
            raise OutputError(
                f"{what} {printable(path)} is the input file itself; pass another path"
            )
    for other in outside:
        if _is_within(resolved, Path(other).resolve()):
            raise OutputError(
                f"{what} {printable(path)} is inside the input folder {printable(other)}; write it "
                "somewhere else"
            )
    _writable_parent(resolved)
    return resolved


def _writer_alive(name: str) -> bool:
    """True if the temp file `name` (.NAME.PID-RANDOM.tmp) belongs to a running process."""
    match = re.search(r"\.(\d+)-[^.]+\.tmp$", name)
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # a running process of another user, or an odd name: leave it alone
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temp files of `path` left by killed writers (see module docstring); return them."""
    path = Path(path)
    prefix, removed = f".{path.name}.", []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if (
                stat.S_ISREG(info.st_mode)
                and now - info.st_mtime > STALE_SECONDS
                and not _writer_alive(entry.name)
            ):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # another process removed or replaced it first
    return removed


DATA_HINT = "Choose a writable folder (for data: set DANNLIB_DATA or pass root=...)."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, hint: str = DATA_HINT):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    An existing file keeps its permission bits; a new one gets 0644. `hint` ends the error
    message when the folder cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
        )
    except OSError as err:
        raise PermissionError(
            f"cannot write to {printable(path.parent)}: {err.strerror}. {hint}"
        ) from err
    os.close(fd)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = NEW_FILE_MODE
    os.chmod(tmp, mode)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save `obj` to `path` atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(text: str, path: str | os.PathLike, hint: str = DATA_HINT) -> None:
    """Write `text` to `path` atomically, as UTF-8 whatever the locale."""
    with atomic_path(path, hint) as tmp:
        tmp.write_text(text, encoding="utf-8")
