"""crowdpose3d.analysis on synthetic tracks written by the real Parquet sink.

Each scene places people at known positions and speeds, so speeds, crossings, densities
and dwell times have exact expected values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crowdpose3d import analysis
from crowdpose3d.pipeline.facts import RunFacts
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.poses import Poses
from crowdpose3d.stages.parquet import ParquetParams, ParquetSink
from crowdpose3d.tracks.schema import tracks_schema

JOINTS = ["pelvis", "neck", "head"]


@dataclass
class Walker:
    """One person: the frames they are seen in and their planar position there (m)."""

    track_id: int
    frames: np.ndarray  # (n,) frame indices
    xy: np.ndarray  # (n, 2) ground (x, y) or, without a ground plane, camera (x, z)


def walk(track_id, start_frame, num_frames, fps, start_xy, velocity_mps, every=1):
    """A walker at constant velocity, seen every ``every`` frames."""
    frames = np.arange(start_frame, start_frame + num_frames, every)
    seconds = (frames - start_frame) / fps
    xy = np.asarray(start_xy, float) + seconds[:, None] * np.asarray(velocity_mps, float)
    return Walker(track_id, frames, xy)


def stand(track_id, frames, xy):
    frames = np.asarray(frames)
    return Walker(track_id, frames, np.tile(np.asarray(xy, float), (len(frames), 1)))


def write_scene(
    directory: Path,
    source_id: str,
    walkers: list[Walker],
    num_frames: int,
    fps: float,
    ground_plane: bool = True,
    rows_per_part: int = 10_000,
    start_time_s: float = 0.0,
) -> list[Path]:
    """Run the Parquet sink over frames holding ``walkers``; returns the part files.

    With a ground plane the ground position is the walker's xy and the camera root sits
    100 m away (so using the wrong one shows); without one the root is (x, 1.0, y).
    """
    frames = []
    for index in range(num_frames):
        seen = [(w, np.flatnonzero(w.frames == index)) for w in walkers]
        seen = [(w, rows[0]) for w, rows in seen if len(rows)]
        n, k = len(seen), len(JOINTS)
        xy = np.array([w.xy[row] for w, row in seen]).reshape(n, 2)
        ids = np.array([w.track_id for w, _ in seen], dtype=np.int64)
        offset = 100.0 if ground_plane else 0.0
        root = np.stack([xy[:, 0] + offset, np.ones(n), xy[:, 1] + offset], axis=1)
        joint = np.arange(k)
        kp2d = np.stack(
            [ids[:, None] * 10.0 + joint, index + 0.25 * joint + 0 * ids[:, None]], axis=-1
        )
        data = {"ground_xy": xy if ground_plane else np.full((n, 2), np.nan)}
        poses = Poses(
            boxes=np.tile([10.0, 20.0, 30.0, 80.0], (n, 1)) + ids[:, None],
            scores=np.full(n, 0.9),
            kp2d=kp2d,
            kp3d_rel=np.zeros((n, k, 3)),
            kp3d=root[:, None, :] + 0.1 * joint[None, :, None],
            root=root,
            track_id=ids,
            data=data,
        )
        frames.append(Frame(source_id, index, start_time_s + index / fps, None, poses=poses))
    sink = ParquetSink(ParquetParams(path=str(directory), rows_per_part=rows_per_part))
    run_info = {
        "source_id": source_id,
        "fps": fps,
        "joint_names": JOINTS,
        "ground_plane": ground_plane,
    }
    sink.open(StageContext(facts=RunFacts(**run_info)))
    for _ in sink(iter(frames)):
        pass
    sink.close()
    return sink.parts_written


def crowd(directory: Path, source_id: str = "cam") -> pd.DataFrame:
    """Three walkers (written in descending track order) read back."""
    walkers = [
        walk(7, 0, 30, 10.0, (0, 0), (1.0, 0)),
        walk(5, 5, 30, 10.0, (0, 2), (0, 1.0)),
        walk(3, 0, 20, 10.0, (4, 4), (-0.5, -0.5)),
    ]
    write_scene(directory, source_id, walkers, 40, 10.0, rows_per_part=25)
    return analysis.read_tracks(directory)


# ------------------------------------------------------------------------------ reading


def test_read_tracks_types_order_and_columns(tmp_path):
    tracks = crowd(tmp_path / "run")
    assert list(tracks.columns) == tracks_schema(JOINTS).names
    assert len(tracks) == 30 + 30 + 20
    assert isinstance(tracks["source"].dtype, pd.StringDtype)
    assert tracks["frame"].dtype == np.int64 and tracks["track_id"].dtype == np.int64
    assert tracks["time_s"].dtype == np.float64
    assert tracks["score"].dtype == np.float32 and tracks["head_z"].dtype == np.float32
    keys = tracks[["frame", "track_id"]].to_numpy()
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    assert np.array_equal(order, np.arange(len(tracks)))  # sorted though written 7, 5, 3
    assert tracks.loc[0, ["frame", "track_id"]].tolist() == [0, 3]


def test_read_tracks_many_directories_glob_and_no_duplicates(tmp_path):
    crowd(tmp_path / "root" / "cam_a", "cam_a")
    crowd(tmp_path / "root" / "cam_b", "cam_b")
    root = tmp_path / "root"
    listed = analysis.read_tracks([root / "cam_a", root / "cam_b"])
    assert listed["source"].value_counts().to_dict() == {"cam_a": 80, "cam_b": 80}
    assert listed["source"].is_monotonic_increasing
    for paths in (
        str(root / "cam_*"),
        f"{root}/*/part-*.parquet",
        f"{root}/**/*.parquet",
        root,  # searched recursively
        [root / "cam_a", root / "cam_b", root / "cam_a"],  # a folder named twice reads once
    ):
        pd.testing.assert_frame_equal(analysis.read_tracks(paths), listed)
    only_a = analysis.read_tracks(str(root / "*_a"))
    assert set(only_a["source"]) == {"cam_a"} and len(only_a) == 80


def test_read_tracks_hive_partitions_give_one_string_source_column(tmp_path):
    root = tmp_path / "dataset"
    crowd(root / "source=cam1", "cam1")
    crowd(root / "source=cam2", "cam2")
    # A partition written without the source column (as pandas' partition_cols does).
    table = pq.read_table(root / "source=cam2" / "part-000000.parquet").drop_columns("source")
    (root / "source=cam3").mkdir()
    pq.write_table(table, root / "source=cam3" / "part-000000.parquet")
    tracks = analysis.read_tracks(root)
    assert list(tracks.columns).count("source") == 1
    assert isinstance(tracks["source"].dtype, pd.StringDtype)
    assert tracks["source"].value_counts().to_dict() == {"cam1": 80, "cam2": 80, "cam3": 25}
    assert tracks["frame"].dtype == np.int64
    # One partition folder named directly still gets its key.
    cam3 = analysis.read_tracks(root / "source=cam3")
    assert set(cam3["source"]) == {"cam3"}
    assert set(analysis.read_tracks(f"{root}/source=cam[12]")["source"]) == {"cam1", "cam2"}


@pytest.mark.parametrize("kind", ["missing folder", "glob", "empty folder", "temporary only"])
def test_read_tracks_says_when_nothing_matches(tmp_path, kind):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".part-000000.tmp").write_bytes(b"half written")
    path = {
        "missing folder": tmp_path / "nowhere",
        "glob": f"{tmp_path}/run-*",
        "empty folder": tmp_path,
        "temporary only": empty,
    }[kind]
    with pytest.raises(ValueError, match="no tracks part files") as error:
        analysis.read_tracks(path)
    assert "\n" not in str(error.value)


def test_frame_index_counts_frames_with_nobody_as_zero(tmp_path):
    walker = walk(1, 10, 20, 10.0, (0, 0), (1.0, 0))  # seen in frames 10..29 of 50
    parts = write_scene(tmp_path / "run", "cam", [walker], 50, 10.0, rows_per_part=5)
    assert len(parts) == 5  # the last part covers frames 30..49 and holds no row
    tracks = analysis.read_tracks(tmp_path / "run")
    index = analysis.read_frame_index(tmp_path / "run")
    assert index["frame"].tolist() == list(range(50))
    assert np.allclose(index["time_s"], np.arange(50) / 10.0)
    assert len(analysis.density(tracks)) == 20
    counts = analysis.density(tracks, frame_index=index)
    assert counts["frame"].tolist() == list(range(50))
    expected = np.zeros(50, int)
    expected[10:30] = 1
    assert counts["people"].tolist() == expected.tolist()
    assert counts["people"].dtype == np.int64
    assert np.allclose(counts["time_s"], np.arange(50) / 10.0)


def test_empty_frames_get_the_stream_time_of_their_source(tmp_path):
    # A live stream whose clock starts at 100 s: the index's nominal frame / fps is shifted.
    walker = walk(1, 10, 5, 10.0, (0, 0), (1.0, 0))
    write_scene(tmp_path / "run", "live", [walker], 20, 10.0, start_time_s=100.0)
    tracks = analysis.read_tracks(tmp_path / "run")
    counts = analysis.density(tracks, frame_index=analysis.read_frame_index(tmp_path / "run"))
    assert np.allclose(counts["time_s"], 100.0 + np.arange(20) / 10.0)
    assert counts["people"].sum() == 5
    some = analysis.read_tracks(tmp_path / "run", columns=["time_s"])
    assert list(some.columns) == ["source", "frame", "time_s", "track_id"]


# ------------------------------------------------------------------------- long / wide


def test_long_and_wide_round_trip_exactly(tmp_path):
    tracks = crowd(tmp_path / "run")
    long = analysis.to_long(tracks)
    assert list(long.columns) == [
        "source", "frame", "time_s", "track_id", "joint", "u", "v", "x_m", "y_m", "z_m"
    ]  # fmt: skip
    assert len(long) == len(tracks) * len(JOINTS)
    head = long[(long["track_id"] == 5) & (long["frame"] == 12) & (long["joint"] == "head")]
    assert head[["u", "v"]].to_numpy().tolist() == [[52.0, 12.5]]
    assert long["u"].dtype == np.float32
    joint_columns = [f"{j}_{c}" for j in JOINTS for c in "uvxyz"]
    keys = list(analysis.KEY_COLUMNS)
    pd.testing.assert_frame_equal(
        analysis.to_wide(long), tracks[keys + joint_columns], check_exact=True
    )
    # Keeping every scalar column gives the whole table back.
    scalars = [c for c in tracks.columns if c not in joint_columns]
    wide = analysis.to_wide(analysis.to_long(tracks, keep=scalars))
    pd.testing.assert_frame_equal(wide, tracks, check_exact=True)
    # Shuffled long rows still go back to the same people.
    shuffled = long.sample(frac=1.0, random_state=0)
    back = analysis.to_wide(shuffled).sort_values(["frame", "track_id"], ignore_index=True)
    pd.testing.assert_frame_equal(back, tracks[keys + joint_columns], check_exact=True)


def test_to_wide_refuses_people_it_cannot_tell_apart(tmp_path):
    long = analysis.to_long(crowd(tmp_path / "run")).drop(columns="track_id")
    with pytest.raises(ValueError, match="appears twice"):
        analysis.to_wide(long)


# ------------------------------------------------------------------------ trajectories


def test_walking_speed_and_heading(tmp_path):
    fps = 25.0
    angle = np.radians(30.0)
    straight = walk(1, 0, 150, fps, (0, 5), (1.4 * np.cos(angle), 1.4 * np.sin(angle)))
    noisy = walk(2, 0, 150, fps, (10, 5), (0.0, -1.2))
    noisy.xy = noisy.xy + np.random.default_rng(0).normal(0, 0.02, noisy.xy.shape)
    write_scene(tmp_path / "run", "cam", [straight, noisy], 150, fps)
    traj = analysis.trajectories(analysis.read_tracks(tmp_path / "run"), smoothing_window_s=1.0)
    first = traj[traj["track_id"] == 1]
    assert np.allclose(first["speed_mps"], 1.4, rtol=1e-3)  # every sample, ends included
    assert np.allclose(first["heading_deg"], 30.0, atol=0.1)
    assert set(first["frame_of_reference"]) == {"ground"}
    second = traj[traj["track_id"] == 2]
    assert second["speed_mps"].median() == pytest.approx(1.2, rel=0.03)
    assert second["heading_deg"].median() == pytest.approx(-90.0, abs=2.0)
    raw = analysis.trajectories(analysis.read_tracks(tmp_path / "run"), smoothing_window_s=0)
    noisy_raw = raw.loc[raw["track_id"] == 2, "speed_mps"]
    assert noisy_raw.median() > 1.2 * 1.03  # without smoothing the noise shows


def test_speed_comes_from_time_not_frame_count(tmp_path):
    regular = walk(1, 0, 50, 10.0, (0, 0), (1.4, 0))  # 10 fps, every frame
    sparse = walk(1, 0, 150, 30.0, (0, 0), (1.4, 0))  # 30 fps, irregular frames dropped
    keep = np.sort(np.random.default_rng(1).choice(150, 60, replace=False))
    sparse = Walker(1, sparse.frames[keep], sparse.xy[keep])
    write_scene(tmp_path / "a", "ten_fps", [regular], 50, 10.0)
    write_scene(tmp_path / "b", "thirty_fps", [sparse], 150, 30.0)
    tracks = analysis.read_tracks([tmp_path / "a", tmp_path / "b"])
    traj = analysis.trajectories(tracks, smoothing_window_s=0, max_gap_s=1.0)
    for source in ("ten_fps", "thirty_fps"):
        speed = traj.loc[traj["source"] == source, "speed_mps"]
        assert np.allclose(speed, 1.4, rtol=1e-3), source
    smoothed = analysis.trajectories(tracks, smoothing_window_s=0.5)
    assert smoothed["speed_mps"].median() == pytest.approx(1.4, rel=0.03)


def test_smoothing_and_differences_do_not_cross_a_gap(tmp_path):
    # Stands at x=0 for 2 s, unseen for 3 s, then stands at x=5.
    person = Walker(
        1,
        np.r_[np.arange(0, 20), np.arange(50, 70)],
        np.r_[np.zeros((20, 2)), np.tile([5.0, 0.0], (20, 1))],
    )
    write_scene(tmp_path / "run", "cam", [person], 70, 10.0)
    tracks = analysis.read_tracks(tmp_path / "run")
    traj = analysis.trajectories(tracks, smoothing_window_s=1.0, max_gap_s=1.0)
    assert traj["segment"].tolist() == [0] * 20 + [1] * 20
    assert np.array_equal(traj["speed_mps"], np.zeros(40))
    assert traj["x_smooth_m"].tolist() == [0.0] * 20 + [5.0] * 20
    assert traj["heading_deg"].isna().all()  # standing still has no heading
    joined = analysis.trajectories(tracks, smoothing_window_s=1.0, max_gap_s=10.0)
    assert joined["speed_mps"].max() > 0.5  # the same data with the gap bridged


def test_camera_coordinates_are_used_and_flagged_without_ground_plane(tmp_path):
    write_scene(tmp_path / "g", "ground_cam", [walk(1, 0, 30, 10.0, (1, 2), (0, 1.0))], 30, 10)
    depth_walker = walk(2, 0, 30, 10.0, (-1, 4), (0.0, 0.8))  # camera x, z
    write_scene(tmp_path / "c", "plain_cam", [depth_walker], 30, 10.0, ground_plane=False)
    tracks = analysis.read_tracks([tmp_path / "g", tmp_path / "c"])
    traj = analysis.trajectories(tracks, smoothing_window_s=0.3)
    camera = traj[traj["source"] == "plain_cam"]
    ground = traj[traj["source"] == "ground_cam"]
    assert set(camera["frame_of_reference"]) == {"camera"}
    assert set(ground["frame_of_reference"]) == {"ground"}
    plain_rows = tracks[tracks["source"] == "plain_cam"]
    assert np.array_equal(camera["x_m"], plain_rows["root_x_m"].astype(float))
    assert np.array_equal(camera["y_m"], plain_rows["root_z_m"].astype(float))
    assert np.allclose(camera["speed_mps"], 0.8, rtol=1e-3)
    assert np.allclose(ground["x_m"], 1.0)  # the ground position, not the root 100 m away
    assert np.allclose(ground["speed_mps"], 1.0, rtol=1e-3)


# ----------------------------------------------------------------------------- measures


def test_dwell_times_and_time_in_region(tmp_path):
    walkers = [
        walk(1, 0, 50, 10.0, (-0.95, 0), (1.0, 0)),  # inside [0, 2) in frames 10..29
        stand(2, np.arange(5, 15), (5.0, 5.0)),  # never inside
        stand(3, np.arange(0, 10), (1.0, 0.0)),  # always inside
        walk(4, 0, 20, 10.0, (-0.95, 0.5), (1.0, 0)),  # enters between frames 9 and 10
    ]
    write_scene(tmp_path / "run", "cam", walkers, 50, 10.0)
    tracks = analysis.read_tracks(tmp_path / "run")
    plain = analysis.dwell_times(tracks)
    assert plain["track_id"].tolist() == [1, 2, 3, 4]
    assert plain["frames"].tolist() == [50, 10, 10, 20]
    assert plain["duration_s"].tolist() == pytest.approx([4.9, 0.9, 0.9, 1.9], abs=1e-12)
    assert plain["first_time_s"].tolist() == pytest.approx([0.0, 0.5, 0.0, 0.0], abs=1e-12)
    dwell = analysis.dwell_times(tracks, region=(0.0, 2.0, -1.0, 1.0))
    assert dwell["frames_inside"].tolist() == [20, 0, 10, 10]
    # Always inside: the whole duration; entering between two samples: half that step.
    assert dwell["time_inside_s"].tolist() == pytest.approx([2.0, 0.0, 0.9, 0.95], abs=1e-9)
    square = [(0.0, -1.0), (2.0, -1.0), (2.0, 1.0), (0.0, 1.0)]
    as_polygon = analysis.dwell_times(tracks, region=square)
    assert as_polygon["frames_inside"].tolist() == [20, 0, 10, 10]


def test_density_in_a_rectangle_and_a_polygon(tmp_path):
    frame0 = [(0.5, 0.5), (1.5, 1.5), (1.0, 0.2), (2.5, 0.5), (-1.0, 1.0), (1.0, 3.5)]
    walkers = [stand(10 + i, [0], xy) for i, xy in enumerate(frame0)]
    walkers += [stand(20, [1], (0.5, 1.9)), stand(21, [1], (3.0, 3.0))]
    write_scene(tmp_path / "run", "cam", walkers, 5, 10.0, rows_per_part=4)
    tracks = analysis.read_tracks(tmp_path / "run")
    index = analysis.read_frame_index(tmp_path / "run")
    rectangle = analysis.density(tracks, region=(0.0, 2.0, 0.0, 2.0), frame_index=index)
    assert rectangle["people"].tolist() == [6, 2, 0, 0, 0]
    assert rectangle["people_in_region"].tolist() == [3, 1, 0, 0, 0]
    assert rectangle["people_per_m2"].tolist() == [0.75, 0.25, 0.0, 0.0, 0.0]
    triangle = analysis.density(tracks, region=[(0, 0), (4, 0), (0, 4)])  # area 8 m^2
    assert triangle["people_in_region"].tolist() == [4, 1]
    assert triangle["people_per_m2"].tolist() == [0.5, 0.125]
    assert analysis.region_area_m2([(0, 0), (4, 0), (0, 4)]) == 8.0


@pytest.mark.parametrize("region", [(0, 1, 2), [(0, 0), (1, 1)], (0, 0, 0, 1)])
def test_bad_regions_are_refused(region):
    with pytest.raises(ValueError, match="region"):
        analysis.region_polygon(region)


def line_scene(directory: Path) -> pd.DataFrame:
    """Crossings of the line x = 0 from a=(0, -5) to b=(0, 5): left is -x.

    Left to right: three walkers (at 3.05, 4.05, 5.05 s) and the zigzag (1.05 s);
    right to left: two walkers (3.05, 6.55 s) and the zigzag coming back (2.95 s).
    """
    fps = 10.0
    zigzag_x = np.r_[-1.05 + 0.1 * np.arange(21), 0.95 - 0.1 * np.arange(1, 21)]
    walkers = [
        walk(1, 0, 60, fps, (-3.05, -2), (1, 0)),
        walk(2, 10, 60, fps, (-3.05, 0), (1, 0)),
        walk(3, 20, 60, fps, (-3.05, 2), (1, 0)),
        walk(4, 0, 60, fps, (3.05, -1), (-1, 0)),
        walk(5, 35, 60, fps, (3.05, 1), (-1, 0)),
        Walker(6, np.arange(41), np.stack([zigzag_x, np.zeros(41)], 1)),
        walk(7, 0, 60, fps, (-3.05, 8), (1, 0)),  # crosses the line beyond b
        walk(8, 0, 60, fps, (-1.0, -4), (0, 0.1)),  # walks along it
    ]
    write_scene(directory, "gate", walkers, 100, fps)
    return analysis.read_tracks(directory)


def test_line_crossings_count_each_direction(tmp_path):
    tracks = line_scene(tmp_path / "run")
    events = analysis.line_crossings(tracks, a=(0, -5), b=(0, 5))
    counts = analysis.crossing_counts(events)
    assert counts[["source", "left_to_right", "right_to_left", "total"]].values.tolist() == [
        ["gate", 4, 3, 7]
    ]
    assert events["time_s"].tolist() == pytest.approx(
        [1.05, 2.95, 3.05, 3.05, 4.05, 5.05, 6.55], abs=1e-4
    )
    assert events["x_m"].abs().max() < 1e-5
    per_track = analysis.crossing_counts(events, per_track=True).set_index("track_id")
    assert per_track.loc[6, ["left_to_right", "right_to_left"]].tolist() == [1, 1]
    assert 7 not in per_track.index and 8 not in per_track.index
    reverse = analysis.crossing_counts(analysis.line_crossings(tracks, a=(0, 5), b=(0, -5)))
    assert reverse[["left_to_right", "right_to_left"]].values.tolist() == [[3, 4]]


def test_touching_the_line_is_no_crossing_and_passing_through_it_is_one(tmp_path):
    x_touch = np.array([-0.2, -0.1, 0.0, -0.1, -0.2])  # reaches the line, turns back
    x_pass = np.array([0.2, 0.1, 0.0, -0.1, -0.2])  # has a sample on the line
    walkers = [
        Walker(1, np.arange(5), np.stack([x_touch, np.zeros(5)], 1)),
        Walker(2, np.arange(5), np.stack([x_pass, np.ones(5)], 1)),
        Walker(3, np.arange(5), np.stack([np.zeros(5), np.arange(5.0) - 2], 1)),  # on it
    ]
    write_scene(tmp_path / "run", "gate", walkers, 5, 10.0)
    events = analysis.line_crossings(analysis.read_tracks(tmp_path / "run"), (0, -5), (0, 5))
    assert events[["track_id", "direction"]].values.tolist() == [[2, "right_to_left"]]
    assert events["time_s"].tolist() == pytest.approx([0.2], abs=1e-9)


def test_crossings_over_time_bins(tmp_path):
    events = analysis.line_crossings(line_scene(tmp_path / "run"), a=(0, -5), b=(0, 5))
    over_time = analysis.crossings_over_time(events, bin_s=1.0)
    assert over_time["bin_start_s"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert over_time["left_to_right"].tolist() == [1, 0, 1, 1, 1, 0]
    assert over_time["right_to_left"].tolist() == [0, 1, 1, 0, 0, 1]
    padded = analysis.crossings_over_time(events, bin_s=2.0, time_range_s=(0.0, 10.0))
    assert padded["bin_start_s"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert padded["total"].tolist() == [1, 3, 2, 1, 0]


def test_flow_field_mean_velocity_per_cell(tmp_path):
    walkers = [
        walk(1, 0, 50, 10.0, (1, 5), (1.0, 0)),
        walk(2, 0, 30, 10.0, (1, 2), (1.0, 0)),
        walk(3, 0, 40, 10.0, (25, 9), (0, -1.5)),
    ]
    write_scene(tmp_path / "run", "cam", walkers, 50, 10.0)
    field = analysis.flow_field(analysis.read_tracks(tmp_path / "run"), cell_m=10.0)
    field = field.set_index(["cell_x", "cell_y"])
    assert sorted(field.index) == [(0, 0), (2, 0)]
    assert field.loc[(0, 0), "count"] == 80
    assert field.loc[(2, 0), "count"] == 40
    assert field.loc[(0, 0), ["vx_mps", "vy_mps"]].tolist() == pytest.approx([1.0, 0.0], abs=1e-3)
    assert field.loc[(2, 0), ["vx_mps", "vy_mps"]].tolist() == pytest.approx([0.0, -1.5], abs=1e-3)
    assert field.loc[(2, 0), ["x_center_m", "y_center_m"]].tolist() == [25.0, 5.0]


# -------------------------------------------------------------------------------- plots


def test_plots_write_png_files(tmp_path):
    tracks = line_scene(tmp_path / "run")
    traj = analysis.trajectories(tracks)
    index = analysis.read_frame_index(tmp_path / "run")
    events = analysis.line_crossings(tracks, a=(0, -5), b=(0, 5))
    axes = {
        "trajectories": analysis.plot_trajectories(traj),
        "density": analysis.plot_density_heatmap(tracks, cell_m=1.0, frame_index=index),
        "speed": analysis.plot_speed_histogram(traj),
        "people": analysis.plot_counts_over_time(
            analysis.density(tracks, region=(-1, 1, -5, 5), frame_index=index)
        ),
        "crossings": analysis.plot_counts_over_time(analysis.crossings_over_time(events, 1.0)),
    }
    assert axes["trajectories"].get_xlabel() == "ground x, right (m)"
    assert axes["speed"].get_xlabel() == "speed (m/s)"
    assert axes["people"].get_xlabel() == "time (s)"
    assert len(axes["trajectories"].collections[0].get_segments()) == 8
    assert len(axes["crossings"].patches) == 2  # one step outline per direction
    assert axes["crossings"].get_ylabel() == "crossings per bin"
    for name, ax in axes.items():
        path = tmp_path / f"{name}.png"
        ax.figure.savefig(path)
        assert path.stat().st_size > 5_000, name


def test_plots_draw_on_a_given_axes(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    ax = figure.add_subplot()
    traj = analysis.trajectories(crowd(tmp_path / "run"))
    assert analysis.plot_speed_histogram(traj, ax=ax) is ax
    assert ax.patches  # the bars
    figure.savefig(tmp_path / "given.png")
    assert (tmp_path / "given.png").stat().st_size > 5_000
