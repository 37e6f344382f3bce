"""The events dataset's schema: what lines and zones report, as Parquet rows and JSON payloads.

The one place these are spelled. `crowdpose3d.tracks.regions` makes the events, the
``events`` sink writes them as Parquet parts beside the tracks (same part files, same
crash safety as the tracks dataset), the ``mqtt`` sink publishes them as JSON, and
docs/analytics.md documents both. One row per event:

    source           string   the video or camera
    kind             string   line_crossing | zone_enter | zone_leave | zone_occupancy
    region           string   the line's or zone's name
    space            string   image (pixels) or ground (metres on the ground plane)
    frame            int64    the frame of the event (occupancy: the interval's last frame)
    time_s           float64  stream time (s); a crossing's is interpolated between samples,
                              an occupancy interval's is its end
    wall_time        float64  UNIX time of the frame for live sources; NaN for files
    track_id         int64    the person (-1 for occupancy)
    direction        string   crossings: left_to_right | right_to_left (seen from a to b)
    x, y             float64  where (crossing point, first / last point in or out of the
                              zone), in the region's space; NaN when not known
    dwell_s          float64  zone_leave: seconds since the person entered
    reason           string   zone_leave: left (walked out) | lost (track forgotten) | end
    interval_start_s float64  zone_occupancy: the interval's start (s)
    frames           int64    zone_occupancy: frames seen in the interval
    mean_people      float64  zone_occupancy: mean people inside per frame
    max_people       int64    zone_occupancy: most people inside in one frame
    people_per_m2    float64  zone_occupancy: mean_people / the zone's area (ground zones;
                              NaN for image zones)

Fields that do not apply to a kind are null (Parquet) or absent (JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crowdpose3d.tracks.schema import PART_GLOB, part_number

LINE_CROSSING = "line_crossing"
ZONE_ENTER = "zone_enter"
ZONE_LEAVE = "zone_leave"
ZONE_OCCUPANCY = "zone_occupancy"
KINDS = (LINE_CROSSING, ZONE_ENTER, ZONE_LEAVE, ZONE_OCCUPANCY)
DIRECTIONS = ("left_to_right", "right_to_left")  # of a crossing, looking from a to b

# The columns in file order with their Arrow types.
EVENT_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("source", pa.string()),
    ("kind", pa.string()),
    ("region", pa.string()),
    ("space", pa.string()),
    ("frame", pa.int64()),
    ("time_s", pa.float64()),
    ("wall_time", pa.float64()),
    ("track_id", pa.int64()),
    ("direction", pa.string()),
    ("x", pa.float64()),
    ("y", pa.float64()),
    ("dwell_s", pa.float64()),
    ("reason", pa.string()),
    ("interval_start_s", pa.float64()),
    ("frames", pa.int64()),
    ("mean_people", pa.float64()),
    ("max_people", pa.int64()),
    ("people_per_m2", pa.float64()),
)
EVENT_COLUMNS = tuple(name for name, _ in EVENT_FIELDS)
EVENTS_SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in EVENT_FIELDS])
# Keys of `Frame.data` (pipeline): the events a frame brought (a list of `Event`, filled by
# the regions stage, read by the events and mqtt sinks) and the regions' live counts (drawn
# by the overlay).
FRAME_EVENTS_KEY = "events"
FRAME_REGIONS_KEY = "regions"
# How many of a frame's events (its last ones) close the stream: people still inside leave
# with reason "end", the open occupancy interval ends. A resumed run makes its own at its end.
FRAME_CLOSING_KEY = "closing_events"
PAYLOAD_VERSION = 1  # the JSON payload's "v"; raised when a field changes meaning


@dataclass
class Event:
    """One event; fields as in the module docstring (None where they do not apply)."""

    source: str
    kind: str
    region: str
    space: str
    frame: int
    time_s: float
    wall_time: float | None = None
    track_id: int = -1
    direction: str | None = None
    x: float | None = None
    y: float | None = None
    dwell_s: float | None = None
    reason: str | None = None
    interval_start_s: float | None = None
    frames: int | None = None
    mean_people: float | None = None
    max_people: int | None = None
    people_per_m2: float | None = None

    def __init__(self, xy: Sequence[float] | np.ndarray | None = None, **fields: Any) -> None:
        """``xy`` (2,) fills x and y; the other keywords are the fields."""
        defaults = {name: None for name in EVENT_COLUMNS} | {"track_id": -1}
        unknown = set(fields) - set(defaults)
        if unknown:
            raise TypeError(f"Event has no field(s) {', '.join(sorted(unknown))}")
        for name, value in (defaults | fields).items():
            setattr(self, name, value)
        if xy is not None:
            self.x, self.y = float(xy[0]), float(xy[1])
        self.track_id = int(self.track_id)

    def payload(self) -> dict[str, Any]:
        """The JSON payload: the fields that apply (no null, no NaN), plus ``"v"``."""
        payload: dict[str, Any] = {"v": PAYLOAD_VERSION}
        for name, value in asdict(self).items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if name == "track_id" and value < 0:
                continue
            payload[name] = value.item() if isinstance(value, np.generic) else value
        return payload

    def to_json(self) -> str:
        return json.dumps(self.payload(), separators=(",", ":"))


def events_table(events: Sequence[Event]) -> pa.Table:
    """Events -> an Arrow table of `EVENTS_SCHEMA`."""
    columns = {name: [getattr(event, name) for event in events] for name in EVENT_COLUMNS}
    for name, dtype in EVENT_FIELDS:  # NaN is "not known" for floats, like null
        if pa.types.is_floating(dtype):
            columns[name] = [np.nan if value is None else float(value) for value in columns[name]]
    return pa.Table.from_pydict(columns, schema=EVENTS_SCHEMA)


def events_frame(events: Sequence[Event]) -> pd.DataFrame:
    """Events -> a DataFrame with the columns of `EVENT_COLUMNS` (strings as pandas'
    string dtype, nullable integers for frames and max_people)."""
    return events_table(events).to_pandas(types_mapper=_pandas_types)


def _pandas_types(dtype: pa.DataType):
    if pa.types.is_string(dtype):
        return pd.StringDtype()
    return None


def read_events(directory: str | Path) -> pd.DataFrame:
    """The complete parts of an events folder (the ``events`` sink's) as one DataFrame, in
    the order they were written; hidden temporaries of a run in progress are skipped."""
    parts = sorted(Path(directory).glob(PART_GLOB), key=part_number)
    if not parts:
        raise ValueError(f"{directory} holds no events part files ({PART_GLOB})")
    table = pa.concat_tables([pq.read_table(path) for path in parts])
    return table.to_pandas(types_mapper=_pandas_types)
