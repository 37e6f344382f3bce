"""`VideoFrames`: random access to the frames of a video file, decoded once.

Seeking in compressed video is slow and inexact, and training visits frames in random order
every epoch. So the whole video is decoded once, front to back with PyAV, and the RGB
frames are kept: in a uint8 memory-mapped file in ``cache_dir`` (shared by every process
and every later run; keyed by the video's absolute path, size and modification time, so an
edited video is decoded again), or in memory when no cache directory is given.

The cache holds (len, H, W, 3) uint8, i.e. H * W * 3 bytes per kept frame: 6.2 MB for a
1920x1080 frame, 5.6 GB for a 30 s JTA video. Keep every ``step``-th frame to divide that.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from crowdpose3d.data.errors import DatasetError
from crowdpose3d.files import atomic_path

_CACHE_VERSION = 1


class VideoFrames:
    """The frames of the video at ``path`` as a sequence of (H, W, 3) uint8 RGB arrays.

    ``frames[i]`` is video frame ``i * step`` (the first frame is 0). Opening only reads the
    header; the first ``len()`` or ``frames[i]`` decodes the video (or maps its cache).
    ``decoded_frames`` counts the frames this object decoded itself: 0 when the cache
    served them.
    """

    def __init__(self, path: str | Path, cache_dir: str | Path | None = None, step: int = 1):
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        self.path = Path(path)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.step = int(step)
        self.decoded_frames = 0
        self._frames: np.ndarray | None = None
        if not self.path.is_file():
            raise DatasetError(
                f"video not found: {self.path}; check the path and the dataset layout"
            )
        with self._open() as container:
            stream = self._video_stream(container)
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else 0.0
            self.width = int(stream.codec_context.width)
            self.height = int(stream.codec_context.height)
            self._header_frames = int(stream.frames or 0)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    def __len__(self) -> int:
        return len(self._load())

    def __getitem__(self, index: int) -> np.ndarray:
        frames = self._load()
        if not -len(frames) <= index < len(frames):
            raise IndexError(
                f"frame {index} is out of range for {self.path} ({len(frames)} frames)"
            )
        return np.array(frames[index])  # a writable copy, whatever holds the frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def __getstate__(self) -> dict:
        """Pickle without the frames (a worker process maps the cache or decodes again)."""
        return {**self.__dict__, "_frames": None}

    def __repr__(self) -> str:
        return f"VideoFrames({str(self.path)!r}, {self.width}x{self.height}, fps={self.fps:g})"

    # ------------------------------------------------------------------ decoding
    def _open(self) -> av.container.InputContainer:
        try:
            return av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as error:
            raise DatasetError(
                f"cannot read {self.path} as a video ({error}); the file is not a video or is "
                "damaged: download it again"
            ) from None

    def _video_stream(self, container: av.container.InputContainer) -> av.VideoStream:
        if not container.streams.video:
            raise DatasetError(f"{self.path} has no video stream; give a video file")
        return container.streams.video[0]

    def _decode(self) -> Iterator[np.ndarray]:
        """Yield the kept frames (every ``step``-th) in order, checking the file is whole."""
        total = 0
        with self._open() as container:
            stream = self._video_stream(container)
            stream.thread_type = "AUTO"
            try:
                for frame in container.decode(stream):
                    if total % self.step == 0:
                        self.decoded_frames += 1
                        yield frame.to_ndarray(format="rgb24", width=self.width, height=self.height)
                    total += 1
            except av.error.FFmpegError as error:
                raise DatasetError(
                    f"{self.path} is corrupt after frame {total} ({error}); download it again"
                ) from None
        if total == 0:
            raise DatasetError(f"{self.path} contains no decodable frame; download it again")
        if total < self._header_frames:
            raise DatasetError(
                f"{self.path} is truncated: its header announces {self._header_frames} frames "
                f"but only {total} decode; download it again"
            )

    def _load(self) -> np.ndarray:
        if self._frames is None:
            if self.cache_dir is None:
                self._frames = np.stack(list(self._decode()))
            else:
                self._frames = self._cached()
        return self._frames

    # ------------------------------------------------------------------ disk cache
    def _cache_paths(self) -> tuple[Path, Path]:
        stat = self.path.stat()
        identity = f"{self.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.step}"
        key = hashlib.sha1(identity.encode()).hexdigest()[:16]
        stem = self.cache_dir / f"{self.path.stem}-{key}"  # type: ignore[operator]
        return stem.with_suffix(".u8"), stem.with_suffix(".json")

    def _cached(self) -> np.ndarray:
        """Map the cache file, writing it first (to a temporary name, then renamed) if needed."""
        data_path, meta_path = self._cache_paths()
        if meta_path.is_file() and data_path.is_file():
            meta = json.loads(meta_path.read_text())
            shape = tuple(meta["shape"])
            if meta.get("version") == _CACHE_VERSION and data_path.stat().st_size == np.prod(shape):
                return np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape)
        self.cache_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        partial = data_path.with_name(f"{data_path.name}.{os.getpid()}.partial")
        count = 0
        with atomic_path(data_path, partial) as temporary, open(temporary, "wb") as out:
            for frame in self._decode():
                out.write(frame.tobytes())
                count += 1
        shape = (count, self.height, self.width, 3)
        meta = {"version": _CACHE_VERSION, "video": str(self.path), "shape": shape, "fps": self.fps}
        partial_meta = meta_path.with_name(f"{meta_path.name}.{os.getpid()}.partial")
        with atomic_path(meta_path, partial_meta) as temporary:
            temporary.write_text(json.dumps(meta))
        return np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape)
