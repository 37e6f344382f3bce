"""The regions stage: lines and zones of each source turn tracks into events, live.

Placed after ``track``. For every frame it feeds the tracked people to the source's
`crowdpose3d.tracks.regions.RegionCounter` (the same code the offline
`crowdpose3d.tracks.regions.region_events` runs) and attaches what happened to the frame:
``frame.data["events"]`` (a list of `crowdpose3d.tracks.events.Event`, read by the
``events`` and ``mqtt`` sinks) and ``frame.data["regions"]`` (a `RegionsView`: the
regions with their live counts, which the overlay draws).

A region is in image pixels (a person is their box's bottom centre) or in ground-plane
metres (``ground_xy`` of the lift stage, which needs a camera with a height and pitch). The
stage holds each frame back until the next arrives, so when the stream ends it can add the
closing events (people still inside leave with reason "end", the last occupancy interval) to
the last frame. State is per source id.

Exact resume: the counters' state after each frame (`RegionCounter.state_dict`, as JSON)
goes on the frame under ``frame.data[STAGE_STATE]`` like the tracker's, the Parquet sink
saves it beside each complete part, and a resumed run (``context.plan.stage_state``)
continues from it: people inside a zone stay inside, each track keeps its side of each line,
and the events of a killed and resumed file run equal an uninterrupted run's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.frame import STAGE_STATE, Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.tracks.events import FRAME_CLOSING_KEY, FRAME_EVENTS_KEY, FRAME_REGIONS_KEY
from crowdpose3d.tracks.regions import (
    DEFAULT_FORGET_AFTER_S,
    DEFAULT_INTERVAL_S,
    SPACES,
    Line,
    RegionCounter,
    Zone,
    image_points,
)

GROUND_KEY = "ground_xy"  # poses.data key of the lift stage's ground-plane positions (N, 2)
STATE_KEY = "counters"  # resume state: {STATE_KEY: JSON of {source id: counter state}}


class LineParams(StageParams):
    name: str
    a: tuple[float, float]  # (x, y): pixels for space image, metres for space ground
    b: tuple[float, float]
    space: str = Field("image", pattern="^(image|ground)$")
    band: float = Field(0.0, ge=0)  # dead band half-width (px or m) against jitter


class ZoneParams(StageParams):
    name: str
    polygon: list[tuple[float, float]] = Field(min_length=3)  # vertices (x, y)
    space: str = Field("image", pattern="^(image|ground)$")
    band: float = Field(0.0, ge=0)  # dead band around the edge (px or m)


class SourceRegions(StageParams):
    lines: list[LineParams] = []
    zones: list[ZoneParams] = []


class RegionsParams(StageParams):
    lines: list[LineParams] = []  # for every source
    zones: list[ZoneParams] = []  # for every source
    per_source: dict[str, SourceRegions] = {}  # source id -> its own lines and zones (added)
    interval_s: float = Field(DEFAULT_INTERVAL_S, gt=0)  # occupancy interval (s)
    forget_after_s: float = Field(DEFAULT_FORGET_AFTER_S, gt=0)  # unseen this long: gone

    @model_validator(mode="after")
    def _valid_regions(self) -> RegionsParams:
        for source in [None, *self.per_source]:
            try:
                regions_of(self, source)
            except ValueError as error:
                raise ValueError(str(error)) from None
        return self


def regions_of(params: RegionsParams, source: str | None) -> tuple[list[Line], list[Zone]]:
    """The lines and zones that apply to ``source`` (ValueError for a bad one)."""
    own = params.per_source.get(source) if source is not None else None
    lines = [*params.lines, *(own.lines if own else [])]
    zones = [*params.zones, *(own.zones if own else [])]
    built_lines = [Line(p.name, tuple(p.a), tuple(p.b), p.space, p.band) for p in lines]
    built_zones = [Zone(p.name, tuple(map(tuple, p.polygon)), p.space, p.band) for p in zones]
    names = [region.name for region in (*built_lines, *built_zones)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"regions: the name(s) {', '.join(duplicates)} are used twice")
    return built_lines, built_zones


@dataclass
class RegionsView:
    """What the overlay draws: a source's regions and their counts now."""

    lines: tuple[Line, ...]
    zones: tuple[Zone, ...]
    crossings: dict[str, dict[str, int]]  # line -> direction -> count so far
    occupancy: dict[str, int]  # zone -> people inside now


