"""The one way dannlib downloads: fail fast offline, time out, verify, write atomically.

`fetch` is what the loaders call: the file on disk, else a download (when `download` is true,
$DANNLIB_OFFLINE is unset and the host answers within seconds), else `DatasetUnavailable`
saying what to download and where to put it.

For maintainers and tests, $DANNLIB_MIRROR (an http(s) URL) replaces every dataset host: a
file is fetched from the mirror's URL + its file name. The mirror's files are checked against
the published checksums, or, where $DANNLIB_MIRROR_CHECKSUMS names a trusted local manifest
(JSON: {"file name": {"sha256": "<hex>", "bytes": size}}), against the manifest's, and their
data is then called "mirror files" in `info["source"]`. Unset, nothing changes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlparse

from dannlib.files import atomic_path

CONNECT_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 30.0  # without a byte for this long, a download is given up
OFFLINE_VALUES = {"1", "true", "yes", "on"}
MIRROR_VARIABLE = "DANNLIB_MIRROR"
MIRROR_CHECKSUMS_VARIABLE = "DANNLIB_MIRROR_CHECKSUMS"
UNREACHABLE_MEMORY_S = 60.0  # a host found unreachable is not asked again for this long
_unreachable: dict[tuple, float] = {}  # (host, port) -> when it was last found unreachable


class DatasetUnavailable(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to put where.

    `reason` is the short why: 'download=False', 'no network (...)', 'the download failed (...)'.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class DownloadFailed(OSError):
    """A download broke off, came back short, or does not match its published checksum."""


@dataclass(frozen=True)
class Remote:
    """A published file: where it is, its file name on disk, its checksum ('md5:...' or
    'sha256:...'; None where no published checksum exists); `kind` names where its data
    comes from in `info["source"]`."""

    url: str
    filename: str
    checksum: str | None = None
    kind: str = "published files"

    @property
    def host(self) -> str:
        """The host name of `url`."""
        return host_of(self.url)

    @property
    def source(self) -> str:
        """`info['source']` of data read from this file, e.g. 'published files (<host>)'.

        The same whether it was downloaded just now or earlier: it names the data, not the
        moment it arrived (saved runs compare it to know they were trained on the same data).
        """
        return f"{self.kind} ({self.host})"


def mirrored(remote: Remote) -> Remote:
    """`remote` as $DANNLIB_MIRROR serves it (see the module docstring); unchanged if unset."""
    base = os.environ.get(MIRROR_VARIABLE, "").strip()
    if not base:
        return remote
    parts = urlparse(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"${MIRROR_VARIABLE} must be an http(s) URL such as http://127.0.0.1:8000/, got "
            f"{base!r}; unset it to download from the datasets' own hosts"
        )
    url = base.rstrip("/") + "/" + quote(remote.filename)
    entry = mirror_manifest().get(remote.filename)
    if entry is None:
        return replace(remote, url=url)
    return replace(remote, url=url, checksum=f"sha256:{entry['sha256']}", kind="mirror files")


def mirror_manifest() -> dict[str, dict]:
    """The trusted checksums of the mirror's files ($DANNLIB_MIRROR_CHECKSUMS), or {}."""
    path = os.environ.get(MIRROR_CHECKSUMS_VARIABLE, "").strip()
    if not path:
        return {}
    what = f"${MIRROR_CHECKSUMS_VARIABLE} ({path})"
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{what} cannot be read: {err}") from None
    ok = isinstance(manifest, dict) and all(
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and len(entry["sha256"]) == 64
        and isinstance(entry.get("bytes"), int)
        and entry["bytes"] >= 0
        for entry in manifest.values()
    )
    if not ok:
        raise ValueError(
            f'{what} must map file names to {{"sha256": "<64 hex digits>", "bytes": <size>}}'
        )
    return manifest


def host_of(url: str) -> str:
    """The host name of `url` (the whole string if it has none)."""
    return urlparse(url).hostname or url


def offline_forced() -> bool:
    """True when $DANNLIB_OFFLINE is 1/true/yes/on: dannlib never touches the network."""
    return os.environ.get("DANNLIB_OFFLINE", "").strip().lower() in OFFLINE_VALUES


