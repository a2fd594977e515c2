"""The one way dannlib downloads: fail fast offline, time out, verify, write atomically.

`fetch` is what the loaders call: the file on disk if it matches its known checksum, else a
download (when `download` is true, $DANNLIB_OFFLINE is unset and the host answers within
seconds), else `DatasetUnavailable` saying what to download and where to put it. A download
has an overall deadline (DOWNLOAD_TIMEOUT_S plus the expected size at MIN_BYTES_PER_S) and
stops at the expected size, besides the per-read timeout, and is kept only whole and verified.

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
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlparse

from dannlib.files import atomic_path, file_kind, one_line, printable

CONNECT_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 30.0  # without a byte for this long, a download is given up
MIN_BYTES_PER_S = 50_000  # a download slower than this overall misses its deadline
MAX_UNKNOWN_BYTES = 2**31  # the size cap of a file whose size is not known
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
    'sha256:...'; None where no published checksum exists), the most bytes it may have (its
    published size where known); `kind` names where its data comes from in `info["source"]`."""

    url: str
    filename: str
    checksum: str | None = None
    max_bytes: int | None = None
    kind: str = "published files"

    @property
    def host(self) -> str:
        """The host name of `url`."""
        return urlparse(self.url).hostname or self.url

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
    checksum = f"sha256:{entry['sha256']}"
    return replace(
        remote, url=url, checksum=checksum, max_bytes=entry["bytes"], kind="mirror files"
    )


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
    url: str,
    path: str | os.PathLike,
    checksum: str | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> Path:
    """Download `url` to `path` atomically and verify it; DownloadFailed if anything is off.

    Nothing is left at `path` unless the whole file arrived and matches `checksum`. `timeout`
    (default DOWNLOAD_TIMEOUT_S) bounds each wait for the server; the whole download must end
    within `timeout` plus `max_bytes` at MIN_BYTES_PER_S, and may not exceed `max_bytes`
    (default MAX_UNKNOWN_BYTES), so neither a trickle nor an endless body holds it.
    """
    path = Path(path)
    timeout = DOWNLOAD_TIMEOUT_S if timeout is None else timeout
    limit = MAX_UNKNOWN_BYTES if max_bytes is None else max_bytes
    deadline = timeout + limit / MIN_BYTES_PER_S
    start = time.monotonic()
    try:
        with atomic_path(path) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                length = response.headers.get("Content-Length")
                length = int(length) if length is not None and length.isdigit() else None
                if length is not None and length > limit:
                    raise DownloadFailed(
                        f"{url} is {length:,} bytes, more than the {limit:,} expected"
                    )
                size = 0
                while block := response.read1(1 << 16):
                    size += len(block)
                    if size > limit:
                        raise DownloadFailed(
                            f"{url} sent more than {limit:,} bytes, its size; refused"
                        )
                    if time.monotonic() - start > deadline:
                        raise DownloadFailed(
                            f"{url} missed its deadline of {deadline:.0f} s ({size:,} bytes had "
                            "arrived): the server or the network is too slow"
                        )
                    out.write(block)
            if length is not None and size != length:
                raise DownloadFailed(f"{url} was cut short: {size} of {length} bytes arrived")
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
    dataset: str, remote: Remote, folder: Path, download: bool, again: str | None = None
) -> Path:
    """`folder`/`remote.filename` if it is there and matches its checksum (when one is known),
    else downloaded there (from $DANNLIB_MIRROR if set) and verified.

    DatasetUnavailable (what to download, where to put it) when it cannot be downloaded;
    `again` is the call that downloads it (default: load_domain of `dataset`).
    """
    remote = mirrored(remote)
    path = folder / remote.filename
    shown, where = printable(path.name), printable(folder)
    kind = file_kind(path)
    if kind is None and matches(path, remote.checksum):
        return path
    if kind is None:
        algorithm = remote.checksum.partition(":")[0]
        what = (
            f"{shown} in {where} is damaged or another file (its {algorithm} checksum does not "
            "match: a partial, corrupted or different download)"
        )
    elif kind == "missing":
        what = f"{shown} not found in {where}"
    else:
        what = f"{shown} in {where} is {kind}, not a file"
    if not download:
        reason = "download=False"
    elif offline_forced():
        reason = "DANNLIB_OFFLINE is set"
    elif not host_reachable(remote.url):
        reason = f"no network ({remote.host} unreachable)"
    else:
        try:
            return download_file(remote.url, path, remote.checksum, max_bytes=remote.max_bytes)
        except DownloadFailed as err:
            reason = f"the download failed ({err})"
    again = again or f"load_domain('{dataset.lower()}', data='real')"
    raise DatasetUnavailable(
        f"{dataset}: {what} and {reason}. Download {remote.url} on a machine with network "
        f"access and put it in {where}/ (or call {again} once with network access).",
        reason,
    )


def read_fetched(dataset: str, remote: Remote, folder: Path, download: bool, read: Callable):
    """`read(path)` of the fetched (verified) file; DatasetUnavailable with the reader's
    message (a ValueError or OSError) if it cannot be read as `dataset`'s file."""
    path = fetch(dataset, remote, folder, download)
    try:
        return read(path)
    except (ValueError, OSError) as err:
        raise DatasetUnavailable(
            f"{dataset}: {printable(path)} matches its checksum but cannot be read: "
            f"{one_line(err)}",
            "an unreadable file",
        ) from None
