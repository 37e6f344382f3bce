"""The events sink: writes the regions stage's events as a dataset of Parquet parts.

The events dataset (schema: `crowdpose3d.tracks.events`) sits beside the tracks, e.g.
``out/events/`` next to ``out/tracks/``, in the tracks dataset's part files: each
``part-NNNNNN.parquet`` is written under a temporary name and renamed when complete
(`crowdpose3d.files.atomic_path`), so a killed run leaves only complete parts, and
``pandas.read_parquet("out/events")`` reads them. Each part's key-value metadata holds the
run's facts and the frames it covers, as for the tracks.

An output folder that holds parts is refused unless ``--overwrite`` (they are removed) or
``--resume`` (numbering continues; events after the plan's resume frame are removed first, so
the resumed run does not write them twice).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from crowdpose3d.files import atomic_path
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.tracks import schema
from crowdpose3d.tracks.events import FRAME_EVENTS_KEY, Event, events_table
from crowdpose3d.tracks.schema import METADATA_KEY, PART_GLOB, part_number


class EventsParams(StageParams):
    path: str  # output directory
    events_per_part: int = Field(10_000, ge=1)  # a part is written when this many wait
    seconds_per_part: float = Field(60.0, gt=0)  # ... or this long has passed (live runs)


class EventsSink(BaseStage):
    """Writes ``frame.data["events"]`` and passes the frames on."""

    Params = EventsParams

    def __init__(self, params: EventsParams) -> None:
        super().__init__(params)
        self.params: EventsParams = params
        self.directory = Path(params.path)
        self._events: list[Event] = []
        self._first_frame: int | None = None
        self._last_frame: int | None = None
        self._part_started = time.monotonic()
        self._next_part = 0
        self.parts_written: list[Path] = []

    def open(self, context: StageContext) -> None:
        super().open(context)
        existing = self._existing_parts()
        if existing and context.resume:
            self._next_part = part_number(existing[-1]) + 1
            self._cut_after(existing, context.plan.resume_point.after_frame)
        elif existing and context.overwrite:
            for path in existing:
                path.unlink()
        elif existing:
            raise StageError(
                f"{self.directory} already holds {len(existing)} events part file(s); pass "
                "--overwrite to replace them or --resume to continue the run"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StageError(f"cannot create {self.directory}: {error.strerror}") from None
        for stale in self.directory.glob(schema.TEMPORARY_GLOB):
            stale.unlink()  # left by a killed run; never a complete part

    def _existing_parts(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(PART_GLOB), key=part_number)

    def _cut_after(self, parts: list[Path], after_frame: int) -> None:
        """Drop the events after ``after_frame`` (the resumed run makes them again)."""
        for path in parts:
            table = pq.read_table(path)
            kept = table.filter(pc.less_equal(table["frame"], after_frame))
            if kept.num_rows == table.num_rows:
                continue
            if kept.num_rows == 0:
                path.unlink()
                continue
            with atomic_path(path, path.with_name(f".{path.stem}.tmp")) as partial:
                pq.write_table(kept.replace_schema_metadata(table.schema.metadata), partial)

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self._first_frame = frame.index if self._first_frame is None else self._first_frame
            self._last_frame = frame.index
            self._events.extend(frame.data.get(FRAME_EVENTS_KEY, ()))
            due = time.monotonic() - self._part_started > self.params.seconds_per_part
            if len(self._events) >= self.params.events_per_part or (due and self._events):
                self.flush()
            yield frame

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Write the waiting events as one complete part (temporary name, then rename)."""
        self._part_started = time.monotonic()
        if not self._events:
            return
        table = events_table(self._events)
        metadata = schema.part_metadata(
            self.context.facts.known(), self._first_frame, self._last_frame
        )
        table = table.replace_schema_metadata({METADATA_KEY: metadata})
        path = self.directory / f"part-{self._next_part:06d}.parquet"
        temporary = self.directory / f".part-{self._next_part:06d}.tmp"
        with atomic_path(path, temporary) as partial:
            pq.write_table(table, partial, compression="zstd")
        self.parts_written.append(path)
        self._next_part += 1
        self._events, self._first_frame, self._last_frame = [], None, None
