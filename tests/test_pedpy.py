"""crowdpose3d.analysis.to_pedpy on the tracks of a generated clip, analysed by PedPy itself:
Voronoi density and speed in a measurement area and the fundamental diagram, against the
same computed on the clip's true trajectories."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdpose3d import analysis
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.defaults import default_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

pedpy = pytest.importorskip("pedpy", reason="needs the pedpy extra")
sys.path.insert(0, str(Path(__file__).parent))
from pipeline_helpers import with_truth_detector  # noqa: E402 - after the path
from test_regions_pipeline import clip, ground_truth  # noqa: E402, F401 - the clip fixture

FRAME_STEP = 3  # PedPy's speed: positions FRAME_STEP frames apart on each side
MEASUREMENT_AREA = [(-8, 4), (10, 4), (10, 34), (-8, 34)]  # metres on the ground plane


@pytest.fixture(scope="module")
def tracks_folder(clip, tmp_path_factory):  # noqa: F811 - the imported fixture
    folder = tmp_path_factory.mktemp("pedpy") / "tracks"
    config = default_pipeline(
        str(clip.video), str(folder), camera={"camera_file": str(clip.camera)}
    )
    with_truth_detector(config, clip.root, noise_px=1.0, miss_rate=0.0)
    runner = PipelineRunner(validate_pipeline(config), StageContext())
    runner.open()
    runner.run()
    return folder


def fundamental_diagram(traj) -> pd.DataFrame:
    """Per frame: Voronoi density (1/m^2) and Voronoi speed (m/s) in the measurement area."""
    positions = traj.data[["x", "y"]].to_numpy()
    low, high = positions.min(axis=0) - 5, positions.max(axis=0) + 5
    walkable = pedpy.WalkableArea(
        [(low[0], low[1]), (high[0], low[1]), (high[0], high[1]), (low[0], high[1])]
    )
    area = pedpy.MeasurementArea(MEASUREMENT_AREA)
    # No cut-off: in a sparse scene the cells then tile the area, and the Voronoi speed is
    # the area-weighted mean speed of the people there.
    cells = pedpy.compute_individual_voronoi_polygons(traj_data=traj, walkable_area=walkable)
    density, intersection = pedpy.compute_voronoi_density(
        individual_voronoi_data=cells, measurement_area=area
    )
    speed = pedpy.compute_individual_speed(  # adaptive: a speed at a track's ends too
        traj_data=traj,
        frame_step=FRAME_STEP,
        speed_calculation=pedpy.SpeedCalculation.BORDER_ADAPTIVE,
    )
    # People seen for too few frames have no speed; PedPy wants the two tables to agree.
    intersection = intersection.merge(speed[["id", "frame"]], on=["id", "frame"])
    voronoi_speed = pedpy.compute_voronoi_speed(
        traj_data=traj,
        individual_speed=speed,
        individual_voronoi_intersection=intersection,
        measurement_area=area,
    )
    return density.merge(voronoi_speed, on="frame")


@pytest.mark.slow
def test_to_pedpy_gives_ground_metres_and_the_frame_rate_of_the_metadata(tracks_folder):
    traj = analysis.to_pedpy(tracks_folder)
    tracks = analysis.read_tracks(tracks_folder)
    assert traj.frame_rate == 10.0  # the clip's fps, from the parts' metadata
    assert len(traj.data) == len(tracks)
    assert traj.data["x"].to_numpy() == pytest.approx(
        tracks.sort_values(["track_id", "frame"])["ground_x_m"].to_numpy(), abs=1e-6
    )
    assert analysis.to_pedpy(tracks, source="seq_1").frame_rate == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no source 'cam9'"):
        analysis.to_pedpy(tracks, source="cam9")
    with pytest.raises(ValueError, match="no ground-plane positions"):
        analysis.to_pedpy(tracks.assign(ground_x_m=np.nan), frame_rate=10)


@pytest.mark.slow
def test_voronoi_density_speed_and_fundamental_diagram_match_the_truth(clip, tracks_folder):  # noqa: F811
    ours = fundamental_diagram(analysis.to_pedpy(tracks_folder))
    truth = ground_truth(clip)
    true_traj = pedpy.TrajectoryData(
        data=truth.rename(columns={"gx": "x", "gy": "y"})[["id", "frame", "x", "y"]],
        frame_rate=10.0,
    )
    expected = fundamental_diagram(true_traj)
    both = ours.merge(expected, on="frame", suffixes=("", "_true"))
    assert len(both) >= 40  # frames with a density and a speed in both
    assert {"density", "speed"} <= set(ours.columns)
    assert (both["density"] > 0).all() and np.isfinite(both["speed"]).all()
    # Measured on this clip (59 frames): mean density 0.00695 / m^2 against 0.00694 true,
    # mean Voronoi speed 1.079 m/s against 1.081 true (a sparse scene in a 540 m^2 area).
    assert both["density"].mean() == pytest.approx(both["density_true"].mean(), rel=0.05)
    assert both["speed"].mean() == pytest.approx(both["speed_true"].mean(), rel=0.05)
