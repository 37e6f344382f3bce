"""`Poses`: the people of one frame, as one dataclass of arrays.

Every stage of the pipeline reads and writes this record (docs/architecture.md). Rows are
people; a boolean mask or an index array selects some of them, and ``Poses.concatenate``
joins records of the same skeleton.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


@dataclass
class Poses:
    """The N people detected in one frame.

    Attributes:
        boxes: (N, 4) float32, (x1, y1, x2, y2) in pixels of the original image.
        scores: (N,) float32 detection confidence in [0, 1].
        kp2d: (N, K, 2) float32 joints in pixels.
        kp3d_rel: (N, K, 3) float32 root-relative 3D joints, scaled so the bone lengths sum
            to 1 (the network's output, paper 3.3.3).
        kp3d: (N, K, 3) float32 joints in metres in camera coordinates; NaN until the lift
            stage has recovered scale and translation.
        root: (N, 3) float32 root (pelvis) position in metres, camera coordinates; NaN
            until lifted.
        track_id: (N,) int64 track identity, -1 before tracking.
        data: free per-person extras, each an array with N rows (e.g. ``anchor``).
    """

    boxes: np.ndarray
    scores: np.ndarray
    kp2d: np.ndarray
    kp3d_rel: np.ndarray
    kp3d: np.ndarray | None = None
    root: np.ndarray | None = None
    track_id: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(n)
        self.kp2d = np.asarray(self.kp2d, dtype=np.float32)
        num_joints = self.kp2d.shape[1] if self.kp2d.ndim == 3 else 0
        self.kp2d = self.kp2d.reshape(n, num_joints, 2)
        self.kp3d_rel = np.asarray(self.kp3d_rel, dtype=np.float32).reshape(n, num_joints, 3)
        if self.kp3d is None:
            self.kp3d = np.full((n, num_joints, 3), np.nan, dtype=np.float32)
        self.kp3d = np.asarray(self.kp3d, dtype=np.float32).reshape(n, num_joints, 3)
        if self.root is None:
            self.root = np.full((n, 3), np.nan, dtype=np.float32)
        self.root = np.asarray(self.root, dtype=np.float32).reshape(n, 3)
        if self.track_id is None:
            self.track_id = np.full(n, -1, dtype=np.int64)
        self.track_id = np.asarray(self.track_id, dtype=np.int64).reshape(n)
        for key, value in self.data.items():
            value = np.asarray(value)
            if len(value) != n:
                raise ValueError(f"Poses.data[{key!r}] has {len(value)} rows, expected {n}")
            self.data[key] = value

    @classmethod
    def empty(cls, num_joints: int) -> Poses:
        """A record with no people for a skeleton of ``num_joints`` joints."""
        return cls(
            boxes=np.zeros((0, 4)),
            scores=np.zeros(0),
            kp2d=np.zeros((0, num_joints, 2)),
            kp3d_rel=np.zeros((0, num_joints, 3)),
        )

    @classmethod
    def concatenate(cls, records: list[Poses]) -> Poses:
        """Join records of the same skeleton; ``data`` keys must match."""
        if not records:
            raise ValueError("Poses.concatenate needs at least one record")
        keys = set(records[0].data)
        if any(set(r.data) != keys for r in records):
            raise ValueError("Poses.concatenate: records have different data keys")
        arrays = {
            name: np.concatenate([getattr(r, name) for r in records]) for name in _ARRAY_FIELDS
        }
        data = {key: np.concatenate([r.data[key] for r in records]) for key in keys}
        return cls(**arrays, data=data)

    @property
    def num_joints(self) -> int:
        return self.kp2d.shape[1]

    def __len__(self) -> int:
        return len(self.boxes)

    def is_empty(self) -> bool:
        return len(self) == 0

    def __getitem__(self, index: Any) -> Poses:
        """Select people by boolean mask, index array or slice (always returns `Poses`)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        arrays = {name: getattr(self, name)[index] for name in _ARRAY_FIELDS}
        data = {key: value[index] for key, value in self.data.items()}
        return Poses(**arrays, data=data)

    def take(self, rows: np.ndarray) -> Poses:
        """The people at the (M,) integer ``rows``, in that order: ``self[rows]`` without
        re-checking arrays that are already valid (a hot path of the tracker)."""
        taken = object.__new__(Poses)
        for name in _ARRAY_FIELDS:
            setattr(taken, name, getattr(self, name).take(rows, axis=0))
        taken.data = {key: value.take(rows, axis=0) for key, value in self.data.items()}
        return taken

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Poses):
            return NotImplemented
        same_arrays = all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
            for f in fields(self)
            if f.name != "data"
        )
        return (
            same_arrays
            and self.data.keys() == other.data.keys()
            and all(np.array_equal(self.data[k], other.data[k]) for k in self.data)
        )


# The per-person array fields, in declaration order (every field but ``data``).
_ARRAY_FIELDS = tuple(f.name for f in fields(Poses) if f.name != "data")
