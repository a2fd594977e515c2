"""BSDS500 photos for MNIST-M: download, bounded and safe extraction, verified photos.

No published source states the archive's sha256 (Berkeley's page gives only the URL, and no
library that downloads it records one), so BSDS500_SHA256 is None and the archive is checked
by its size (at most BSDS500_MAX_BYTES), its structure (a gzip'd tar with the training JPEGs
under TRAIN_IMAGES, each extracted member a plain file inside the data folder) and bounds (at
most MAX_MEMBERS members and MAX_STREAM_BYTES decompressed; a photo at most MAX_MEMBER_BYTES,
all photos MAX_PHOTOS_BYTES); then every extracted photo is decoded (at most MAX_PHOTO_PIXELS,
at least MIN_PHOTO_SIDE a side). An archive that fails any check is deleted with the photos
taken from it, and the error says what to do, so a bad download never breaks MNIST-M for good.
The accepted photos' sha256 are recorded (PHOTO_RECORD); later loads check the photos against
the record and extract a changed or missing one again. Extra files in the photo folder (a
FIFO named *.jpg) are never opened. Pass `sha256=` to `download_bsds500` (or list the archive
in a mirror's manifest, see `download`) to enforce a digest you trust.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import warnings
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from dannlib.config import data_root
from dannlib.data.download import DatasetUnavailable, Remote, fetch, file_digest, mirrored
from dannlib.files import (
    NotRegularFile,
    atomic_path,
    atomic_write_text,
    file_kind,
    one_line,
    open_regular,
    printable,
)

BSDS500_URL = (
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
)
BSDS500_SHA256: str | None = None  # no published value exists (see the module docstring)
ARCHIVE = "BSR_bsds500.tgz"
BSDS500_MAX_BYTES = 88 * 2**20  # the archive is about 70 MB
TRAIN_IMAGES = Path("BSR", "BSDS500", "data", "images", "train")
PHOTO_RECORD = "BSR_bsds500.photos.json"  # beside the archive: {"photos": {name: sha256}}
MAX_MEMBERS = 20_000  # members of the archive (it has a few thousand)
MAX_STREAM_BYTES = 256 * 2**20  # decompressed bytes read from it (it holds about 75 MB)
MAX_MEMBER_BYTES = 4 * 2**20  # one photo (BSDS500's are 20-150 KB)
MAX_PHOTOS_BYTES = 64 * 2**20  # all 200 training photos (about 15 MB)
MAX_PHOTO_PIXELS = 1_000_000  # BSDS500's photos are 481 x 321
MIN_PHOTO_SIDE = 28  # an MNIST-M crop is 28 x 28
WRITE_ERRORS = (
    errno.ENOSPC,
    errno.EFBIG,
    errno.EACCES,
    errno.EROFS,
    errno.EDQUOT,
)  # not the archive's


class UnsafeArchive(ValueError):
    """A tar archive holds a member that would land outside the target folder, or a link."""


class BadArchive(ValueError):
    """An archive that is not what it should be: too large, too many members, no photos."""


def photo_record(root: str | Path | None = None) -> dict[str, str] | None:
    """The accepted photos {file name: sha256} recorded under `root`, or None."""
    try:
        record = json.loads((data_root(root) / PHOTO_RECORD).read_text(encoding="utf-8"))
        photos = record["photos"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ok = isinstance(photos, dict) and photos and all(
        isinstance(name, str) and name == Path(name).name and name.endswith(".jpg")
        and isinstance(digest, str) and len(digest) == 64
        for name, digest in photos.items()
    )  # fmt: skip
    return dict(photos) if ok else None


def bsds_photo_paths(root: str | Path | None = None) -> list[Path]:
    """The recorded (accepted) BSDS500 training photos under `root`, sorted; [] if none."""
    record = photo_record(root) or {}
    return [data_root(root) / TRAIN_IMAGES / name for name in sorted(record)]


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """The photo at `path` as H x W x 3 uint8; ValueError (or NotRegularFile) if it is not a
    usable photo: not an image Pillow reads, over MAX_PHOTO_PIXELS, a side under MIN_PHOTO_SIDE.
    The size is checked from the header, before decoding."""
    try:
        with open_regular(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            with Image.open(f) as image:
                width, height = image.size
                if width * height > MAX_PHOTO_PIXELS:
                    raise ValueError(
                        f"{width} x {height} = {width * height:,} pixels, over the limit of "
                        f"{MAX_PHOTO_PIXELS:,}"
                    )
                if min(width, height) < MIN_PHOTO_SIDE:
                    raise ValueError(f"{width} x {height} pixels, under {MIN_PHOTO_SIDE} on a side")
                return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as err:
        raise ValueError(f"too many pixels ({one_line(err, 120)})") from None
    except (ValueError, NotRegularFile):
        raise
    except Exception as err:  # decoders fail in many ways on files that are not photos
        raise ValueError(
            f"not a photo Pillow can read ({type(err).__name__}: {one_line(err, 120)})"
        ) from None


def check_member(member: tarfile.TarInfo) -> None:
    """Raise UnsafeArchive for absolute paths, '..' parts, links and special files."""
    name = PurePosixPath(member.name)
    shown = printable(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ".." in name.parts:
        raise UnsafeArchive(f"refusing archive member {shown!r}: path escapes the folder")
    if member.issym() or member.islnk():
        raise UnsafeArchive(f"refusing archive member {shown!r}: links are not extracted")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"refusing archive member {shown!r}: not a file or folder")


class _Limited(io.RawIOBase):
    """A readable stream that raises BadArchive once more than `limit` bytes were read."""

    def __init__(self, raw, limit: int):
        self.raw, self.limit, self.count = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.count += n
        if self.count > self.limit:
            raise BadArchive(f"it decompresses to more than {self.limit:,} bytes")
        return n


def _members(f, wanted):
    """(member, tar) for every member of the gzip'd tar stream `f`, checked and counted; a
    member `wanted` says to extract must be safe (check_member)."""
    stream = io.BufferedReader(_Limited(_gunzip(f), MAX_STREAM_BYTES))
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for count, member in enumerate(tar, 1):
            if count > MAX_MEMBERS:
                raise BadArchive(f"it has more than {MAX_MEMBERS:,} members")
            if wanted(member):
                check_member(member)
            yield member, tar


def _gunzip(f):
    """`f` decompressed if it starts like a gzip file, else as it is (a plain tar)."""
    start = f.peek(2)[:2] if hasattr(f, "peek") else b""
    return gzip.GzipFile(fileobj=f) if start == b"\x1f\x8b" else f


def safe_extract(
    archive: str | Path,
    dest: str | Path,
    under: str | None = None,
    *,
    suffix: str = "",
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_PHOTOS_BYTES,
) -> list[Path]:
    """Extract the files of a (gzip'd) tar archive into `dest`, all or nothing; return them.

    Only regular files under the folder `under` (if given) whose names end with `suffix` are
    extracted. A first pass checks every such member (paths, types: UnsafeArchive; sizes:
    `max_member_bytes` each, `max_total_bytes` together, and the archive's own bounds:
    BadArchive) before anything is written; the second writes them atomically, never through
    a symbolic link (UnsafeArchive if a folder on the way is one).
    """
    dest = Path(dest)

    def wanted(member: tarfile.TarInfo) -> bool:
        name = PurePosixPath(member.name)
        inside = under is None or name.is_relative_to(under) or ".." in name.parts
        return inside and (member.name.endswith(suffix) or not member.isfile())

    total = 0
    with open_regular(archive) as f:
        for member, _ in _members(io.BufferedReader(f), wanted):
            if wanted(member) and member.isfile():
                if member.size > max_member_bytes:
                    raise BadArchive(
                        f"its member {printable(member.name)} holds {member.size:,} bytes, over "
                        f"the limit of {max_member_bytes:,}"
                    )
                total += member.size
                if total > max_total_bytes:
                    raise BadArchive(
                        f"its files to extract hold more than {total:,} bytes, over the limit "
                        f"of {max_total_bytes:,}"
                    )
        f.seek(0)
        written: list[Path] = []
        try:
            for member, tar in _members(io.BufferedReader(f), wanted):
                if wanted(member) and member.isfile():
                    target = dest.joinpath(*PurePosixPath(member.name).parts)
                    _refuse_links(dest, target.parent)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(target) as tmp, open(tmp, "wb") as out:
                        shutil.copyfileobj(tar.extractfile(member), out)
                    written.append(target)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
    return written


def _refuse_links(dest: Path, folder: Path) -> None:
    """UnsafeArchive if `folder` or a folder between it and `dest` (`dest` itself excepted:
    a data folder may be a link) is a symbolic link."""
    path = folder
    while path != dest and path != path.parent:
        if path.is_symlink():
            raise UnsafeArchive(
                f"{printable(path)} is a symbolic link (to {printable(os.readlink(path))}): "
                "archives are extracted only into real folders"
            )
        path = path.parent


def _recorded_problem(path: Path, digest: str) -> str | None:
    """Why the recorded photo at `path` cannot be used as it is (None if it can)."""
    kind = file_kind(path)
    if kind == "missing":
        return "missing"
    if kind is not None:
        return f"replaced by {kind}"
    return None if file_digest(path) == digest else "changed since it was extracted"


def bsds_photos(
    root: str | Path | None = None, download: bool = True, sha256: str | None = BSDS500_SHA256
) -> list[Path]:
    """BSDS500's verified training photos under `root` (sorted), extracted from the archive
    (downloaded, about 70 MB, when `download` and the network allow) unless all are there as
    recorded. DatasetUnavailable says what is missing or wrong and what to do."""
    root = data_root(root)
    record = photo_record(root)
    note = None
    if record is not None:
        folder = root / TRAIN_IMAGES
        problems = {
            name: why
            for name in sorted(record)
            if (why := _recorded_problem(folder / name, record[name]))
        }
        if not problems:
            return bsds_photo_paths(root)
        name, why = next(iter(problems.items()))
        note = f"BSDS500: {name} was {why}"
    try:
        _refuse_links(root, root / TRAIN_IMAGES)
    except UnsafeArchive as err:
        raise DatasetUnavailable(
            f"BSDS500: {err}. Remove the link, or extract {ARCHIVE} into the folder it points to "
            "yourself.",
            "a symbolic link in the way",
        ) from None
    remote = Remote(BSDS500_URL, ARCHIVE, f"sha256:{sha256}" if sha256 else None, BSDS500_MAX_BYTES)
    try:
        archive = fetch(
            "BSDS500", remote, root, download, again="load_domain('mnist_m', data='real')"
        )
    except DatasetUnavailable as err:
        if note is None:
            raise
        raise DatasetUnavailable(f"{note}, and {err}", err.reason) from None
    _extract_photos(archive, root, verified=mirrored(remote).checksum is not None)
    if note is not None:
        warnings.warn(f"{note}; the photos were extracted again from {ARCHIVE}", stacklevel=3)
    return bsds_photo_paths(root)


def _extract_photos(archive: Path, root: Path, verified: bool) -> None:
    """Extract and decode the training photos of `archive` and record them; a bad archive is
    deleted with the photos taken from it (DatasetUnavailable says so)."""
    written: list[Path] = []
    try:
        size = archive.stat().st_size
        if size > BSDS500_MAX_BYTES:
            raise BadArchive(f"it is {size:,} bytes, over the {BSDS500_MAX_BYTES:,} expected")
        written = safe_extract(archive, root, TRAIN_IMAGES.as_posix(), suffix=".jpg")
        if not written:
            raise BadArchive(f"it holds no {TRAIN_IMAGES.as_posix()}/*.jpg")
        for path in written:
            try:
                read_photo(path)
            except ValueError as err:
                raise BadArchive(
                    f"its {printable(path.name)} is not a usable photo: {err}"
                ) from None
    except (ValueError, OSError, EOFError, zlib.error, tarfile.TarError) as err:
        if isinstance(err, OSError) and err.errno in WRITE_ERRORS:
            raise DatasetUnavailable(
                f"BSDS500: cannot extract {ARCHIVE} into {printable(root)}: {one_line(err)}",
                "cannot write the photos",
            ) from None
        for path in [*written, archive]:
            path.unlink(missing_ok=True)
        raise DatasetUnavailable(
            f"BSDS500: {ARCHIVE} in {printable(root)} is not the BSDS500 archive ("
            f"{one_line(err, 200)}); it was deleted, with any photos taken from it. Load MNIST-M "
            f"again with network access to download it again, or put a good copy of "
            f"{BSDS500_URL} in {printable(root)}.",
            "a bad BSDS500 archive",
        ) from None
    digest = file_digest(archive)
    if not verified:
        warnings.warn(
            f"BSDS500 archive not verified against a published checksum (none is published); "
            f"its sha256 is {digest}",
            stacklevel=4,
        )
    photos = {path.name: file_digest(path) for path in written}
    atomic_write_text(json.dumps({"archive_sha256": digest, "photos": photos}), root / PHOTO_RECORD)


def download_bsds500(
    root: str | Path | None = None, sha256: str | None = BSDS500_SHA256, download: bool = True
) -> Path:
    """BSDS500's training photos under `root`, downloaded (~70 MB), extracted and verified if
    needed (see `bsds_photos`); returns their folder."""
    bsds_photos(root, download, sha256)
    return data_root(root) / TRAIN_IMAGES


def photos_digest(root: str | Path | None = None) -> str:
    """One sha256 for the recorded photo set under `root` (names and contents)."""
    record = photo_record(root) or {}
    return hashlib.sha256(json.dumps(sorted(record.items())).encode()).hexdigest()
