"""The MOTChallenge sink: ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1`` per
tracked person, frames counted from 1, as TrackEval and motmetrics read a tracker's 2D
results (columns 8-10 are the unused 3D world coordinates of MOTChallenge 2D; TrackEval reads
column 8 as the class, so anything but -1 there is rejected as "non pedestrian"). The 3D
root is in the tracks dataset. Written under a temporary name and renamed on close; each
frame's lines reach the file as the frame passes (a killed run keeps them), and ``--resume``
keeps the lines already written up to the run plan's resume point, which this sink bounds by
what its own file holds (`MOTSink.resume_point`), so the sinks' order in a pipeline does not
matter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crowdpose3d.files import publish
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import ResumePoint
from crowdpose3d.pipeline.stage import (
    BaseStage,
    StageContext,
    StageError,
    StageParams,
    claim_output_file,
)


class MOTParams(StageParams):
    path: str  # output .txt


class MOTSink(BaseStage):
    Params = MOTParams

    def __init__(self, params: MOTParams) -> None:
        super().__init__(params)
        self.path = Path(params.path)
        self._temporary = self.path.with_name(f".{self.path.name}.partial")
        self._stream = None

    def open(self, context: StageContext) -> None:
        super().open(context)
        claim_output_file(self.path, context)
        try:
            kept = self._lines_before_resume(context) if context.resume else ""
            self._stream = open(self._temporary, "w")
            self._stream.write(kept)
        except OSError as error:
            raise StageError(f"cannot write {self.path}: {error.strerror}") from None

    def resume_point(self) -> ResumePoint | None:
        """Where the lines already written stop (None: no lines): the frame before the last
        one with lines, whose lines may be incomplete when the run was killed, so the plan
        never starts after a frame this file lacks."""
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

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self._stream.write(mot_lines(frame))
            self._stream.flush()  # a killed run keeps every frame that passed
            yield frame

    def close(self) -> None:
        if self._stream is not None:
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
