"""BSDS500 photos for MNIST-M: download, safe tar extraction of the training photos.

No published source states the archive's sha256 (Berkeley's page gives only the URL, and no
library that downloads it records one), so BSDS500_SHA256 is None: the archive is checked by
its structure (200 training JPEGs under BSR/BSDS500/data/images/train, every member a plain
file or folder inside the data folder) and its sha256 is reported in a warning. Pass `sha256=`
to `download_bsds500` to enforce a digest you trust.
"""

from __future__ import annotations

import tarfile
import warnings
from pathlib import Path, PurePosixPath

from dannlib.config import data_root
from dannlib.data.download import DatasetUnavailable, Remote, fetch, file_digest, mirrored

BSDS500_URL = (
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
)
BSDS500_SHA256: str | None = None  # no published value exists (see the module docstring)
TRAIN_IMAGES = Path("BSR", "BSDS500", "data", "images", "train")


class UnsafeArchive(ValueError):
    """A tar archive holds a member that would land outside the target folder, or a link."""


def bsds_photo_paths(root: str | Path | None = None) -> list[Path]:
    """The BSDS500 training photos under `root` (sorted), or [] if they are not there."""
    return sorted((data_root(root) / TRAIN_IMAGES).glob("*.jpg"))


def check_member(member: tarfile.TarInfo) -> None:
    """Raise UnsafeArchive for absolute paths, '..' parts, links and special files."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ".." in name.parts:
        raise UnsafeArchive(f"refusing archive member {member.name!r}: path escapes the folder")
    if member.issym() or member.islnk():
        raise UnsafeArchive(f"refusing archive member {member.name!r}: links are not extracted")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"refusing archive member {member.name!r}: not a file or folder")


def safe_extract(archive: str | Path, dest: str | Path, under: str | None = None) -> Path:
    """Extract a tar archive (only members under the folder `under`, if given) into `dest`,
    after checking every member (all or nothing)."""
    dest = Path(dest)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            check_member(member)
        if under is not None:
            members = [m for m in members if PurePosixPath(m.name).is_relative_to(under)]
        dest.mkdir(parents=True, exist_ok=True)
        # Python >= 3.10.12 / 3.11.4 also apply the standard library's "data" filter.
        data_filter = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **data_filter)
    return dest


def download_bsds500(
    root: str | Path | None = None, sha256: str | None = BSDS500_SHA256, download: bool = True
) -> Path:
    """BSDS500's training photos under `root`, downloaded (~70 MB) and extracted if needed.

    DatasetUnavailable if the archive is neither on disk nor downloadable (offline, or
    `download=False`); ValueError if it does not match `sha256` or holds no training photos.
    """
    root = data_root(root)
    remote = Remote(BSDS500_URL, "BSR_bsds500.tgz", f"sha256:{sha256}" if sha256 else None)
    archive = fetch("BSDS500", remote, root, download, again="download_bsds500()")
    digest = file_digest(archive)
    checksum = mirrored(remote).checksum  # a trusted mirror's manifest may give one
    expected = checksum.partition(":")[2] if checksum else None
    if expected is not None and digest != expected.lower():
        raise ValueError(
            f"{archive} has sha256 {digest}, expected {expected}; delete it and download again"
        )
    if expected is None:
        warnings.warn(
            f"BSDS500 archive not verified against a published checksum (none is published); "
            f"its sha256 is {digest}",
            stacklevel=2,
        )
    safe_extract(archive, root, under=TRAIN_IMAGES.as_posix())
    if not bsds_photo_paths(root):
        raise ValueError(
            f"{archive} holds no {TRAIN_IMAGES.as_posix()}/*.jpg: it is not the BSDS500 "
            "archive; delete it and download again"
        )
    return root / TRAIN_IMAGES


def bsds_photos_or_none(root: str | Path | None = None, download: bool = True) -> str | None:
    """None if BSDS500's photos are (now) under `root`; else why not (offline, failed)."""
    if bsds_photo_paths(root):
        return None
    try:
        download_bsds500(root, download=download)
    except DatasetUnavailable as err:
        return err.reason
    except (ValueError, OSError) as err:
        return f"BSDS500 could not be used ({err})"
    return None
