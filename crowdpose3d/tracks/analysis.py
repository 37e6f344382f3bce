"""Crowd motion from the tracks dataset, with pandas: reshape it and measure it.

The tracks dataset (`crowdpose3d.tracks.schema`, docs/pipeline.md) has one row per (frame,
tracked person); `crowdpose3d.tracks.io.read_tracks` reads it. These helpers reshape it
(`to_long`, `to_wide`) and measure crowd motion: trajectories with speed and heading, dwell
times, density in a region, line crossings and a flow field (plots: `crowdpose3d.tracks.plots`).

Positions are planar, seen from above, in metres: on the ground plane (``ground_x_m`` right,
``ground_y_m`` forward, origin below the camera) when a track has them, otherwise the
camera's x (right) and z (depth) of the root joint. Every output row says which in
``frame_of_reference`` ("ground" or "camera"); the two are not comparable. Headings are
degrees counter-clockwise from +x, in (-180, 180]. Rates come from ``time_s`` (stream
time), never from frame counts, so dropped frames and other frame rates give the same speeds.

A region is a rectangle ``(x0, x1, y0, y1)`` or a polygon ``[(x, y), ...]`` in the same
planar metres; a rectangle holds [x0, x1) x [y0, y1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crowdpose3d.tracks.events import DIRECTIONS
from crowdpose3d.tracks.regions import Line, points_in_polygon, polygon_area, step_line
from crowdpose3d.tracks.schema import FRAME, SOURCE, TIME, TRACK_ID

Point = Sequence[float] | np.ndarray
Region = Sequence[float] | Sequence[Sequence[float]] | np.ndarray

KEY_COLUMNS = (SOURCE, FRAME, TIME, TRACK_ID)  # what identifies a person's row
LONG_VALUES = (("u", "u"), ("v", "v"), ("x", "x_m"), ("y", "y_m"), ("z", "z_m"))
REFERENCES = ("ground", "camera")  # the two planar frames of reference


# ----------------------------------------------------------------------- long and wide


def joint_names(tracks: pd.DataFrame) -> list[str]:
    """The joints of a wide tracks table, in column order (from ``<joint>_u`` columns)."""
    names = [column[:-2] for column in tracks.columns if column.endswith("_u")]
    wanted = {f"{name}_{suffix}" for name in names for suffix, _ in LONG_VALUES}
    missing = sorted(wanted - set(tracks.columns))
    if missing:
        raise ValueError(f"joint columns {', '.join(missing)} are missing from the table")
    return names


def to_long(tracks: pd.DataFrame, keep: Sequence[str] = KEY_COLUMNS) -> pd.DataFrame:
    """One row per (person, joint): the ``keep`` columns, joint, u, v (px), x_m, y_m, z_m.

    ``joint`` is categorical in skeleton order; u/v are pixels, x/y/z metres in camera
    coordinates. Rows keep the table's order, joints in skeleton order within a person.
    """
    names = joint_names(tracks)
    _require(tracks, keep, "to_long")
    n, k = len(tracks), len(names)
    long = tracks[list(keep)].iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    codes = np.tile(np.arange(k, dtype=np.int32), n)
    long["joint"] = pd.Categorical.from_codes(codes, categories=names)
    for suffix, column in LONG_VALUES:
        values = tracks[[f"{name}_{suffix}" for name in names]].to_numpy()  # (n, k)
        long[column] = values.reshape(-1)
    return long


def to_wide(long: pd.DataFrame) -> pd.DataFrame:
    """Back from `to_long`: one row per person with ``<joint>_u/_v/_x/_y/_z`` columns.

    Rows are identified by all columns other than joint and the values, in order of first
    appearance; a (person, joint) given twice is an error. Joints missing for a person are
    NaN. Values keep their dtype (float32 from `read_tracks`).
    """
    values = [column for _, column in LONG_VALUES]
    _require(long, ["joint", *values], "to_wide")
    keys = [column for column in long.columns if column not in ("joint", *values)]
    joints = long["joint"]
    if not isinstance(joints.dtype, pd.CategoricalDtype):
        joints = joints.astype(pd.CategoricalDtype(pd.unique(joints)))
    names = list(joints.cat.categories)
    joint_code = joints.cat.codes.to_numpy()
    row = long.groupby(keys, sort=False, dropna=False, observed=True).ngroup().to_numpy()
    if pd.Series(row * len(names) + joint_code).duplicated().any():
        raise ValueError(
            "to_wide: some (person, joint) appears twice; keep a column that tells people "
            "apart (e.g. track_id) in the long table"
        )
    first = ~pd.Series(row).duplicated().to_numpy()
    wide = long.loc[first, keys].reset_index(drop=True)
    wide = wide.iloc[np.argsort(row[first], kind="stable")].reset_index(drop=True)
    blocks = {}
    for suffix, column in LONG_VALUES:
        given = long[column].to_numpy()
        grid = np.full((len(wide), len(names)), np.nan, dtype=given.dtype)  # (rows, K)
        grid[row, joint_code] = given
        blocks[suffix] = grid
    joint_columns = {
        f"{name}_{suffix}": blocks[suffix][:, j]
        for j, name in enumerate(names)
        for suffix, _ in LONG_VALUES
    }
    return pd.concat([wide, pd.DataFrame(joint_columns)], axis=1)


# -------------------------------------------------------------------------- positions


def planar_positions(tracks: pd.DataFrame) -> pd.DataFrame:
    """Each row's position seen from above (m), sorted by source, track_id, time_s.

    A track with any finite ground-plane position uses ``ground_x_m``/``ground_y_m``
    (``frame_of_reference`` "ground"); otherwise the camera's ``root_x_m`` (right) and
    ``root_z_m`` (depth) ("camera"). Rows without a finite position in their track's frame
    of reference are left out.
    """
    _require(tracks, ["source", "track_id", "frame", "time_s"], "planar_positions")
    ground_x, ground_y = _column(tracks, "ground_x_m"), _column(tracks, "ground_y_m")
    on_ground = pd.Series(np.isfinite(ground_x) & np.isfinite(ground_y), index=tracks.index)
    track_on_ground = (
        on_ground.groupby([tracks["source"], tracks["track_id"]], observed=True, sort=False)
        .transform("any")
        .to_numpy(bool)
    )
    x = np.where(track_on_ground, ground_x, _column(tracks, "root_x_m"))
    y = np.where(track_on_ground, ground_y, _column(tracks, "root_z_m"))
    positions = pd.DataFrame(
        {
            "source": tracks["source"].to_numpy(),
            "track_id": tracks["track_id"].to_numpy(),
            "frame": tracks["frame"].to_numpy(),
            "time_s": tracks["time_s"].to_numpy(np.float64),
            "frame_of_reference": pd.Categorical.from_codes(
                np.where(track_on_ground, 0, 1), categories=list(REFERENCES)
            ),
            "x_m": x,
            "y_m": y,
        }
    )
    positions["source"] = positions["source"].astype(tracks["source"].dtype)
    positions = positions[np.isfinite(x) & np.isfinite(y)]
    return positions.sort_values(
        ["source", "track_id", "time_s", "frame"], kind="stable", ignore_index=True
    )


def trajectories(
    tracks: pd.DataFrame, smoothing_window_s: float = 0.5, max_gap_s: float = 1.0
) -> pd.DataFrame:
    """Per track: planar positions, smoothed positions, velocity, speed and heading.

    Columns: source, track_id, frame, time_s, frame_of_reference, segment, x_m, y_m,
    x_smooth_m, y_smooth_m, vx_mps, vy_mps, speed_mps, heading_deg. A track is cut into
    segments where it is unseen for more than ``max_gap_s`` seconds; smoothing (a centred
    mean over ``smoothing_window_s`` seconds, narrowed near a segment's ends so a straight
    walk stays unbiased; 0 = none) and finite differences never cross a cut. Velocity is
    the central difference of the smoothed positions over ``time_s`` (one-sided at a
    segment's ends; NaN for a lone sample); heading is NaN while standing still.
    """
    if smoothing_window_s < 0 or max_gap_s <= 0:
        raise ValueError("smoothing_window_s must be >= 0 and max_gap_s > 0 (seconds)")
    traj = planar_positions(tracks)
    t = traj["time_s"].to_numpy()
    track_code = traj.groupby(["source", "track_id"], sort=False, observed=True).ngroup()
    segment, new_track = _segments(track_code.to_numpy(), t, max_gap_s)
    first_of_track = np.maximum.accumulate(np.where(new_track, segment, 0))
    traj["segment"] = (segment - first_of_track).astype(np.int64)
    xy = traj[["x_m", "y_m"]].to_numpy(np.float64)  # (n, 2)
    smooth = _centred_mean(xy, t, segment, smoothing_window_s)
    velocity = _derivative(smooth, t, segment)
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    heading = np.degrees(np.arctan2(velocity[:, 1], velocity[:, 0]))
    traj["x_smooth_m"], traj["y_smooth_m"] = smooth[:, 0], smooth[:, 1]
    traj["vx_mps"], traj["vy_mps"] = velocity[:, 0], velocity[:, 1]
    traj["speed_mps"] = speed
    traj["heading_deg"] = np.where(speed > 0, heading, np.nan)
    return traj


def _segments(track_code: np.ndarray, t: np.ndarray, max_gap_s: float):
    """Segment id per row (rows sorted by track then time) and where tracks start."""
    new_track = np.ones(len(t), bool)
    new_track[1:] = track_code[1:] != track_code[:-1]
    new_segment = new_track.copy()
    gaps = np.diff(t)
    new_segment[1:] |= (gaps > max_gap_s) | (gaps <= 0)
    return np.cumsum(new_segment) - 1, new_track


def _centred_mean(values: np.ndarray, t: np.ndarray, segment: np.ndarray, window_s: float):
    """Mean of ``values`` (n, d) over [t - h, t + h] within each segment, h = window_s / 2
    narrowed to the distance to the segment's ends (a symmetric window keeps lines
    straight)."""
    n = len(t)
    if n == 0 or window_s == 0:
        return values.copy()
    micros = np.round((t - t.min()) * 1e6).astype(np.int64)  # integer time: exact searches
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    ends = np.r_[starts[1:], n] - 1
    first, last = micros[starts][segment], micros[ends][segment]
    half = np.minimum(round(window_s / 2 * 1e6), np.minimum(micros - first, last - micros))
    span = int(micros.max()) + 2 * round(window_s * 1e6) + 2
    ordered = segment.astype(np.int64) * span + micros  # increasing across segments
    left = np.searchsorted(ordered, ordered - half, "left")
    right = np.searchsorted(ordered, ordered + half, "right")
    sums = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return (sums[right] - sums[left]) / (right - left)[:, None]


def _derivative(values: np.ndarray, t: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """d values / dt (n, d): central differences inside a segment, one-sided at its ends."""
    index = np.arange(len(t))
    same_before = np.r_[False, segment[1:] == segment[:-1]]
    same_after = np.r_[segment[:-1] == segment[1:], False]
    before = np.where(same_before, index - 1, index)
    after = np.where(same_after, index + 1, index)
    dt = t[after] - t[before]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (values[after] - values[before]) / dt[:, None]
    rate[dt <= 0] = np.nan
    return rate


# ---------------------------------------------------------------------------- regions


def region_polygon(region: Region) -> np.ndarray:
    """A region as polygon vertices (M, 2) in metres: ``(x0, x1, y0, y1)`` or ``[(x, y),...]``."""
    array = np.asarray(region, dtype=np.float64)
    if array.shape == (4,):
        x0, x1 = sorted(array[:2])
        y0, y1 = sorted(array[2:])
        array = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    elif array.ndim != 2 or array.shape[1] != 2 or len(array) < 3:
        raise ValueError(
            "region must be a rectangle (x0, x1, y0, y1) or a polygon of 3 or more (x, y) "
            f"vertices, in metres; got an array of shape {array.shape}"
        )
    if not np.isfinite(array).all() or region_area_m2(array) == 0:
        raise ValueError("region must have finite vertices and a non-zero area")
    return array


def region_area_m2(region: Region) -> float:
    """Area of a region in square metres (shoelace formula)."""
    polygon = np.asarray(region, dtype=np.float64)
    if polygon.shape == (4,):
        polygon = region_polygon(polygon)
    return polygon_area(polygon)


def inside_region(region: Region, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points (x, y in metres) lie inside the region (even-odd ray casting)."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    xy = np.stack([x.ravel(), y.ravel()], axis=1)  # (N, 2)
    return points_in_polygon(region_polygon(region), xy).reshape(x.shape)


# --------------------------------------------------------------------------- measures


def dwell_times(tracks: pd.DataFrame, region: Region | None = None) -> pd.DataFrame:
    """Per track: first_time_s, last_time_s, duration_s (last - first), first_frame,
    last_frame and frames (rows seen).

    With a region (planar metres), also frames_inside and time_inside_s: each interval
    between consecutive samples counts in proportion to how many of its two ends are inside
    (trapezoid rule), so a track always inside has time_inside_s == duration_s.
    """
    _require(tracks, ["source", "track_id", "frame", "time_s"], "dwell_times")
    groups = tracks.groupby(["source", "track_id"], observed=True, sort=True)
    dwell = groups.agg(
        first_time_s=("time_s", "min"),
        last_time_s=("time_s", "max"),
        first_frame=("frame", "min"),
        last_frame=("frame", "max"),
        frames=("frame", "size"),
    )
    dwell.insert(2, "duration_s", dwell["last_time_s"] - dwell["first_time_s"])
    if region is not None:
        positions = planar_positions(tracks)
        inside = inside_region(region, positions["x_m"], positions["y_m"]).astype(np.float64)
        t = positions["time_s"].to_numpy()
        track_code = positions.groupby(["source", "track_id"], sort=False, observed=True).ngroup()
        same = np.r_[track_code.to_numpy()[1:] == track_code.to_numpy()[:-1], False]
        after = np.minimum(np.arange(len(t)) + 1, max(len(t) - 1, 0))
        share = np.where(same, (t[after] - t) * (inside + inside[after]) / 2, 0.0)
        positions = positions.assign(frames_inside=inside.astype(np.int64), time_inside_s=share)
        per_track = positions.groupby(["source", "track_id"], observed=True).agg(
            frame_of_reference=("frame_of_reference", "first"),
            frames_inside=("frames_inside", "sum"),
            time_inside_s=("time_inside_s", "sum"),
        )
        dwell = dwell.join(per_track)
        dwell[["frames_inside", "time_inside_s"]] = dwell[
            ["frames_inside", "time_inside_s"]
        ].fillna(0)
        dwell["frames_inside"] = dwell["frames_inside"].astype(np.int64)
    return dwell.reset_index()


def density(
    tracks: pd.DataFrame,
    region: Region | None = None,
    frame_index: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per (source, frame): time_s, people (rows seen); with a region also people_in_region
    and people_per_m2 (people inside / region area in m^2).

    Without ``frame_index`` only frames where someone was seen appear; with it (see
    `read_frame_index`) every covered frame does, with 0 people where nobody was seen, and
    its nominal times are shifted to agree with the tracks' stream times.
    """
    _require(tracks, ["source", "frame", "time_s"], "density")
    keys = ["source", "frame"]
    counts = tracks.groupby(keys, observed=True).agg(
        time_s=("time_s", "first"), people=("frame", "size")
    )
    if region is not None:
        positions = planar_positions(tracks)
        inside = inside_region(region, positions["x_m"], positions["y_m"])
        in_region = positions[inside].groupby(keys, observed=True).size()
        counts["people_in_region"] = in_region.reindex(counts.index, fill_value=0)
    counts = counts.reset_index()
    if frame_index is not None:
        _require(frame_index, ["source", "frame"], "density frame_index")
        index = frame_index[["source", "frame"]].astype({"source": counts["source"].dtype})
        counts = index.merge(counts, on=keys, how="outer", sort=True)
        nominal = frame_index.set_index(keys).get("time_s")
        counts["time_s"] = _frame_times(counts, nominal)
        count_columns = [c for c in ("people", "people_in_region") if c in counts.columns]
        counts[count_columns] = counts[count_columns].fillna(0).astype(np.int64)
    if region is not None:
        counts["people_per_m2"] = counts["people_in_region"] / region_area_m2(region)
    return counts.sort_values(keys, ignore_index=True)


