"""BSDS500 helper: safe tar extraction, archive checks, the offline switch.

Downloads are tested end to end in test_downloads_local_server.py."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from dannlib.data import bsds
from dannlib.data.bsds import UnsafeArchive, bsds_photo_paths, download_bsds500, safe_extract
from dannlib.data.download import DatasetUnavailable, file_digest


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


def test_offline_switch_fails_fast_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match="DANNLIB_OFFLINE is set.*put it in") as err:
        download_bsds500(tmp_path)
    assert err.value.reason == "DANNLIB_OFFLINE is set" and bsds.BSDS500_URL in str(err.value)


def test_only_the_training_photos_are_extracted(tmp_path):
    jpg = "BSR/BSDS500/data/images/train/1.jpg"
    other = "BSR/BSDS500/data/groundTruth/train/1.mat"
    archive = _tar(tmp_path / "a.tgz", [(jpg, "file", b"j"), (other, "file", b"m")])
    safe_extract(archive, tmp_path / "out", under=bsds.TRAIN_IMAGES.as_posix())
    assert (tmp_path / "out" / jpg).is_file() and not (tmp_path / "out" / other).exists()


def test_an_archive_without_training_photos_is_refused_and_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")  # the archive is already in place
    archive = _tar(tmp_path / "BSR_bsds500.tgz", [("BSR/README", "file", b"not the photos")])
    with pytest.raises(DatasetUnavailable, match="holds no BSR/BSDS500/data/images/train"):
        download_bsds500(tmp_path, sha256=file_digest(archive))
    assert not archive.exists()


def _photo(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def test_download_bsds500_extracts_verifies_and_records_the_photos(tmp_path, monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")  # the archive is already in place
    jpg = "BSR/BSDS500/data/images/train/1.jpg"
    archive = _tar(tmp_path / "BSR_bsds500.tgz", [(jpg, "file", _photo())])
    with pytest.raises(DatasetUnavailable, match="checksum does not match"):
        download_bsds500(tmp_path, sha256="0" * 64)  # a digest you trust that it does not have
    assert archive.exists()  # refused, not deleted: the digest may be the wrong one
    folder = download_bsds500(tmp_path, sha256=file_digest(archive))
    assert folder == tmp_path / bsds.TRAIN_IMAGES
    assert bsds_photo_paths(tmp_path) == [tmp_path / jpg]
    assert bsds.photo_record(tmp_path) == {"1.jpg": file_digest(tmp_path / jpg)}
    (tmp_path / jpg).write_bytes(_photo((80, 60)))  # changed after extraction
    with pytest.warns(UserWarning, match="1.jpg was changed since it was extracted"):
        download_bsds500(tmp_path, sha256=file_digest(archive))
    assert bsds.photo_record(tmp_path) == {"1.jpg": file_digest(tmp_path / jpg)}


def test_an_unverified_archive_is_reported_with_its_digest(tmp_path, monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")
    archive = _tar(
        tmp_path / "BSR_bsds500.tgz", [(f"{bsds.TRAIN_IMAGES.as_posix()}/1.jpg", "file", _photo())]
    )
    with pytest.warns(UserWarning, match=f"not verified .* its sha256 is {file_digest(archive)}"):
        download_bsds500(tmp_path, sha256=None)
