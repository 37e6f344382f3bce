"""The MOTChallenge sink: ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1`` per
tracked person, frames counted from 1, as TrackEval and motmetrics read a tracker's 2D
results (columns 8-10 are the unused 3D world coordinates of MOTChallenge 2D; TrackEval reads
column 8 as the class, so anything but -1 there is rejected as "non pedestrian"). The 3D
root is in the tracks dataset. Written under a temporary name and renamed on close; each
frame's lines reach the file as the frame passes (a killed run keeps them), and ``--resume``
keeps the lines already written up to the run plan's resume point, which this sink bounds by
what its own file holds (`MOTSink.resume_point`), so the sinks' order in a pipeline does not
matter.

A live run (or any run given ``segment_s``) writes segments instead of one ever-growing
file: ``<stem>-from-<first frame><suffix>`` (e.g. ``mot-from-7500.txt``), a new one every
``segment_s`` seconds of stream time (`LIVE_MOT_SEGMENT_S` for live runs). Each segment is a
complete MOTChallenge file of its frames, written under a temporary name
(``.<name>.partial``) and renamed when the next one starts or the run ends; frame numbers
stay those of the whole stream (index + 1), so the segments concatenated in order give the
one file a file run writes. The complete segments are kept within the retention of
`crowdpose3d.stages.retention` (``retain_parts`` segments, ``retain_bytes``,
``retain_age_s``; a live run's defaults as for the Parquet parts); the segment being written
is never removed. A killed live run's partial segment gets its own name when the run
restarts (its whole lines kept). File runs without ``segment_s`` and their resume are
unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import Field

from crowdpose3d.files import publish
from crowdpose3d.pipeline.defaults import LIVE_MOT_SEGMENT_S
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import ResumePoint
from crowdpose3d.pipeline.stage import (
    BaseStage,
    StageContext,
    StageError,
    claim_output_file,
)
from crowdpose3d.stages.retention import RetentionParams, apply_retention, with_live_defaults

PARTIAL_SUFFIX = ".partial"  # ``.<name>.partial``: a file still being written


class MOTParams(RetentionParams):  # retain_*: bounds on the complete segments
    path: str  # output .txt
    # A new segment every this many seconds of stream time; None: one file, except for live
    # runs, which get LIVE_MOT_SEGMENT_S.
    segment_s: float | None = Field(None, gt=0)


class MOTSink(BaseStage):
    Params = MOTParams

    def __init__(self, params: MOTParams) -> None:
        super().__init__(params)
        self.path = Path(params.path)
        self._temporary = self.path.with_name(f".{self.path.name}{PARTIAL_SUFFIX}")
        self._stream = None
        self._segment_s: float | None = None  # None: one file (a file run)
        self._segment: Path | None = None  # the segment being written
        self._segment_started_s = 0.0  # pts of its first frame
        self.segments_removed = 0  # complete segments removed by the retention

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report."""
        return {"segments_removed": self.segments_removed}

    def open(self, context: StageContext) -> None:
        super().open(context)
        claim_output_file(self.path, context)
        live = bool(context.facts.live)
        self._segment_s = self.params.segment_s or (LIVE_MOT_SEGMENT_S if live else None)
        if self._segment_s is not None:
            self.params = with_live_defaults(self.params, live)
            publish_leftovers(self.path)
            if context.resume:
                self._cut_segments(context.plan.resume_point.after_frame)
            return
        try:
            kept = self._lines_before_resume(context) if context.resume else ""
            self._stream = open(self._temporary, "w")
            self._stream.write(kept)
        except OSError as error:
            raise StageError(f"cannot write {self.path}: {error.strerror}") from None

    def resume_point(self) -> ResumePoint | None:
        """Where the lines already written stop (None: no lines): the frame before the last
        one with lines, whose lines may be incomplete when the run was killed, so the plan
        never starts after a frame this file lacks. Segments (the plan is made before the
        sinks open, so before a live run is known): the newest segment's."""
        single = self.path.exists() or self._temporary.exists()
        if self.params.segment_s is not None or not single:
            return self._segments_resume_point()
        lines, complete = self._written_lines()
        if not lines:
            return None
        last = max(_mot_frame(line) for line in lines) - 1  # a frame index, from 0
        last_id = max(int(line.split(",", 2)[1]) for line in lines)
        return ResumePoint(after_frame=last if complete else last - 1, after_track_id=last_id)

    def _written_lines(self) -> tuple[list[str], bool]:
        """The whole lines of the output, or of a killed run's longer partial file, and
        whether they come from the output (complete: renamed by a clean close)."""
        files = (self.path, self._temporary)
        texts = [(p.read_text(), p == self.path) for p in files if p.is_file()]
        text, complete = max(texts, key=lambda item: len(item[0]), default=("", False))
        lines = [
            line
            for line in text.splitlines(keepends=True)
            if line.endswith("\n") and line.count(",") >= 6 and _mot_frame(line) > 0
        ]
        return lines, complete

    def _lines_before_resume(self, context: StageContext) -> str:
        """The lines already written up to the frame the resumed run starts after."""
        last = context.plan.resume_point.first_frame  # the last one kept: MOT counts from 1
        lines, _ = self._written_lines()
        return "".join(line for line in lines if _mot_frame(line) <= last)

    def _segments_resume_point(self) -> ResumePoint | None:
        """The last frame and largest id of the newest segment (complete or a killed run's
        partial one); None when there is none."""
        leftovers = [partial for partial, _ in _leftovers(self.path)]
        for path in sorted(segments(self.path) + leftovers, key=_first_frame_of, reverse=True):
            lines = _whole_lines(path.read_text())
            if lines:
                last = max(_mot_frame(line) for line in lines) - 1
                last_id = max(int(line.split(",", 2)[1]) for line in lines)
                if path in leftovers:  # killed: the last frame's lines may be incomplete
                    last -= 1
                return ResumePoint(after_frame=last, after_track_id=last_id)
        return None

    def _cut_segments(self, after_frame: int) -> None:
        """Keep the segments' lines up to ``after_frame`` (the resumed run writes the rest
        again): a segment that starts after it goes, one across it is rewritten."""
        for path in segments(self.path):
            if _first_frame_of(path) > after_frame:
                path.unlink()
                continue
            text = path.read_text()
            kept = "".join(
                line for line in _whole_lines(text) if _mot_frame(line) <= after_frame + 1
            )
            if kept != text:
                partial = _partial(path)
                partial.write_text(kept)
                publish(partial, path)

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if self._segment_s is not None:
                self._rotate(frame)
            self._stream.write(mot_lines(frame))
            self._stream.flush()  # a killed run keeps every frame that passed
            yield frame

    def _rotate(self, frame: Frame) -> None:
        """Finish the segment once ``segment_s`` of stream time has passed; start one (named
        by this frame) when none is open."""
        if self._stream is not None and (frame.pts_s - self._segment_started_s >= self._segment_s):
            self._finish_segment()
        if self._stream is None:
            self._segment = self.path.with_name(
                f"{self.path.stem}-from-{frame.index}{self.path.suffix}"
            )
            self._segment_started_s = frame.pts_s
            try:
                self._stream = open(_partial(self._segment), "w")
            except OSError as error:
                raise StageError(f"cannot write {self._segment}: {error.strerror}") from None

    def _finish_segment(self) -> None:
        self._stream.close()
        self._stream = None
        publish(_partial(self._segment), self._segment)
        self.segments_removed += len(apply_retention(segments(self.path), self.params))

    def close(self) -> None:
        if self._stream is not None and self._segment_s is not None:
            self._finish_segment()
        elif self._stream is not None:
            self._stream.close()
            self._stream = None
            publish(self._temporary, self.path)


