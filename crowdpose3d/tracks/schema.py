"""The tracks dataset's schema: its column names, their dtypes and the metadata keys.

The one place these are spelled. The Parquet sink writes with them, `crowdpose3d.tracks.io`
reads with them, the analysis and the demo name columns through them; outside
``crowdpose3d/tracks/`` no module spells a column as a string literal (a test checks).

One row per (frame, tracked person). Scalar columns come first, in this order:

    source      string   the video or camera the row comes from (absent in a batch's hive
                         partitions ``source=<id>/``, where the folder gives it)
    frame       int64    0-based frame index within the source
    time_s      float64  the frame's stream time in seconds
    wall_time   float64  UNIX time a live source received the frame; NaN for files
    track_id    int64    the person's track identity (>= 1 once tracked; -1 untracked)
    score       float32  detection confidence in [0, 1]
    interpolated bool    True for a row filled in between two detections of its track (the
                         track stage's gap filling; its score is the lower of the two)
    box_x1 .. box_y2     float32  the box in pixels of the original image
    root_x_m .. root_z_m float32  the root (pelvis) in metres, camera coordinates
    ground_x_m, ground_y_m float32  position on the ground plane (m), NaN without one
    scale_m     float32  the person's body scale (sum of bone lengths, metres)

then five columns per joint, in skeleton order: ``<joint>_u``, ``<joint>_v`` (pixels) and
``<joint>_x``, ``<joint>_y``, ``<joint>_z`` (metres, camera coordinates).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SOURCE = "source"
FRAME = "frame"
TIME = "time_s"
WALL_TIME = "wall_time"
TRACK_ID = "track_id"
SCORE = "score"
INTERPOLATED = "interpolated"
BOX_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2")  # (x1, y1, x2, y2) pixels
ROOT_COLUMNS = ("root_x_m", "root_y_m", "root_z_m")  # metres, camera coordinates
GROUND_COLUMNS = ("ground_x_m", "ground_y_m")  # metres on the ground plane
SCALE = "scale_m"

# The scalar columns in file order with their Arrow types.
SCALAR_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    (SOURCE, pa.string()),
    (FRAME, pa.int64()),
    (TIME, pa.float64()),
    (WALL_TIME, pa.float64()),
    (TRACK_ID, pa.int64()),
    (SCORE, pa.float32()),
    (INTERPOLATED, pa.bool_()),
    *((name, pa.float32()) for name in BOX_COLUMNS),
    *((name, pa.float32()) for name in ROOT_COLUMNS),
    *((name, pa.float32()) for name in GROUND_COLUMNS),
    (SCALE, pa.float32()),
)
SCALAR_COLUMNS = tuple(name for name, _ in SCALAR_FIELDS)
JOINT_SUFFIXES = ("u", "v", "x", "y", "z")  # <joint>_u/_v pixels, <joint>_x/_y/_z metres

# Part files: ``part-NNNNNN.parquet``, written as ``.part-NNNNNN.tmp`` and renamed.
PART_GLOB = "part-*.parquet"
PART_PREFIX = "part-"
TEMPORARY_GLOB = ".part-*.tmp"

# The key of the JSON object in each part's Parquet key-value metadata.
METADATA_KEY = b"crowdpose3d"
# Its keys and their meaning; a part holds those the run knew (`RunFacts` in the pipeline).
METADATA_KEYS: Mapping[str, str] = {
    "source_id": "the source's name (the `source` column's value)",
    "source": "the video file or stream URL, credentials removed",
    "live": "true for a live stream",
    "fps": "frames per second of the frames the source yields (null when unknown)",
    "width": "image width in pixels",
    "height": "image height in pixels",
    "total_frames": "frames the source announced (files only)",
    "model": "the model the pandanet stage ran (builtin:NAME or a path)",
    "skeleton": "the skeleton's name (e.g. jta22)",
    "joint_names": "the joints, in the order of the per-joint columns",
    "model_input_size": "the model's input (height, width) in pixels",
    "device": "the torch device that ran the model",
    "intrinsics": "the camera the lift used: fx, fy, cx, cy (pixels), width, height",
    "ground_plane": "true when the lift knew the camera's height and pitch",
    "camera_height_m": "camera height above the ground in metres (null without a ground plane)",
    "camera_pitch_deg": "camera pitch below the horizon in degrees (null without one)",
    "camera_roll_deg": "camera roll about its optical axis in degrees (null without a ground "
    "plane)",
    "camera_source": "where the lift's ground-plane camera came from: given (a camera file or "
    "height and pitch) or auto (estimated from the people, `camera: auto`)",
    "self_calibration": "camera: auto only: ready (bool), estimates (attempts so far) and, once "
    "ready, fov_deg, pitch_deg, roll_deg, height_m with their one-sigma fov_sigma_deg, "
    "pitch_sigma_deg, roll_sigma_deg, height_sigma_m, fov_people_sigma_deg (the field of "
    "view's sigma from the people alone, before the lens prior joins: far above fov_sigma_deg, "
    "the prior chose the lens), the observations (person-frames) used, "
    "the inliers among them, the groups (people) they came from, and ready_frame (the first "
    "frame lifted with an estimate; earlier rows have no ground plane). A part holds the "
    "estimate current when it was written",
    "first_frame": "the first frame index this part covers",
    "last_frame": "the last frame index this part covers (frames without people included)",
}


def joint_columns(joint: str) -> tuple[str, ...]:
    """The five columns of one joint: ``<joint>_u`` ... ``<joint>_z``."""
    return tuple(f"{joint}_{suffix}" for suffix in JOINT_SUFFIXES)


def tracks_schema(joint_names: Sequence[str], source_column: bool = True) -> pa.Schema:
    """The columns of a tracks part file for a skeleton's joint names."""
    fields = [pa.field(name, dtype) for name, dtype in SCALAR_FIELDS]
    if not source_column:
        fields = fields[1:]
    for name in joint_names:
        fields += [pa.field(column, pa.float32()) for column in joint_columns(name)]
    return pa.schema(fields)


def part_metadata(
    facts: Mapping[str, Any], first_frame: int, last_frame: int, events: list | None = None
) -> bytes:
    """The JSON metadata of one part: the known `METADATA_KEYS` of ``facts``, the frames it
    covers and, under ``stream_events``, the stream's gaps and changes in those frames (each a dict
    with ``kind`` reconnect / timestamp_jump / resolution_change, ``frame``, ``pts_s`` and
    ``gap_s`` or ``width``/``height``; `crowdpose3d.stages.source`)."""
    info = {key: value for key, value in facts.items() if key in METADATA_KEYS}
    info.update(first_frame=first_frame, last_frame=last_frame)
    if events:
        info["stream_events"] = events
    return json.dumps(info).encode()


def read_part_metadata(path: str | Path) -> dict[str, Any]:
    """The crowdpose3d key-value metadata of one part file."""
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(METADATA_KEY, b"{}"))


def part_number(path: Path) -> int:
    """``part-000012.parquet`` -> 12."""
    return int(path.stem.split("-")[1])
