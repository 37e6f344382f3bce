"""The regions stage in a real pipeline on a generated clip: its events against the true
crossings of the synthetic trajectories, the events dataset read back (crash-safe parts),
the live events equal to the offline analysis of the tracks, and the overlay drawing them."""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import with_truth_detector

from crowdpose3d import analysis
from crowdpose3d.demo import make_sample_clip, truth_table
from crowdpose3d.geometry.camera import Camera
from crowdpose3d.pipeline.config import ConfigError, validate_pipeline
from crowdpose3d.pipeline.defaults import default_pipeline
from crowdpose3d.pipeline.runner import PipelineError, PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.stages.track import TrackParams
from crowdpose3d.tracks.events import LINE_CROSSING, ZONE_OCCUPANCY, read_events
from crowdpose3d.tracks.regions import Line, Zone
from crowdpose3d.tracks.schema import PART_GLOB, read_part_metadata

# Ground lines (metres, the lift's ground frame) that walkers of the clip cross both ways.
LINES = {
    **{f"x{x}": ((float(x), 0.0), (float(x), 50.0)) for x in (-6, -3, 0, 3, 6)},
    **{f"y{y}": ((-30.0, float(y)), (30.0, float(y))) for y in (10, 15, 20, 25, 30)},
}
BAND_M = 0.3  # dead band of the ground lines: the lifted positions jitter by centimetres
# Hits before the track stage outputs a track (the default pipeline keeps the default).
MIN_HITS = TrackParams.model_fields["min_hits_to_confirm"].default
ZONE = ((-2.0, 5.0), (2.0, 5.0), (2.0, 25.0), (-2.0, 25.0))  # 4 m x 20 m = 80 m^2


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_sample_clip(tmp_path_factory.mktemp("clip"), frames=60, people=(8, 12))


def ground_truth(clip) -> pd.DataFrame:
    """The true people with their ground position in the lift's ground frame: the camera
    file's height and pitch, origin below the camera, y forward."""
    truth = truth_table(clip.root)
    camera = Camera.from_dict(json.loads(clip.camera.read_text()))
    pitch = math.degrees(math.asin(-camera.rotation[2][2]))
    ground = Camera.looking_at_ground(camera.intrinsics, camera.centre[2], pitch)
    roots = truth[["root_x_m", "root_y_m", "root_z_m"]].to_numpy()
    xy = ground.camera_to_world(roots)[:, :2]
    return truth.assign(gx=xy[:, 0], gy=xy[:, 1]).sort_values(["id", "frame"])


