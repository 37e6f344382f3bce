"""The tracks dataset as PedPy trajectories (``pedpy`` extra), for crowd science.

`to_pedpy` gives one source's tracks as `pedpy.TrajectoryData`: one row per (track, frame)
with ``id`` (the track id), ``frame`` and ``x``, ``y`` in metres on the ground plane
(``ground_x_m``, ``ground_y_m``; x right, y forward, origin below the camera), and the frame
rate from the parts' metadata (``fps``). PedPy then computes Voronoi or classic densities,
speeds in a measurement area and the fundamental diagram (examples/pedpy_analysis.py).

Only ground-plane positions are metric in both axes, so a source without them (no camera
height and pitch for the lift) is refused rather than converted from camera coordinates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from crowdpose3d.tracks.io import read_tracks
from crowdpose3d.tracks.schema import (
    FRAME,
    GROUND_COLUMNS,
    PART_GLOB,
    SOURCE,
    TIME,
    TRACK_ID,
    read_part_metadata,
)


def to_pedpy(
    tracks: pd.DataFrame | str | os.PathLike[str],
    source: str | None = None,
    frame_rate: float | None = None,
):
    """One source's tracks -> `pedpy.TrajectoryData` (ground-plane metres).

    ``tracks`` is a tracks folder (or part file), whose metadata gives the frame rate, or a
    DataFrame from `crowdpose3d.tracks.io.read_tracks`; then pass ``frame_rate``, or it is
    measured from the rows' ``frame`` and ``time_s``. ``source`` picks the source when the
    tracks hold several. Rows without a ground position are left out (ValueError when none
    has one).
    """
    try:
        import pedpy
    except ImportError:
        raise ImportError("to_pedpy needs PedPy: pip install 'crowdpose3d[pedpy]'") from None
    if isinstance(tracks, str | os.PathLike):
        path = Path(tracks)
        table = read_tracks(path)
        if frame_rate is None:
            frame_rate = _metadata_fps(path, source)
    else:
        table = tracks
    table = _one_source(table, source)
    if frame_rate is None:
        frame_rate = _measured_fps(table)
    ground = table[list(GROUND_COLUMNS)].to_numpy(np.float64, na_value=np.nan)  # (n, 2)
    finite = np.isfinite(ground).all(axis=1)
    if not finite.any():
        raise ValueError(
            "these tracks have no ground-plane positions; give the lift stage camera_file or "
            "height_m and pitch_deg (PedPy needs metres on the ground)"
        )
    data = pd.DataFrame(
        {
            "id": table[TRACK_ID].to_numpy(np.int64)[finite],
            "frame": table[FRAME].to_numpy(np.int64)[finite],
            "x": ground[finite, 0],
            "y": ground[finite, 1],
        }
    ).sort_values(["id", "frame"], ignore_index=True)
    return pedpy.TrajectoryData(data=data, frame_rate=float(frame_rate))


def _one_source(table: pd.DataFrame, source: str | None) -> pd.DataFrame:
    sources = table[SOURCE].astype(str).unique().tolist() if SOURCE in table else []
    if source is None:
        if len(sources) > 1:
            raise ValueError(f"the tracks hold sources {', '.join(sources)}; pass source=...")
        return table
    if source not in sources:
        raise ValueError(f"no source {source!r} in the tracks (they hold {', '.join(sources)})")
    return table[table[SOURCE].astype(str) == source]


def _metadata_fps(path: Path, source: str | None) -> float | None:
    """The ``fps`` of the first part (of ``source``) that names one."""
    parts = [path] if path.is_file() else sorted(path.rglob(PART_GLOB))
    for part in parts:
        info = read_part_metadata(part)
        if info.get("fps") and (source is None or info.get("source_id") in (None, source)):
            return float(info["fps"])
    return None


def _measured_fps(table: pd.DataFrame) -> float:
    """Frames per second of stream time over the rows (frame and time_s of each track)."""
    frames = table[[FRAME, TIME]].drop_duplicates(FRAME).sort_values(FRAME)
    step = np.diff(frames[FRAME].to_numpy(np.float64))
    seconds = np.diff(frames[TIME].to_numpy(np.float64))
    usable = (step > 0) & (seconds > 0)
    if not usable.any():
        raise ValueError("cannot tell the frame rate from these rows; pass frame_rate")
    return float(np.median(step[usable] / seconds[usable]))
