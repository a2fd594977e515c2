"""BSDS500 helper: safe tar extraction, checksum-verified downloads (served from local files)."""

import io
import tarfile

import pytest

from dannlib.data import bsds
from dannlib.data.bsds import UnsafeArchive, bsds_photo_paths, download_bsds500, safe_extract
from dannlib.data.download import DatasetUnavailable, download_file, file_digest


def _tar(path, members):
    """Write a .tgz holding `members`: (name, kind, payload) with kind file/symlink/hardlink."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
    return path


@pytest.mark.parametrize(
    "bad",
    [
        ("../escape.txt", "file", b"x"),
        ("photos/../../escape.txt", "file", b"x"),
        ("/tmp/absolute.txt", "file", b"x"),
        ("link", "symlink", "/etc/passwd"),
        ("hard", "hardlink", "photos/ok.txt"),
    ],
)
def test_unsafe_members_are_refused_and_nothing_is_written(tmp_path, bad):
    archive = _tar(tmp_path / "a.tgz", [("photos/ok.txt", "file", b"fine"), bad])
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive):
        safe_extract(archive, dest)
    assert not dest.exists() and not (tmp_path / "escape.txt").exists()


def test_safe_archive_extracts(tmp_path):
    archive = _tar(tmp_path / "a.tgz", [("photos/ok.txt", "file", b"fine")])
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "photos" / "ok.txt").read_bytes() == b"fine"


def test_download_verifies_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr("dannlib.data.download.host_reachable", lambda url: True)
    source = tmp_path / "upstream.bin"
    source.write_bytes(b"payload")
    good = file_digest(source)
    saved = download_file(source.as_uri(), tmp_path / "copy.bin", sha256=good)
    assert saved.read_bytes() == b"payload"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_file(source.as_uri(), tmp_path / "bad.bin", sha256="0" * 64)
    assert not (tmp_path / "bad.bin").exists()


def test_download_offline_fails_fast_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match="save it as"):
        download_file("https://example.invalid/x.tgz", tmp_path / "x.tgz")


def test_download_bsds500_extracts_a_verified_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")  # the archive is already in place
    jpg = "BSR/BSDS500/data/images/train/1.jpg"
    archive = _tar(tmp_path / "BSR_bsds500.tgz", [(jpg, "file", b"not really a jpeg")])
    with pytest.raises(ValueError, match="expected"):
        download_bsds500(tmp_path, sha256="0" * 64)
    folder = download_bsds500(tmp_path, sha256=file_digest(archive))
    assert folder == tmp_path / bsds.TRAIN_IMAGES
    assert bsds_photo_paths(tmp_path) == [tmp_path / jpg]
    with pytest.warns(UserWarning, match="not verified"):
        download_bsds500(tmp_path, sha256=None)
