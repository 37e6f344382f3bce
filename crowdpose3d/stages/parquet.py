"""The Parquet sink: writes the tracks dataset (its schema: `crowdpose3d.tracks.schema`).

One row per (frame, tracked person) in part files ``part-NNNNNN.parquet`` under the output
directory. Each part is written under a temporary name and renamed when complete, so a
killed process leaves only complete, readable parts. Joint names, skeleton, fps, model and
the frames each part covers are in the Parquet key-value metadata.

An output directory that already holds parts is refused unless ``overwrite`` (the old parts
are removed first) or ``resume`` (the run continues after the last complete part).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
from pydantic import Field

from crowdpose3d.files import atomic_path
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import ResumePoint
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.tracks import io, schema
from crowdpose3d.tracks.schema import METADATA_KEY, PART_GLOB, part_number, tracks_schema


class ParquetParams(StageParams):
    path: str  # output directory
    rows_per_part: int = Field(50_000, ge=1)  # a part is written when this many rows wait
    seconds_per_part: float = Field(60.0, gt=0)  # ... or this long has passed (live runs)
    compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd"
    keep_untracked: bool = False  # also write people without a track id (track_id -1)
    retain_parts: int | None = Field(None, ge=1)  # keep only the newest N parts (live runs)
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
        self.parts_written: list[Path] = []

    def open(self, context: StageContext) -> None:
        super().open(context)
        existing = self._existing_parts()
        if existing and context.resume:  # the runner's plan starts after these parts
            self._next_part = part_number(existing[-1]) + 1
            self._cut_after(existing, context.plan.resume_point.after_frame)
        elif existing and context.overwrite:
            for path in existing:
                path.unlink()
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
        self.flush()

    def flush(self) -> None:
        """Write the waiting rows as one complete part (temporary name, then rename)."""
        self._part_started = time.monotonic()
        if self._first_frame is None:
            return
        table = self._table()
        path = self.directory / f"part-{self._next_part:06d}.parquet"
        temporary = self.directory / f".part-{self._next_part:06d}.tmp"
        with atomic_path(path, temporary) as partial:  # the rename survives a power loss
            pq.write_table(table, partial, compression=self.params.compression)
        self.parts_written.append(path)
        self._next_part += 1
        if self.params.retain_parts is not None:
            for old in self._existing_parts()[: -self.params.retain_parts]:
                old.unlink()
        self._chunks, self._row_count = [], 0
        self._first_frame, self._last_frame = None, None

    def _add(self, frame: Frame) -> None:
        self._first_frame = frame.index if self._first_frame is None else self._first_frame
        self._last_frame = frame.index
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
            self.context.facts.known(), self._first_frame, self._last_frame
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
