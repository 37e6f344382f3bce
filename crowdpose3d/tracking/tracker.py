"""`PoseTracker`: multi-person 3D tracking over per-frame `Poses` records.

Each frame: predict every live track to the frame's timestamp (constant-velocity Kalman
model on the root, ``xyz_cv``); match high-score detections to all live tracks, then
low-score detections to the confirmed tracks left over (ByteTrack's two passes, so a
briefly occluded, low-confidence person keeps its track); start tentative tracks from the
high-score detections left over; confirm a track after ``min_hits_to_confirm`` consecutive
matches; keep an unmatched confirmed track as lost for ``lost_track_buffer_s`` seconds.

The output is the input detections that belong to confirmed tracks, selected by index from
the input, so nothing is ever re-matched to its own detection by overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from crowdpose3d.poses import Poses
from crowdpose3d.tracking.association import association_cost, linear_assignment
from crowdpose3d.tracking.xyz_cv import KalmanFilterXYZ


class TrackState(IntEnum):
    """Life cycle of a track."""

    TENTATIVE = 0  # seen fewer than min_hits_to_confirm times in a row; not output
    CONFIRMED = 1  # matched in the latest frame
    LOST = 2  # confirmed before, unmatched since; dropped after lost_track_buffer_s


@dataclass
class TrackTable:
    """The live tracks as columns, one row per track, so every step stays vectorised.

    Attributes:
        ids: (T,) int64 track identities, -1 while tentative (ids go to confirmed tracks
            only, so the ids a video shows run 1, 2, 3... without gaps).
        states: (T,) int8 `TrackState` values.
        hits: (T,) int64 detections matched so far.
        last_seen_s: (T,) float64 timestamp of the latest matched detection.
        boxes: (T, 4) float64 latest matched box in pixels.
        has_root: (T,) bool, False until a detection with a known (non-NaN) root is matched.
        mean: (T, 6) float64 Kalman state [x, y, z, vx, vy, vz] (meaningless without root).
        covariance: (T, 6, 6) float64 Kalman covariance.
        scale: (T,) float64 smoothed body scale, NaN until one is measured.
    """

    ids: np.ndarray
    states: np.ndarray
    hits: np.ndarray
    last_seen_s: np.ndarray
    boxes: np.ndarray
    has_root: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    scale: np.ndarray

    @classmethod
    def empty(cls) -> TrackTable:
        return cls(
            ids=np.zeros(0, np.int64),
            states=np.zeros(0, np.int8),
            hits=np.zeros(0, np.int64),
            last_seen_s=np.zeros(0),
            boxes=np.zeros((0, 4)),
            has_root=np.zeros(0, bool),
            mean=np.zeros((0, 6)),
            covariance=np.zeros((0, 6, 6)),
            scale=np.zeros(0),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, index: np.ndarray) -> TrackTable:
        """The rows picked by a boolean mask or an index array."""
        return TrackTable(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def append(self, other: TrackTable) -> TrackTable:
        """This table's rows followed by ``other``'s."""
        return TrackTable(
            **{
                f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in fields(self)
            }
        )


@dataclass(frozen=True)
class _Matches:
    """Pairs found by one association pass, as row / detection index arrays."""

    track_rows: np.ndarray  # (K,) rows of the track table
    det_indices: np.ndarray  # (K,) indices into the frame's Poses
    unmatched_track_rows: np.ndarray
    unmatched_det_indices: np.ndarray


class PoseTracker:
    """Tracks people in 3D across frames and gives each a stable ``track_id``.

    Args:
        high_score_threshold: detections scoring at least this are matched first and may
            start tracks.
        low_score_threshold: detections scoring in [low, high) only continue confirmed
            tracks left unmatched by the first pass (they never start or confirm one);
            below it they are ignored.
        min_hits_to_confirm: consecutive matched frames before a track is output; a
            tentative track that misses one frame is dropped. 1 outputs tracks at once.
        lost_track_buffer_s: seconds a confirmed track survives without a detection (its
            root keeps being predicted); a person missing for longer gets a new id.
        max_distance_m: 3D gate between a track's predicted root and a detected root, metres;
            farther pairs are never matched.
        iou_weight: share of the ``1 - IoU`` box term in the matching cost when both roots
            are known (the rest is distance / max_distance_m); without a root the box term
            is used alone.
        min_iou_without_3d: least box IoU for a pair matched on the 2D term alone.
        scale_smoothing: weight of the past in the exponential average of ``data["scale"]``
            (0 keeps the latest measurement; 0.9 averages over about 10 frames).
        motion_model: the Kalman model of the root; `KalmanFilterXYZ()` when omitted.

    Attributes:
        tracks: the live tracks (`TrackTable`), for inspection; ``update`` owns them.
    """

    def __init__(
        self,
        *,
        high_score_threshold: float = 0.5,
        low_score_threshold: float = 0.1,
        min_hits_to_confirm: int = 3,
        lost_track_buffer_s: float = 1.0,
        max_distance_m: float = 1.0,
        iou_weight: float = 0.3,
        min_iou_without_3d: float = 0.2,
        scale_smoothing: float = 0.8,
        motion_model: KalmanFilterXYZ | None = None,
    ) -> None:
        if not 0.0 <= low_score_threshold <= high_score_threshold:
            raise ValueError(
                "PoseTracker: need 0 <= low_score_threshold <= high_score_threshold, got "
                f"{low_score_threshold} and {high_score_threshold}"
            )
        if min_hits_to_confirm < 1:
            raise ValueError(
                f"PoseTracker: min_hits_to_confirm must be >= 1, got {min_hits_to_confirm}"
            )
        if lost_track_buffer_s < 0 or max_distance_m <= 0:
            raise ValueError("PoseTracker: lost_track_buffer_s must be >= 0 and max_distance_m > 0")
        for name, value in (("iou_weight", iou_weight), ("min_iou_without_3d", min_iou_without_3d)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"PoseTracker: {name} must be in [0, 1], got {value}")
        if not 0.0 <= scale_smoothing < 1.0:
            raise ValueError(
                f"PoseTracker: scale_smoothing must be in [0, 1), got {scale_smoothing}"
            )
        self.high_score_threshold = high_score_threshold
        self.low_score_threshold = low_score_threshold
        self.min_hits_to_confirm = min_hits_to_confirm
        self.lost_track_buffer_s = lost_track_buffer_s
        self.max_distance_m = max_distance_m
        self.iou_weight = iou_weight
        self.min_iou_without_3d = min_iou_without_3d
        self.scale_smoothing = scale_smoothing
        self.motion_model = motion_model if motion_model is not None else KalmanFilterXYZ()
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 1, ready for the next video."""
        self.tracks = TrackTable.empty()
        self._next_id = 1
        self._last_timestamp_s: float | None = None

    @property
    def ids_issued(self) -> int:
        """How many track ids (confirmed tracks) this tracker has made since the last reset."""
        return self._next_id - 1

    def update(self, poses: Poses, timestamp_s: float) -> Poses:
        """Track one frame; returns its detections that belong to confirmed tracks.

        The returned rows keep the input order and carry ``track_id``, ``data["root_filtered"]``
        (N, 3) metres, ``data["velocity"]`` (N, 3) m/s (NaN rows for tracks without a known
        root) and, when the input has ``data["scale"]``, ``data["scale_smoothed"]`` (N,).
        The input is not modified. Raises ValueError if ``timestamp_s`` goes back in time.
        """
        self._predict(timestamp_s)
        high, low = self._split_by_score(poses.scores)
        first = self._associate(np.arange(len(self.tracks)), high, poses)
        second = self._associate(self._confirmed(first.unmatched_track_rows), low, poses)
        track_rows = np.concatenate([first.track_rows, second.track_rows])
        det_indices = np.concatenate([first.det_indices, second.det_indices])
        self._correct(track_rows, det_indices, poses, timestamp_s)
        new_rows = self._start_tracks(first.unmatched_det_indices, poses, timestamp_s)
        track_rows = np.concatenate([track_rows, new_rows])
        det_indices = np.concatenate([det_indices, first.unmatched_det_indices])
        self._assign_ids(track_rows)
        output = self._output(poses, track_rows, det_indices)
        self._age_unmatched(track_rows, timestamp_s)
        return output

    def _predict(self, timestamp_s: float) -> None:
        """Move every track with a known root to ``timestamp_s``."""
        if self._last_timestamp_s is not None and timestamp_s < self._last_timestamp_s:
            raise ValueError(
                f"PoseTracker.update: timestamp {timestamp_s} s is before the previous one "
                f"({self._last_timestamp_s} s); call reset() before a new video"
            )
        dt = 0.0 if self._last_timestamp_s is None else timestamp_s - self._last_timestamp_s
        self._last_timestamp_s = timestamp_s
        rows = np.flatnonzero(self.tracks.has_root)
        if dt > 0 and len(rows):
            tracks = self.tracks
            tracks.mean[rows], tracks.covariance[rows] = self.motion_model.predict(
                tracks.mean[rows], tracks.covariance[rows], dt
            )

    def _split_by_score(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the high-score detections and of the low-score ones (others ignored)."""
        high = scores >= self.high_score_threshold
        low = (scores >= self.low_score_threshold) & ~high
        return np.flatnonzero(high), np.flatnonzero(low)

    def _confirmed(self, track_rows: np.ndarray) -> np.ndarray:
        """The rows among ``track_rows`` of confirmed (tracked or lost) tracks."""
        return track_rows[self.tracks.states[track_rows] != TrackState.TENTATIVE]

    def _associate(self, track_rows: np.ndarray, det_indices: np.ndarray, poses: Poses) -> _Matches:
        """Match the tracks at ``track_rows`` to the detections at ``det_indices``."""
        tracks = self.tracks
        track_roots = np.where(
            tracks.has_root[track_rows, None], tracks.mean[track_rows, :3], np.nan
        )
        det_roots = poses.root[det_indices].astype(np.float64)
        std = self.motion_model.measurement_std(det_roots)  # (N, 3)
        cost = association_cost(
            track_roots,
            tracks.boxes[track_rows],
            det_roots,
            poses.boxes[det_indices],
            max_distance_m=self.max_distance_m,
            iou_weight=self.iou_weight,
            min_iou_without_3d=self.min_iou_without_3d,
            depth_weight=std[:, 0] / std[:, 2],
        )
        assignment = linear_assignment(cost)
        return _Matches(
            track_rows=track_rows[assignment.matches[:, 0]],
            det_indices=det_indices[assignment.matches[:, 1]],
            unmatched_track_rows=track_rows[assignment.unmatched_rows],
            unmatched_det_indices=det_indices[assignment.unmatched_cols],
        )

    def _correct(
        self, track_rows: np.ndarray, det_indices: np.ndarray, poses: Poses, timestamp_s: float
    ) -> None:
        """Feed the matched detections to their tracks: box, hits, state, root, scale."""
        tracks = self.tracks
        tracks.boxes[track_rows] = poses.boxes[det_indices]
        tracks.hits[track_rows] += 1
        tracks.last_seen_s[track_rows] = timestamp_s
        confirmed = (tracks.states[track_rows] != TrackState.TENTATIVE) | (
            tracks.hits[track_rows] >= self.min_hits_to_confirm
        )
        tracks.states[track_rows] = np.where(confirmed, TrackState.CONFIRMED, TrackState.TENTATIVE)
        self._correct_roots(track_rows, poses.root[det_indices].astype(np.float64))
        if "scale" in poses.data:
            tracks.scale[track_rows] = self._smooth_scale(
                tracks.scale[track_rows], poses.data["scale"][det_indices]
            )

    def _correct_roots(self, track_rows: np.ndarray, roots: np.ndarray) -> None:
        """Kalman-update tracks with a root, start the filter of tracks seeing their first."""
        tracks = self.tracks
        known = ~np.isnan(roots).any(axis=1)
        update = known & tracks.has_root[track_rows]
        start = known & ~tracks.has_root[track_rows]
        rows = track_rows[update]
        tracks.mean[rows], tracks.covariance[rows] = self.motion_model.update(
            tracks.mean[rows], tracks.covariance[rows], roots[update]
        )
        rows = track_rows[start]
        tracks.mean[rows], tracks.covariance[rows] = self.motion_model.initiate(roots[start])
        tracks.has_root[rows] = True

    def _smooth_scale(self, previous: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Exponential average of body scale; NaN measurements leave it unchanged."""
        measured = np.asarray(measured, dtype=np.float64)
        blended = self.scale_smoothing * previous + (1.0 - self.scale_smoothing) * measured
        return np.where(
            np.isnan(measured), previous, np.where(np.isnan(previous), measured, blended)
        )

    def _start_tracks(
        self, det_indices: np.ndarray, poses: Poses, timestamp_s: float
    ) -> np.ndarray:
        """Append a track per detection; returns their rows in the table."""
        count = len(det_indices)
        if count == 0:
            return np.zeros(0, np.int64)
        roots = poses.root[det_indices].astype(np.float64)
        known = ~np.isnan(roots).any(axis=1)
        mean, covariance = self.motion_model.initiate(np.where(known[:, None], roots, 0.0))
        scale = (
            np.asarray(poses.data["scale"][det_indices], dtype=np.float64)
            if "scale" in poses.data
            else np.full(count, np.nan)
        )
        state = TrackState.CONFIRMED if self.min_hits_to_confirm <= 1 else TrackState.TENTATIVE
        new = TrackTable(
            ids=np.full(count, -1, np.int64),
            states=np.full(count, state, np.int8),
            hits=np.ones(count, np.int64),
            last_seen_s=np.full(count, timestamp_s, np.float64),
            boxes=poses.boxes[det_indices].astype(np.float64),
            has_root=known,
            mean=mean,
            covariance=covariance,
            scale=scale,
        )
        first_row = len(self.tracks)
        self.tracks = self.tracks.append(new)
        return np.arange(first_row, first_row + count)

    def _assign_ids(self, track_rows: np.ndarray) -> None:
        """Give the next ids, in row order, to the tracks among ``track_rows`` just confirmed."""
        tracks = self.tracks
        rows = np.sort(track_rows[tracks.ids[track_rows] < 0])
        rows = rows[tracks.states[rows] == TrackState.CONFIRMED]
        tracks.ids[rows] = np.arange(self._next_id, self._next_id + len(rows))
        self._next_id += len(rows)

    def _output(self, poses: Poses, track_rows: np.ndarray, det_indices: np.ndarray) -> Poses:
        """The detections of confirmed tracks, in input order, with their track's estimates."""
        tracks = self.tracks
        keep = tracks.states[track_rows] == TrackState.CONFIRMED
        order = np.argsort(det_indices[keep], kind="stable")
        rows, dets = track_rows[keep][order], det_indices[keep][order]
        out = poses[dets]
        out.track_id = tracks.ids[rows].copy()
        mean = np.where(tracks.has_root[rows, None], tracks.mean[rows], np.nan)  # (N, 6)
        out.data["root_filtered"] = mean[:, :3].astype(np.float32)
        out.data["velocity"] = mean[:, 3:].astype(np.float32)
        if "scale" in poses.data:
            out.data["scale_smoothed"] = tracks.scale[rows].astype(np.float32)
        return out

    def _age_unmatched(self, matched_rows: np.ndarray, timestamp_s: float) -> None:
        """Unmatched tracks: tentative ones die, confirmed ones turn lost, old lost ones die."""
        tracks = self.tracks
        unmatched = np.ones(len(tracks), bool)
        unmatched[matched_rows] = False
        tentative = tracks.states == TrackState.TENTATIVE
        tracks.states[unmatched & ~tentative] = TrackState.LOST
        expired = timestamp_s - tracks.last_seen_s > self.lost_track_buffer_s
        dead = unmatched & (tentative | expired)
        if dead.any():
            self.tracks = tracks.select(~dead)
