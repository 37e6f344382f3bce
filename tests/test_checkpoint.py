"""Checkpoint round trip, the builtin: registry, and clear errors for bad files."""

import pickle

import pytest
import torch

from crowdpose3d.core.checkpoint import (
    CheckpointError,
    export_checkpoint,
    list_builtin,
    load_checkpoint,
    save_checkpoint,
)
from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.skeleton import JTA22, MUPOTS17


def tiny_model(num_joints=22, subpixel=True):
    torch.manual_seed(0)
    return PandaNet(num_anchors=3, num_joints=num_joints, preset="tiny", subpixel=subpixel).eval()


ANCHORS = torch.tensor([[10.0, 20.0], [20.0, 40.0], [40.0, 80.0]])


def test_round_trip_gives_the_same_outputs(tmp_path):
    model = tiny_model()
    path = save_checkpoint(
        tmp_path / "m.pt",
        model,
        ANCHORS,
        JTA22,
        (64, 96),
        metadata={"epoch": 3},
        extra={"optimizer": {"lr": torch.tensor(0.1)}},
    )
    loaded = load_checkpoint(path)
    assert loaded.skeleton is JTA22
    assert loaded.input_size == (64, 96)
    assert loaded.metadata == {"epoch": 3}
    torch.testing.assert_close(loaded.anchors, ANCHORS)
    torch.testing.assert_close(loaded.extra["optimizer"]["lr"], torch.tensor(0.1))
    images = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        for before, after in zip(model(images), loaded.model(images), strict=True):
            torch.testing.assert_close(before, after)
    assert not (tmp_path / "m.pt.partial").exists()


def test_round_trip_keeps_architecture_switches(tmp_path):
    model = tiny_model(num_joints=17, subpixel=False)
    path = save_checkpoint(tmp_path / "m.pt", model, ANCHORS, MUPOTS17, (64, 64))
    loaded = load_checkpoint(path)
    assert loaded.model.output_stride == 8 and loaded.model.num_joints == 17
    assert loaded.skeleton is MUPOTS17


def test_builtin_registry(tmp_path):
    save_checkpoint(tmp_path / "crowd-tiny.pt", tiny_model(), ANCHORS, JTA22, (64, 96))
    assert list_builtin(tmp_path) == ["crowd-tiny"]
    loaded = load_checkpoint("builtin:crowd-tiny", builtin_dir=tmp_path)
    assert loaded.name == "builtin:crowd-tiny"
    with pytest.raises(CheckpointError, match="no built-in model named 'nope'.*builtin:crowd-tiny"):
        load_checkpoint("builtin:nope", builtin_dir=tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="model file not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_corrupt_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable crowdpose3d checkpoint"):
        load_checkpoint(garbage)
    good = save_checkpoint(tmp_path / "good.pt", tiny_model(), ANCHORS, JTA22, (64, 96))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable crowdpose3d checkpoint"):
        load_checkpoint(truncated)


def test_foreign_torch_file(tmp_path):
    foreign = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a crowdpose3d checkpoint"):
        load_checkpoint(foreign)


class Exploit:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_loading_never_runs_pickled_code(tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "crowdpose3d.pandanet", "payload": Exploit()}, evil)
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    assert "pickled code ran" not in capsys.readouterr().out
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)
    assert "pickled code ran" not in capsys.readouterr().out


def test_newer_format_and_mismatched_weights(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model(), ANCHORS, JTA22, (64, 96))
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer crowdpose3d"):
        load_checkpoint(tmp_path / "future.pt")
    payload["format_version"] = 1
    payload["model"]["num_joints"] = 17
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt")


def test_save_refuses_inconsistent_parts(tmp_path):
    with pytest.raises(ValueError, match="3 anchors and 22 joints"):
        save_checkpoint(tmp_path / "m.pt", tiny_model(), ANCHORS[:2], JTA22, (64, 96))


def test_export_drops_training_state_and_halves_the_size(tmp_path):
    model = tiny_model()
    full = save_checkpoint(
        tmp_path / "last.pt",
        model,
        ANCHORS,
        JTA22,
        (64, 96),
        extra={"optimizer": {"state": {0: {"momentum_buffer": torch.ones(1000, 1000)}}}},
    )
    shipped = export_checkpoint(full, tmp_path / "shipped.pt")
    assert shipped.stat().st_size < full.stat().st_size / 2
    loaded = load_checkpoint(shipped)
    assert loaded.extra == {} and loaded.metadata["float16"] is True
    assert next(loaded.model.parameters()).dtype == torch.float32
    images = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        before, after = model(images), loaded.model(images)
    torch.testing.assert_close(before.kp3d, after.kp3d, atol=1e-3, rtol=1e-2)