def mot_lines(frame: Frame) -> str:
    """The MOTChallenge lines of one frame's tracked people."""
    poses = frame.poses
    if poses is None:
        return ""
    rows = np.flatnonzero(poses.track_id >= 0)
    return mot_text(frame.index, poses.track_id[rows], poses.boxes[rows], poses.scores[rows])


def mot_text(frame_index: int, ids: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> str:
    """MOTChallenge lines of one frame (0-based ``frame_index``): (N,) ids, (N, 4) x1 y1 x2
    y2 boxes in pixels, (N,) scores. The one writer of MOT text, for our tracks and for any
    other tracker compared with them."""
    lines = []
    for track_id, (x1, y1, x2, y2), score in zip(ids, boxes, scores, strict=True):
        lines.append(
            f"{frame_index + 1},{int(track_id)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},"
            f"{y2 - y1:.2f},{score:.4f},-1,-1,-1\n"
        )
    return "".join(lines)


def _mot_frame(line: str) -> int:
    """The frame number (from 1) of a MOTChallenge line; 0 when it has none."""
    head = line.split(",", 1)[0]
    return int(head) if head.isdigit() else 0


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def _segment_pattern(path: Path) -> re.Pattern:
    return re.compile(rf"{re.escape(path.stem)}-from-(\d+){re.escape(path.suffix)}")


def _first_frame_of(segment: Path) -> int:
    """``mot-from-7500.txt`` (or its partial file) -> 7500."""
    name = segment.name.removeprefix(".").removesuffix(PARTIAL_SUFFIX)
    return int(name.rsplit("-from-", 1)[1].split(".", 1)[0])


def segments(path: Path) -> list[Path]:
    """The complete ``<stem>-from-<frame><suffix>`` segments beside ``path``, oldest first
    (by first frame)."""
    pattern = _segment_pattern(path)
    found = [p for p in path.parent.glob(f"{path.stem}-from-*") if pattern.fullmatch(p.name)]
    return sorted(found, key=_first_frame_of)


def _leftovers(path: Path) -> list[tuple[Path, Path]]:
    """(partial file, its segment's name) of each segment a killed run left unfinished."""
    pattern = _segment_pattern(path)
    found = []
    for partial in path.parent.glob(f".{path.stem}-from-*{PARTIAL_SUFFIX}"):
        name = partial.name[1:].removesuffix(PARTIAL_SUFFIX)
        if pattern.fullmatch(name):
            found.append((partial, partial.with_name(name)))
    return found


def publish_leftovers(path: Path) -> list[Path]:
    """Give each partial segment of a killed run its own name, with its whole lines only
    (the last line may have been cut); remove those without a line."""
    published = []
    for partial, target in _leftovers(path):
        lines = _whole_lines(partial.read_text())
        if not lines or target.exists():
            partial.unlink()
            continue
        partial.write_text("".join(lines))
        publish(partial, target)
        published.append(target)
    return published


def _whole_lines(text: str) -> list[str]:
    """The complete MOTChallenge lines of ``text`` (a killed run's last line may be cut)."""
    return [
        line
        for line in text.splitlines(keepends=True)
        if line.endswith("\n") and line.count(",") >= 6 and _mot_frame(line) > 0
    ]
