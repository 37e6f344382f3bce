"""Lines and zones: crossings, enter / leave, dwell, occupancy and density, one sample at a time.

The one implementation of these measures. The live ``regions`` stage feeds it each frame's
people (`crowdpose3d.stages.regions`); the offline analysis feeds it a tracks DataFrame
frame by frame (`region_events`, and `crowdpose3d.tracks.analysis.line_crossings` steps its
lines with `step_line`), so both give the same events for the same tracks.

A region lives in one of two spaces:

    image    pixels of the source image, x right, y down; a person is the bottom centre of
             their box (where the feet touch the ground)
    ground   metres on the ground plane (x right, y forward, origin below the camera, as the
             lift stage writes ``ground_x_m`` / ``ground_y_m``); needs a camera with a
             height and pitch

Directions of a crossing are named as the line is drawn, looking from ``a`` towards ``b``:
"left_to_right" goes from the left-hand side to the right-hand side (in the image as the
viewer sees it, on the ground seen from above). Jitter is absorbed by a dead band: a person
less than ``band`` from a line (or a zone's edge) keeps the side (or the inside / outside)
they had, so someone hovering on a line is counted once, when they leave the band on the
other side. A track unseen for ``forget_after_s`` seconds is forgotten: it leaves its zones
at the time it was last seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crowdpose3d.tracks.events import (
    DIRECTIONS,
    LINE_CROSSING,
    ZONE_ENTER,
    ZONE_LEAVE,
    ZONE_OCCUPANCY,
    Event,
    events_frame,
)
from crowdpose3d.tracks.schema import BOX_COLUMNS, FRAME, GROUND_COLUMNS, SOURCE, TIME, TRACK_ID

SPACES = ("image", "ground")  # pixels (y down) or ground-plane metres (y forward)
# +1: the image's y axis points down, so "left as drawn" is the other sign of the cross product.
HANDEDNESS = {"image": -1.0, "ground": 1.0}
DEFAULT_INTERVAL_S = 10.0  # length of an occupancy interval (seconds)
DEFAULT_FORGET_AFTER_S = 2.0  # a track unseen this long has left (seconds of stream time)
LEAVE_REASONS = ("left", "lost", "end")  # walked out / track forgotten / stream ended


@dataclass(frozen=True)
class Line:
    """A counting line from ``a`` to ``b`` (x, y) in ``space`` units; ``band`` is the
    half-width of its dead band in the same units (0: none)."""

    name: str
    a: tuple[float, float]
    b: tuple[float, float]
    space: str = "image"
    band: float = 0.0

    def __post_init__(self) -> None:
        _check_space(self.space, self.name)
        if np.array_equal(np.asarray(self.a, float), np.asarray(self.b, float)):
            raise ValueError(f"line {self.name!r}: a and b must be two different points")
        if not self.band >= 0:
            raise ValueError(f"line {self.name!r}: band must be >= 0")

    def signed_distance(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) points -> (N,) distance to the line, > 0 on its left as drawn."""
        a, b = np.asarray(self.a, float), np.asarray(self.b, float)
        d = b - a
        cross = d[0] * (xy[..., 1] - a[1]) - d[1] * (xy[..., 0] - a[0])
        return HANDEDNESS[self.space] * cross / np.hypot(*d)

    def along(self, xy: np.ndarray) -> np.ndarray:
        """Position of the foot of each point along the segment: 0 at a, 1 at b."""
        a, b = np.asarray(self.a, float), np.asarray(self.b, float)
        d = b - a
        return (np.asarray(xy, float) - a) @ d / (d @ d)


@dataclass(frozen=True)
class Zone:
    """A polygon zone, vertices (M, 2) in ``space`` units; ``band`` is the dead band around
    its edge (a person within it keeps being inside or outside)."""

    name: str
    polygon: tuple[tuple[float, float], ...]
    space: str = "image"
    band: float = 0.0

    def __post_init__(self) -> None:
        _check_space(self.space, self.name)
        vertices = np.asarray(self.polygon, float)
        if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3:
            raise ValueError(f"zone {self.name!r}: give 3 or more (x, y) vertices")
        if not np.isfinite(vertices).all() or polygon_area(vertices) == 0:
            raise ValueError(f"zone {self.name!r}: vertices must be finite with a non-zero area")
        if not self.band >= 0:
            raise ValueError(f"zone {self.name!r}: band must be >= 0")

    @property
    def vertices(self) -> np.ndarray:
        return np.asarray(self.polygon, float)  # (M, 2)

    @property
    def area_m2(self) -> float | None:
        """Ground area in square metres; None for an image zone (pixels have no area)."""
        return polygon_area(self.vertices) if self.space == "ground" else None

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) -> (N,) bool: inside the polygon (even-odd rule)."""
        return points_in_polygon(self.vertices, xy)

    def edge_distance(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) -> (N,) distance to the nearest edge."""
        v = self.vertices
        start, end = v, np.roll(v, -1, axis=0)  # (M, 2) edges
        edge = end - start
        rel = xy[:, None, :] - start[None]  # (N, M, 2)
        t = np.clip((rel * edge).sum(-1) / (edge * edge).sum(-1), 0, 1)  # (N, M)
        nearest = start[None] + t[..., None] * edge[None]
        return np.linalg.norm(xy[:, None, :] - nearest, axis=-1).min(axis=1)


