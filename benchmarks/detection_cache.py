"""Cached pipeline output for the benchmarks that rerun later stages on identical
detections (`calibration.py`, `tracking_peers.py`): run the front of a pipeline once, keep
each frame's people in one ``.npz`` (no pixels), and give them back as frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.poses import Poses

DEFAULT_JOINTS = 22  # joints of an empty cache (jta22)
# Per-person arrays a cache may hold, with each row's shape after the joints' count.
POSE_FIELDS = {"boxes": (4,), "scores": (), "kp2d": (None, 2), "kp3d_rel": (None, 3)}
LIFTED_FIELDS = {"kp3d": (None, 3), "root": (3,)}  # only after a lift stage
LIFTED_DATA = ("scale", "size_ratio")  # per-person ``data`` a lift adds, kept in a cache


def cache_path(folder: Path, model: str) -> Path:
    """Where a clip's cached detections by ``model`` live."""
    return folder / f"detections_{model.replace(':', '_').replace('/', '_')}.npz"


def record(config: dict) -> list[Frame]:
    """Run a pipeline mapping and return every frame that came out of its stages."""
    recorded: list[Frame] = []
    runner = PipelineRunner(validate_pipeline(config), StageContext(overwrite=True))
    runner.open()
    runner.run(on_frame=recorded.append)
    return recorded


def save(cache: Path, frames: list[Frame], lifted: bool) -> None:
    """Each frame's people into ``cache``; with ``lifted`` also kp3d, root, scale and
    size_ratio."""
    poses = [f.poses for f in frames]
    n = len(poses[0].kp2d[0]) if poses and len(poses[0]) else DEFAULT_JOINTS
    fields = {**POSE_FIELDS, **(LIFTED_FIELDS if lifted else {})}
    arrays = {}
    for name, shape in fields.items():
        empty = np.zeros((0, *(n if d is None else d for d in shape)))
        arrays[name] = np.concatenate([getattr(p, name) for p in poses] + [empty])
    if lifted:
        for name in LIFTED_DATA:
            values = [np.asarray(p.data.get(name, np.full(len(p), np.nan))) for p in poses]
            arrays[name] = np.concatenate([v.astype(np.float64) for v in values] + [np.zeros(0)])
    np.savez_compressed(
        cache,
        index=np.array([f.index for f in frames]),
        pts=np.array([f.pts_s for f in frames]),
        counts=np.array([len(p) for p in poses]),
        **arrays,
    )


def load(cache: Path, size: tuple[int, int]) -> list[Frame]:
    """The frames of ``cache``, each with an image stand-in of ``size`` (H, W)."""
    data = np.load(cache)
    starts = np.concatenate([[0], np.cumsum(data["counts"])])
    # The cache holds no pixels; a zero-strided stand-in gives the stages the frame size.
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (*size, 3))
    lifted = all(name in data for name in LIFTED_FIELDS)
    fields = [*POSE_FIELDS, *(LIFTED_FIELDS if lifted else ())]
    frames = []
    for f, (index, pts) in enumerate(zip(data["index"], data["pts"], strict=True)):
        rows = slice(starts[f], starts[f + 1])
        extra = {name: data[name][rows] for name in LIFTED_DATA if name in data}
        poses = Poses(**{name: data[name][rows] for name in fields}, data=extra)
        frames.append(Frame("clip", int(index), float(pts), image, poses=poses))
    return frames
