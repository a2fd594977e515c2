"""Reliability, round 3 (issue 25), the data layer's cases: downloaded archives, files on disk,
caches, checkpoints and images that ask for gigabytes, and `dann course`'s outputs.

Each test names the case of the report it covers (2, 3, 5-10; 1 and 4 are about `dann train`).
Memory, file-size and hang bombs run in a subprocess under an address-space limit
(RLIMIT_AS), a file-size limit (RLIMIT_FSIZE) and a timeout, so that a regression fails the
test, not the machine; slow ones use small stand-ins (a 0.2 s-per-byte server, a few MB where
the report used GB). Servers are the local mirror of tests/published_mirror.py (127.0.0.1).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from published_mirror import build_files, jpeg, manifest, tar_gz, usps_bz2

from dannlib.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from dannlib.course import run_course
from dannlib.data import bsds, download, mnistm
from dannlib.data.bsds import TRAIN_IMAGES, bsds_photo_paths
from dannlib.data.download import DatasetUnavailable
from dannlib.data.registry import load_domain
from dannlib.files import OutputError
from dannlib.models import build_model
from dannlib.predict import predict_folder

ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("DANNLIB_")},
    "OMP_NUM_THREADS": "1",
    "DANNLIB_OFFLINE": "1",
}
HAS_PROC = Path("/proc/self/status").exists()
needs_proc = pytest.mark.skipif(not HAS_PROC, reason="reads VmSize from /proc")
MB = 1 << 20

# Run first in every limited subprocess: import what the tests use, then cap the address space
# at what the interpreter holds plus MEMORY bytes and every file written at FILES bytes.
PRELUDE = """
import json, resource, sys, warnings
import torch
import dannlib.checkpoint, dannlib.course, dannlib.data, dannlib.predict

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

MEMORY, FILES = int(sys.argv[1]), int(sys.argv[2])
vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + MEMORY, vm + MEMORY))
resource.setrlimit(resource.RLIMIT_FSIZE, (FILES, FILES))
START = peak()
warnings.simplefilter("always")
caught = warnings.catch_warnings(record=True)
seen = caught.__enter__()

def report(outcome, message="", **extra):
    print(json.dumps({"outcome": outcome, "message": message, "growth": peak() - START,
                      "warnings": [str(w.message) for w in seen], **extra}))
"""


def limited(
    script: str, *args, memory: int = 1024 * MB, files: int = 64 * MB, env=None, timeout=120
):
    """Run PRELUDE + `script` in a subprocess under the limits; its report() as a dict."""
    result = subprocess.run(
        [sys.executable, "-c", PRELUDE + script, str(memory), str(files), *map(str, args)],
        capture_output=True, text=True, env=env or ENV, timeout=timeout, check=False,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, f"exit {result.returncode}: {result.stderr[-1500:]}"
    return json.loads(lines[-1])


LOAD_MNIST_M = """
from dannlib.data import DatasetUnavailable, load_domain
try:
    d = load_domain("mnist_m", sys.argv[4], data="real", root=sys.argv[3])
    report("loaded", d.info["source"])
except DatasetUnavailable as err:
    report("unavailable", str(err))
except Exception as err:
    report(type(err).__name__, str(err)[:400])
"""


def untrusted_bsds(mirror, body: bytes) -> None:
    """Serve `body` as BSR_bsds500.tgz with no trusted checksum (none is published)."""
    mirror.files["BSR_bsds500.tgz"] = body
    listed = json.loads(mirror.manifest.read_text())
    listed.pop("BSR_bsds500.tgz", None)
    mirror.manifest.write_text(json.dumps(listed))


def trusted(mirror, files: dict[str, bytes]) -> None:
    """Serve `files` (name: bytes) as the mirror's own, listed in its trusted manifest."""
    mirror.files.update(files)
    mirror.manifest.write_text(json.dumps(manifest(mirror.files)))


