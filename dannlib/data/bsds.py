"""Optional BSDS500 photos for MNIST-M: download (checksum-checked) and safe tar extraction."""

from __future__ import annotations

import tarfile
import warnings
from pathlib import Path, PurePosixPath

from dannlib.config import data_root
from dannlib.data.download import download_file, file_digest

BSDS500_URL = (
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
)
# The published archive's sha256 is not recorded here yet (it was written offline); pass
# `sha256=` to download_bsds500 to enforce it. Until then the digest is reported in a warning.
BSDS500_SHA256: str | None = None
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


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract a tar archive into `dest` after checking every member (all or nothing)."""
    dest = Path(dest)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            check_member(member)
        dest.mkdir(parents=True, exist_ok=True)
        tar.extractall(dest, members=members, filter="data")
    return dest


def download_bsds500(root: str | Path | None = None, sha256: str | None = BSDS500_SHA256) -> Path:
    """Download BSDS500 (~70 MB) into `root`, verify and extract it; return its training photos."""
    root = data_root(root)
    archive = root / "BSR_bsds500.tgz"
    if not archive.is_file():
        download_file(BSDS500_URL, archive, sha256=sha256)
    digest = file_digest(archive)
    if sha256 is not None and digest != sha256.lower():
        raise ValueError(
            f"{archive} has sha256 {digest}, expected {sha256}; delete it and download again"
        )
    if sha256 is None:
        warnings.warn(
            f"BSDS500 archive not verified against a published checksum; its sha256 is {digest}",
            stacklevel=2,
        )
    safe_extract(archive, root)
    return root / TRAIN_IMAGES
