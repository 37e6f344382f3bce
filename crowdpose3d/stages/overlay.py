"""The overlay sink: an H.264 MP4 of the input with boxes, skeletons and track ids drawn.

Written under a temporary name and renamed on close, so the file at ``path`` is always a
whole video. ``--resume`` writes ``<stem>-from-<frame>.mp4`` beside an existing overlay.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from pydantic import Field

from crowdpose3d.core.skeleton import get_skeleton
from crowdpose3d.files import publish
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageParams, claim_output_file
from crowdpose3d.stages.overlay_regions import draw_regions, ground_camera
from crowdpose3d.tracks.events import FRAME_REGIONS_KEY

DEFAULT_FPS = 25.0  # when neither the params nor the source give a frame rate


class OverlayParams(StageParams):
    path: str  # output .mp4
    fps: float | None = Field(None, gt=0)  # default: the source's
    crf: int = Field(23, ge=0, le=51)  # x264 quality (lower is better)
    draw_untracked: bool = False  # also draw detections without a track (grey)
    draw_regions: bool = True  # draw the regions stage's lines and zones with their counts


class OverlaySink(BaseStage):
    """Draws each frame's people and encodes the result; passes the frames on."""

    Params = OverlayParams

    def __init__(self, params: OverlayParams) -> None:
        super().__init__(params)
        self.params: OverlayParams = params
        self.path = Path(params.path)
        self._temporary = self.path.with_name(f".{self.path.name}.partial.mp4")
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._bones: tuple[tuple[int, int], ...] = ()

    def open(self, context: StageContext) -> None:
        super().open(context)
        claim_output_file(self.path, context)
        if context.resume and self.path.exists():  # never overwrite what a run drew before
            first = context.plan.resume_point.first_frame
            self.path = self.path.with_name(f"{self.path.stem}-from-{first}{self.path.suffix}")
            self._temporary = self.path.with_name(f".{self.path.name}.partial.mp4")

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.image is not None:
                image = draw_frame(frame, self._skeleton_bones(), self.params.draw_untracked)
                if self.params.draw_regions and FRAME_REGIONS_KEY in frame.data:
                    camera = ground_camera(self.context.facts)
                    draw_regions(image, frame.data[FRAME_REGIONS_KEY], camera)
                self._write(image)
            yield frame

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        publish(self._temporary, self.path)

    def _skeleton_bones(self) -> tuple[tuple[int, int], ...]:
        if not self._bones and self.context.facts.skeleton:
            self._bones = get_skeleton(self.context.facts.skeleton).bones
        return self._bones

    def _write(self, image: np.ndarray) -> None:
        if self._container is None:
            self._open_writer(image.shape[1], image.shape[0])
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _open_writer(self, width: int, height: int) -> None:
        fps = self.params.fps or self.context.facts.fps or DEFAULT_FPS
        self._container = av.open(str(self._temporary), mode="w", format="mp4")
        stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.params.crf), "preset": "veryfast"}
        self._stream = stream


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct RGB colour per track id (golden-ratio hue steps)."""
    if track_id < 0:
        return (160, 160, 160)
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 220, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def draw_frame(
    frame: Frame, bones: tuple[tuple[int, int], ...], draw_untracked: bool = False
) -> np.ndarray:
    """A copy of the frame's image (even width/height) with its people drawn."""
    image = np.ascontiguousarray(
        frame.image[: frame.image.shape[0] // 2 * 2, : frame.image.shape[1] // 2 * 2]
    )
    image = image.copy()
    poses = frame.poses
    if poses is None:
        return image
    thickness = max(1, round(image.shape[0] / 400))
    for i in range(len(poses)):
        track = int(poses.track_id[i])
        if track < 0 and not draw_untracked:
            continue
        colour = track_colour(track)
        x1, y1, x2, y2 = (int(round(v)) for v in poses.boxes[i])
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
        joints = poses.kp2d[i]
        for parent, child in bones:
            a, b = joints[parent], joints[child]
            if np.isfinite(a).all() and np.isfinite(b).all():
                cv2.line(
                    image,
                    (int(a[0]), int(a[1])),
                    (int(b[0]), int(b[1])),
                    colour,
                    thickness,
                    cv2.LINE_AA,
                )
        if track >= 0:
            cv2.putText(
                image,
                str(track),
                (x1, max(y1 - 3, 10)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * thickness,
                colour,
                thickness,
                cv2.LINE_AA,
            )
    return image
