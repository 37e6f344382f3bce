"""Sources: video files and any FFmpeg URL through PyAV (files, RTSP over TCP/UDP, HTTP),
and folders of images.

Files are decoded front to back and never drop a frame; timestamps come from the stream's
pts. Live sources (``rtsp://``, ``http(s)://``, ``udp://``, ``tcp://``, ``srt://``) also stamp
each frame with the wall-clock time, and when the stream drops they reconnect with
exponential back-off; the first frame after a reconnection carries ``gap_before_s`` so that
downstream users see the hole instead of a silent jump. Credentials in URLs never reach the
logs (`redact_url`).

Events: a forward timestamp jump (more than `JUMP_MIN_S` and `JUMP_FRAME_PERIODS` frame
periods between two frames), a resolution change and a reconnection are each recorded on
the first frame after them (``frame.data[STREAM_EVENTS]``: a list of dicts with ``kind``,
``frame``, ``pts_s`` and ``gap_s`` or ``width``/``height``), counted in the source's stage
report (`VideoSource.counters`) and kept by the Parquet sink in each part's metadata.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
from pydantic import Field

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.frame import STREAM_EVENTS, Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams

log = logging.getLogger("crowdpose3d.source")
LIVE_SCHEMES = (
    "rtsp://",
    "rtsps://",
    "rtmp://",
    "http://",
    "https://",
    "udp://",
    "tcp://",
    "srt://",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
JUMP_MIN_S = 1.0  # a forward timestamp jump is longer than this ...
JUMP_FRAME_PERIODS = 5.0  # ... and than this many frame periods


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")  # a URL inside any text
# ``name=value`` secrets in text that is not a URL (e.g. an FFmpeg message quoting options)
_SECRET_PAIR = re.compile(
    r"(?i)\b(pass|passwd|password|passphrase|pwd|token|access_token|key|api_key|apikey|auth"
    r"|sig|signature|secret)=[^&\s'\"]*"
)
HASH_CHARS = 8  # hex digits of the hash that keeps two redacted URLs apart


def redact_url(text: str) -> str:
    """Every URL in ``text`` without its secrets: the credentials (``user:pass@``) become
    ``***@`` and the whole query string and fragment become ``?redacted=<hash>``, a short
    stable hash of the query, so that two streams that differ only in their query stay
    distinct. ``rtsp://u:p@cam/s?token=x`` -> ``rtsp://***@cam/s?redacted=1a2b3c4d``.
    ``name=secret`` pairs outside URLs become ``name=***``; anything else is unchanged."""
    return _SECRET_PAIR.sub(r"\1=***", _URL.sub(lambda m: _redact_one(m.group(0)), text))


def _redact_one(url: str) -> str:
    scheme, _, rest = url.partition("://")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, host = authority.rpartition("@")
    cut = min((i for i in (tail.find(c) for c in "?#") if i >= 0), default=len(tail))
    path, query = tail[:cut], tail[cut:]
    redacted = f"{scheme}://{'***@' if at else ''}{host}{path}"
    if not query:  # credentials name no other stream: no hash needed
        return redacted
    digest = hashlib.sha256(query.encode()).hexdigest()[:HASH_CHARS]
    return f"{redacted}?redacted={digest}"


VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".m4v", ".mpg", ".mpeg")


def is_live(uri: str) -> bool:
    """A network stream (reconnected, frames dropped when late); an http(s) URL of a video
    file (``.../clip.mp4``) is read like a file."""
    lower = uri.lower()
    if lower.startswith(("http://", "https://")):
        path = lower.split("?", 1)[0]
        return not path.endswith(VIDEO_SUFFIXES)
    return lower.startswith(LIVE_SCHEMES)


class SourceError(StageError):
    """A source that cannot be opened or read; one line for the user."""


class VideoSourceParams(StageParams):
    uri: str  # a file path or an FFmpeg URL
    source_id: str | None = None  # default: the file's stem, or the URL's host and path
    live: bool | None = None  # default: True for network URLs
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(10.0, gt=0)  # connecting to a network source
    read_timeout_s: float = Field(10.0, gt=0)  # a network source that sends nothing this long
    reconnect: bool = True  # live only: reconnect when the stream drops
    reconnect_initial_delay_s: float = Field(0.5, gt=0)
    reconnect_max_delay_s: float = Field(30.0, gt=0)
    max_reconnect_attempts: int | None = Field(None, ge=0)  # None: keep trying forever
    frame_step: int = Field(1, ge=1)  # keep every N-th decoded frame
    max_frames: int | None = Field(None, ge=1)  # stop after N kept frames


class VideoSource(BaseStage):
    """Frames of one video file or stream, decoded with PyAV."""

    Params = VideoSourceParams

    def __init__(self, params: VideoSourceParams) -> None:
        super().__init__(params)
        self.params: VideoSourceParams = params
        self.live = params.live if params.live is not None else is_live(params.uri)
        self.name = redact_url(params.uri)
        self.source_id = params.source_id or default_source_id(params.uri)
        self._container: av.container.InputContainer | None = None
        self.reconnects = 0
        self.event_counts = {"timestamp_jump": 0, "resolution_change": 0, "reconnect": 0}

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report (and the metrics endpoint)."""
        return {
            "reconnects": self.event_counts["reconnect"],  # outages the stream came back from
            "reconnect_attempts": self.reconnects,  # connection attempts in those outages
            "timestamp_jumps": self.event_counts["timestamp_jump"],
            "resolution_changes": self.event_counts["resolution_change"],
        }

    def open(self, context: StageContext) -> None:
        """Open the stream now, so a missing file or unreachable URL fails before the run."""
        super().open(context)
        is_path = "://" not in self.params.uri
        if is_path and not Path(self.params.uri).is_file():
            raise SourceError(f"video file not found: {self.name}; check the path")
        self._container = self._connect()
        stream = self._container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or None
        if fps is not None:
            fps /= self.params.frame_step  # the rate of the frames this source yields
        facts = context.facts
        facts.source_id, facts.source, facts.live = self.source_id, self.name, self.live
        facts.fps = fps
        facts.width, facts.height = stream.codec_context.width, stream.codec_context.height
        if not self.live and stream.frames:
            total = stream.frames // self.params.frame_step
            if self.params.max_frames:
                total = min(total, self.params.max_frames)
            facts.total_frames = total

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def frames(self) -> Iterator[Frame]:
        """Decoded frames until the end of the file, ``max_frames`` or the stop flag.

        A resumed file run skips the frames up to the plan's resume point; a live stream
        cannot be replayed, so it numbers its frames after that point instead.
        """
        after = self.context.plan.resume_point.after_frame  # -1 unless --resume
        if self.live:
            decoded = self._live_frames(first_index=after + 1)
            after = -1
        else:
            decoded = self._file_frames()
        kept = keep_frames(decoded, self.params.frame_step, after)
        return itertools.islice(self._with_events(kept), self.params.max_frames)

    def _with_events(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Mark the frames after a reconnection, a forward timestamp jump or a resolution
        change with an event (module docstring) and count them."""
        fps = self.context.facts.fps or 25.0
        jump_s = max(JUMP_MIN_S, JUMP_FRAME_PERIODS / fps)
        previous: Frame | None = None
        for frame in frames:
            events = []
            if "gap_before_s" in frame.data:
                events.append({"kind": "reconnect", "gap_s": float(frame.data["gap_before_s"])})
            elif previous is not None and frame.pts_s - previous.pts_s > jump_s:
                gap = frame.pts_s - previous.pts_s
                events.append({"kind": "timestamp_jump", "gap_s": gap})
                frame.data.setdefault("gap_before_s", gap)
            if previous is not None and frame.image.shape != previous.image.shape:
                height, width = frame.image.shape[:2]
                events.append({"kind": "resolution_change", "width": width, "height": height})
            for event in events:
                event.update(frame=frame.index, pts_s=frame.pts_s)
                self.event_counts[event["kind"]] += 1
                log.warning("%s: %s", self.name, _event_text(event))
            if events:
                frame.data[STREAM_EVENTS] = events
            previous = frame
            yield frame

    def _frame(self, index: int, image: np.ndarray, pts_s: float) -> Frame:
        wall_time = time.time() if self.live else None
        return Frame(self.source_id, index, pts_s, image, wall_time=wall_time)

    def _file_frames(self) -> Iterator[Frame]:
        """Every frame of the file, front to back; a damaged or truncated file fails after
        the frames that decode (`SourceError`)."""
        index = 0
        try:
            for image, pts in self._stream():
                yield self._frame(index, image, pts)
                index += 1
        except (av.error.FFmpegError, OSError) as error:
            raise SourceError(
                f"{self.name} is corrupt after frame {index} ({_reason(error)}); "
                "the frames before it were processed"
            ) from None
        if not self.context.stop.is_set():
            self._check_complete(self._container, index)

    def _live_frames(self, first_index: int) -> Iterator[Frame]:
        """Every frame of a live stream, numbered from ``first_index``; when the stream
        drops, reconnect with `Backoff` and mark the first frame after the hole with
        ``gap_before_s``. Time stays monotonic across reconnections."""
        index = first_index
        pts_offset = 0.0  # stream time lost to outages, so pts keep increasing
        last_pts = 0.0
        gap_s: float | None = None
        backoff = Backoff(
            self.params.reconnect_initial_delay_s,
            self.params.reconnect_max_delay_s,
            self.params.max_reconnect_attempts,
        )
        last_frame_wall = time.time()
        while True:
            try:
                for image, pts in self._stream():
                    frame = self._frame(index, image, pts_offset + pts)
                    if gap_s is not None:
                        frame.data["gap_before_s"], gap_s = gap_s, None
                    yield frame
                    last_frame_wall = time.time()
                    backoff.reset()
                    last_pts = pts_offset + pts
                    index += 1
                if self.context.stop.is_set():
                    return
                if not self.params.reconnect:
                    return  # a live stream that ended, with reconnection off: the run ends
                reason = "the stream ended"
            except (av.error.FFmpegError, OSError) as error:
                reason = _reason(error)
            # A live stream dropped: close, wait, reconnect; record the gap.
            self.close()
            if not self.params.reconnect:
                raise SourceError(f"{self.name}: {reason}; reconnect is off")
            lost_at = last_frame_wall  # the outage began after the last good frame
            try:
                self._container = self._reconnect(reason, backoff)
            except _Stopped:
                return
            gap_s = time.time() - lost_at
            pts_offset = last_pts + gap_s

    def _stream(self) -> Iterator[tuple[np.ndarray, float]]:
        """(image, pts) from the open container (connecting first if none is) until the
        stream ends or ``stop`` is set."""
        self._container = self._container or self._connect()
        for image, pts in self._decode(self._container):
            if self.context.stop.is_set():
                return
            yield image, pts

    def _reconnect(self, reason: str, backoff: Backoff) -> av.container.InputContainer:
        """Retry connecting, waiting as ``backoff`` says, until it works, ``stop`` is set
        (`_Stopped`) or the attempts run out (`SourceError`)."""
        while not self.context.stop.wait(backoff.delay_s):
            attempt = backoff.attempt()
            self.reconnects += 1
            log.warning("%s: %s; reconnecting (attempt %d)", self.name, reason, attempt)
            try:
                container = self._connect()
                log.warning("%s: reconnected", self.name)
                return container
            except SourceError as error:
                reason = str(error)
                if backoff.exhausted:
                    raise SourceError(
                        f"{self.name}: gave up after {attempt} reconnection attempts ({reason})"
                    ) from None
        raise _Stopped()

    def _connect(self) -> av.container.InputContainer:
        options = {}
        if self.params.uri.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = self.params.rtsp_transport
        # Every network source (a live stream or a file on a server) gets both timeouts, so
        # a stalled server ends the read with an error instead of blocking forever.
        network = "://" in self.params.uri and not self.params.uri.lower().startswith("file:")
        timeout = (self.params.open_timeout_s, self.params.read_timeout_s) if network else None
        try:
            container = av.open(self.params.uri, options=options, timeout=timeout)
        except (av.error.FFmpegError, OSError) as error:
            if self.live:
                raise SourceError(
                    f"cannot open {self.name} ({_reason(error)}); check the URL, the "
                    "credentials and that the camera is reachable"
                ) from None
            raise SourceError(
                f"cannot read {self.name} as a video ({_reason(error)}); give a video file "
                "(MP4, AVI, MKV ...)"
            ) from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.name} has no video stream; give a video file")
        return container

    def _decode(self, container: av.container.InputContainer) -> Iterator[tuple[np.ndarray, float]]:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = float(stream.time_base) if stream.time_base else 0.0
        fps = float(stream.average_rate or 0) or 25.0
        anchor: tuple[int, float] | None = None  # (a frame's pts, the time given to it)
        previous = -1.0 / fps
        for frame in container.decode(stream):
            if frame.pts is not None and base:
                if anchor is None:
                    anchor = (frame.pts, previous + 1.0 / fps)
                pts = anchor[1] + (frame.pts - anchor[0]) * base
            else:
                pts = previous + 1.0 / fps
            if pts <= previous + 1e-6:  # a repeated or reordered pts: keep time moving
                pts = previous + 1.0 / fps
            previous = pts
            yield frame.to_ndarray(format="rgb24"), pts

    def _check_complete(self, container: av.container.InputContainer, decoded: int) -> None:
        announced = container.streams.video[0].frames
        if decoded == 0:
            raise SourceError(f"{self.name} contains no decodable frame; give another video")
        if announced and decoded < announced * 0.98:
            raise SourceError(
                f"{self.name} is truncated: its header announces {announced} frames but only "
                f"{decoded} decode; the frames that decoded were processed"
            )


class _Stopped(Exception):
    """The run was stopped while waiting to reconnect."""


class Backoff:
    """Exponential back-off between reconnection attempts: the first waits
    ``initial_delay_s``, each failed one doubles the wait up to ``max_delay_s``; a good
    frame (`reset`) starts over. ``max_attempts`` (None: no limit) bounds one outage."""

    def __init__(self, initial_delay_s: float, max_delay_s: float, max_attempts: int | None):
        self.initial_delay_s = initial_delay_s
        self.max_delay_s = max_delay_s
        self.max_attempts = max_attempts
        self.reset()

    def reset(self) -> None:
        self.delay_s = self.initial_delay_s
        self.attempts = 0

    def attempt(self) -> int:
        """Count an attempt (after waiting ``delay_s``) and lengthen the next wait; -> its
        number within this outage."""
        self.attempts += 1
        self.delay_s = min(self.delay_s * 2, self.max_delay_s)
        return self.attempts

    @property
    def exhausted(self) -> bool:
        return self.max_attempts is not None and self.attempts >= self.max_attempts


def keep_frames(frames: Iterator[Frame], frame_step: int, after_frame: int) -> Iterator[Frame]:
    """Every ``frame_step``-th frame (by index) after ``after_frame``; a ``gap_before_s`` of
    a frame left out moves to the next frame kept."""
    gap_s: float | None = None
    for frame in frames:
        if frame.index % frame_step == 0 and frame.index > after_frame:
            if gap_s is not None:
                frame.data.setdefault("gap_before_s", gap_s)
                gap_s = None
            yield frame
        elif "gap_before_s" in frame.data:
            gap_s = frame.data["gap_before_s"]


class ImageFolderSourceParams(StageParams):
    path: str
    fps: float = Field(10.0, gt=0)  # to give the images timestamps
    source_id: str | None = None


class ImageFolderSource(BaseStage):
    """The images of a folder in name order, as frames at ``fps``."""

    Params = ImageFolderSourceParams
    live = False

    def __init__(self, params: ImageFolderSourceParams) -> None:
        super().__init__(params)
        self.params: ImageFolderSourceParams = params
        folder = Path(params.path)
        self.source_id = params.source_id or folder.name
        self.files: list[Path] = []

    def open(self, context: StageContext) -> None:
        super().open(context)
        folder = Path(self.params.path)
        if not folder.is_dir():
            raise SourceError(f"image folder not found: {folder}")
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"{folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        first = self._read(self.files[0])
        facts = context.facts
        facts.source_id, facts.source, facts.live = self.source_id, str(folder), False
        facts.fps, facts.total_frames = self.params.fps, len(self.files)
        facts.width, facts.height = first.shape[1], first.shape[0]

    def frames(self) -> Iterator[Frame]:
        """The images in name order; a resumed run starts after the plan's resume point
        (the images before it are not read again)."""
        first = self.context.plan.resume_point.first_frame  # 0 unless --resume
        for index in range(first, len(self.files)):
            if self.context.stop.is_set():
                return
            image = self._read(self.files[index])
            yield Frame(self.source_id, index, index / self.params.fps, image)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot read the image {path}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def default_source_id(uri: str) -> str:
    """A source's name from its address: a file's stem, or a URL's host and path made safe
    for file names, with its secrets replaced by their hash (`redact_url`)."""
    if "://" in uri:
        rest = redact_url(uri).split("://", 1)[1].replace("***@", "")
        if not is_live(uri):  # a video file on a server: its stem, and the hash if any
            path, _, query = rest.partition("?")
            rest = "_".join(filter(None, [Path(path).stem, query.replace("redacted=", "")]))
        return re.sub(r"[^A-Za-z0-9._-]+", "_", rest).strip("_") or "stream"
    return Path(uri).stem


def _event_text(event: dict) -> str:
    if event["kind"] == "resolution_change":
        return f"resolution changed to {event['width']}x{event['height']} at frame {event['frame']}"
    what = "reconnected" if event["kind"] == "reconnect" else "timestamps jump"
    return f"{what}: {event['gap_s']:.1f} s missing before frame {event['frame']}"


def _reason(error: BaseException) -> str:
    return redact_url(first_line(error))