def photo_members(bad: dict[str, bytes], good: int = 4) -> dict[str, bytes]:
    """Archive members: `good` real photos then `bad` (name: bytes) in the training folder."""
    rng = np.random.default_rng(0)
    members = {
        f"{TRAIN_IMAGES.as_posix()}/good{i}.jpg": jpeg(rng.integers(0, 256, (80, 120, 3), np.uint8))
        for i in range(good)
    }
    members.update({f"{TRAIN_IMAGES.as_posix()}/{name}": data for name, data in bad.items()})
    return members


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose header says width x height (what a decoder would allocate)."""
    data = bytearray(jpeg(np.zeros((8, 8, 3), np.uint8)))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


GOOD_BSDS = build_files()["BSR_bsds500.tgz"]


# ---------------------------------------------------------------------------------------------
# 2. A bad BSDS500 archive or photo never breaks MNIST-M for good: deleted, reported, fetched again

BAD_ARCHIVES = {
    "an HTML page served with 200": b"<!DOCTYPE html><html><body>Please log in</body></html>",
    "an empty gzip": gzip.compress(b""),
    "a truncated gzip": GOOD_BSDS[: len(GOOD_BSDS) // 3],
    "a gzip of something else": gzip.compress(b"not a tar archive\n" * 100),
    "a tar without training photos": tar_gz({"BSR/README": b"readme"}),
    "a .jpg that is HTML": tar_gz(photo_members({"bad.jpg": b"<html>moved</html>"})),
    "a photo under 28 px": tar_gz(
        photo_members({"bad.jpg": jpeg(np.zeros((20, 300, 3), np.uint8))})
    ),
    "an empty photo": tar_gz(photo_members({"bad.jpg": b""})),
}


@pytest.mark.filterwarnings("ignore:BSDS500 archive not verified:UserWarning")
@pytest.mark.parametrize("what", list(BAD_ARCHIVES))
def test_2_a_bad_bsds500_archive_is_deleted_reported_and_fetched_again(
    published_mirror, tmp_path, what
):
    untrusted_bsds(published_mirror, BAD_ARCHIVES[what])
    with pytest.raises(DatasetUnavailable) as err:
        load_domain("mnist_m", "test", data="real", root=tmp_path)
    message = str(err.value)
    assert "BSR_bsds500.tgz" in message and "deleted" in message and "again" in message, message
    assert not (tmp_path / "BSR_bsds500.tgz").exists() and bsds_photo_paths(tmp_path) == []
    with pytest.raises(DatasetUnavailable, match="download=False"):  # offline: clear, not internal
        load_domain("mnist_m", "test", data="real", root=tmp_path, download=False)
    published_mirror.files["BSR_bsds500.tgz"] = GOOD_BSDS  # the host serves the archive again
    mnist_m = load_domain("mnist_m", "test", data="real", root=tmp_path)
    assert mnist_m.info["source"].startswith("generated: BSDS500 (5 training photos)")


def test_2_a_damaged_photo_on_disk_is_extracted_again_from_the_archive(published_mirror, tmp_path):
    load_domain("mnist_m", "test", data="real", root=tmp_path)
    load_domain("mnist", "train", data="real", root=tmp_path)  # on disk for the offline load
    photo = bsds_photo_paths(tmp_path)[0]
    good = photo.read_bytes()
    photo.write_bytes(b"<html>not a photo</html>")
    with pytest.warns(UserWarning, match=f"{photo.name}.*extracted again"):
        train = load_domain("mnist_m", "train", data="real", root=tmp_path, download=False)
    assert photo.read_bytes() == good and "(5 training photos)" in train.info["source"]


# ---------------------------------------------------------------------------------------------
# 3. BSDS500 archives are extracted and decoded within bounds: member size, total size, pixels


def _zeros_tgz(members: dict[str, int], photos: int = 4) -> bytes:
    """A tgz of `photos` real photos and members of the given sizes in zero bytes, streamed."""

    class Zeros(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            buffer[:] = bytes(len(buffer))
            return len(buffer)

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        for name, data in photo_members({}, photos).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, size in members.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BufferedReader(Zeros()))
    return out.getvalue()


TRAIN = TRAIN_IMAGES.as_posix()
BIG_ARCHIVES = {  # what the report sent, scaled down where the bound is the same; built lazily
    "a 64 MB photo": (lambda: _zeros_tgz({f"{TRAIN}/big.jpg": 64 * MB}), "over the limit"),
    "25 photos of 3 MB": (
        lambda: _zeros_tgz({f"{TRAIN}/{i}.jpg": 3 * MB for i in range(25)}),
        "over the limit",
    ),
    "a 300 MB member outside the photos": (
        lambda: _zeros_tgz({"BSR/bench/data/huge.bin": 300 * MB}),
        "more than",
    ),
    "four 13,000 x 13,000 JPEGs": (
        lambda: tar_gz(
            photo_members({f"{i}.jpg": jpeg_claiming(13_000, 13_000) for i in range(4)})
        ),
        "pixels",
    ),
    "a 20,000 x 20,000 JPEG": (
        lambda: tar_gz(photo_members({"huge.jpg": jpeg_claiming(20_000, 20_000)})),
        "pixels",
    ),
}


@needs_proc
@pytest.mark.parametrize("what", list(BIG_ARCHIVES))
def test_3_bsds500_archives_are_extracted_and_decoded_within_bounds(
    published_mirror, tmp_path, what
):
    build, message = BIG_ARCHIVES[what]
    untrusted_bsds(published_mirror, build())
    env = {**ENV, **published_mirror.env}
    out = limited(LOAD_MNIST_M, tmp_path, "test", memory=1024 * MB, files=16 * MB, env=env)
    assert out["outcome"] == "unavailable" and message in out["message"], out
    assert "deleted" in out["message"] and not (tmp_path / "BSR_bsds500.tgz").exists()
    written = sum(p.stat().st_size for p in (tmp_path / "BSR").rglob("*") if p.is_file())
    assert written == 0 and out["growth"] < 400 * MB, (written, out["growth"])


# ---------------------------------------------------------------------------------------------
# 5. Tiny files that ask for gigabytes: every tensor read is checked against its storage first

HUGE = 6_000_000_000  # values claimed by a stride-0 view of one stored value


def _stride0(*shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.zeros(1, dtype=dtype).expand(*shape)


def _weights(**changes) -> dict:
    state = build_model("mnist").state_dict()
    return {**state, **{k.replace("__", "."): v for k, v in changes.items()}}


CHECKPOINTS = {  # a checkpoint payload -> what the refusal must say
    "a History tensor of 6e9 values": (
        {"history": {"evals": [{"target_acc": _stride0(HUGE)}]}},
        "6,000,000,000 values",
    ),
    "an optimiser state of 6e9 values": (
        {"train_state": {"optimizer": {"state": {0: {"exp_avg": _stride0(HUGE)}}}}},
        "6,000,000,000 values",
    ),
    "a weight that is a stride-0 view": (
        {"state_dict": _weights(features__0__weight=_stride0(32, 3, 5, 5))},
        "2,400 values",
    ),
    "a sparse weight (9)": (
        {"state_dict": _weights(features__0__weight=torch.zeros(32, 3, 5, 5).to_sparse())},
        "sparse",
    ),
    "a spec asking for 512 x 512 inputs": (
        {"spec": {"arch": "modern", "kwargs": {"size": 512}}},
        "size must be a whole number from 1 to 128",
    ),
}
READ_CHECKPOINTS = """
from dannlib.checkpoint import CheckpointError, load_checkpoint
outcomes = {}
for path in sys.argv[3:]:
    try:
        load_checkpoint(path)
        outcomes[path] = "loaded"
    except CheckpointError as err:
        outcomes[path] = f"refused: {err}"
    except Exception as err:
        outcomes[path] = f"{type(err).__name__}: {str(err)[:300]}"