def polygon_area(vertices: np.ndarray) -> float:
    """Area of a polygon (M, 2) by the shoelace formula."""
    x, y = vertices[:, 0], vertices[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def points_in_polygon(vertices: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(M, 2) polygon, (N, 2) points -> (N,) inside (even-odd ray casting)."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), bool)
    x_prev, y_prev = vertices[-1]
    for x_vertex, y_vertex in vertices:  # loop over edges, vectorised over points
        straddles = (y_vertex > y) != (y_prev > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x_vertex + (y - y_vertex) * (x_prev - x_vertex) / (y_prev - y_vertex)
        inside ^= straddles & (x < x_cross)
        x_prev, y_prev = x_vertex, y_vertex
    return inside


def _check_space(space: str, name: str) -> None:
    if space not in SPACES:
        raise ValueError(f"region {name!r}: space must be one of {', '.join(SPACES)}")


# ---------------------------------------------------------------------- one line, one track


@dataclass
class SideRecord:
    """Where a track last was clear of a line's band: the side (+1 left, -1 right), the
    point and its time."""

    side: int
    xy: np.ndarray
    time_s: float


@dataclass
class Crossing:
    """A crossing found by `step_line`: where (x, y), when (interpolated) and which way."""

    xy: np.ndarray
    time_s: float
    direction: str


def step_line(
    line: Line, record: SideRecord | None, xy: np.ndarray, time_s: float
) -> tuple[SideRecord | None, Crossing | None]:
    """Advance one track's state for ``line`` by one sample at ``xy`` (2,).

    Inside the dead band nothing changes. Clear of it, on the other side from the recorded
    one, the step from the recorded point to this one crossed the line: a crossing when the
    crossing point lies on the segment a-b (going round an end of the line is none).
    """
    distance = float(line.signed_distance(xy[None])[0])
    if not abs(distance) > line.band:  # in the band (or NaN): keep the side it had
        return record, None
    side = 1 if distance > 0 else -1
    crossing = None
    if record is not None and record.side != side:
        before = float(line.signed_distance(record.xy[None])[0])
        fraction = before / (before - distance)  # where along the step the line is met
        point = record.xy + fraction * (xy - record.xy)
        if 0.0 <= float(line.along(point)) <= 1.0:
            time = record.time_s + fraction * (time_s - record.time_s)
            crossing = Crossing(point, time, DIRECTIONS[0] if record.side > 0 else DIRECTIONS[1])
    return SideRecord(side, np.asarray(xy, float), time_s), crossing


# ------------------------------------------------------------------- one source, all tracks


@dataclass
class _TrackState:
    last_time_s: float
    last_frame: int
    sides: dict[str, SideRecord] = field(default_factory=dict)  # line name -> record
    entered: dict[str, float] = field(default_factory=dict)  # zone name -> enter time
    known_zones: set[str] = field(default_factory=set)  # zones whose in/out is decided


@dataclass
class _Interval:
    index: int  # floor(time / interval_s)
    frames: int = 0
    last_frame: int = -1
    people: dict[str, list[int]] = field(default_factory=dict)  # zone -> per-frame counts


class RegionCounter:
    """Lines and zones of one source, fed one frame at a time; returns the events.

    ``update`` takes the frame's tracked people with their points in each space they have;
    ``finish`` closes what is open (people still inside leave with reason "end", the last
    occupancy interval is reported). State is per track id; a new source needs a new counter.
    """

    def __init__(
        self,
        source: str,
        lines: Sequence[Line] = (),
        zones: Sequence[Zone] = (),
        interval_s: float = DEFAULT_INTERVAL_S,
        forget_after_s: float = DEFAULT_FORGET_AFTER_S,
    ) -> None:
        if interval_s <= 0 or forget_after_s <= 0:
            raise ValueError("interval_s and forget_after_s must be > 0 seconds")
        names = [region.name for region in (*lines, *zones)]
        if len(set(names)) != len(names):
            raise ValueError("every line and zone of a source needs its own name")
        self.source = source
        self.lines, self.zones = tuple(lines), tuple(zones)
        self.interval_s, self.forget_after_s = interval_s, forget_after_s
        self.tracks: dict[int, _TrackState] = {}
        self.crossings = {line.name: dict.fromkeys(DIRECTIONS, 0) for line in self.lines}
        self._interval: _Interval | None = None

    @property
    def spaces(self) -> set[str]:
        """The spaces its regions need points in."""
        return {region.space for region in (*self.lines, *self.zones)}

    def occupancy(self) -> dict[str, int]:
        """People inside each zone now."""
        return {
            zone.name: sum(zone.name in state.entered for state in self.tracks.values())
            for zone in self.zones
        }

    def update(
        self,
        frame: int,
        time_s: float,
        track_ids: np.ndarray,
        points: Mapping[str, np.ndarray],
        wall_time: float | None = None,
    ) -> list[Event]:
        """One frame: ``track_ids`` (N,) of tracked people (>= 0), ``points[space]`` (N, 2)
        their positions (NaN where unknown). Returns the events in the order found."""
        events = self._close_interval(time_s, wall_time)
        events += self._forget(time_s, wall_time)
        for row, track_id in enumerate(np.asarray(track_ids).tolist()):
            state = self.tracks.setdefault(int(track_id), _TrackState(time_s, frame))
            state.last_time_s, state.last_frame = time_s, frame
            for line in self.lines:
                xy = _point(points, line.space, row)
                if xy is None:
                    continue
                record, crossing = step_line(line, state.sides.get(line.name), xy, time_s)
                if record is not None:
                    state.sides[line.name] = record
                if crossing is not None:
                    self.crossings[line.name][crossing.direction] += 1
                    events.append(
                        self._event(LINE_CROSSING, line, frame, crossing.time_s, wall_time)
                        | dict(track_id=track_id, direction=crossing.direction, xy=crossing.xy)
                    )
            for zone in self.zones:
                xy = _point(points, zone.space, row)
                if xy is not None:
                    events += self._step_zone(zone, state, track_id, xy, frame, time_s, wall_time)
        self._count(frame, time_s)
        return [Event(**fields) for fields in events]

    def finish(self, wall_time: float | None = None) -> list[Event]:
        """The end of the stream: everyone inside a zone leaves (reason "end") at their last
        sample, and the open occupancy interval is reported."""
        events = []
        for track_id, state in self.tracks.items():
            events += self._leave_all(track_id, state, "end", wall_time)
        if self._interval is not None:
            events += self._interval_events(wall_time)
            self._interval = None
        self.tracks.clear()
        return [Event(**fields) for fields in sorted(events, key=lambda e: e["time_s"])]

    def state_dict(self) -> dict:
        """What `update` carries from one frame to the next (who is inside which zone since
        when, each track's side of each line, the counts, the open occupancy interval), as
        plain JSON values: the resume state a sink saves with each complete part."""
        tracks = {
            str(track_id): {
                "last_time_s": float(state.last_time_s),
                "last_frame": int(state.last_frame),
                "sides": {
                    name: [int(r.side), [float(v) for v in r.xy], float(r.time_s)]
                    for name, r in state.sides.items()
                },
                "entered": {name: float(t) for name, t in state.entered.items()},
                "known_zones": sorted(state.known_zones),
            }
            for track_id, state in self.tracks.items()
        }
        interval = self._interval
        return {
            "tracks": tracks,
            "crossings": {name: dict(counts) for name, counts in self.crossings.items()},
            "interval": None
            if interval is None
            else {
                "index": interval.index,
                "frames": interval.frames,
                "last_frame": interval.last_frame,
                "people": {name: list(counts) for name, counts in interval.people.items()},
            },
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Continue from a `state_dict` (KeyError / ValueError if it does not fit these
        regions)."""
        self.tracks = {
            int(track_id): _TrackState(
                last_time_s=float(saved["last_time_s"]),
                last_frame=int(saved["last_frame"]),
                sides={
                    name: SideRecord(int(side), np.asarray(xy, float), float(time_s))
                    for name, (side, xy, time_s) in saved["sides"].items()
                },
                entered={name: float(t) for name, t in saved["entered"].items()},
                known_zones=set(saved["known_zones"]),
            )
            for track_id, saved in state["tracks"].items()
        }
        if set(state["crossings"]) != set(self.crossings):
            raise ValueError("the saved lines are not this run's lines")
        self.crossings = {name: dict(counts) for name, counts in state["crossings"].items()}
        interval = state["interval"]
        self._interval = None
        if interval is not None:
            if set(interval["people"]) != {zone.name for zone in self.zones}:
                raise ValueError("the saved zones are not this run's zones")
            self._interval = _Interval(
                int(interval["index"]),
                int(interval["frames"]),
                int(interval["last_frame"]),
                {name: list(counts) for name, counts in interval["people"].items()},
            )

    # ------------------------------------------------------------------------- internals

    def _event(self, kind: str, region, frame: int, time_s: float, wall_time) -> dict:
        return dict(
            source=self.source,
            kind=kind,
            region=region.name,
            space=region.space,
            frame=frame,
            time_s=time_s,
            wall_time=wall_time,
        )

    def _step_zone(self, zone, state, track_id, xy, frame, time_s, wall_time) -> list[dict]:
        inside = bool(zone.contains(xy[None])[0])
        clear = float(zone.edge_distance(xy[None])[0]) > zone.band
        was_inside = zone.name in state.entered
        if zone.name in state.known_zones and not clear:
            return []  # in the dead band: keeps its state
        state.known_zones.add(zone.name)
        if inside and not was_inside:
            state.entered[zone.name] = time_s
            return [
                self._event(ZONE_ENTER, zone, frame, time_s, wall_time)
                | dict(track_id=track_id, xy=xy)
            ]
        if was_inside and not inside:
            return [self._leave(zone, track_id, state, frame, time_s, "left", wall_time, xy)]
        return []

    def _leave(self, zone, track_id, state, frame, time_s, reason, wall_time, xy=None) -> dict:
        entered = state.entered.pop(zone.name)
        event = self._event(ZONE_LEAVE, zone, frame, time_s, wall_time)
        return event | dict(track_id=track_id, dwell_s=time_s - entered, reason=reason, xy=xy)

    def _leave_all(self, track_id, state, reason, wall_time) -> list[dict]:
        zones = [zone for zone in self.zones if zone.name in state.entered]
        return [
            self._leave(
                zone, track_id, state, state.last_frame, state.last_time_s, reason, wall_time
            )
            for zone in zones
        ]

    def _forget(self, time_s: float, wall_time) -> list[dict]:
        events = []
        for track_id in [
            tid for tid, s in self.tracks.items() if time_s - s.last_time_s > self.forget_after_s
        ]:
            events += self._leave_all(track_id, self.tracks.pop(track_id), "lost", wall_time)
        return events

    def _close_interval(self, time_s: float, wall_time) -> list[dict]:
        index = int(np.floor(time_s / self.interval_s))
        if self._interval is not None and index != self._interval.index:
            events = self._interval_events(wall_time)
        else:
            events = []
        if self._interval is None or index != self._interval.index:
            self._interval = _Interval(index, people={zone.name: [] for zone in self.zones})
        return events

    def _count(self, frame: int, time_s: float) -> None:
        interval = self._interval
        interval.frames, interval.last_frame = interval.frames + 1, frame
        seen_now = [state for state in self.tracks.values() if state.last_time_s == time_s]
        for zone in self.zones:
            interval.people[zone.name].append(sum(zone.name in s.entered for s in seen_now))

    def _interval_events(self, wall_time) -> list[dict]:
        interval = self._interval
        start = interval.index * self.interval_s
        events = []
        for zone in self.zones:
            counts = np.asarray(interval.people[zone.name], float)
            mean = float(counts.mean()) if len(counts) else 0.0
            area = zone.area_m2
            end = start + self.interval_s
            event = self._event(ZONE_OCCUPANCY, zone, interval.last_frame, end, wall_time)
            events.append(
                event
                | dict(
                    interval_start_s=start,
                    frames=interval.frames,
                    mean_people=mean,
                    max_people=int(counts.max()) if len(counts) else 0,
                    people_per_m2=mean / area if area else None,
                )
            )
        return events


def _point(points: Mapping[str, np.ndarray], space: str, row: int) -> np.ndarray | None:
    values = points.get(space)
    if values is None:
        return None
    xy = np.asarray(values[row], float)
    return xy if np.isfinite(xy).all() else None


# ------------------------------------------------------------------------------ offline


def image_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes x1, y1, x2, y2 -> (N, 2) the bottom centres (the feet), in pixels."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def track_points(tracks: pd.DataFrame) -> dict[str, np.ndarray]:
    """The tracks table's rows as points in each space it has: image (box bottom centre)
    and ground (``ground_x_m``, ``ground_y_m``; NaN without a ground plane)."""
    points = {}
    if all(column in tracks.columns for column in BOX_COLUMNS):
        points["image"] = image_points(tracks[list(BOX_COLUMNS)].to_numpy(np.float64))
    if all(column in tracks.columns for column in GROUND_COLUMNS):
        points["ground"] = tracks[list(GROUND_COLUMNS)].to_numpy(np.float64, na_value=np.nan)
    return points


def region_events(
    tracks: pd.DataFrame,
    lines: Iterable[Line] = (),
    zones: Iterable[Zone] = (),
    interval_s: float = DEFAULT_INTERVAL_S,
    forget_after_s: float = DEFAULT_FORGET_AFTER_S,
    frame_index: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The events of lines and zones over a tracks table (`crowdpose3d.tracks.io.read_tracks`),
    exactly as the live ``regions`` stage emits them: a `RegionCounter` per source, fed
    frame by frame in order. Pass ``frame_index`` (`crowdpose3d.tracks.io.read_frame_index`)
    so frames where nobody was seen count too (as the live stage counts them: occupancy 0).
    Columns: `crowdpose3d.tracks.events.EVENT_FIELDS`."""
    lines, zones = list(lines), list(zones)
    for column in (SOURCE, FRAME, TIME, TRACK_ID):
        if column not in tracks.columns:
            raise ValueError(f"region_events: the table lacks column {column}")
    ordered = tracks.sort_values([SOURCE, FRAME, TRACK_ID], kind="stable", ignore_index=True)
    points = track_points(ordered)
    for region in (*lines, *zones):
        if region.space not in points:
            raise ValueError(f"region {region.name!r}: the table has no {region.space} points")
    frames = ordered[[SOURCE, FRAME, TIME]].astype({SOURCE: str})
    if frame_index is not None:
        extra = frame_index[[SOURCE, FRAME, TIME]].astype({SOURCE: str})
        frames = pd.concat([frames, extra], ignore_index=True)
    frames = frames.drop_duplicates([SOURCE, FRAME]).sort_values([SOURCE, FRAME])
    sources = ordered[SOURCE].astype(str).to_numpy()
    keys = list(zip(sources, ordered[FRAME].to_numpy().tolist(), strict=True))
    rows_of: dict[tuple[str, int], list[int]] = {}
    for row, key in enumerate(keys):
        rows_of.setdefault(key, []).append(row)
    track_ids = ordered[TRACK_ID].to_numpy()
    events: list[Event] = []
    for source, table in frames.groupby(SOURCE, sort=True):  # few sources
        counter = RegionCounter(source, lines, zones, interval_s, forget_after_s)
        for frame, time_s in zip(table[FRAME].tolist(), table[TIME].tolist(), strict=True):
            rows = np.asarray(rows_of.get((source, frame), []), np.int64)
            events += counter.update(
                int(frame),
                float(time_s),
                track_ids[rows],
                {space: values[rows] for space, values in points.items()},
            )
        events += counter.finish()
    return events_frame(events)


def dwell_per_person(events: pd.DataFrame) -> pd.DataFrame:
    """Per (source, zone, track_id) from `region_events`: visits and total dwell_s."""
    leaves = events[events["kind"] == ZONE_LEAVE]
    return (
        leaves.groupby([SOURCE, "region", TRACK_ID], observed=True)
        .agg(visits=("dwell_s", "size"), dwell_s=("dwell_s", "sum"))
        .reset_index()
    )


def occupancy(events: pd.DataFrame) -> pd.DataFrame:
    """The occupancy intervals of `region_events`: source, region, interval_start_s,
    interval_end_s (the event's time), frames, mean_people, max_people, people_per_m2."""
    rows = events[events["kind"] == ZONE_OCCUPANCY]
    table = rows[[SOURCE, "region", "interval_start_s", TIME, "frames", "mean_people"]]
    table = table.assign(max_people=rows["max_people"], people_per_m2=rows["people_per_m2"])
    return table.rename(columns={TIME: "interval_end_s"}).reset_index(drop=True)