class RegionsStage(BaseStage):
    """Adds line and zone events to the frames (see the module docstring)."""

    Params = RegionsParams

    def __init__(self, params: RegionsParams) -> None:
        super().__init__(params)
        self.params: RegionsParams = params
        self.counters: dict[str, RegionCounter] = {}

    def open(self, context: StageContext) -> None:
        """Start fresh, or after ``--resume`` from the counters' state the plan holds (saved
        with the last complete part: who is inside, which side of each line)."""
        super().open(context)
        self.counters = {}
        state = context.plan.stage_state.get(self.run_name)
        if not state or STATE_KEY not in state:
            return
        try:
            for source, saved in json.loads(str(state[STATE_KEY])).items():
                self._counter(source).load_state_dict(saved)
        except (ValueError, KeyError, TypeError) as error:
            raise StageError(
                f"cannot resume the regions (were they changed?): {first_line(error)}; "
                "rerun with --overwrite"
            ) from None

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        held: Frame | None = None
        for frame in frames:
            self._process(frame)
            if held is not None:
                yield held
            held = frame
        if held is not None:
            closing = [event for c in self.counters.values() for event in c.finish(None)]
            held.data.setdefault(FRAME_EVENTS_KEY, []).extend(closing)
            held.data[FRAME_CLOSING_KEY] = len(closing)
            yield held

    def _counter(self, source: str) -> RegionCounter:
        counter = self.counters.get(source)
        if counter is None:
            lines, zones = regions_of(self.params, source)
            p = self.params
            counter = RegionCounter(source, lines, zones, p.interval_s, p.forget_after_s)
            self.counters[source] = counter
        return counter

    def _process(self, frame: Frame) -> None:
        counter = self._counter(frame.source_id)
        poses = frame.poses
        if poses is not None and len(poses):
            people = poses[poses.track_id >= 0]
        else:
            people = None
        n = 0 if people is None else len(people)
        points = {"image": np.zeros((0, 2))}
        if n:
            points["image"] = image_points(people.boxes)  # (n, 2) pixels
        if "ground" in counter.spaces:
            facts = self.context.facts
            if facts.camera_source == "auto":  # no ground plane until the first estimate
                unknown = np.full((n, 2), np.nan)  # (n, 2): nobody placed yet
                points["ground"] = people.data.get(GROUND_KEY, unknown) if n else unknown
            elif facts.ground_plane is False or (n and GROUND_KEY not in people.data):
                raise StageError(
                    "regions: a line or zone is in ground metres but the lift stage has no "
                    "ground plane; give the lift camera: auto, camera_file or height_m and "
                    "pitch_deg, or use space: image"
                )
            else:
                points["ground"] = people.data[GROUND_KEY] if n else np.zeros((0, 2))
        track_ids = people.track_id if n else np.zeros(0, np.int64)
        events = counter.update(frame.index, frame.pts_s, track_ids, points, frame.wall_time)
        frame.data.setdefault(FRAME_EVENTS_KEY, []).extend(events)
        frame.data[FRAME_REGIONS_KEY] = RegionsView(
            counter.lines,
            counter.zones,
            {name: dict(counts) for name, counts in counter.crossings.items()},
            counter.occupancy(),
        )
        # The state after this frame, for a sink to save with the part it ends.
        states = {source: c.state_dict() for source, c in self.counters.items()}
        frame.data.setdefault(STAGE_STATE, {})[self.run_name] = {
            STATE_KEY: np.asarray(json.dumps(states))
        }


__all__ = ["SPACES", "RegionsParams", "RegionsStage", "RegionsView", "regions_of"]