def true_crossings(truth: pd.DataFrame, a, b, band: float, skip: int) -> dict[str, int]:
    """Crossings of segment a-b by the true (noise-free) trajectories, by direction,
    computed directly (not with crowdpose3d.tracks.regions): sign changes between samples
    clear of the dead band ``band``, from each person's ``skip``-th visible frame on (the
    tracker outputs a track from its MIN_HITS-th hit, so a crossing before it cannot be seen)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    counts = {"left_to_right": 0, "right_to_left": 0}
    for _, person in truth.groupby("id"):
        p = person[["gx", "gy"]].to_numpy()[skip:]
        side = (d[0] * (p[:, 1] - a[1]) - d[1] * (p[:, 0] - a[0])) / np.hypot(*d)  # > 0 left
        p, side = p[np.abs(side) > band], side[np.abs(side) > band]
        for i in np.flatnonzero(np.sign(side[1:]) != np.sign(side[:-1])):
            f = side[i] / (side[i] - side[i + 1])
            along = (p[i] + f * (p[i + 1] - p[i]) - a) @ d / (d @ d)
            if 0 <= along <= 1:
                counts["left_to_right" if side[i] > 0 else "right_to_left"] += 1
    return counts


def regions_stage() -> dict:
    return {
        "type": "regions",
        "interval_s": 1.0,
        "lines": [
            {"name": name, "a": list(a), "b": list(b), "space": "ground", "band": BAND_M}
            for name, (a, b) in LINES.items()
        ],
        "zones": [{"name": "aisle", "polygon": [list(v) for v in ZONE], "space": "ground"}],
        "per_source": {"seq_1": {"lines": [{"name": "mid", "a": [256, 0], "b": [256, 320]}]}},
    }


def pipeline(clip, tmp_path, **extra_sinks) -> dict:
    config = default_pipeline(
        str(clip.video), str(tmp_path / "tracks"), camera={"camera_file": str(clip.camera)}
    )
    with_truth_detector(config, clip.root, noise_px=1.0, miss_rate=0.0)
    config["stages"].append(regions_stage())
    config["sinks"].append({"type": "events", "path": str(tmp_path / "events")})
    config["sinks"] += [{"type": kind, **options} for kind, options in extra_sinks.items()]
    return config


def run(config: dict, context: StageContext | None = None) -> None:
    runner = PipelineRunner(validate_pipeline(config), context or StageContext())
    runner.open()
    runner.run()


@pytest.mark.slow
def test_live_events_match_the_true_crossings_and_the_offline_analysis(clip, tmp_path):
    overlay = tmp_path / "overlay.mp4"
    run(pipeline(clip, tmp_path, overlay={"path": str(overlay)}))
    events = read_events(tmp_path / "events")
    assert not list((tmp_path / "events").glob(".*"))  # no temporary left
    assert events["source"].unique().tolist() == ["seq_1"]
    truth = ground_truth(clip)
    crossings = events[events["kind"] == LINE_CROSSING]
    total = 0
    for name, (a, b) in LINES.items():
        found = crossings[crossings["region"] == name]["direction"].value_counts().to_dict()
        expected = true_crossings(truth, a, b, BAND_M, skip=MIN_HITS - 1)
        assert {k: found.get(k, 0) for k in expected} == expected, name
        total += sum(expected.values())
    assert total >= 10  # measured: 11 true crossings of these lines in the clip
    assert (crossings[crossings["region"] == "mid"]["space"] == "image").all()
    # Occupancy of the ground zone in people per m^2, every interval of 1 s.
    occupancy = events[events["kind"] == ZONE_OCCUPANCY]
    assert occupancy["interval_start_s"].tolist() == [float(k) for k in range(6)]
    inside = truth[(truth["gx"].abs() < 2) & (truth["gy"].between(5, 25))]
    true_mean = inside.groupby("frame").size().reindex(range(60), fill_value=0).mean()
    found_mean = (occupancy["mean_people"] * occupancy["frames"]).sum() / 60
    assert found_mean == pytest.approx(true_mean, abs=0.35)  # tracks start after 3 hits
    assert occupancy["people_per_m2"].to_numpy() == pytest.approx(
        occupancy["mean_people"].to_numpy() / 80.0
    )
    # The offline analysis of the written tracks gives the same events (one implementation).
    tracks = analysis.read_tracks(tmp_path / "tracks")
    lines = [Line(n, a, b, "ground", BAND_M) for n, (a, b) in LINES.items()]
    lines.append(Line("mid", (256, 0), (256, 320), "image"))
    offline = analysis.region_events(
        tracks,
        lines,
        [Zone("aisle", ZONE, "ground")],
        interval_s=1.0,
        frame_index=analysis.read_frame_index(tmp_path / "tracks"),
    )
    columns = ["kind", "region", "frame", "track_id", "direction", "reason"]
    live = events.sort_values(["time_s", "kind", "region", "track_id"], ignore_index=True)
    offline = offline.sort_values(["time_s", "kind", "region", "track_id"], ignore_index=True)
    pd.testing.assert_frame_equal(live[columns], offline[columns])
    np.testing.assert_allclose(live["time_s"], offline["time_s"], atol=1e-9)
    np.testing.assert_allclose(live["x"], offline["x"], atol=1e-4)  # float32 in the tracks
    # The overlay drew the regions: the amber line at x = 256 shows in the frames.
    with av.open(str(overlay)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    column = image[:, 254:259].reshape(-1, 3).astype(int)
    amber = (column[:, 0] > 200) & (column[:, 1] > 150) & (column[:, 2] < 90)
    assert amber.mean() > 0.5


@pytest.mark.slow
def test_ground_regions_without_a_ground_plane_are_one_clear_error(clip, tmp_path):
    config = pipeline(clip, tmp_path)
    config["stages"][1] = {"type": "lift", "fov_deg": 60}  # no height or pitch
    with pytest.raises(PipelineError, match="regions failed: .* no ground plane; give the lift"):
        run(config)


@pytest.mark.slow
def test_ground_regions_wait_for_the_camera_from_the_people(clip, tmp_path):
    """With the lift's camera: auto on a stream that is not held, the rows before the first
    estimate have no ground position: the regions stage counts nobody there, then counts."""
    config = pipeline(clip, tmp_path)
    config["stages"][1] = {
        "type": "lift",
        "camera": "auto",
        "auto_seconds": 1,
        "auto_refine_seconds": 0.5,
        "auto_hold": False,
    }
    run(config)
    events = read_events(tmp_path / "events")
    last_part = sorted((tmp_path / "tracks").glob(PART_GLOB))[-1]
    ready = read_part_metadata(last_part)["self_calibration"]["ready_frame"]
    occupancy = events[events.kind == ZONE_OCCUPANCY]
    assert ready is not None and ready > 0
    assert (occupancy[occupancy.frame < ready].mean_people == 0).all()
    assert occupancy.mean_people.max() > 0


def test_bad_region_entries_are_refused_before_anything_runs(tmp_path):
    config = {
        "source": {"type": "video", "uri": str(tmp_path / "x.mp4")},
        "stages": [{"type": "regions", "lines": [{"name": "a", "a": [0, 0], "b": [0, 0]}]}],
        "sinks": [{"type": "events", "path": str(tmp_path / "events")}],
    }
    with pytest.raises(ConfigError, match="two different points"):
        validate_pipeline(config)
    config["stages"][0] = {"type": "regions", "zones": [{"name": "z", "polygon": [[0, 0]]}]}
    with pytest.raises(ConfigError, match="polygon"):
        validate_pipeline(config)
    config["stages"][0] = {
        "type": "regions",
        "lines": [{"name": "a", "a": [0, 0], "b": [1, 0], "space": "world"}],
    }
    with pytest.raises(ConfigError, match="space"):
        validate_pipeline(config)


def test_the_example_pipeline_file_is_valid(tmp_path):
    from crowdpose3d.pipeline.config import read_pipeline
    from crowdpose3d.pipeline.defaults import default_pipeline_path

    path = default_pipeline_path().parent / "regions_events.yaml"
    camera = tmp_path / "camera.json"
    camera.write_text("{}")
    variables = {"input": "clip.mp4", "output": str(tmp_path), "camera": str(camera)}
    config = validate_pipeline(read_pipeline(path, variables))
    types = [entry.type for _, entry in config.entries()]
    assert types == ["video", "pandanet", "verify", "lift", "track", "regions"] + [
        "parquet",
        "events",
        "mqtt",
    ]
