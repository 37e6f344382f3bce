"""Gap filling: the frames a track missed between two of its detections, filled in; track
smoothing: each detected row averaged with its track's rows around it; and backfill: a
track's detections from before it was output, added when it is.

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

With ``smooth_s``, as each frame leaves, each detected row's box, 2D and 3D joints, root
and ground position become the mean of its track's detected rows within ``smooth_s / 2``
before and after it (NaN values left out; filled rows stay interpolated); frames are then
held at least ``smooth_s / 2``.

A tracker outputs a track only once it is confirmed (``min_hits_to_confirm`` detections
in a row) and confident, so a person's first detections have no row. With ``backfill``,
`push` also takes the frame's detections of tracks not output yet, under their tracks'
provisional keys, and the keys the tracker named in that frame (`PoseTracker.track`); a
named track's earlier detections are added, with its id, to the frames still held (as
detected rows: not ``gap_filled``, and smoothed like the others).

For ``--resume``: `state` gives the recent frames' detected people and the detections still
waiting for their track's id (what a fill, a mean or a backfill after the resume point
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
_SMOOTHED = ("boxes", "kp2d", "kp3d", "root")  # those averaged with ``smooth_s``
GROUND = "ground_xy"  # the lift's ground position in ``data``, averaged too
STATE_PREFIX = "fill_"  # keys of `GapFiller.state` in a stage's resume state
_PENDING = "pending_"  # after STATE_PREFIX: the detections waiting for their track's id


class Held(Protocol):
    """What the filler holds: a pipeline frame, or anything with these."""

    index: int  # frame number
    pts_s: float  # stream time
    poses: Poses | None  # after tracking


Item = TypeVar("Item", bound=Held)


class GapFiller(Generic[Item]):
    """Holds frames ``max_gap_s`` of stream time, fills tracks' gaps up to that long and,
    with ``smooth_s``, replaces each detected row's geometry by its track's mean over the
    ``smooth_s`` around it; with ``backfill``, adds tracks' detections from before they
    were output (see the module docstring).

    `push` takes each frame after tracking (people with ``track_id >= 0``) and returns the
    frames that can no longer be filled, oldest first; `flush` returns the rest at the end.
    """

    def __init__(self, max_gap_s: float, smooth_s: float = 0.0, backfill: bool = False) -> None:
        self.max_gap_s, self.smooth_s, self.backfill = max_gap_s, smooth_s, backfill
        self._held: deque[Item] = deque()
        # (frame index, stream time, a copy of its tracked people as detected, their
        # `_geometry`) of the recent frames that had any: what fills and means are made of
        self._recent: deque[tuple[int, float, Poses, np.ndarray]] = deque()
        # (frame index, stream time, its detections of tracks with no id yet, under their
        # provisional keys) of the recent frames that had any
        self._pending: deque[tuple[int, float, Poses]] = deque()
        # track id -> its last row among them: (frame index, stream time, people, row)
        self._last: dict[int, tuple[int, float, Poses, int]] = {}
        self._added: dict[int, list[Poses]] = {}  # held frame index -> its added rows
        self._now: float | None = None  # stream time of the last frame pushed
        self.backfilled = 0  # detections added to held frames by backfill, so far

    def push(
        self, frame: Item, unnamed: Poses | None = None, named: dict[int, int] | None = None
    ) -> list[Item]:
        """Take the next frame; with ``backfill``, also its detections of tracks not output
        yet (``track_id`` their provisional keys) and the keys named in it (key -> id).
        Returns the frames done, oldest first."""
        self._now = frame.pts_s
        if self.backfill:
            if named:
                self._name(named)
            if unnamed is not None and len(unnamed):
                unnamed.data[GAP_FILLED] = np.zeros(len(unnamed), bool)
                self._pending.append((frame.index, frame.pts_s, unnamed))
        poses = frame.poses
        if poses is not None:
            poses.data[GAP_FILLED] = np.zeros(len(poses), bool)
            tracked = np.flatnonzero(poses.track_id >= 0)
            if len(tracked):
                # A copy: the stages after this one may change the frame's arrays.
                people = poses.take(tracked)
                self._recent.append((frame.index, frame.pts_s, people, _geometry(people)))
                self._remember(frame.index, frame.pts_s, people, fill=True)
        self._held.append(frame)
        out = []
        hold_s = max(self.max_gap_s, self.smooth_s / 2)  # a mean needs its future too
        while self._held and self._held[0].pts_s <= frame.pts_s - hold_s:
            out.append(self._finished(self._held.popleft()))
        self._forget()
        return out

    def flush(self) -> list[Item]:
        out = [self._finished(frame) for frame in self._held]
        self._held.clear()
        return out

    def _remember(self, index: int, pts: float, people: Poses, fill: bool) -> None:
        """Each of ``people`` becomes its track's last row; with ``fill``, a track found
        again after a gap of at most ``max_gap_s`` first fills it."""
        for row, track_id in enumerate(people.track_id.tolist()):
            found = (index, pts, people, row)
            previous = self._last.get(track_id)
            if (
                fill
                and previous is not None
                and index - previous[0] > 1  # a gap: missed frames between
                and pts - previous[1] <= self.max_gap_s
            ):
                self._fill(previous, found)
            self._last[track_id] = found

    def _forget(self) -> None:
        """Drop what no fill and no mean can need any more."""
        assert self._now is not None
        horizon = self._now - self.max_gap_s  # older last rows fill nothing
        self._forget_last_before(horizon)
        oldest = self._held[0].pts_s if self._held else self._now  # the next frame out
        keep_from = min(oldest - self.smooth_s / 2, horizon)
        while self._recent and self._recent[0][1] < keep_from:
            self._recent.popleft()
        while self._pending and self._pending[0][1] < keep_from:
            self._pending.popleft()

    def _name(self, named: dict[int, int]) -> None:
        """The waiting detections of the tracks in ``named`` (key -> id) become their rows:
        added to their frames if still held, and to the recent rows means are made of."""
        keys = np.fromiter(named, np.int64, len(named))
        for f, (index, pts, people) in enumerate(self._pending):
            mine = np.isin(people.track_id, keys)  # (P,)
            if not mine.any():
                continue
            rows = people[mine]
            rows.track_id = np.array([named[k] for k in rows.track_id.tolist()], np.int64)
            self._pending[f] = (index, pts, people[~mine])
            for held in self._held:
                if held.index == index:
                    self._added.setdefault(index, []).append(rows)
                    self.backfilled += len(rows)
                    break
            self._add_recent(index, pts, rows)
        while self._pending and not len(self._pending[0][2]):
            self._pending.popleft()

    def _add_recent(self, index: int, pts: float, rows: Poses) -> None:
        """Add ``rows`` to frame ``index``'s recent rows (kept in time order)."""
        position = len(self._recent)
        while position and self._recent[position - 1][1] > pts:
            position -= 1
        if position and self._recent[position - 1][0] == index:
            _, _, people, _ = self._recent[position - 1]
            people = Poses.concatenate([people, _conform(rows, people.data)])
            self._recent[position - 1] = (index, pts, people, _geometry(people))
        else:
            self._recent.insert(position, (index, pts, rows, _geometry(rows)))

    def _finished(self, frame: Item) -> Item:
        """The frame with the rows filled into it and its rows' means (made once, as it
        leaves)."""
        rows = self._added.pop(frame.index, None)
        if rows:
            frame.poses = _with_rows(frame.poses, rows)
        if self.smooth_s > 0 and frame.poses is not None and len(frame.poses):
            frame.poses = self._smoothed(frame.poses, frame.pts_s)
        return frame

    def _smoothed(self, poses: Poses, pts: float) -> Poses:
        """``poses`` with each detected tracked row's `_SMOOTHED` fields (and its ground
        position) the mean of its track's detected rows within ``smooth_s / 2`` of ``pts``,
        the window cut to as far as the track reaches on its shorter side (at a track's
        ends a one-sided mean would pull it inwards); a NaN value stays NaN and is left
        out of the others' means; filled rows are unchanged."""
        ids = poses.track_id
        rows = np.flatnonzero((ids >= 0) & ~poses.data[GAP_FILLED])  # (R,)
        if not len(rows):
            return poses
        order = np.argsort(ids[rows])
        sorted_ids = ids[rows][order]  # (R,)
        own = _geometry(poses.take(rows))  # (R, D)
        half = self.smooth_s / 2 + 1e-6
        window = []  # (time offset, rows of ``rows`` matched, their geometry) per frame
        for _, when, people, geometry in self._recent:  # in time order
            if when < pts - half:
                continue
            if when > pts + half:
                break
            at = np.minimum(np.searchsorted(sorted_ids, people.track_id), len(rows) - 1)
            found = sorted_ids[at] == people.track_id  # (P,) rows of tracks in ``poses``
            window.append((when - pts, order[at[found]], geometry[found]))
        before, after = np.zeros(len(rows)), np.zeros(len(rows))  # (R,) reach each side
        for offset, targets, _ in window:
            before[targets] = np.maximum(before[targets], -offset)
            after[targets] = np.maximum(after[targets], offset)
        reach = np.minimum(before, after) + 1e-6  # (R,) the symmetric half window
        sums, counts = np.zeros(own.shape), np.zeros(own.shape)
        for offset, targets, values in window:
            inside = abs(offset) <= reach[targets]  # (F,)
            targets, values = targets[inside], values[inside]
            finite = np.isfinite(values)  # (F, D)
            sums[targets] += np.where(finite, values, 0.0)  # distinct: one row per track
            counts[targets] += finite
        mean = np.divide(sums, counts, out=own.copy(), where=counts > 0)  # (R, D)
        return _with_geometry(poses, rows, np.where(np.isfinite(own), mean, own))

    def _fill(self, before: tuple, after: tuple) -> None:
        """Add the interpolated row to each held frame strictly between the two rows."""
        (first, start, a, a_row), (last, end, b, b_row) = before, after
        a, b = a.take(np.array([a_row])), b.take(np.array([b_row]))
        for held in self._held:
            if first < held.index < last:
                weight = (held.pts_s - start) / (end - start)
                self._added.setdefault(held.index, []).append(_between(a, b, weight))

    def state(self) -> Callable[[], dict[str, Any]]:
        """The recent frames' detected people, the detections waiting for their track's id
        and the time now, as a function that makes the arrays when called (the stored
        people never change)."""
        recent, now = [entry[:3] for entry in self._recent], self._now
        pending = list(self._pending)

        def arrays() -> dict[str, Any]:
            return {
                f"{STATE_PREFIX}now": np.array(np.nan if now is None else now),
                **_entries_state(STATE_PREFIX, recent),
                **_entries_state(STATE_PREFIX + _PENDING, pending),
            }

        return arrays

    def load_state(self, state: dict[str, Any]) -> None:
        """Go on from what `state` made (its arrays may come back from an npz); a state
        without the filler's keys (saved before it existed) starts with nothing."""
        self._held.clear()
        self._added.clear()
        self._recent.clear()
        self._pending.clear()
        self._last = {}
        self._now = None
        if f"{STATE_PREFIX}now" not in state:
            return
        now = float(np.asarray(state[f"{STATE_PREFIX}now"]))
        self._now = None if np.isnan(now) else now
        for frame_index, when, people in _entries_from_state(STATE_PREFIX, state):
            self._recent.append((frame_index, when, people, _geometry(people)))
            self._remember(frame_index, when, people, fill=False)
        self._pending.extend(_entries_from_state(STATE_PREFIX + _PENDING, state))
        if self._now is not None:
            self._forget_last_before(self._now - self.max_gap_s)

    def _forget_last_before(self, horizon: float) -> None:
        self._last = {i: last for i, last in self._last.items() if last[1] >= horizon}