def _frame_times(counts: pd.DataFrame, nominal: pd.Series | None) -> np.ndarray:
    """Times for every frame of ``counts``: the tracks' where known; elsewhere the nominal
    time plus the offset between nominal and stream time interpolated over frames."""
    frames = counts["frame"].to_numpy()
    known_times = counts["time_s"].to_numpy(np.float64)
    if nominal is None:
        nominal_times = np.full(len(counts), np.nan)
    else:
        nominal_times = nominal.reindex(pd.MultiIndex.from_frame(counts[["source", "frame"]]))
        nominal_times = nominal_times.to_numpy(np.float64)
    times = known_times.copy()
    for _, rows in counts.groupby("source", observed=True).indices.items():  # few sources
        known = rows[np.isfinite(known_times[rows])]
        missing = rows[~np.isfinite(known_times[rows])]
        if len(known) == 0 or len(missing) == 0:
            times[missing] = nominal_times[missing]
            continue
        offset = known_times[known] - nominal_times[known]
        usable = np.isfinite(offset)
        if usable.any():
            shift = np.interp(frames[missing], frames[known][usable], offset[usable])
            times[missing] = nominal_times[missing] + shift
        else:
            times[missing] = np.interp(frames[missing], frames[known], known_times[known])
    return times


def line_crossings(
    tracks: pd.DataFrame,
    a: Point,
    b: Point,
    smoothing_window_s: float = 0.0,
    band_m: float = 0.0,
) -> pd.DataFrame:
    """One row per crossing of the segment a-b (planar metres) by a track.

    Columns: source, track_id, frame (first sample past the line), time_s (interpolated
    between the two samples), direction, x_m, y_m (where it crossed), frame_of_reference.
    ``direction`` is "left_to_right" or "right_to_left" of the line directed from a to b,
    seen from above with x right and y forward (left of a line pointing +y is -x). Touching
    the line and turning back is no crossing. Consecutive samples of a track are joined
    even across gaps. Against jitter near the line, ``band_m`` is a dead band (a person
    within it keeps their side, `crowdpose3d.tracks.regions`) and ``smoothing_window_s``
    smooths positions first (see `trajectories`). The crossing test is the live regions
    stage's (`crowdpose3d.tracks.regions.step_line`), on the planar positions here.
    """
    a_xy, b_xy = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a_xy.shape != (2,) or b_xy.shape != (2,) or np.array_equal(a_xy, b_xy):
        raise ValueError("a and b must be two different (x, y) points in metres")
    line = Line("line", tuple(a_xy), tuple(b_xy), space="ground", band=band_m)
    traj = trajectories(tracks, smoothing_window_s=smoothing_window_s, max_gap_s=np.inf)
    p = traj[["x_smooth_m", "y_smooth_m"]].to_numpy()  # (n, 2)
    t = traj["time_s"].to_numpy()
    codes = traj.groupby(["source", "track_id"], sort=False, observed=True).ngroup().to_numpy()
    rows, times, points, directions = [], [], [], []
    record, code = None, None
    for i in range(len(traj)):  # rows are sorted by track, then time
        if codes[i] != code:
            record, code = None, codes[i]
        record, crossing = step_line(line, record, p[i], float(t[i]))
        if crossing is not None:
            rows.append(i)
            times.append(crossing.time_s)
            points.append(crossing.xy)
            directions.append(DIRECTIONS.index(crossing.direction))
    i = np.asarray(rows, np.int64)
    point = np.asarray(points, np.float64).reshape(-1, 2)
    events = pd.DataFrame(
        {
            "source": traj["source"].to_numpy()[i],
            "track_id": traj["track_id"].to_numpy()[i],
            "frame": traj["frame"].to_numpy()[i],
            "time_s": np.asarray(times, np.float64),
            "direction": pd.Categorical.from_codes(
                np.asarray(directions, np.int64), categories=list(DIRECTIONS)
            ),
            "x_m": point[:, 0],
            "y_m": point[:, 1],
            "frame_of_reference": traj["frame_of_reference"].to_numpy()[i],
        }
    )
    events["source"] = events["source"].astype(traj["source"].dtype)
    return events.sort_values(["source", "time_s", "track_id"], ignore_index=True)


