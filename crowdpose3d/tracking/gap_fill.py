"""Gap filling: the frames a track missed between two of its detections, filled in.

A person the detector misses for a few frames (occluded, blurred, too small for a moment)
keeps their track (the tracker's lost-track buffer) but has no row in those frames. When the
track is found again within ``max_gap_s``, `GapFiller` adds a row to each frame in between,
interpolated linearly in time between the two detections: every per-person array of
`Poses` (box, 2D and 3D joints, root, the ``data`` columns such as the ground position),
with ``data[GAP_FILLED]`` True and the lower of the two scores (the tracks dataset's
``interpolated`` column). This is the linear interpolation the ByteTrack and OC-SORT papers
apply to their MOT17 results, done online: frames are held ``max_gap_s`` of stream time
before they are passed on, so a file run's output is what offline filling would give, and
a live run's output comes that much later.

For ``--resume``: `state` gives each track's last row (what a fill after the resume point
needs); the frames held at that point are not part of it, because the frames up to the
resume point are already written and those after it are processed again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from crowdpose3d.poses import Poses

GAP_FILLED = "gap_filled"  # ``poses.data`` key: (N,) bool, True for a filled row
_STORED = tuple(f.name for f in fields(Poses) if f.name != "data")  # every array field
_ARRAYS = ("boxes", "scores", "kp2d", "kp3d_rel", "kp3d", "root")  # those interpolated
STATE_PREFIX = "fill_"  # keys of `GapFiller.state` in a stage's resume state


class Held(Protocol):
    """What the filler holds: a pipeline frame, or anything with these."""

    index: int  # frame number
    pts_s: float  # stream time
    poses: Poses | None  # after tracking


Item = TypeVar("Item", bound=Held)


class GapFiller(Generic[Item]):
    """Holds frames ``max_gap_s`` of stream time and fills tracks' gaps up to that long.

    `push` takes each frame after tracking (people with ``track_id >= 0``) and returns the
    frames that can no longer be filled, oldest first; `flush` returns the rest at the end.
    """

    def __init__(self, max_gap_s: float) -> None:
        self.max_gap_s = max_gap_s
        self._held: deque[Item] = deque()
        # track id -> its last row: (frame index, stream time, a copy of that frame's
        # tracked people, the row among them)
        self._last: dict[int, tuple[int, float, Poses, int]] = {}
        self._added: dict[int, list[Poses]] = {}  # held frame index -> its filled rows

    def push(self, frame: Item) -> list[Item]:
        poses = frame.poses
        if poses is not None:
            poses.data[GAP_FILLED] = np.zeros(len(poses), bool)
            tracked = np.flatnonzero(poses.track_id >= 0)
            # A copy: the stages after this one may change the frame's arrays.
            people = poses.take(tracked)
            for row, track_id in enumerate(people.track_id.tolist()):
                found = (frame.index, frame.pts_s, people, row)
                previous = self._last.get(track_id)
                if (
                    previous is not None
                    and frame.index - previous[0] > 1  # a gap: missed frames between
                    and frame.pts_s - previous[1] <= self.max_gap_s
                ):
                    self._fill(previous, found)
                self._last[track_id] = found
        horizon = frame.pts_s - self.max_gap_s
        self._last = {i: last for i, last in self._last.items() if last[1] >= horizon}
        self._held.append(frame)
        out = []
        while self._held and self._held[0].pts_s <= horizon:
            out.append(self._finished(self._held.popleft()))
        return out

    def flush(self) -> list[Item]:
        out = [self._finished(frame) for frame in self._held]
        self._held.clear()
        return out

    def _finished(self, frame: Item) -> Item:
        """The frame with the rows filled into it (added once, as it leaves)."""
        rows = self._added.pop(frame.index, None)
        if rows:
            frame.poses = _with_rows(frame.poses, rows)
        return frame

    def _fill(self, before: tuple, after: tuple) -> None:
        """Add the interpolated row to each held frame strictly between the two rows."""
        (first, start, a, a_row), (last, end, b, b_row) = before, after
        a, b = a.take(np.array([a_row])), b.take(np.array([b_row]))
        for held in self._held:
            if first < held.index < last:
                weight = (held.pts_s - start) / (end - start)
                self._added.setdefault(held.index, []).append(_between(a, b, weight))

    def state(self) -> Callable[[], dict[str, Any]]:
        """Each track's last row now, as a function that makes the arrays when called (the
        rows never change once stored)."""
        last = dict(self._last)

        def arrays() -> dict[str, Any]:
            ids = np.array(sorted(last), np.int64)
            state: dict[str, Any] = {
                f"{STATE_PREFIX}ids": ids,
                f"{STATE_PREFIX}index": np.array([last[i][0] for i in ids], np.int64),
                f"{STATE_PREFIX}pts": np.array([last[i][1] for i in ids], np.float64),
            }
            if len(ids):
                rows = Poses.concatenate([last[i][2].take(np.array([last[i][3]])) for i in ids])
                for name in _STORED:
                    state[f"{STATE_PREFIX}{name}"] = getattr(rows, name)
                for key, value in rows.data.items():
                    state[f"{STATE_PREFIX}data_{key}"] = value
            return state

        return arrays

    def load_state(self, state: dict[str, Any]) -> None:
        """Go on from what `state` made (its arrays may come back from an npz); a state
        without the filler's keys (saved before it existed) starts with no rows."""
        self._held.clear()
        self._added.clear()
        self._last = {}
        ids = np.asarray(state.get(f"{STATE_PREFIX}ids", np.zeros(0)), np.int64)
        if not len(ids):
            return
        prefix = f"{STATE_PREFIX}data_"
        rows = Poses(
            **{name: state[f"{STATE_PREFIX}{name}"] for name in _STORED},
            data={k.removeprefix(prefix): np.asarray(v) for k, v in state.items()
                  if k.startswith(prefix)},
        )  # fmt: skip
        index = np.asarray(state[f"{STATE_PREFIX}index"], np.int64)
        pts = np.asarray(state[f"{STATE_PREFIX}pts"], np.float64)
        for row, track_id in enumerate(ids.tolist()):
            self._last[track_id] = (int(index[row]), float(pts[row]), rows, row)


