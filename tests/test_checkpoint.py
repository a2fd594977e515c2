import pytest
import torch

from dannlib import build_model
from dannlib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_gives_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = build_model("mnist").eval()
    path = save_checkpoint(tmp_path / "m.pt", model, config={"mode": "dann"}, history={"a": [1]})
    loaded, payload = load_checkpoint(path)
    loaded.eval()
    x = torch.rand(5, 3, 28, 28)
    assert torch.equal(model(x)[0], loaded(x)[0])
    assert payload["config"] == {"mode": "dann"} and payload["history"] == {"a": [1]}


def test_truncated_file_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("toy"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupted or not a checkpoint"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a dannlib checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_architecture_mismatch_names_both(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("mnist"))
    with pytest.raises(CheckpointError, match="'mnist' network .* but the model is a 'modern'"):
        load_checkpoint(path, build_model("modern"))
    with pytest.raises(CheckpointError, match="num_classes=10"):
        load_checkpoint(path, build_model("mnist", num_classes=5))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", build_model("toy"))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, build_model("toy", hidden=4))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert path.stat().st_mode & 0o777 == 0o644
