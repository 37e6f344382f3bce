"""End to end: `crowdpose3d eval` on a tiny synthetic data set, the Predictor and the loop."""

import json

import numpy as np
import pytest
import torch

from crowdpose3d.cli import main
from crowdpose3d.core.checkpoint import CheckpointError, save_checkpoint
from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.skeleton import JTA22, normalize_pose
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.synth import SynthConfig, generate_dataset
from crowdpose3d.data.transforms import ResizeToFit
from crowdpose3d.engine.evaluator import evaluate, load_samples
from crowdpose3d.engine.predictor import Predictor, letterbox_image
from crowdpose3d.poses import Poses

INPUT_SIZE = (128, 224)  # (H, W): smaller than the 320x192 frames, another aspect ratio


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(num_frames=4, width=320, height=192, min_people=2, max_people=4)
    generate_dataset(root, config, {"test": 1}, seed=3)
    return root


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    model = PandaNet(num_anchors=3, num_joints=JTA22.num_joints, preset="tiny")
    anchors = torch.tensor([[16.0, 32.0], [32.0, 64.0], [64.0, 128.0]])
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return save_checkpoint(path, model, anchors, JTA22, INPUT_SIZE)


# ---------------------------------------------------------------------- the CLI
def test_eval_prints_the_tables_and_writes_json(data_dir, model_path, tmp_path, capsys):
    out = tmp_path / "report" / "eval.json"
    code = main(
        [
            "eval",
            "--model",
            str(model_path),
            "--data",
            str(data_dir),
            "--device",
            "cpu",
            "--score-threshold",
            "0.0",  # an untrained model: keep every candidate so matching runs
            "--max-frames",
            "2",
            "--json",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    for heading in ("AP", "3DPCK", "MPJPE", "Distance-wise", "Joint-wise", "<10", "ankles"):
        assert heading in printed
    report = json.loads(out.read_text())
    for key in (
        "model",
        "data",
        "split",
        "ap",
        "pck3d",
        "mpjpe_mm",
        "pck_by_distance",
        "pck_by_group",
        "by_sequence",
        "num_images",
    ):
        assert key in report
    assert report["num_images"] == 2
    assert report["num_detections"] > 0
    assert 0.0 <= report["ap"] <= 100.0
    assert set(report["pck_by_distance"]) == {"<10", "10-20", "20-30", "30-40", ">40", "all"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--data": "MISSING"}, "data directory not found"),
        ({"--split": "val"}, "annotations not found"),
        ({"--model": "MISSING.pt"}, "model file not found"),
        ({"--model": "builtin:no-such-model"}, "no built-in model"),
        ({"--model": "NOT_A_MODEL"}, "not a readable crowdpose3d checkpoint"),
        ({"--frame-step": "0"}, "--frame-step"),
        ({"--verifier": "MISSING.npz"}, "detection verifier not found"),
        ({"--verifier": "NOT_A_MODEL"}, "cannot read the detection verifier"),
    ],
)
def test_eval_mistakes_are_one_line(data_dir, model_path, tmp_path, capsys, change, message):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    options = {"--model": str(model_path), "--data": str(data_dir), "--device": "cpu"}
    options.update(change)
    for key, value in options.items():
        if value == "MISSING":
            options[key] = str(tmp_path / "missing")
        elif value in ("MISSING.pt", "MISSING.npz"):
            options[key] = str(tmp_path / value.lower())
        elif value == "NOT_A_MODEL":
            options[key] = str(junk)
    argv = ["eval"] + [part for item in options.items() for part in item]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("crowdpose3d: ") and message in lines[0]
    assert "Traceback" not in captured.err


# ---------------------------------------------------------------------- the predictor
def test_letterbox_image_matches_the_evaluation_transform(data_dir):
    sample = load_samples(data_dir)[0]
    fit = ResizeToFit(*INPUT_SIZE)
    placed, box = letterbox_image(sample.image, fit)
    expected = fit(sample)
    np.testing.assert_array_equal(placed, expected.image)
    assert box == expected.extra["letterbox"]


def test_predictor_maps_back_to_each_images_pixels(model_path):
    predictor = Predictor.from_spec(model_path, device="cpu", score_threshold=0.0, batch_size=2)
    images = [
        np.full((192, 320, 3), 90, dtype=np.uint8),
        np.full((300, 200, 3), 160, dtype=np.uint8),
        np.full((64, 64, 3), 30, dtype=np.uint8),
    ]
    results = predictor(images)
    assert len(results) == 3
    for poses, image in zip(results, images, strict=True):
        height, width = image.shape[:2]
        assert len(poses) > 0 and poses.num_joints == JTA22.num_joints
        assert (poses.boxes[:, 0::2] >= 0).all() and (poses.boxes[:, 0::2] <= width).all()
        assert (poses.boxes[:, 1::2] >= 0).all() and (poses.boxes[:, 1::2] <= height).all()
        assert np.isnan(poses.kp3d).all()  # metric 3D is the lift stage's job
    assert len(predictor._grids) == 1  # one anchor grid for the one input size


def test_predictor_rejects_bad_options(model_path):
    with pytest.raises(ValueError, match="CUDA"):
        Predictor.from_spec(model_path, device="cpu", precision="fp16")
    with pytest.raises(CheckpointError):
        Predictor.from_spec("builtin:no-such-model", device="cpu")


# ---------------------------------------------------------------------- the loop
class OraclePredictor:
    """Returns the ground truth of the samples it is given, in order: a perfect model."""

    skeleton = JTA22
    batch_size = 3

    def __init__(self, samples):
        self.pending = list(samples)

    def __call__(self, images):
        out = []
        for image in images:
            sample = self.pending.pop(0)
            assert image is sample.image or np.array_equal(image, sample.image)
            rel, _ = normalize_pose(sample.kp3d.astype(np.float64), JTA22, sample.kp3d_valid)
            out.append(
                Poses(
                    boxes=sample.boxes,
                    scores=np.linspace(1.0, 0.5, len(sample)),
                    kp2d=sample.kp2d,
                    kp3d_rel=rel,
                )
            )
        return out


def test_a_perfect_model_scores_100(data_dir):
    samples = load_samples(data_dir)
    result = evaluate(OraclePredictor([samples[i] for i in range(len(samples))]), samples)
    assert result.num_images == len(samples) == 4
    assert result.ap == pytest.approx(100.0)
    assert result.pck3d == pytest.approx(100.0)
    assert result.mpjpe_mm == pytest.approx(0.0, abs=1e-2)


def test_load_samples_steps_and_limits(data_dir):
    assert len(load_samples(data_dir)) == 4
    assert [s.frame for s in load_samples(data_dir, frame_step=2)] == [1, 3]
    assert [s.frame for s in load_samples(data_dir, max_frames=2)] == [1, 4]
    with pytest.raises(DatasetError, match="not found"):
        load_samples(f"mupots:{data_dir / 'nowhere'}")
    with pytest.raises(ValueError, match="max-frames"):
        load_samples(data_dir, max_frames=0)