def _entries_state(prefix: str, entries: list[tuple[int, float, Poses]]) -> dict[str, Any]:
    """Frames' rows (frame index, stream time, people) as arrays under ``prefix``."""
    state: dict[str, Any] = {
        f"{prefix}index": np.array([e[0] for e in entries], np.int64),
        f"{prefix}pts": np.array([e[1] for e in entries], np.float64),
        f"{prefix}counts": np.array([len(e[2]) for e in entries], np.int64),
    }
    if entries:
        like = entries[-1][2].data
        rows = Poses.concatenate([_conform(e[2], like) for e in entries])
        for name in _STORED:
            state[f"{prefix}{name}"] = getattr(rows, name)
        for key, value in rows.data.items():
            state[f"{prefix}data_{key}"] = value
    return state


def _entries_from_state(prefix: str, state: dict[str, Any]) -> list[tuple[int, float, Poses]]:
    """What `_entries_state` stored under ``prefix`` (none when it stored nothing, or the
    state is older than the key)."""
    counts = np.asarray(state.get(f"{prefix}counts", ()), np.int64)
    if not len(counts) or not counts.sum():
        return []
    data_prefix = f"{prefix}data_"
    rows = Poses(
        **{name: state[f"{prefix}{name}"] for name in _STORED},
        data={k.removeprefix(data_prefix): np.asarray(v) for k, v in state.items()
              if k.startswith(data_prefix)},
    )  # fmt: skip
    index = np.asarray(state[f"{prefix}index"], np.int64).tolist()
    pts = np.asarray(state[f"{prefix}pts"], np.float64).tolist()
    starts = np.concatenate([[0], np.cumsum(counts)])
    return [
        (frame_index, when, rows.take(np.arange(starts[f], starts[f + 1])))
        for f, (frame_index, when) in enumerate(zip(index, pts, strict=True))
    ]


def _geometry(people: Poses) -> np.ndarray:
    """(P, D) float64: each person's `_SMOOTHED` fields and ground position (NaN without
    one) side by side, flattened."""
    ground = people.data.get(GROUND, np.full((len(people), 2), np.nan))
    parts = [getattr(people, name).reshape(len(people), -1) for name in _SMOOTHED]
    return np.concatenate([*parts, np.asarray(ground).reshape(len(people), -1)], axis=1)


def _with_geometry(poses: Poses, rows: np.ndarray, geometry: np.ndarray) -> Poses:
    """``poses`` with the (R, D) `_geometry` of its ``rows`` replaced (the ground position
    only where the frame has one)."""
    arrays = {name: getattr(poses, name) for name in _STORED}
    data = dict(poses.data)
    start = 0
    for name in [*_SMOOTHED, GROUND]:
        if name == GROUND and GROUND not in data:
            break
        values = (data if name == GROUND else arrays)[name].copy()
        width = int(np.prod(values.shape[1:]))
        values[rows] = geometry[:, start : start + width].reshape(len(rows), *values.shape[1:])
        (data if name == GROUND else arrays)[name] = values
        start += width
    return Poses(**arrays, data=data)


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
