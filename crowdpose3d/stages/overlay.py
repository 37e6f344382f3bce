"""The overlay sink: an H.264 MP4 of the input with boxes, skeletons and track ids drawn.

Written under a temporary name and renamed on close, so the file at ``path`` is always a
whole video. The MP4 is fragmented (a fragment every `KEYFRAME_EVERY_S`), so even the
temporary file of a killed run plays up to its last fragment; ``--resume`` publishes such a
leftover under its own name and writes ``<stem>-from-<frame>.mp4`` beside it, from the
run plan's first frame. A live run writes playable segments, ``<stem>-from-<frame>.mp4``
every ``segment_s`` of video (`LIVE_OVERLAY_SEGMENT_S` by default), and a new segment when
the stream's resolution changes. Complete segments are kept within the retention of
`crowdpose3d.stages.retention` (``retain_parts`` segments, ``retain_bytes``,
``retain_age_s``; a live run's defaults as for the Parquet parts); the segment being
written is never removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from pydantic import Field

from crowdpose3d.core.skeleton import get_skeleton
from crowdpose3d.files import publish
from crowdpose3d.pipeline.defaults import LIVE_OVERLAY_SEGMENT_S
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, claim_output_file
from crowdpose3d.stages.overlay_regions import draw_regions, ground_camera
from crowdpose3d.stages.retention import RetentionParams, apply_retention, with_live_defaults
from crowdpose3d.tracks.events import FRAME_REGIONS_KEY

DEFAULT_FPS = 25.0  # when neither the params nor the source give a frame rate
KEYFRAME_EVERY_S = 2.0  # a keyframe, hence an MP4 fragment a killed run keeps, this often
# Fragmented MP4: the index is written with each fragment, not only at the end.
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
PARTIAL_SUFFIX = ".partial.mp4"  # ``.<name>.partial.mp4``: a file still being written


class OverlayParams(RetentionParams):  # retain_*: bounds on the complete segments
    path: str  # output .mp4
    fps: float | None = Field(None, gt=0)  # default: the source's
    crf: int = Field(23, ge=0, le=51)  # x264 quality (lower is better)
    draw_untracked: bool = False  # also draw detections without a track (grey)
    draw_regions: bool = True  # draw the regions stage's lines and zones with their counts
    # A new playable file every this many seconds of video; None: one file, except for live
    # runs, which get LIVE_OVERLAY_SEGMENT_S.
    segment_s: float | None = Field(None, gt=0)


class OverlaySink(BaseStage):
    """Draws each frame's people and encodes the result; passes the frames on."""

    Params = OverlayParams

    def __init__(self, params: OverlayParams) -> None:
        super().__init__(params)
        self.params: OverlayParams = params
        self.path = Path(params.path)
        self._target = self.path  # the file being written
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._bones: tuple[tuple[int, int], ...] = ()
        self._segment_s: float | None = None
        self._segment_started_s = 0.0  # pts of the current file's first frame
        self._size: tuple[int, int] | None = None  # (width, height) of the current file
        self._frames_in_file = 0
        self._named_from_frame = False  # file names carry their first frame
        self.files_written: list[Path] = []
        self.segments_removed = 0  # complete segments removed by the retention

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report."""
        return {"segments_removed": self.segments_removed}

    def open(self, context: StageContext) -> None:
        super().open(context)
        claim_output_file(self.path, context)
        live = bool(context.facts.live)
        self._segment_s = self.params.segment_s or (LIVE_OVERLAY_SEGMENT_S if live else None)
        self.params = with_live_defaults(self.params, live)
        if context.resume:
            publish_leftovers(self.path)
        # A file that does not start at frame 0 says where it starts, so a resumed run never
        # overwrites what an earlier one drew; segments are always named by their first frame.
        self._named_from_frame = self._segment_s is not None or context.plan.resuming

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.image is not None:
                image = draw_frame(frame, self._skeleton_bones(), self.params.draw_untracked)
                if self.params.draw_regions and FRAME_REGIONS_KEY in frame.data:
                    camera = ground_camera(self.context.facts)
                    draw_regions(image, frame.data[FRAME_REGIONS_KEY], camera)
                self._write(image, frame)
            yield frame

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        """Flush and rename the current file."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        publish(_partial(self._target), self._target)
        self.files_written.append(self._target)
        if self._segment_s is not None:  # the segment being written is not among them yet
            self.segments_removed += len(apply_retention(segments(self.path), self.params))

    def _skeleton_bones(self) -> tuple[tuple[int, int], ...]:
        if not self._bones and self.context.facts.skeleton:
            self._bones = get_skeleton(self.context.facts.skeleton).bones
        return self._bones

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        size = (image.shape[1], image.shape[0])
        segment_over = (
            self._segment_s is not None and frame.pts_s - self._segment_started_s >= self._segment_s
        )
        if self._container is not None and (segment_over or size != self._size):
            self._finish()  # a segment is complete, or the stream changed resolution
        if self._container is None:
            self._target = (
                self.path.with_name(f"{self.path.stem}-from-{frame.index}{self.path.suffix}")
                if self._named_from_frame
                else self.path
            )
            self._named_from_frame = True  # a second file (new resolution) needs its own name
            self._segment_started_s, self._size = frame.pts_s, size
            self._frames_in_file = 0  # the next frame's pts, in frame periods
            self._open_writer(*size)
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts, self._frames_in_file = self._frames_in_file, self._frames_in_file + 1
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def _open_writer(self, width: int, height: int) -> None:
        fps = self.params.fps or self.context.facts.fps or DEFAULT_FPS
        self._container = av.open(
            str(_partial(self._target)), mode="w", format="mp4", options=FRAGMENTED
        )
        stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(KEYFRAME_EVERY_S * fps))
        stream.options = {"crf": str(self.params.crf), "preset": "veryfast"}
        self._stream = stream


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def segments(path: Path) -> list[Path]:
    """The ``<stem>-from-<frame><suffix>`` files beside ``path``, by first frame."""
    pattern = re.compile(rf"{re.escape(path.stem)}-from-(\d+){re.escape(path.suffix)}")
    found = [p for p in path.parent.glob(f"{path.stem}-from-*") if pattern.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(pattern.fullmatch(p.name).group(1)))


def playable_frames(path: Path) -> int:
    """How many frames of the video at ``path`` decode (up to a damaged end)."""
    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except (av.error.FFmpegError, OSError):
        pass
    return count


def publish_leftovers(path: Path) -> list[Path]:
    """Give the temporary files a killed run left beside ``path`` their own names (the
    fragmented MP4 plays up to its last fragment); remove those that hold no frame."""
    published = []
    names = re.compile(rf"{re.escape(path.stem)}(-from-\d+)?{re.escape(path.suffix)}")
    for partial in path.parent.glob(f".{path.stem}*{PARTIAL_SUFFIX}"):
        name = partial.name[1:].removesuffix(PARTIAL_SUFFIX)
        target = partial.with_name(name)
        if not names.fullmatch(name):
            continue
        if target.exists() or playable_frames(partial) == 0:
            partial.unlink()
            continue
        publish(partial, target)
        published.append(target)
    return published


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
