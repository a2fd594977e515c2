"""Downloads that fail fast: reachability check, socket timeout, checksum verification."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from dannlib.files import atomic_path

CONNECT_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 30.0


class DatasetUnavailable(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to put where."""


def offline_forced() -> bool:
    """True when $DANNLIB_OFFLINE is set to 1/true/yes: never touch the network."""
    return os.environ.get("DANNLIB_OFFLINE", "").lower() in {"1", "true", "yes"}


def host_reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """True if a TCP connection to `url`'s host opens within `timeout` seconds (DNS included)."""
    if offline_forced():
        return False
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    # A thread bounds the DNS lookup too, which socket timeouts do not cover.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(result and result[0])


@contextlib.contextmanager
def socket_timeout(seconds: float = DOWNLOAD_TIMEOUT_S):
    """Set the default socket timeout (torchvision's downloads have none) and restore it after."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (`algorithm`: any hashlib name, e.g. 'sha256' or 'md5')."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    path: str | os.PathLike,
    sha256: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download `url` to `path` atomically; raise ValueError if its sha256 is not `sha256`."""
    path = Path(path)
    if not host_reachable(url):
        raise DatasetUnavailable(
            f"cannot reach {urlparse(url).hostname} to download {url}; download it on a "
            f"machine with network access and save it as {path}"
        )
    with atomic_path(path) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
        if sha256 is not None and (actual := file_digest(tmp)) != sha256.lower():
            raise ValueError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}; "
                "the download is corrupt or the file changed upstream (nothing was saved)"
            )
    return path