report("done", outcomes=outcomes)
"""


@pytest.fixture(scope="module")
def checkpoint_outcomes(tmp_path_factory):
    """Load every CHECKPOINTS payload in one subprocess under a 1 GB memory limit."""
    folder = tmp_path_factory.mktemp("checkpoints")
    base = {
        "format": FORMAT,
        "spec": build_model("mnist").spec,
        "state_dict": _weights(),
        "config": {},
        "history": {},
        "train_state": {},
    }
    paths = {}
    for i, (what, (changes, _)) in enumerate(CHECKPOINTS.items()):
        paths[what] = str(folder / f"{i}.pt")
        torch.save({**base, **changes}, paths[what])
    out = limited(READ_CHECKPOINTS, *paths.values(), memory=1024 * MB)
    return {what: out["outcomes"][path] for what, path in paths.items()}, out["growth"]


@needs_proc
@pytest.mark.parametrize("what", list(CHECKPOINTS))
def test_5_9_checkpoints_asking_for_gigabytes_are_refused_before_use(checkpoint_outcomes, what):
    outcomes, growth = checkpoint_outcomes
    assert outcomes[what].startswith("refused: ") and CHECKPOINTS[what][1] in outcomes[what], (
        outcomes[what]
    )
    assert "\n" not in outcomes[what] and growth < 400 * MB


LOAD_COURSE_MNIST_M = """
from dannlib.data import load_domain
d = load_domain("mnist_m", "test", root=sys.argv[3])
report("loaded", d.info["source"], count=len(d))
"""


@needs_proc
def test_5_a_stride_0_tensor_in_a_data_cache_is_refused_without_materialising_it(tmp_path):
    load_domain("mnist_m", "test", root=tmp_path)  # the course data's cache
    (path,) = (tmp_path / "mnist_m").glob("test_*.pt")
    blob = torch.load(path, weights_only=True)
    blob["x"] = _stride0(2_000_000, 3, 28, 28, dtype=torch.uint8)  # 4.7 GB if made contiguous
    torch.save(blob, path)
    assert path.stat().st_size < 100_000
    out = limited(LOAD_COURSE_MNIST_M, tmp_path, memory=1024 * MB)
    assert out["outcome"] == "loaded" and out["count"] == 1000, out
    (warning,) = [w for w in out["warnings"] if "cache" in w]
    assert "4,704,000,000 values" in warning and "rebuilding" in warning, warning


LOAD_IMAGE = """
from dannlib.predict import load_image
x = load_image(sys.argv[3], 28, 1)
report("loaded", shape=list(x.shape))
"""


@needs_proc
@pytest.mark.parametrize("size", [(39_000_000, 1), (1, 39_000_000)], ids=["wide", "tall"])
def test_5_a_one_pixel_wide_png_is_classified_within_bounds(tmp_path, size):
    path = tmp_path / "line.png"
    Image.new("L", size, 255).save(path)
    assert path.stat().st_size < 200_000
    out = limited(LOAD_IMAGE, path, memory=1536 * MB, timeout=300)
    assert out["outcome"] == "loaded" and out["shape"] == [1, 28, 28], out


LOAD_REAL_MNIST = """
from dannlib.data import DatasetUnavailable, load_domain
try:
    d = load_domain("mnist", sys.argv[4], data="real", root=sys.argv[3], download=False)
    report("loaded", d.info["source"], count=len(d))
