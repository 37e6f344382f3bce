"""The events sink: writes the regions stage's events as a dataset of Parquet parts.

The events dataset (schema: `crowdpose3d.tracks.events`) sits beside the tracks, e.g.
``out/events/`` next to ``out/tracks/``, in the tracks dataset's part files: each
``part-NNNNNN.parquet`` is written under a temporary name and renamed when complete
(`crowdpose3d.files.atomic_path`), so a killed run leaves only complete parts, and
``pandas.read_parquet("out/events")`` reads them. Each part's key-value metadata holds the
run's facts and the frames it covers, as for the tracks.

An output folder that holds parts is refused unless ``--overwrite`` (they are removed) or
``--resume`` (numbering continues; events after the plan's resume frame are removed first, so
the resumed run does not write them twice). An event's ``frame`` is where it happened, which
can be earlier than the frame that produced it (a track forgotten ``forget_after_s`` after it
was last seen leaves at its last frame), so each part's metadata also lists the frame that
produced each of its rows (``emitted_frames``), and the cut goes by those.

Exact resume: the events still waiting in memory are lost when a run is killed, so the sink
tells the run plan how far its complete parts reach (`EventsSink.resume_point`): the last
frame of its newest part, or the later frame recorded in ``_covered.json`` (dataset
readers skip names that start with ``_``), written with each part and on each
``seconds_per_part`` with no event waiting: every event up to that frame is in a complete
part. The plan then resumes no later than that, from the regions' and the tracker's state
saved there (`crowdpose3d.stages.regions`), and the resumed run's events equal an
uninterrupted run's. A run stopped cleanly (SIGTERM, or a file that ended) has also written
its closing events (people still inside leave with reason "end", the open occupancy interval
ends): each part's metadata counts them (``closing_rows``, its last rows), and a resumed run
removes them when its first frame arrives (it writes its own at its end; a resume with no
frame left keeps them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from crowdpose3d.files import atomic_path
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import ResumePoint
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.tracks import schema
from crowdpose3d.tracks.events import FRAME_CLOSING_KEY, FRAME_EVENTS_KEY, Event, events_table
from crowdpose3d.tracks.schema import METADATA_KEY, PART_GLOB, part_number

COVERED_FILE = "_covered.json"  # {"last_frame": N}: every event up to frame N is in a part
EMITTED_KEY = "emitted_frames"  # part metadata: the frame that produced each row, in order
CLOSING_KEY = "closing_rows"  # part metadata: how many of its last rows closed the stream


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
        self._emitted: list[int] = []  # the frame that produced each waiting event
        self._closing = 0  # how many of the waiting events (the last ones) close the stream
        self._drop_closing = False  # resumed: remove the earlier run's closing events
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
            self._drop_closing = True
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
        self._write_covered(context.plan.resume_point.after_frame)

    def resume_point(self) -> ResumePoint | None:
        """How far the complete parts reach (module docstring); None: no earlier run wrote
        here. ``after_frame`` -1: an earlier run wrote no part yet (its events were lost),
        so the run starts over."""
        covered = self.directory / COVERED_FILE
        parts = self._existing_parts()
        if not parts and not covered.is_file():
            return None
        last = -1
        if parts:
            last = int(schema.read_part_metadata(parts[-1]).get("last_frame", -1))
        try:
            last = max(last, int(json.loads(covered.read_text())["last_frame"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or cut: the parts alone say it
        return ResumePoint(after_frame=last)

    def _write_covered(self, last_frame: int) -> None:
        path = self.directory / COVERED_FILE
        with atomic_path(path, path.with_name(f"{path.name}.tmp")) as partial:
            partial.write_text(json.dumps({"last_frame": int(last_frame)}))

    def _existing_parts(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(PART_GLOB), key=part_number)

    def _cut_after(self, parts: list[Path], after_frame: int) -> None:
        """Drop the events produced after ``after_frame`` (the resumed run makes them again):
        by ``emitted_frames`` where the part lists them, else by the ``frame`` column."""
        for path in parts:
            table = pq.read_table(path)
            info = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}"))
            emitted = info.get(EMITTED_KEY)
            if emitted is not None and len(emitted) == table.num_rows:
                keep = np.asarray(emitted, np.int64) <= after_frame  # (rows,)
                kept = table.filter(pa.array(keep))
                info[EMITTED_KEY] = [f for f in emitted if f <= after_frame]
            else:
                kept = table.filter(pc.less_equal(table["frame"], after_frame))
            if kept.num_rows == table.num_rows:
                continue
            if kept.num_rows == 0:
                path.unlink()
                continue
            cut = table.num_rows - kept.num_rows  # the last rows: closing ones go first
            info[CLOSING_KEY] = max(0, int(info.get(CLOSING_KEY, 0)) - cut)
            info["last_frame"] = min(int(info.get("last_frame", after_frame)), after_frame)
            _rewrite_part(path, kept, info)

    def _remove_closing_rows(self) -> None:
        """Drop the closing events an earlier, cleanly stopped run wrote (module docstring)."""
        for path in self._existing_parts():
            table = pq.read_table(path)
            info = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}"))
            closing = int(info.get(CLOSING_KEY, 0))
            if closing <= 0:
                continue
            kept = table.slice(0, table.num_rows - closing)
            if kept.num_rows == 0:
                path.unlink()
                continue
            info[CLOSING_KEY] = 0
            if EMITTED_KEY in info:
                info[EMITTED_KEY] = info[EMITTED_KEY][: kept.num_rows]
            _rewrite_part(path, kept, info)

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if self._drop_closing:
                self._drop_closing = False
                self._remove_closing_rows()
            self._first_frame = frame.index if self._first_frame is None else self._first_frame
            self._last_frame = frame.index
            new = frame.data.get(FRAME_EVENTS_KEY, ())
            self._events.extend(new)
            self._emitted.extend([frame.index] * len(new))
            self._closing = int(frame.data.get(FRAME_CLOSING_KEY, 0))  # only the last frame's
            due = time.monotonic() - self._part_started > self.params.seconds_per_part
            if len(self._events) >= self.params.events_per_part or due:
                self.flush()
            yield frame

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Write the waiting events as one complete part (temporary name, then rename)."""
        self._part_started = time.monotonic()
        if not self._events:
            if self._last_frame is not None:
                self._write_covered(self._last_frame)  # no event waits: all are in parts
            return
        table = events_table(self._events)
        info = json.loads(
            schema.part_metadata(self.context.facts.known(), self._first_frame, self._last_frame)
        )
        info[EMITTED_KEY] = self._emitted
        info[CLOSING_KEY] = self._closing
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(info).encode()})
        path = self.directory / f"part-{self._next_part:06d}.parquet"
        temporary = self.directory / f".part-{self._next_part:06d}.tmp"
        with atomic_path(path, temporary) as partial:
            pq.write_table(table, partial, compression="zstd")
        self.parts_written.append(path)
        self._next_part += 1
        self._write_covered(self._last_frame)
        self._events, self._emitted, self._first_frame, self._last_frame = [], [], None, None
        self._closing = 0


def _rewrite_part(path: Path, kept: pa.Table, info: dict) -> None:
    """Replace the part at ``path`` with the rows ``kept`` and its metadata ``info``, under a
    temporary name first (a kill leaves the old part or the new one, never half of one)."""
    metadata = {**(kept.schema.metadata or {}), METADATA_KEY: json.dumps(info).encode()}
    with atomic_path(path, path.with_name(f".{path.stem}.tmp")) as partial:
        pq.write_table(kept.replace_schema_metadata(metadata), partial)