def host_reachable(url: str, timeout: float | None = None) -> bool:
    """True if a TCP connection to `url`'s host opens within `timeout` seconds (DNS included;
    default CONNECT_TIMEOUT_S). Always False when $DANNLIB_OFFLINE is set; a host found
    unreachable is not asked again for UNREACHABLE_MEMORY_S.
    """
    if offline_forced():
        return False
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = (parts.hostname, port)
    if time.monotonic() - _unreachable.get(address, -UNREACHABLE_MEMORY_S) < UNREACHABLE_MEMORY_S:
        return False  # asked a moment ago: a black-holed network costs its timeout only once
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
    if result and result[0]:
        return True
    _unreachable[address] = time.monotonic()
    return False


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (`algorithm`: any hashlib name, e.g. 'sha256' or 'md5')."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def matches(path: str | os.PathLike, checksum: str | None) -> bool:
    """True if the file at `path` has `checksum` ('md5:<hex>' or 'sha256:<hex>'; None: any)."""
    if checksum is None:
        return True
    algorithm, _, expected = checksum.partition(":")
    return file_digest(path, algorithm) == expected.lower()


def download_file(
    url: str, path: str | os.PathLike, checksum: str | None = None, timeout: float | None = None
) -> Path:
    """Download `url` to `path` atomically and verify it; DownloadFailed if anything is off.

    Nothing is left at `path` unless the whole file arrived and matches `checksum`. `timeout`
    (default DOWNLOAD_TIMEOUT_S) bounds each wait for the server, so a stalled download fails.
    """
    path = Path(path)
    timeout = DOWNLOAD_TIMEOUT_S if timeout is None else timeout
    try:
        with atomic_path(path) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
                expected = response.headers.get("Content-Length")
            size = Path(tmp).stat().st_size
            if expected is not None and size != int(expected):
                raise DownloadFailed(f"{url} was cut short: {size} of {expected} bytes arrived")
            if not matches(tmp, checksum):
                raise DownloadFailed(
                    f"{url} does not match its checksum {checksum}: the download is "
                    "damaged or the file changed upstream"
                )
    except DownloadFailed:
        raise
    except (OSError, http.client.HTTPException) as err:  # URLError and timeouts are OSErrors
        raise DownloadFailed(f"downloading {url} failed ({err})") from err
    return path


def fetch(
    dataset: str, remote: Remote, folder: Path, download: bool, damaged: bool = False,
    again: str | None = None,
) -> Path:  # fmt: skip
    """`folder`/`remote.filename` if it is there (and not `damaged`), else download it there
    (from $DANNLIB_MIRROR if set).

    DatasetUnavailable (what to download, where to put it) when it cannot be downloaded;
    `again` is the call that downloads it (default: load_domain of `dataset`).
    """
    remote = mirrored(remote)
    path = folder / remote.filename
    if path.is_file() and not damaged:
        return path
    problem = "it cannot be read"
    if remote.checksum:
        problem = f"its {remote.checksum.partition(':')[0]} checksum does not match"
    what = (
        f"{path.name} in {folder} is damaged ({problem}: a partial or corrupted download)"
        if damaged
        else f"{path.name} not found in {folder}"
    )
    if not download:
        reason = "download=False"
    elif offline_forced():
        reason = "DANNLIB_OFFLINE is set"
    elif not host_reachable(remote.url):
        reason = f"no network ({remote.host} unreachable)"
    else:
        try:
            return download_file(remote.url, path, remote.checksum)
        except DownloadFailed as err:
            reason = f"the download failed ({err})"
    again = again or f"load_domain('{dataset.lower()}', data='real')"
    raise DatasetUnavailable(
        f"{dataset}: {what} and {reason}. Download {remote.url} on a machine with network "
        f"access and put it in {folder}/ (or call {again} once with network access).",
        reason,
    )


def read_fetched(dataset: str, remote: Remote, folder: Path, download: bool, read: Callable):
    """`read(path)` of the fetched file. If it cannot be read and fails its checksum, it is
    downloaded again (or DatasetUnavailable says it is damaged and what to do)."""
    path = fetch(dataset, remote, folder, download)
    try:
        return read(path)
    except Exception:
        checksum = mirrored(remote).checksum
        if checksum is not None and matches(path, checksum):
            raise  # the file is the published one: a different problem, shown as it is
    return read(fetch(dataset, remote, folder, download, damaged=True))
