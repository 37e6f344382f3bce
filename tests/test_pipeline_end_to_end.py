"""End to end on a generated clip with ground truth: tracks read back with pandas, scored
with MOTA / IDF1, lifted root positions compared with the true ones in metres."""

from __future__ import annotations

import pandas as pd
import pytest
from pipeline_helpers import with_truth_detector

from crowdpose3d.demo import compare_with_truth, make_sample_clip, truth_table
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.defaults import default_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext, StageError
from crowdpose3d.poses import Poses


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_sample_clip(tmp_path_factory.mktemp("clip"), frames=40, people=(6, 10))


def run_pipeline(config: dict) -> None:
    runner = PipelineRunner(validate_pipeline(config), StageContext())
    runner.open()
    runner.run()


@pytest.mark.slow
def test_lift_and_track_after_an_oracle_detector_recover_identities_and_positions(clip, tmp_path):
    output = tmp_path / "tracks"
    config = default_pipeline(
        str(clip.video), str(output), camera={"camera_file": str(clip.camera)}
    )
    with_truth_detector(config, clip.root, noise_px=1.0, miss_rate=0.05)
    run_pipeline(config)
    tracks = pd.read_parquet(output)
    found = compare_with_truth(tracks, truth_table(clip.root))
    # Tracks need min_hits_to_confirm (3) frames before they are output, and 5 % of the
    # detections are dropped: MOTA cannot reach 1 (measured: MOTA 0.86, IDF1 0.93, 0
    # switches, root error median 0.07 m, depth 0.2 %).
    assert found["mota"] > 0.8, found
    assert found["idf1"] > 0.85, found
    assert found["id_switches"] <= 2, found
    # Ground plane known (the clip's camera): scale and position from the feet.
    assert found["root_error_median_m"] < 0.25, found
    assert found["root_depth_error_median_pct"] < 3.0, found
    assert {"ground_x_m", "ground_y_m", "scale_m"} <= set(tracks.columns)
    assert tracks["ground_x_m"].notna().all()


@pytest.mark.slow
def test_the_shipped_model_runs_the_default_pipeline(clip, tmp_path):
    output = tmp_path / "tracks"
    overlay = tmp_path / "overlay.mp4"
    mot = tmp_path / "mot.txt"
    run_pipeline(
        default_pipeline(
            str(clip.video),
            str(output),
            camera={"camera_file": str(clip.camera)},
            overlay=str(overlay),
            mot=str(mot),
        )
    )
    tracks = pd.read_parquet(output)
    truth = truth_table(clip.root)
    found = compare_with_truth(tracks, truth)
    assert found["matched_for_root_error"] > 0.3 * len(truth)  # most people are found
    assert found["root_depth_error_median_pct"] < 15
    assert overlay.stat().st_size > 10_000
    lines = mot.read_text().splitlines()
    assert len(lines) == len(tracks) and lines[0].count(",") == 9


@pytest.mark.slow
def test_the_public_api_tracks_a_video_and_reads_the_tracks_back(clip, tmp_path):
    import crowdpose3d

    output = tmp_path / "tracks"
    seen = []
    report = crowdpose3d.track(
        clip.video,
        output,
        device="cpu",
        camera={"camera_file": str(clip.camera)},
        on_frame=lambda frame: seen.append(frame.index),
    )
    assert report.frames == len(seen) == 40
    tracks = crowdpose3d.read_tracks(output)
    assert tracks.equals(crowdpose3d.read_tracks(str(output)))
    found = compare_with_truth(tracks, truth_table(clip.root))
    assert found["matched_for_root_error"] > 0.3 * len(truth_table(clip.root))
    with pytest.raises(StageError, match="--overwrite"):
        crowdpose3d.track(clip.video, output, device="cpu")
    assert crowdpose3d.Predictor.from_spec("builtin:crowd-small", device="cpu").name
    assert crowdpose3d.Poses is Poses