def _between(a: Poses, b: Poses, weight: float) -> Poses:
    """The 1-row record ``weight`` of the way from ``a`` to ``b`` (0: a, 1: b): floats
    interpolated, other columns (ids, flags) from ``a``; the lower score."""
    arrays = {name: _lerp(getattr(a, name), getattr(b, name), weight) for name in _ARRAYS}
    arrays["scores"] = np.minimum(a.scores, b.scores)
    data = {key: _lerp(value, b.data.get(key, value), weight) for key, value in a.data.items()}
    data[GAP_FILLED] = np.ones(1, bool)
    return Poses(**arrays, track_id=a.track_id, data=data)


def _lerp(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    if a.dtype.kind != "f" or a.shape != b.shape:
        return a
    return (a + weight * (b - a)).astype(a.dtype)


def _with_rows(poses: Poses | None, rows: list[Poses]) -> Poses:
    """``poses`` with ``rows`` added, their ``data`` given the frame's keys."""
    if poses is None or not len(poses):
        return Poses.concatenate([_conform(row, rows[0].data) for row in rows])
    return Poses.concatenate([poses, *(_conform(row, poses.data) for row in rows)])


def _conform(row: Poses, like: dict[str, np.ndarray]) -> Poses:
    """``row`` with the ``data`` keys of ``like``: a key it lacks NaN or zero, one ``like``
    lacks left out (a track last seen before a stage added a key)."""
    if row.data.keys() == like.keys():
        return row
    data = {}
    for key, value in like.items():
        mine = row.data.get(key)
        if mine is not None and mine.shape[1:] == value.shape[1:]:
            data[key] = mine.astype(value.dtype)
        else:
            fill = np.nan if np.issubdtype(value.dtype, np.floating) else 0
            data[key] = np.full((len(row), *value.shape[1:]), fill, value.dtype)
    return Poses(**{name: getattr(row, name) for name in _STORED}, data=data)
