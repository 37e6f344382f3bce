"""`crowdpose3d calibrate` and the lift stage's ``camera: auto`` on a small generated clip
with the shipped model (its real detections, not the clip's labels)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdpose3d.data.synth import SynthConfig, write_sequence
from crowdpose3d.geometry.camera import Camera
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.tracks.schema import GROUND_COLUMNS, read_part_metadata

# A crowd seen from 6 m at 25 degrees with a 60-degree lens: 3 s at 10 fps, 512x320.
HEIGHT_M, PITCH_DEG, FOV_DEG = 6.0, 25.0, 60.0
CLIP_SEED = 9301  # a test seed: not a benchmark (16001.., 17001..) or training seed


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crowdpose3d.cli", *args], capture_output=True, text=True
    )


def make_clip(folder: Path, people: tuple[int, int]) -> tuple[Path, Camera]:
    config = SynthConfig(
        num_frames=30,
        fps=10.0,
        width=512,
        height=320,
        min_people=people[0],
        max_people=people[1],
        distance_range_m=(4.0, 25.0),
        camera_height_m=(HEIGHT_M, HEIGHT_M),
        camera_pitch_deg=(PITCH_DEG, PITCH_DEG),
        horizontal_fov_deg=(FOV_DEG, FOV_DEG),
    )
    paths = write_sequence(folder, "test", 1, config, seed=CLIP_SEED)
    return paths["video"], Camera.from_dict(json.loads(paths["camera"].read_text()))


@pytest.fixture(scope="module")
def crowd_clip(tmp_path_factory) -> tuple[Path, Camera]:
    return make_clip(tmp_path_factory.mktemp("crowd"), (25, 30))


def close_to_truth(summary: dict) -> None:
    """Loose bounds: 3 s of a small clip, not the benchmark's targets."""
    assert abs(summary["pitch_deg"] - PITCH_DEG) < 6
    assert abs(summary["height_m"] / HEIGHT_M - 1) < 0.35
    assert abs(summary["fov_deg"] / FOV_DEG - 1) < 0.35
    for key in ("fov_sigma_deg", "pitch_sigma_deg", "roll_sigma_deg", "height_sigma_m"):
        assert 0 < summary[key] < 50


@pytest.mark.slow
def test_calibrate_writes_a_camera_file_the_lift_reads(crowd_clip, tmp_path):
    video, _ = crowd_clip
    out = tmp_path / "camera.json"
    result = run_cli("calibrate", str(video), "-o", str(out), "--seconds", "3", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "pitch" in result.stderr
    data = json.loads(out.read_text())
    close_to_truth(data["self_calibration"])
    camera = Camera.from_dict(data)  # what the lift stage's camera_file reads
    assert camera.centre[2] == pytest.approx(data["self_calibration"]["height_m"])
    assert camera.pitch_deg == pytest.approx(data["self_calibration"]["pitch_deg"])


@pytest.mark.slow
def test_lift_camera_auto_fills_the_ground_plane_and_metadata(crowd_clip, tmp_path):
    video, _ = crowd_clip
    config = {
        "source": {"type": "video", "uri": str(video)},
        "stages": [
            {"type": "pandanet", "device": "cpu"},
            {"type": "lift", "camera": "auto", "auto_seconds": 2.0},
            {"type": "track"},
        ],
        "sinks": [{"type": "parquet", "path": str(tmp_path / "tracks")}],
    }
    runner = PipelineRunner(validate_pipeline(config), StageContext(overwrite=True))
    runner.open()
    runner.run()
    tracks = pd.read_parquet(tmp_path / "tracks")
    assert len(tracks) > 50
    # Held until the first estimate: every row has the estimated ground plane.
    assert np.isfinite(tracks[list(GROUND_COLUMNS)].to_numpy()).all()
    parts = sorted((tmp_path / "tracks").glob("part-*.parquet"))
    info = read_part_metadata(parts[-1])
    assert info["camera_source"] == "auto" and info["ground_plane"] is True
    calibration = info["self_calibration"]
    assert calibration["ready"] is True and calibration["ready_frame"] == 0
    close_to_truth(calibration)
    assert info["camera_height_m"] == pytest.approx(calibration["height_m"])


def test_calibrate_bad_input_is_one_line(tmp_path):
    missing = run_cli("calibrate", str(tmp_path / "nope.mp4"))
    assert missing.returncode == 2
    assert "video file not found" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    seconds = run_cli("calibrate", str(tmp_path / "nope.mp4"), "--seconds", "0")
    assert seconds.returncode == 2 and "--seconds must be > 0" in seconds.stderr


@pytest.mark.slow
def test_calibrate_without_people_says_so(tmp_path):
    video, _ = make_clip(tmp_path / "empty", (0, 0))
    result = run_cli("calibrate", str(video), "--seconds", "1", "--device", "cpu")
    assert result.returncode == 2
    assert "too few whole, upright people" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_lift_refuses_auto_with_a_given_camera():
    from crowdpose3d.stages.lift import LiftParams

    with pytest.raises(ValueError, match="camera: auto estimates the camera"):
        LiftParams(camera="auto", height_m=5.0, pitch_deg=20.0)


def test_track_camera_auto_option():
    import argparse

    from crowdpose3d.cli import _camera_options

    args = argparse.Namespace(camera="auto", fov=70.0, camera_height=None, camera_pitch=None)
    assert _camera_options(args) == {"camera": "auto", "fov_deg": 70.0}


def test_the_default_pipeline_estimates_the_camera_unless_one_is_given():
    """camera: auto is the default pipeline's: it estimates the lens too unless a lens is
    given (fov_deg, fx); a camera file or height and pitch replace the estimate; camera:
    none (--camera none) keeps the lift without a ground plane."""
    from crowdpose3d.pipeline.defaults import default_pipeline
    from crowdpose3d.stages.lift import LiftParams

    def lift(camera):
        stages = default_pipeline("clip.mp4", "out", camera=camera)["stages"]
        options = next(s for s in stages if s["type"] == "lift")
        return LiftParams(**{k: v for k, v in options.items() if k != "type"})

    for default in (lift(None), lift({"camera": "auto"})):
        assert default.camera == "auto" and "fov_deg" not in default.model_fields_set
    assert lift({"fov_deg": 70.0}).camera == "auto" and lift({"fov_deg": 70.0}).fov_deg == 70
    given = lift({"height_m": 5.0, "pitch_deg": 20.0})
    assert given.camera is None and given.height_m == 5.0
    assert lift({"camera_file": "camera.json"}).camera is None
    assert lift({"camera": "none"}).camera == "none"
    with pytest.raises(ValueError, match="camera: auto estimates the camera"):
        lift({"camera": "auto", "height_m": 5.0, "pitch_deg": 20.0})
