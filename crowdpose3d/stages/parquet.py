"""The Parquet sink: writes the tracks dataset (its schema: `crowdpose3d.tracks.schema`).

One row per (frame, tracked person) in part files ``part-NNNNNN.parquet`` under the output
directory. Each part is written under a temporary name and renamed when complete, so a
killed process leaves only complete, readable parts. Joint names, skeleton, fps, model and
the frames each part covers are in the Parquet key-value metadata.

An output directory that already holds parts is refused unless ``overwrite`` (the old parts
are removed first) or ``resume`` (the run continues after the last complete part; a live
run always does, appending).

Exact resume: the stages' resume state of the last frame of each part (the tracker's,
``frame.data[STAGE_STATE]``) is saved beside it as ``.part-NNNNNN.state.npz`` (written, then
renamed, before the part), and `ParquetSink.saved_states` gives it back to the run plan.

Bounded disk: retention by parts, bytes and age (`crowdpose3d.stages.retention`, shared with
the overlay and MOT segments; a live run gets `LIVE_RETAIN_BYTES` and `LIVE_RETAIN_AGE_S`
unless it names its own); a free-space guard (below ``min_free_bytes``
no part is written, the rows wait in memory up to ``max_waiting_rows``, one warning line,
and the writing resumes when space returns); a write that fails for lack of space (ENOSPC)
keeps its rows and is retried. `ParquetSink.free_bytes` and `ParquetSink.write_part` are the
seams the tests use to fake a full disk.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
from pydantic import Field

from crowdpose3d.files import atomic_path
from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.defaults import MIN_FREE_BYTES
from crowdpose3d.pipeline.frame import STAGE_STATE, STREAM_EVENTS, Frame
from crowdpose3d.pipeline.plan import ResumePoint
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.stages.retention import beyond_retention, with_live_defaults
from crowdpose3d.tracking.gap_fill import GAP_FILLED
from crowdpose3d.tracks import io, schema
from crowdpose3d.tracks.schema import METADATA_KEY, PART_GLOB, part_number, tracks_schema

log = logging.getLogger("crowdpose3d.parquet")
STATE_SEPARATOR = "|"  # npz keys of a state file: "<stage name>|<state key>"
DISK_RETRY_S = 5.0  # after a full disk or a failed write, wait this long before trying again
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # write errors that free space can cure


class ParquetParams(StageParams):
    path: str  # output directory
    rows_per_part: int = Field(50_000, ge=1)  # a part is written when this many rows wait
    seconds_per_part: float = Field(60.0, gt=0)  # ... or this long has passed (live runs)
    compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd"
    keep_untracked: bool = False  # also write people without a track id (track_id -1)
    retain_parts: int | None = Field(None, ge=1)  # keep only the newest N parts
    retain_bytes: int | None = Field(None, ge=1)  # ... and at most this many bytes of parts
    retain_age_s: float | None = Field(None, gt=0)  # ... and none older than this
    min_free_bytes: int = Field(MIN_FREE_BYTES, ge=0)  # write no part below this free space
    # While the disk is full, at most this many rows wait in memory; beyond, the oldest
    # frames' rows are dropped (counted in ``rows_dropped_disk_full``). None: 10 parts' worth.
    max_waiting_rows: int | None = Field(None, ge=1)
    # False: no `source` column; the directory is a hive partition `source=<id>` that gives
    # it (crowdpose3d batch), and the two would clash when the dataset is read back.
    source_column: bool = True


class ParquetSink(BaseStage):
    """Writes the tracks dataset and passes the frames on."""

    Params = ParquetParams

    def __init__(self, params: ParquetParams) -> None:
        super().__init__(params)
        self.params: ParquetParams = params
        self.directory = Path(params.path)
        self._chunks: list[dict[str, np.ndarray]] = []  # one per frame with people
        self._row_count = 0
        self._first_frame: int | None = None
        self._last_frame: int | None = None
        self._part_started = time.monotonic()
        self._next_part = 0
        self._states: dict[str, dict] | None = None  # resume state of the newest frame added
        self._events: list[dict] = []  # the source's events in the waiting rows' frames
        self._retry_at = 0.0  # monotonic time before which no write is tried (disk full)
        self._disk_full = False
        self.parts_written: list[Path] = []
        self.write_failures = 0  # part writes that failed for lack of space
        self.rows_dropped_disk_full = 0

    def open(self, context: StageContext) -> None:
        super().open(context)
        existing = self._existing_parts()
        if existing and context.resume:  # the runner's plan starts after these parts
            self._next_part = part_number(existing[-1]) + 1
            self._cut_after(existing, context.plan.resume_point.after_frame)
        elif existing and context.overwrite:
            for path in existing:
                _remove_part(path)
        elif existing:
            raise StageError(
                f"{self.directory} already holds {len(existing)} part file(s); pass --overwrite "
                "to replace them or --resume to continue the run"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StageError(f"cannot create {self.directory}: {error.strerror}") from None
        for stale in self.directory.glob(".part-*.tmp"):
            stale.unlink()  # left by a killed run; never a complete part
        for state in self.directory.glob(".part-*.state.npz"):
            if not _part_of(state).exists():
                state.unlink()  # its part was never renamed, or was removed
        self.params = with_live_defaults(self.params, bool(context.facts.live))

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report (and the metrics endpoint)."""
        return {
            "parts_written": len(self.parts_written),
            "part_write_failures": self.write_failures,
            "rows_dropped_disk_full": self.rows_dropped_disk_full,
            "disk_free_bytes": self._free_bytes_or_zero(),
        }

    def _free_bytes_or_zero(self) -> int:
        try:
            return int(self.free_bytes())
        except OSError:
            return 0

    def saved_states(self, up_to_frame: int) -> tuple[int, dict[str, dict]] | None:
        """(last frame, {stage name: state}) of the newest complete part that ends at or
        before ``up_to_frame`` and has its stages' state saved beside it; None if none has.
        The run plan resumes after that frame with those states (`crowdpose3d.pipeline.plan`).
        """
        for path in reversed(self._existing_parts()):
            state_path = _state_of(path)
            if not state_path.is_file():
                continue
            try:
                last = int(schema.read_part_metadata(path).get("last_frame", -1))
                if last > up_to_frame:
                    continue
                return last, load_states(state_path)
            except (OSError, ValueError, pa.ArrowException) as error:
                log.warning("ignoring %s: %s", state_path, first_line(error))
        return None

    def resume_point(self) -> ResumePoint | None:
        """Where the run that wrote the existing parts stopped (None: no parts yet); the
        runner asks before any stage opens (`crowdpose3d.pipeline.plan`)."""
        if not self._existing_parts():
            return None
        last_frame, last_track = resume_point(self.directory)
        return ResumePoint(after_frame=last_frame, after_track_id=last_track)

    def _cut_after(self, parts: list[Path], after_frame: int) -> None:
        """Remove the rows after ``after_frame`` from the existing parts, for a plan that
        resumes before this sink's own last frame (another sink, e.g. MOT, holds less): a
        part wholly after it goes, a part across it is rewritten (temporary name, rename)."""
        for path in parts:
            info = schema.read_part_metadata(path)
            if int(info.get("last_frame", -1)) <= after_frame:
                continue
            _state_of(path).unlink(missing_ok=True)  # no longer the state after its last frame
            if int(info.get("first_frame", 0)) > after_frame:
                path.unlink()
                continue
            table = pq.read_table(path)
            kept = table.filter(pa.compute.less_equal(table[schema.FRAME], after_frame))
            info["last_frame"] = after_frame
            kept = kept.replace_schema_metadata(
                {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(info).encode()}
            )
            with atomic_path(path, path.with_name(f".{path.stem}.tmp")) as partial:
                pq.write_table(kept, partial, compression=self.params.compression)

    def _existing_parts(self) -> list[Path]:
        """The complete parts in the order they were written: by number, not by name, so
        part-1000000 comes after part-999999 and retention never deletes the newest."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(PART_GLOB), key=part_number)

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self._add(frame)
            due = time.monotonic() - self._part_started > self.params.seconds_per_part
            if self._row_count >= self.params.rows_per_part or (due and self._row_count):
                self.flush()
            yield frame

    def close(self) -> None:
        self._retry_at = 0.0  # the last chance: try now
        self.flush()
        if self._first_frame is not None and self._row_count:
            raise StageError(
                f"{self._row_count} rows (frames {self._first_frame}-{self._last_frame}) could "
                f"not be written: the disk of {self.directory} is full; free space and rerun "
                "with --resume"
            )

    def flush(self) -> None:
        """Write the waiting rows as one complete part (temporary name, then rename), the
        stages' resume state beside it first. A nearly full disk (free-space guard) or a
        write that fails for lack of space keeps the rows waiting (tried again after
        `DISK_RETRY_S`); a complete part is never removed to make room."""
        self._part_started = time.monotonic()
        if self._first_frame is None or time.monotonic() < self._retry_at:
            return
        if not self._space_left():
            return
        table = self._table()
        path = self.directory / f"part-{self._next_part:06d}.parquet"
        temporary = self.directory / f".part-{self._next_part:06d}.tmp"
        try:
            if self._states:
                save_states(_state_of(path), self._states)
            with atomic_path(path, temporary) as partial:  # the rename survives a power loss
                self.write_part(table, partial)
        except OSError as error:
            _state_of(path).unlink(missing_ok=True)
            if error.errno not in NO_SPACE:
                raise
            self.write_failures += 1
            self._retry_at = time.monotonic() + DISK_RETRY_S
            log.warning(
                "%s: disk full (%s); %d rows wait in memory and are written when space "
                "returns", self.directory, first_line(error), self._row_count,
            )  # fmt: skip
            return
        self.parts_written.append(path)
        self._next_part += 1
        self._retain()
        self._chunks, self._row_count, self._events = [], 0, []
        self._first_frame, self._last_frame = None, None

    def write_part(self, table: pa.Table, path: Path) -> None:
        """Write one part file (the seam through which tests make a write fail)."""
        pq.write_table(table, path, compression=self.params.compression)

    def free_bytes(self) -> int:
        """Free bytes on the output's disk (the seam through which tests fake a full disk)."""
        return shutil.disk_usage(self.directory).free

    def _space_left(self) -> bool:
        """The free-space guard: False (one warning when it starts) while the disk holds
        less than ``min_free_bytes``; the rows keep waiting, the oldest dropped beyond
        ``max_waiting_rows``."""
        free = self.free_bytes()
        if free >= self.params.min_free_bytes:
            if self._disk_full:
                log.warning("%s: disk space is back; writing parts again", self.directory)
            self._disk_full = False
            return True
        if not self._disk_full:
            log.warning(
                "%s: only %d MiB free (below min_free_bytes %d MiB); no part is written until "
                "space is freed", self.directory, free // 2**20,
                self.params.min_free_bytes // 2**20,
            )  # fmt: skip
        self._disk_full = True
        self._retry_at = time.monotonic() + DISK_RETRY_S
        limit = self.params.max_waiting_rows or 10 * self.params.rows_per_part
        while self._row_count > limit and len(self._chunks) > 1:
            dropped = self._chunks.pop(0)
            count = len(dropped[schema.FRAME])
            self._row_count -= count
            self.rows_dropped_disk_full += count
            self._first_frame = int(self._chunks[0][schema.FRAME][0])
        return False

    def _retain(self) -> None:
        """Remove the oldest parts (and their states) beyond the retention by count, bytes
        and age (`crowdpose3d.stages.retention`); the newest part always stays."""
        params = self.params
        for old in beyond_retention(
            self._existing_parts(), params.retain_parts, params.retain_bytes, params.retain_age_s
        ):
            _remove_part(old)

    def _add(self, frame: Frame) -> None:
        self._first_frame = frame.index if self._first_frame is None else self._first_frame
        self._last_frame = frame.index
        self._states = frame.data.get(STAGE_STATE) or self._states
        self._events.extend(frame.data.get(STREAM_EVENTS, ()))
        poses = frame.poses
        if poses is None or len(poses) == 0:
            return
        keep = np.ones(len(poses), bool) if self.params.keep_untracked else poses.track_id >= 0
        people = poses[keep]
        joints = self.context.facts.joint_names or [f"j{k}" for k in range(people.num_joints)]
        n = len(people)
        ground = people.data.get("ground_xy", np.full((n, 2), np.nan))
        scale = people.data.get("scale_smoothed", people.data.get("scale", np.full(n, np.nan)))
        columns: dict[str, np.ndarray] = {
            schema.SOURCE: np.full(n, frame.source_id, dtype=object),
            schema.FRAME: np.full(n, frame.index, dtype=np.int64),
            schema.TIME: np.full(n, frame.pts_s, dtype=np.float64),
            schema.WALL_TIME: np.full(n, np.nan if frame.wall_time is None else frame.wall_time),
            schema.TRACK_ID: people.track_id,
            schema.SCORE: people.scores,
            schema.INTERPOLATED: people.data.get(GAP_FILLED, np.zeros(n, bool)),
        }
        columns.update(zip(schema.BOX_COLUMNS, people.boxes.T, strict=True))  # (4, n)
        columns.update(zip(schema.ROOT_COLUMNS, people.root.T, strict=True))  # (3, n)
        columns.update(zip(schema.GROUND_COLUMNS, ground.T, strict=True))  # (2, n)
        columns[schema.SCALE] = scale
        for k, name in enumerate(joints):
            values = np.concatenate([people.kp2d[:, k], people.kp3d[:, k]], axis=1)  # (n, 5)
            columns.update(zip(schema.joint_columns(name), values.T, strict=True))
        self._chunks.append(columns)
        self._row_count += n

    def _table(self) -> pa.Table:
        joints = self.context.facts.joint_names or []
        part_schema = tracks_schema(joints, source_column=self.params.source_column)
        columns = {
            field.name: np.concatenate([chunk[field.name] for chunk in self._chunks])
            if self._chunks
            else []
            for field in part_schema
        }
        arrays = [_arrow_array(columns[field.name], field.type) for field in part_schema]
        table = pa.Table.from_arrays(arrays, schema=part_schema)
        metadata = schema.part_metadata(
            self.context.facts.known(), self._first_frame, self._last_frame, self._events
        )
        return table.replace_schema_metadata(
            {**(table.schema.metadata or {}), METADATA_KEY: metadata}
        )


