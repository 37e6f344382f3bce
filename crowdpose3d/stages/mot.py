"""The MOTChallenge sink: ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,x,y,z`` per
tracked person, frames counted from 1, as TrackEval and motmetrics read it (x, y, z: the
root in metres, camera coordinates; -1 when not lifted). Written under a temporary name and
renamed on close; ``--resume`` keeps the lines already written up to the resume point."""

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
    lines = []
    for i in np.flatnonzero(poses.track_id >= 0):
        x1, y1, x2, y2 = poses.boxes[i]
        root = np.where(np.isfinite(poses.root[i]), poses.root[i], -1)
        lines.append(
            f"{frame.index + 1},{poses.track_id[i]},{x1:.2f},{y1:.2f},{x2 - x1:.2f},"
            f"{y2 - y1:.2f},{poses.scores[i]:.4f},{root[0]:.3f},{root[1]:.3f},{root[2]:.3f}\n"
        )
    return "".join(lines)