def crossing_counts(events: pd.DataFrame, per_track: bool = False) -> pd.DataFrame:
    """Crossings of `line_crossings` counted per source (or per track): left_to_right,
    right_to_left and total."""
    keys = ["source", "track_id"] if per_track else ["source"]
    counts = (
        events.groupby([*keys, "direction"], observed=False)
        .size()
        .unstack("direction")
        .reindex(columns=list(DIRECTIONS), fill_value=0)
    )
    counts.columns = list(DIRECTIONS)
    counts = counts[counts.sum(axis=1) > 0] if per_track else counts
    counts["total"] = counts.sum(axis=1)
    return counts.astype(np.int64).reset_index()


def crossings_over_time(
    events: pd.DataFrame, bin_s: float, time_range_s: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Crossings of `line_crossings` per source and time bin of ``bin_s`` seconds.

    Columns: source, bin_start_s, bin_end_s, left_to_right, right_to_left, total. Bins are
    aligned on multiples of ``bin_s`` and run without holes (empty bins are 0) over each
    source's crossings, or over [start, end) of ``time_range_s`` in seconds when given.
    """
    if bin_s <= 0:
        raise ValueError("bin_s must be > 0 seconds")
    columns = ["source", "bin_start_s", "bin_end_s", *DIRECTIONS, "total"]
    bins = np.floor(events["time_s"].to_numpy() / bin_s).astype(np.int64)
    counts = (
        events.assign(bin=bins)
        .groupby(["source", "bin", "direction"], observed=False)
        .size()
        .unstack("direction")
        .reindex(columns=list(DIRECTIONS), fill_value=0)
    )
    pieces = []
    for source, table in counts.groupby(level="source", observed=True):  # few sources
        table = table.droplevel("source")
        if time_range_s is not None:
            first = int(np.floor(time_range_s[0] / bin_s))
            last = int(np.ceil(time_range_s[1] / bin_s)) - 1
        elif table.sum(axis=1).any():
            occupied = table.index[table.sum(axis=1) > 0]
            first, last = occupied.min(), occupied.max()
        else:
            continue
        table = table.reindex(np.arange(first, last + 1), fill_value=0)
        pieces.append(
            pd.DataFrame(
                {
                    "source": source,
                    "bin_start_s": table.index.to_numpy() * bin_s,
                    "bin_end_s": (table.index.to_numpy() + 1) * bin_s,
                    **{d: table[d].to_numpy(np.int64) for d in DIRECTIONS},
                }
            )
        )
    if not pieces:
        return pd.DataFrame(columns=columns)
    over_time = pd.concat(pieces, ignore_index=True)
    over_time["source"] = over_time["source"].astype(events["source"].dtype)
    over_time["total"] = over_time[list(DIRECTIONS)].sum(axis=1)
    return over_time[columns]


def flow_field(
    tracks: pd.DataFrame, cell_m: float = 1.0, smoothing_window_s: float = 0.5
) -> pd.DataFrame:
    """Mean motion per square grid cell of ``cell_m`` metres, per source and frame of
    reference.

    Columns: source, frame_of_reference, cell_x, cell_y (cell numbers: floor(x / cell_m)),
    x_center_m, y_center_m, vx_mps, vy_mps (mean velocity), speed_mps (mean speed, which
    exceeds the mean velocity's length where people cross) and count (samples).
    """
    if cell_m <= 0:
        raise ValueError("cell_m must be > 0 metres")
    traj = trajectories(tracks, smoothing_window_s=smoothing_window_s)
    traj = traj[np.isfinite(traj["speed_mps"].to_numpy())]
    traj = traj.assign(
        cell_x=np.floor(traj["x_smooth_m"].to_numpy() / cell_m).astype(np.int64),
        cell_y=np.floor(traj["y_smooth_m"].to_numpy() / cell_m).astype(np.int64),
    )
    field = (
        traj.groupby(["source", "frame_of_reference", "cell_x", "cell_y"], observed=True)
        .agg(
            vx_mps=("vx_mps", "mean"),
            vy_mps=("vy_mps", "mean"),
            speed_mps=("speed_mps", "mean"),
            count=("speed_mps", "size"),
        )
        .reset_index()
    )
    field.insert(4, "x_center_m", (field["cell_x"] + 0.5) * cell_m)
    field.insert(5, "y_center_m", (field["cell_y"] + 0.5) * cell_m)
    return field


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64, or NaN when the table lacks it."""
    if name in table.columns:
        return table[name].to_numpy(np.float64, na_value=np.nan)
    return np.full(len(table), np.nan)


def _require(table: pd.DataFrame, columns: Sequence[str], caller: str) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(f"{caller}: the table lacks column(s) {', '.join(missing)}")