# numpy dtype of each Arrow type of the tracks schema (`_arrow_array`).
_NUMPY_DTYPES = {pa.int64(): np.int64, pa.float32(): np.float32, pa.float64(): np.float64}


def _arrow_array(values: np.ndarray | list, arrow_type: pa.DataType) -> pa.Array:
    """(n,) values -> an Arrow array of ``arrow_type`` built from its buffers.

    ``pa.array`` and ``pa.Table.from_pydict`` import pandas on first use (pyarrow's pandas
    shim), about 45 MB of resident memory that a tracking run does not otherwise need. NaN
    stays NaN (not null), as ``pa.array`` of a numpy array gives it.
    """
    if arrow_type == pa.bool_():  # one bit per value, least significant first
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(bits)])
    if arrow_type == pa.string():  # UTF-8 bytes and int32 offsets
        encoded = [str(value).encode() for value in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
        np.cumsum([len(value) for value in encoded], out=offsets[1:])
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
        return pa.Array.from_buffers(arrow_type, len(encoded), buffers)
    data = np.ascontiguousarray(values, dtype=_NUMPY_DTYPES[arrow_type])  # (n,)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def resume_point(directory: str | Path) -> tuple[int, int]:
    """(last frame covered, largest track id) over the complete parts of ``directory``."""
    try:
        return io.resume_point(directory)
    except ValueError as error:
        raise StageError(f"cannot resume: {error}") from None


def _state_of(part: Path) -> Path:
    """``part-000012.parquet`` -> ``.part-000012.state.npz`` beside it (hidden, so dataset
    readers skip it)."""
    return part.with_name(f".{part.stem}.state.npz")


def _part_of(state: Path) -> Path:
    """The part a state file belongs to (the inverse of `_state_of`)."""
    return state.with_name(state.name[1:].removesuffix(".state.npz") + ".parquet")


def _remove_part(part: Path) -> None:
    _state_of(part).unlink(missing_ok=True)
    part.unlink(missing_ok=True)


def save_states(path: Path, states: dict[str, dict | Callable[[], dict]]) -> None:
    """Write {stage name: {key: array or number}} as one npz, atomically; a stage may
    give its state as a function that makes that dict (made only here, when saved)."""
    made = {stage: state() if callable(state) else state for stage, state in states.items()}
    arrays = {
        f"{stage}{STATE_SEPARATOR}{key}": np.asarray(value)
        for stage, state in made.items()
        for key, value in state.items()
    }
    with atomic_path(path, path.with_name(f"{path.name}.tmp")) as partial:
        with open(partial, "wb") as stream:
            np.savez(stream, **arrays)


def load_states(path: Path) -> dict[str, dict]:
    """The inverse of `save_states`."""
    states: dict[str, dict] = {}
    with np.load(path, allow_pickle=False) as data:
        for name in data.files:
            stage, _, key = name.partition(STATE_SEPARATOR)
            states.setdefault(stage, {})[key] = data[name]
    return states