except DatasetUnavailable as err:
    report("unavailable", str(err))
except Exception as err:
    report(type(err).__name__, str(err)[:400])
"""


@needs_proc
def test_5_a_gzip_bomb_in_mnist_raw_is_never_decompressed(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    header = bytes.fromhex("00000803") + b"".join(d.to_bytes(4, "big") for d in (60000, 28, 28))
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(400):
            f.write(bytes(MB))  # 400 MB of zeros in a 400 KB file
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(bytes.fromhex("00000801") + bytes(4))
    )
    out = limited(LOAD_REAL_MNIST, tmp_path, "test", memory=1024 * MB)
    assert out["outcome"] == "unavailable" and "checksum" in out["message"], out
    assert out["growth"] < 150 * MB, out["growth"]  # the 400 MB were never decompressed


# ---------------------------------------------------------------------------------------------
# 6. Files on disk are checked against the digests dannlib knows; caches against their records

SWAPPED = {  # well-formed files in the published format that are not the published files
    "MNIST": ("MNIST/raw", ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
    "SVHN": ("SVHN", ["test_32x32.mat"]),
    "USPS": ("USPS", ["usps.t.bz2"]),
}


@pytest.mark.parametrize("dataset", list(SWAPPED))
def test_6_swapped_files_on_disk_are_refused_offline(tmp_path, dataset):
    folder, names = SWAPPED[dataset]
    files = build_files()
    (tmp_path / folder).mkdir(parents=True)
    for name in names:
        (tmp_path / folder / name).write_bytes(files[name])  # readable, but not the published file
    with pytest.raises(DatasetUnavailable, match="checksum does not match") as err:
        load_domain(dataset.lower(), "test", data="real", root=tmp_path, download=False)
    assert "download=False" in str(err.value)


def test_6_a_file_on_disk_that_is_not_the_mirrors_is_downloaded_again(published_mirror, tmp_path):
    (tmp_path / "USPS").mkdir()
    other = usps_bz2(torch.zeros(3, 1, 16, 16, dtype=torch.uint8), torch.tensor([1, 2, 3]))
    (tmp_path / "USPS" / "usps.t.bz2").write_bytes(other)
    usps = load_domain("usps", "test", data="real", root=tmp_path)
    assert published_mirror.requests == ["usps.t.bz2"] and len(usps) == 200
    assert (tmp_path / "USPS" / "usps.t.bz2").read_bytes() == published_mirror.files["usps.t.bz2"]


def _relabel(blob):
    blob["y"] = (blob["y"] + 1) % 10
    return blob


def _shrink(blob):
    blob["x"], blob["y"] = blob["x"][:100].clone(), blob["y"][:100].clone()
    return blob


@pytest.mark.parametrize("name", ["mnist_m", "syn_digits"])
@pytest.mark.parametrize("change", [_relabel, _shrink], ids=["relabelled", "shrunk"])
def test_6_a_relabelled_or_shrunk_cache_with_a_recomputed_checksum_is_refused(
    tmp_path, name, change
):
    first = load_domain(name, "test", root=tmp_path, limit=200)
    (path,) = (tmp_path / name).glob("test_*.pt")
    blob = change(torch.load(path, weights_only=True))
    blob["sha256"] = mnistm.tensor_checksum(blob["x"], blob["y"])  # a consistent-looking file
    torch.save(blob, path)
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_domain(name, "test", root=tmp_path, limit=200)
    assert torch.equal(again.y, first.y) and torch.equal(again.x, first.x)


# ---------------------------------------------------------------------------------------------
# 7. Downloads have an overall deadline and a size cap


def test_7_a_server_sending_a_byte_at_a_time_is_given_up_on_at_the_deadline(
    published_mirror, tmp_path, monkeypatch
):
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 1.0)  # each wait: one byte comes in time
    monkeypatch.setattr(download, "MIN_BYTES_PER_S", 1e9, raising=False)  # deadline: about 1 s
    published_mirror.faults["t10k-labels-idx1-ubyte.gz"] = "slow"  # 132 bytes in 26 s
    start = time.monotonic()
    with pytest.raises(DatasetUnavailable, match="deadline"):
        load_domain("mnist", "test", data="real", root=tmp_path)
    assert time.monotonic() - start < 10
    assert not any((tmp_path / "MNIST" / "raw").glob("*labels*"))  # nothing partial kept


DOWNLOAD_USPS = """
from dannlib.data import DatasetUnavailable, load_domain
try:
    load_domain("usps", "test", data="real", root=sys.argv[3])
    report("loaded")
