"""The MOTChallenge sink: ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1`` per
tracked person, frames counted from 1, as TrackEval and motmetrics read a tracker's 2D
results (columns 8-10 are the unused 3D world coordinates of MOTChallenge 2D; TrackEval reads
column 8 as the class, so anything but -1 there is rejected as "non pedestrian"). The 3D
root is in the tracks dataset. Written under a temporary name and renamed on close;
``--resume`` keeps the lines already written up to the resume point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crowdpose3d.files import publish
from crowdpose3d.pipeline.frame import Frame
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

    def _lines_before_resume(self, context: StageContext) -> str:
        """The whole lines already written (the output, or a killed run's longer partial
        file) up to the frame the resumed run starts after."""
        last = context.plan.resume_point.first_frame  # the last one kept: MOT counts from 1
        texts = [p.read_text() for p in (self.path, self._temporary) if p.is_file()]
        text = max(texts, key=len, default="")
        lines = text.splitlines(keepends=True)
        return "".join(
            line
            for line in lines
            if line.endswith("\n")
            and line.split(",", 1)[0].isdigit()
            and int(line.split(",", 1)[0]) <= last
        )

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self._stream.write(mot_lines(frame))
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