except DatasetUnavailable as err:
    report("unavailable", str(err))
"""


@needs_proc
def test_7_an_endless_download_stops_at_the_expected_size(published_mirror, tmp_path):
    published_mirror.faults["usps.t.bz2"] = "endless"  # no Content-Length, no end
    env = {**ENV, **published_mirror.env}
    out = limited(DOWNLOAD_USPS, tmp_path, memory=1024 * MB, files=32 * MB, env=env)
    size = len(published_mirror.files["usps.t.bz2"])
    assert out["outcome"] == "unavailable" and f"more than {size:,} bytes" in out["message"], out
    assert list((tmp_path / "USPS").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 8. `dann course` never writes through links in --out and never opens FIFOs


def _tiny_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        }
    )
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("link", ["01_lesson.ipynb", "01_lesson.kernel.log"])
def test_8_course_refuses_to_write_through_links_in_out(tmp_path, link):
    (tmp_path / "notebooks").mkdir()
    source = _tiny_notebook(tmp_path / "notebooks" / "01_lesson.ipynb")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(source if link.endswith(".ipynb") else victim, out / link)
    before = source.read_bytes()
    with pytest.raises(OutputError, match="symbolic link"):
        run_course([source], out, progress=False)
    assert source.read_bytes() == before and victim.read_text() == "keep me"


RUN_COURSE = """
from dannlib.course import course_notebooks, run_course
runs = run_course(course_notebooks(sys.argv[3]), sys.argv[4], progress=False, timeout=30)
report("done", errors=[r.error for r in runs])
"""


@needs_proc
def test_8_a_fifo_named_like_a_lesson_is_skipped_not_opened(tmp_path):
    (tmp_path / "notebooks").mkdir()
    os.mkfifo(tmp_path / "notebooks" / "01_pipe.ipynb")
    out = limited(RUN_COURSE, tmp_path / "notebooks", tmp_path / "out", timeout=60)
    (error,) = out["errors"]
    assert "is a FIFO (named pipe), not a notebook file" in error, error


@needs_proc
def test_8_a_fifo_among_the_bsds500_photos_does_not_hang_mnist_m(published_mirror, tmp_path):
    load_domain("mnist_m", "test", data="real", root=tmp_path)  # photos extracted
    load_domain("mnist", "train", data="real", root=tmp_path)  # on disk for the offline load
    os.mkfifo(tmp_path / TRAIN_IMAGES / "zz_pipe.jpg")
    env = {**ENV, **published_mirror.env, "DANNLIB_OFFLINE": "1"}  # its checksums, offline
    out = limited(LOAD_MNIST_M, tmp_path, "train", env=env, timeout=60)  # train: not cached yet
    assert out["outcome"] == "loaded" and "(5 training photos)" in out["message"], out


# ---------------------------------------------------------------------------------------------
# 9, 10. Conditions a user can fix are clear errors, never internal ones


def test_9_a_symlink_loop_notebook_is_reported_and_the_course_goes_on(tmp_path):
    (tmp_path / "notebooks").mkdir()
    loop = tmp_path / "notebooks" / "01_loop.ipynb"
    os.symlink(loop, loop)
    (run,) = run_course([loop], tmp_path / "out", progress=False)
    assert not run.ok and "symbolic link loop" in run.error


def test_9_a_folder_nested_1100_levels_is_classified(tmp_path):
    depth = 1100
    deep = tmp_path / "images"
    deep.mkdir()
    for _ in range(depth):  # one level at a time: Path.mkdir(parents=True) would recurse
        deep = deep / "d"
        deep.mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(deep / "a.png")
    try:
        (prediction,) = predict_folder(build_model("mnist"), tmp_path / "images")
        assert prediction.ok and prediction.path.endswith("d/a.png")
    finally:  # removed level by level: shutil.rmtree would recurse as deep
        (deep / "a.png").unlink()
        for level in range(depth, -1, -1):
            tmp_path.joinpath("images", *["d"] * level).rmdir()


@pytest.mark.filterwarnings("ignore:BSDS500 archive not verified:UserWarning")
def test_9_bsr_linked_to_an_empty_folder_is_a_clear_error(published_mirror, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "data").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "data" / "BSR")
    with pytest.raises(DatasetUnavailable, match="is a symbolic link"):
        load_domain("mnist_m", "test", data="real", root=tmp_path / "data")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_9_predict_on_one_image_with_a_batch_norm_model(tmp_path):
    (tmp_path / "one").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "one" / "a.png")
    model = build_model("modern")
    assert model.has_batchnorm
    with pytest.warns(UserWarning, match="one image"):
        (prediction,) = predict_folder(model, tmp_path / "one", adapt_bn=True)
    assert prediction.ok and 0 <= prediction.label < 10


def _idx_gz(dims: tuple[int, ...], data: bytes = b"") -> bytes:
    head = (0x0800 + len(dims)).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return gzip.compress(head + data)


def test_9_an_empty_test_set_is_refused(published_mirror, tmp_path):
    empty = {
        "t10k-images-idx3-ubyte.gz": _idx_gz((0, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": _idx_gz((0,)),
    }
    trusted(published_mirror, empty)
    with pytest.raises(DatasetUnavailable, match="holds no images"):
        load_domain("mnist", "test", data="real", root=tmp_path)


def test_10_idx_dimensions_that_wrap_to_zero_are_reported_as_such(published_mirror, tmp_path):
    trusted(published_mirror, {"t10k-images-idx3-ubyte.gz": _idx_gz((65536,) * 4)})  # 2**64 values
    with pytest.raises(DatasetUnavailable) as err:
        load_domain("mnist", "test", data="real", root=tmp_path)
    assert "65536 x 65536 x 65536 x 65536" in str(err.value) and "N x 28 x 28" in str(err.value)


WEIRD = "new\nline\x1b[2Jescape"


def test_10_control_characters_in_paths_are_never_printed_raw(tmp_path):
    root = tmp_path / WEIRD
    messages = []
    with pytest.raises(DatasetUnavailable) as err:
        load_domain("svhn", "test", data="real", root=root, download=False)
    messages.append(str(err.value))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    os.symlink(tmp_path / "bad.pt", tmp_path / f"{WEIRD}.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / f"{WEIRD}.pt")
    messages.append(str(err.value))
    (tmp_path / "notebooks").mkdir()
    lesson = _tiny_notebook(tmp_path / "notebooks" / "01_lesson.ipynb")
    with pytest.raises(OutputError) as err:
        run_course([lesson], tmp_path / "notebooks" / WEIRD, progress=False)
    messages.append(str(err.value))
    for message in messages:
        assert "\n" not in message and "\x1b" not in message and "\\n" in message, message


def test_saved_checkpoints_still_load(tmp_path):
    """The checks above refuse nothing dannlib itself writes (weights, History, optimiser)."""
    model = build_model("modern")
    optimiser = torch.optim.Adam(model.parameters())
    model(torch.zeros(2, 3, 28, 28))[0].sum().backward()
    optimiser.step()
    path = save_checkpoint(
        tmp_path / "m.pt", model, history={"evals": [{"step": 1, "acc": 0.5}]},
        train_state={"optimizer": optimiser.state_dict(), "rng": torch.get_rng_state()},
    )  # fmt: skip
    loaded, payload = load_checkpoint(path)
    assert torch.equal(
        loaded.state_dict()["features.0.weight"], model.state_dict()["features.0.weight"]
    )
    assert (
        payload["train_state"]["optimizer"]["state"][0]["exp_avg"].shape
        == next(model.parameters()).shape
    )


def test_3_the_bounds_leave_room_for_the_real_bsds500():
    """BSDS500's 200 training photos are 481 x 321 JPEGs of 20-150 KB in a 70 MB archive."""
    assert bsds.MAX_PHOTO_PIXELS >= 481 * 321 and bsds.MIN_PHOTO_SIDE <= 321
    assert bsds.MAX_MEMBER_BYTES >= 1 * MB and bsds.MAX_PHOTOS_BYTES >= 200 * 150_000
    assert bsds.MAX_STREAM_BYTES >= 80 * MB and bsds.BSDS500_MAX_BYTES >= 75 * MB
