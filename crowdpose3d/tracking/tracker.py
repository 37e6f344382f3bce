"""`PoseTracker`: multi-person tracking over per-frame `Poses` records.

Each frame, with every time in seconds so the same settings serve 5 and 30 fps:

1. predict every track to the frame's timestamp: a constant-velocity Kalman filter on the
   image box (``box_cv``, what is reliable at every frame rate) and one on the 3D root
   (``xyz_cv``, for the output and for near people);
2. match the high-score detections to the confirmed and lost tracks on ``1 - IoU`` of the
   predicted box (buffered by its uncertainty), plus OC-SORT's velocity-direction
   consistency, the change of the 2D joints inside the box and of the 3D pose, the 3D root
   distance where the detection's depth is reliable, the change of the person's colours
   (``appearance_weight``: the detection's descriptor, ``poses.data["appearance"]``, against
   the track's moving average), and the time a track went unseen (the
   cues beyond the overlap scaled by ``cut_box_cue_weight`` for a detection cut by the
   image border);
3. match the low-score detections to the tracks left that were seen in the previous frame
   (ByteTrack's second pass, on IoU alone);
4. match the high-score detections left to the tracks left by the box of their *last
   observation* (OC-SORT's observation-centric recovery: a person who stopped while hidden),
   plus the appearance cost;
5. a detected box side cut by the image border is not where the person ends: the box
   filter is updated with that side where the prediction puts it (beyond the border), so a
   person entering or leaving the view, or cut by the top of the image, keeps a natural
   box size and centre (``edge_aware``); the uncut sides drive the motion;
6. a track found again after missed frames restarts its box filter from its last
   observation, moved along the straight line to the new one (OC-SORT's observation-centric
   re-update), so the drift of the blind prediction is forgotten;
7. match the high-score detections left to the tentative tracks (the same cues), then start
   tentative tracks from those left that score at least ``new_track_score``; confirm after
   ``min_hits_to_confirm`` matches in a row; a confirmed track not seen is lost, and dies
   after ``lost_track_buffer_s``, or ``occluded_track_buffer_s`` while a person in front of
   it (depth ordering: lower box bottom, or nearer root) covers its predicted box.

The output is the input detections that belong to confirmed tracks whose confidence (a
moving average of their detections' scores over ``confidence_time_s``) is at least
``min_track_confidence``, selected by index from the input, so nothing is ever re-matched to
its own detection by overlap. A track below it still takes its detections (so they start
no new track) but is not output, and gets its id only when it is first output. Until then it
has a provisional key (a negative number, unique within the run): `PoseTracker.track` also
returns the detections of such tracks under their keys, and which keys got an id, so a
caller holding frames can add a track's rows from before it was output (the track stage's
backfill, `crowdpose3d.tracking.gap_fill`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

import numpy as np

import crowdpose3d.tracking.cv_blocks as cv_blocks
from crowdpose3d.poses import Poses
from crowdpose3d.tracking.appearance import APPEARANCE, DESCRIPTOR_SIZE, appearance_distance
from crowdpose3d.tracking.association import (
    box_iou_matrix,
    descriptor_distance,
    direction_cost,
    gated_assignment,
    pair_assignment,
    root_distance,
)
from crowdpose3d.tracking.box_cv import KalmanFilterBox, corners_to_xywh, xywh_to_corners
from crowdpose3d.tracking.xyz_cv import KalmanFilterXYZ

#: Past observations (box centres) kept per track for the heading; covers
#: ``direction_lag_s`` at 30 fps up to 0.3 s.
HISTORY_LENGTH = 10


#: A detected box side within this many pixels of the image border counts as cut by it
#: (detectors clip their boxes to the image, so a cut side lies on the border).
EDGE_MARGIN_PX = 1.0

#: An empty index array, for passes with nothing to match.
_NONE = np.zeros(0, np.int64)


class TrackState(IntEnum):
    """Life cycle of a track."""

    TENTATIVE = 0  # seen fewer than min_hits_to_confirm times in a row; not output
    CONFIRMED = 1  # matched in the latest frame
    LOST = 2  # confirmed before, unmatched since; dropped after its buffer


#: The states as plain ints for the hot path (an enum member lookup costs a microsecond).
_TENTATIVE, _CONFIRMED, _LOST = (int(state) for state in TrackState)


@dataclass
class TrackTable:
    """The live tracks as columns, one row per track, so every step stays vectorised.

    Attributes:
        ids: (T,) int64 track identities (ids go to output tracks only, so the ids a video
            shows run 1, 2, 3... without gaps); before its first output a track's
            provisional key, negative and unique within the run (`TrackedFrame`).
        states: (T,) int8 `TrackState` values.
        hits: (T,) int64 detections matched so far.
        last_seen_s: (T,) float64 timestamp of the latest matched detection.
        boxes: (T, 4) float64 latest matched (observed) box in pixels, x1 y1 x2 y2.
        box_mean: (T, 8) float64 box Kalman state [cx, cy, w, h, vcx, vcy, vw, vh].
        box_covariance: (T, 3, 4) float64 its covariance as (position, velocity) blocks
            (`cv_blocks`: variances of cx, cy, w, h; their covariances with their
            velocities; the velocities' variances).
        observed_box_mean: (T, 8) box state right after the latest observation (the start
            of the observation-centric re-update).
        observed_box_covariance: (T, 3, 4) its covariance blocks.
        history_centres: (T, HISTORY_LENGTH, 2) latest observed box centres, newest last,
            NaN where not yet seen.
        history_s: (T, HISTORY_LENGTH) their timestamps (NaN where not yet seen).
        keypoints: (T, 2K) latest 2D joints relative to the box (centre, divided by height).
        pose: (T, 3K) latest root-relative 3D pose.
        has_root: (T,) bool, False until a detection with a known (non-NaN) root is matched.
        mean: (T, 6) float64 root Kalman state [x, y, z, vx, vy, vz] (meaningless without root).
        covariance: (T, 3, 3) float64 root Kalman covariance blocks (`cv_blocks`).
        scale: (T,) float64 smoothed body scale, NaN until one is measured.
        appearance: (T, DESCRIPTOR_SIZE) float64 exponential moving average of the
            appearance descriptors of the track's detections (`tracking.appearance`), NaN
            until a detection with one is matched.
        confidence: (T,) float64 moving average of the scores of the track's detections,
            over ``confidence_time_s`` (`PoseTracker`).
    """

    ids: np.ndarray
    states: np.ndarray
    hits: np.ndarray
    last_seen_s: np.ndarray
    boxes: np.ndarray
    box_mean: np.ndarray
    box_covariance: np.ndarray
    observed_box_mean: np.ndarray
    observed_box_covariance: np.ndarray
    history_centres: np.ndarray
    history_s: np.ndarray
    keypoints: np.ndarray
    pose: np.ndarray
    has_root: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    scale: np.ndarray
    appearance: np.ndarray
    confidence: np.ndarray

    @classmethod
    def empty(cls, num_joints: int = 0) -> TrackTable:
        return cls(
            ids=np.zeros(0, np.int64),
            states=np.zeros(0, np.int8),
            hits=np.zeros(0, np.int64),
            last_seen_s=np.zeros(0),
            boxes=np.zeros((0, 4)),
            box_mean=np.zeros((0, 8)),
            box_covariance=np.zeros((0, 3, 4)),
            observed_box_mean=np.zeros((0, 8)),
            observed_box_covariance=np.zeros((0, 3, 4)),
            history_centres=np.zeros((0, HISTORY_LENGTH, 2)),
            history_s=np.zeros((0, HISTORY_LENGTH)),
            keypoints=np.zeros((0, 2 * num_joints)),
            pose=np.zeros((0, 3 * num_joints)),
            has_root=np.zeros(0, bool),
            mean=np.zeros((0, 6)),
            covariance=np.zeros((0, 3, 3)),
            scale=np.zeros(0),
            appearance=np.zeros((0, DESCRIPTOR_SIZE)),
            confidence=np.zeros(0),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, index: np.ndarray) -> TrackTable:
        """The rows picked by a boolean mask or an index array."""
        if index.dtype == bool:
            index = index.nonzero()[0]  # one conversion, then integer gathers (faster)
        return TrackTable(*(column.take(index, axis=0) for column in self.columns()))

    def append(self, other: TrackTable) -> TrackTable:
        """This table's rows followed by ``other``'s."""
        return TrackTable(
            *(np.concatenate(pair) for pair in zip(self.columns(), other.columns(), strict=True))
        )

    def columns(self) -> tuple[np.ndarray, ...]:
        """The column arrays in field order (``_COLUMN_NAMES``)."""
        return tuple(self.__dict__[name] for name in _COLUMN_NAMES)


@dataclass(frozen=True)
class TrackedFrame:
    """One frame through `PoseTracker.track`.

    Attributes:
        people: the detections of output tracks, with their ids (what `update` returns).
        unnamed: the detections matched to tracks not output yet (tentative, or not yet
            confident), in input order, with the same ``data`` columns and their track's
            provisional key (negative) as ``track_id``.
        named: provisional key -> id, for the tracks output for the first time this frame.
    """

    people: Poses
    unnamed: Poses
    named: dict[int, int]


@dataclass(frozen=True)
class _Matches:
    """Pairs found by one association pass, as row / detection index arrays."""

    track_rows: np.ndarray  # (K,) rows of the track table
    det_indices: np.ndarray  # (K,) indices into the frame's Poses
    unmatched_track_rows: np.ndarray
    unmatched_det_indices: np.ndarray


#: The track table's column names in field order.
_COLUMN_NAMES = tuple(f.name for f in fields(TrackTable))


@dataclass(frozen=True)
class _Detections:
    """One frame's detections with what every pass needs of them, computed once a frame.

    Attributes:
        poses: the frame's input.
        boxes: (N, 4) float64 corner boxes.
        xywh: (N, 4) their centre x, centre y, width, height.
        scores: (N,) float64.
        keypoints: (N, 2K) 2D joints relative to the box (``_box_relative_keypoints``).
        roots: (N, 3) float64 roots, NaN where unknown.
        depth_weight: (N,) lateral over depth measurement std of the root model.
        cut: (N,) a box side lies on the image border (within ``EDGE_MARGIN_PX``; the
            right and bottom borders only when the image size is known).
        reliable_root: (N,) the root is known and its depth std at most
            ``reliable_depth_std_m``.
        known_root: (N,) no coordinate of the root is NaN.
        appearance: (N, DESCRIPTOR_SIZE) float64 appearance descriptors
            (``poses.data["appearance"]``), or None when the frame has none or the tracker
            does not use them.
    """

    poses: Poses
    boxes: np.ndarray
    xywh: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    roots: np.ndarray
    depth_weight: np.ndarray
    reliable_root: np.ndarray
    cut: np.ndarray
    known_root: np.ndarray
    appearance: np.ndarray | None


class PoseTracker:
    """Tracks people across frames and gives each a stable ``track_id``.

    Args:
        high_score_threshold: detections scoring at least this are matched first and may
            start tracks.
        low_score_threshold: detections scoring in [low, high) only continue tracks seen
            in the previous frame and left unmatched by the first pass (ByteTrack; they
            never start or confirm one); below it they are ignored.
        new_track_score: a high-score detection left unmatched starts a track only when it
            scores at least this (ByteTrack's and BoT-SORT's activation threshold, above
            ``high_score_threshold``, so a doubtful detection continues a track but never
            starts one).
        min_hits_to_confirm: consecutive matched frames before a track is output; a
            tentative track that misses one frame is dropped. 1 outputs tracks at once.
        lost_track_buffer_s: seconds a confirmed track survives without a detection (its
            box and root keep being predicted); a person missing longer gets a new id.
        occluded_track_buffer_s: the same while someone in front covers the track's
            predicted box (a person behind another is expected to come back).
        min_iou: least IoU of a track's predicted box (or, in the recovery pass, its last
            observed box) with a high-score detection for the pair to be possible.
        min_iou_low_score: least IoU for the second pass, with low-score detections.
        position_uncertainty_buffer: the predicted box is widened on each side by this many
            standard deviations of the box filter's predicted centre before the IoU of
            the first two passes: a new track (speed unknown) or one lost a while still
            overlaps where its person may be, a steady track keeps its tight box.
        fuse_score: the first pass costs ``1 - IoU * score`` (BoT-SORT's score fusion: a
            confident detection is the likelier continuation) instead of ``1 - IoU``.
        direction_weight: weight of OC-SORT's direction-consistency cost (angle / pi,
            times the detection's score).
        direction_lag_s: the heading of a track is taken from its observation this many
            seconds before the latest one (OC-SORT's ``delta_t`` of 3 frames, in seconds).
        min_heading_motion: a track moving less than this many box heights over the lag
            has no heading (a standing person's box jitters in every direction).
        unseen_cost_per_s: cost added per second since a track was last seen, so a track
            seen in the previous frame wins a tie with a lost one predicted to the same place
            (its prediction is the more certain: DeepSORT's matching cascade as a cost).
        keypoint_weight: weight of the RMS change of the 2D joints inside the box (in box
            heights, clipped to 1).
        pose_weight: weight of the RMS change of the root-relative 3D pose (clipped to 1).
        root_weight: weight of the 3D root distance over ``max_distance_m`` where the
            detection's depth is reliable.
        max_distance_m: 3D gate where depth is reliable: farther pairs are never matched.
        reliable_depth_std_m: a detection's root counts as reliable when the root model's
            depth noise (``measurement_std`` z) is at most this: near people.
        occlusion_coverage: share of a lost track's predicted box a nearer person's box
            must cover for the track to count as occluded.
        scale_smoothing: weight of the past in the exponential average of ``data["scale"]``
            (0 keeps the latest measurement; 0.9 averages over about 10 frames).
        edge_aware: a detected box side on the image border (within ``EDGE_MARGIN_PX``;
            the right and bottom borders only when ``update`` is given the image size)
            updates the box filter at the predicted side when that lies beyond the border,
            else at the border: the person's box goes on past the edge.
        cut_box_cue_weight: the cues beyond the overlap (heading, joints, 3D pose, 3D root)
            of a pair whose detection is cut by the image border (a side within
            ``EDGE_MARGIN_PX`` of it) are multiplied by this: a cut box's centre moves as
            the cut changes, its joints and root belong to a partial body. 1 treats cut
            boxes as any other; 0 matches them on the overlap alone, without the 3D gate.
        appearance_weight: weight of the change of the person's appearance (the distance
            of the detection's descriptor, ``poses.data["appearance"]`` from
            `tracking.appearance`, to the track's moving average, over
            ``appearance_scale``, clipped to 1) in the first and tentative passes; it also
            costs the recovery pass's pairs. 0 ignores appearance (also when the
            detections carry none).
        appearance_scale: descriptor distance at which the appearance cost is full (same
            person frame to frame: median 0.04; nearest neighbour: median 0.11, on the
            tuning clips, `benchmarks/tracking_appearance.py`).
        appearance_smoothing: weight of the past in a track's moving-average descriptor (0
            keeps the latest detection's).
        min_track_confidence: a confirmed track is output only while its confidence (the
            moving average of its detections' scores) is at least this: a thing the model
            scores 0.6-0.8 frame after frame (a window, a pole) is not output, a person
            whose score dips for a few frames (occluded, blurred) is. 0 outputs every
            confirmed track.
        confidence_time_s: time constant of that moving average, in seconds (each matched
            detection weighs ``1 - exp(-dt / confidence_time_s)``, dt the time since the
            track's previous detection).
        restart_drifted_boxes: a track seen in the previous frame whose detection is found
            only by its last observed box (the recovery pass: its predicted box no longer
            overlaps it) restarts its box filter at rest from that observation, so a wrong
            velocity, which a smooth box filter keeps for many frames, is forgotten; False
            keeps the filter's velocity.
        motion_model: the Kalman model of the root; `KalmanFilterXYZ()` when omitted.
        box_model: the Kalman model of the box; `KalmanFilterBox()` when omitted.

    Attributes:
        tracks: the live tracks (`TrackTable`), for inspection; ``update`` owns them.
    """

    def __init__(
        self,
        *,
        high_score_threshold: float = 0.6,
        low_score_threshold: float = 0.1,
        new_track_score: float = 0.7,
        min_hits_to_confirm: int = 2,
        lost_track_buffer_s: float = 1.5,
        occluded_track_buffer_s: float = 3.0,
        min_iou: float = 0.35,
        min_iou_low_score: float = 0.5,
        position_uncertainty_buffer: float = 1.0,
        fuse_score: bool = False,
        direction_weight: float = 0.5,
        direction_lag_s: float = 0.3,
        min_heading_motion: float = 0.1,
        unseen_cost_per_s: float = 0.5,
        keypoint_weight: float = 0.2,
        pose_weight: float = 0.0,
        root_weight: float = 0.3,
        max_distance_m: float = 1.0,
        reliable_depth_std_m: float = 0.3,
        occlusion_coverage: float = 0.5,
        scale_smoothing: float = 0.8,
        edge_aware: bool = False,
        cut_box_cue_weight: float = 0.5,
        appearance_weight: float = 1.0,
        appearance_scale: float = 0.1,
        appearance_smoothing: float = 0.95,
        min_track_confidence: float = 0.7,
        confidence_time_s: float = 3.0,
        restart_drifted_boxes: bool = True,
        motion_model: KalmanFilterXYZ | None = None,
        box_model: KalmanFilterBox | None = None,
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
        if lost_track_buffer_s < 0 or occluded_track_buffer_s < 0 or max_distance_m <= 0:
            raise ValueError("PoseTracker: the track buffers must be >= 0 and max_distance_m > 0")
        unit = ("min_iou", "min_iou_low_score", "occlusion_coverage", "min_track_confidence")
        for name in unit:
            if not 0.0 <= locals()[name] <= 1.0:
                raise ValueError(f"PoseTracker: {name} must be in [0, 1], got {locals()[name]}")
        weights = (
            "direction_weight",
            "keypoint_weight",
            "pose_weight",
            "root_weight",
            "unseen_cost_per_s",
        )
        for name in (
            *weights,
            "position_uncertainty_buffer",
            "direction_lag_s",
            "min_heading_motion",
            "reliable_depth_std_m",
            "cut_box_cue_weight",
            "appearance_weight",
        ):
            if locals()[name] < 0:
                raise ValueError(f"PoseTracker: {name} must be >= 0, got {locals()[name]}")
        if not 0.0 <= scale_smoothing < 1.0:
            raise ValueError(
                f"PoseTracker: scale_smoothing must be in [0, 1), got {scale_smoothing}"
            )
        if not 0.0 <= appearance_smoothing < 1.0 or appearance_scale <= 0:
            raise ValueError(
                "PoseTracker: need appearance_smoothing in [0, 1) and appearance_scale > 0, "
                f"got {appearance_smoothing} and {appearance_scale}"
            )
        if confidence_time_s <= 0:
            raise ValueError(f"PoseTracker: confidence_time_s must be > 0, got {confidence_time_s}")
        self.high_score_threshold = high_score_threshold
        self.low_score_threshold = low_score_threshold
        self.new_track_score = new_track_score
        self.min_hits_to_confirm = min_hits_to_confirm
        self.lost_track_buffer_s = lost_track_buffer_s
        self.occluded_track_buffer_s = occluded_track_buffer_s
        self.min_iou = min_iou
        self.min_iou_low_score = min_iou_low_score
        self.position_uncertainty_buffer = position_uncertainty_buffer
        self.fuse_score = fuse_score
        self.direction_weight = direction_weight
        self.direction_lag_s = direction_lag_s
        self.min_heading_motion = min_heading_motion
        self.unseen_cost_per_s = unseen_cost_per_s
        self.keypoint_weight = keypoint_weight
        self.pose_weight = pose_weight
        self.root_weight = root_weight
        self.max_distance_m = max_distance_m
        self.reliable_depth_std_m = reliable_depth_std_m
        self.occlusion_coverage = occlusion_coverage
        self.scale_smoothing = scale_smoothing
        self.edge_aware = edge_aware
        self.cut_box_cue_weight = cut_box_cue_weight
        self.appearance_weight = appearance_weight
        self.appearance_scale = appearance_scale
        self.appearance_smoothing = appearance_smoothing
        self.min_track_confidence = min_track_confidence
        self.confidence_time_s = confidence_time_s
        self.restart_drifted_boxes = restart_drifted_boxes
        self.motion_model = motion_model if motion_model is not None else KalmanFilterXYZ()
        self.box_model = box_model if box_model is not None else KalmanFilterBox()
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 1, ready for the next video."""
        self.tracks = TrackTable.empty()
        self._next_id = 1
        self._next_key = -1  # the next provisional key (`TrackedFrame`), counting down
        self._last_timestamp_s: float | None = None
        self._frame_step_s = 0.0
        self._image_size: tuple[int, int] | None = None
        # (T, 4) predicted boxes and (T, 2) buffers of every track, computed once a frame
        # for the association passes (``_buffered_boxes``); None when the boxes changed.
        self._frame_boxes: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def ids_issued(self) -> int:
        """How many track ids (confirmed tracks) this tracker has made since the last reset."""
        return self._next_id - 1

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this tracker is: the track table's
        columns (Kalman states, ages, ids, cues) as numpy arrays, the next id and the
        latest timestamp. Plain arrays and numbers, so it can be stored with ``np.savez``
        or in Parquet key-value metadata."""
        state: dict[str, Any] = {
            f"tracks.{f.name}": getattr(self.tracks, f.name).copy() for f in fields(TrackTable)
        }
        state["next_id"] = self._next_id
        state["next_key"] = self._next_key
        last = self._last_timestamp_s
        state["last_timestamp_s"] = np.nan if last is None else last
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict()`` (of a tracker with the same parameters)."""
        names = [f.name for f in fields(TrackTable)]
        state = dict(state)
        if "tracks.appearance" not in state and "tracks.ids" in state:  # saved before it
            count = len(state["tracks.ids"])
            state["tracks.appearance"] = np.full((count, DESCRIPTOR_SIZE), np.nan)
        if "tracks.confidence" not in state and "tracks.ids" in state:  # saved before it
            state["tracks.confidence"] = np.ones(len(state["tracks.ids"]))  # as output then
        missing = [n for n in names if f"tracks.{n}" not in state]
        if missing or "next_id" not in state:
            raise ValueError(f"PoseTracker.load_state_dict: missing {missing or ['next_id']}")
        columns = {n: np.array(state[f"tracks.{n}"]) for n in names}
        for name in ("box_covariance", "observed_box_covariance", "covariance"):
            if columns[name].ndim == 3 and columns[name].shape[1] != 3:  # (T, 2D, 2D) matrices
                columns[name] = cv_blocks.blocks(columns[name])  # saved before the blocks
        self.tracks = TrackTable(**columns)
        self._next_id = int(state["next_id"])
        if "next_key" in state:
            self._next_key = int(state["next_key"])
        else:  # saved before provisional keys: every unnamed track's id was -1
            unnamed = (self.tracks.ids < 0).nonzero()[0]
            self.tracks.ids[unnamed] = -1 - np.arange(len(unnamed))
            self._next_key = -1 - len(unnamed)
        last = state.get("last_timestamp_s")
        self._last_timestamp_s = None if last is None or np.isnan(last) else float(last)
        self._frame_boxes = None

    def update(
        self, poses: Poses, timestamp_s: float, image_size: tuple[int, int] | None = None
    ) -> Poses:
        """Track one frame; returns its detections that belong to output tracks (confirmed
        and confident).

        The returned rows keep the input order and carry ``track_id``, ``data["root_filtered"]``
        (N, 3) metres, ``data["velocity"]`` (N, 3) m/s (NaN rows for tracks without a known
        root) and, when the input has ``data["scale"]``, ``data["scale_smoothed"]`` (N,).
        The input is not modified. Raises ValueError if ``timestamp_s`` goes back in time.
        ``image_size`` (height, width) in pixels, when given, clips the predicted boxes to
        the image as the detector clips its boxes, so a person leaving the view still
        overlaps their cut detection.
        """
        return self._update(poses, timestamp_s, image_size, unnamed=False)[0]

    def track(
        self, poses: Poses, timestamp_s: float, image_size: tuple[int, int] | None = None
    ) -> TrackedFrame:
        """`update`, with the detections of the tracks not output yet and the tracks named
        this frame (`TrackedFrame`)."""
        people, waiting, named = self._update(poses, timestamp_s, image_size, unnamed=True)
        assert waiting is not None
        return TrackedFrame(people, waiting, named)

    def _update(
        self,
        poses: Poses,
        timestamp_s: float,
        image_size: tuple[int, int] | None,
        unnamed: bool,
    ) -> tuple[Poses, Poses | None, dict[int, int]]:
        """(output, with ``unnamed`` the detections of tracks with no id yet, keys named)."""
        self._image_size = image_size
        self._match_joint_count(poses.kp2d.shape[1])
        self._predict(timestamp_s)
        high, low = self._split_by_score(poses.scores)
        det = self._detections(poses)
        confirmed = (self.tracks.states != _TENTATIVE).nonzero()[0]
        first = self._associate(confirmed, high, det, timestamp_s)
        left = first.unmatched_track_rows
        seen_last_frame = left[self.tracks.states[left] == _CONFIRMED]
        second = self._associate_by_iou(seen_last_frame, low, det, "predicted")
        taken = np.zeros(len(self.tracks), bool)
        taken[second.track_rows] = True
        left = left[~taken[left]]
        recovered = self._associate_by_iou(left, first.unmatched_det_indices, det)
        if self.restart_drifted_boxes:
            self._restart_drifted(recovered.track_rows, timestamp_s)
        tentative = (self.tracks.states == _TENTATIVE).nonzero()[0]
        unconfirmed = self._associate(tentative, recovered.unmatched_det_indices, det, timestamp_s)
        passes = (first, second, recovered, unconfirmed)
        track_rows = np.concatenate([m.track_rows for m in passes])
        det_indices = np.concatenate([m.det_indices for m in passes])
        self._correct(track_rows, det_indices, det, timestamp_s)
        starting = unconfirmed.unmatched_det_indices
        starting = starting[poses.scores[starting] >= self.new_track_score]
        new_rows = self._start_tracks(starting, poses, timestamp_s, det.appearance)
        track_rows = np.concatenate([track_rows, new_rows])
        det_indices = np.concatenate([det_indices, starting])
        shown = self._shown(track_rows)  # (K,) the matched tracks that are output
        named = self._assign_ids(track_rows[shown])
        output = self._output(poses, track_rows[shown], det_indices[shown])
        waiting = None
        if unnamed:
            hidden = ~shown & (self.tracks.ids[track_rows] < 0)  # (K,) no id yet
            waiting = self._output(poses, track_rows[hidden], det_indices[hidden])
        self._age_unmatched(track_rows, timestamp_s)
        return output, waiting, named

    def _match_joint_count(self, num_joints: int) -> None:
        """Size the pose columns for ``num_joints`` joints while there are no tracks."""
        if self.tracks.keypoints.shape[1] == 2 * num_joints:
            return
        if len(self.tracks):
            raise ValueError(
                f"PoseTracker.update: {num_joints} joints per person, the tracks have "
                f"{self.tracks.keypoints.shape[1] // 2}; call reset() before a new model"
            )
        self.tracks = TrackTable.empty(num_joints)

    def _predict(self, timestamp_s: float) -> None:
        """Move every track's box, and root where known, to ``timestamp_s``."""
        if self._last_timestamp_s is not None and timestamp_s < self._last_timestamp_s:
            raise ValueError(
                f"PoseTracker.update: timestamp {timestamp_s} s is before the previous one "
                f"({self._last_timestamp_s} s); call reset() before a new video"
            )
        dt = 0.0 if self._last_timestamp_s is None else timestamp_s - self._last_timestamp_s
        self._last_timestamp_s = timestamp_s
        self._frame_step_s = dt  # a track seen in the previous frame is this long unseen
        self._frame_boxes = None  # the boxes move
        tracks = self.tracks
        if dt <= 0 or not len(tracks):
            return
        tracks.box_mean, tracks.box_covariance = self.box_model.predict(
            tracks.box_mean, tracks.box_covariance, dt
        )
        if tracks.has_root.all():  # the usual case: no gather and scatter
            tracks.mean, tracks.covariance = self.motion_model.predict(
                tracks.mean, tracks.covariance, dt
            )
            return
        rows = tracks.has_root.nonzero()[0]
        if len(rows):
            tracks.mean[rows], tracks.covariance[rows] = self.motion_model.predict(
                tracks.mean[rows], tracks.covariance[rows], dt
            )

    def _split_by_score(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the high-score detections and of the low-score ones (others ignored)."""
        high = scores >= self.high_score_threshold
        low = (scores >= self.low_score_threshold) & ~high
        return high.nonzero()[0], low.nonzero()[0]

    def _associate(
        self, track_rows: np.ndarray, det_indices: np.ndarray, det: _Detections, timestamp_s: float
    ) -> _Matches:
        """First pass: every cue, gated on the predicted box's IoU (and the 3D gate)."""
        if not len(track_rows) or not len(det_indices):
            return _Matches(_NONE, _NONE, track_rows, det_indices)
        tracks = self.tracks
        det_boxes = det.boxes[det_indices]  # (N, 4)
        # Every other cue only for the K pairs the overlap allows (one or two per track).
        r, c, iou = self._buffered_overlaps(track_rows, det_boxes, self.min_iou)  # (K,) each
        rows, dets = track_rows[r], det_indices[c]
        unseen_s = timestamp_s - tracks.last_seen_s[rows]  # (K,) 0 if seen last frame
        scores = det.scores[dets]  # (K,)
        overlap = iou * scores if self.fuse_score else iou  # BoT-SORT's fusion
        cost = 1.0 - overlap + self.unseen_cost_per_s * (unseen_s - self._frame_step_s)  # (K,)
        # (K,) weight of the cues beyond the overlap: ``cut_box_cue_weight`` for a detection
        # cut by the image border (its centre, joints and root belong to a partial body).
        cut = det.cut[dets]  # (K,)
        factor = np.where(cut, self.cut_box_cue_weight, 1.0) if cut.any() else None
        if self.direction_weight > 0:
            origins, headings = self._headings(rows)  # (K, 2) each
            centres = det.xywh[dets, :2]
            angle = direction_cost(origins, headings, centres)
            cost += _scaled(self.direction_weight * angle * scores, factor)
        if self.keypoint_weight > 0 and tracks.keypoints.shape[1]:
            distance = descriptor_distance(tracks.keypoints[rows], det.keypoints[dets], 2)
            cost += _scaled(self.keypoint_weight * distance, factor)
        if self.pose_weight > 0 and tracks.pose.shape[1]:
            det_pose = _flat_finite(det.poses.kp3d_rel[dets])
            distance = descriptor_distance(tracks.pose[rows], det_pose, 3)
            cost += _scaled(self.pose_weight * distance, factor)
        if self.root_weight > 0:
            distance, reliable = self._reliable_root_distance(rows, dets, det)
            if factor is not None:
                reliable &= factor > 0  # a cut box whose cues are off has no 3D gate either
            term = np.where(reliable, self.root_weight * distance / self.max_distance_m, 0.0)
            cost += _scaled(term, factor)
            near = ~(reliable & (distance > self.max_distance_m))  # (K,) inside the 3D gate
            r, c, cost, rows, dets = r[near], c[near], cost[near], rows[near], dets[near]
            if factor is not None:
                factor = factor[near]
        if det.appearance is not None:
            cost += _scaled(self._appearance_cost(rows, dets, det), factor)
        return self._assign_pairs(r, c, cost, track_rows, det_indices)

    def _appearance_cost(
        self, track_rows: np.ndarray, det_indices: np.ndarray, det: _Detections
    ) -> np.ndarray:
        """(K,) ``appearance_weight`` times the descriptor distance of K track-detection
        pairs over ``appearance_scale``, clipped to 1; 0 where either has no descriptor."""
        distance = appearance_distance(
            self.tracks.appearance[track_rows], det.appearance[det_indices]
        )
        return self.appearance_weight * _zero_nan(np.minimum(distance / self.appearance_scale, 1))

    def _associate_by_iou(
        self,
        track_rows: np.ndarray,
        det_indices: np.ndarray,
        det: _Detections,
        track_box: str = "observed",
    ) -> _Matches:
        """Second and recovery passes: ``1 - IoU`` alone with the tracks' predicted boxes
        (low-score detections, gate ``min_iou_low_score``) or their last observed boxes
        (gate ``min_iou``)."""
        if not len(track_rows) or not len(det_indices):
            return _Matches(_NONE, _NONE, track_rows, det_indices)
        if track_box == "predicted":
            det_boxes = det.boxes[det_indices]  # (N, 4)
            r, c, iou = self._buffered_overlaps(track_rows, det_boxes, self.min_iou_low_score)
            return self._assign_pairs(r, c, 1.0 - iou, track_rows, det_indices)
        iou = box_iou_matrix(self.tracks.boxes[track_rows], det.boxes[det_indices])
        cost = 1.0 - iou  # (M, N)
        if det.appearance is not None:
            r, c = (iou >= self.min_iou).nonzero()
            cost[r, c] += self._appearance_cost(track_rows[r], det_indices[c], det)
        return self._assign(cost, iou < self.min_iou, track_rows, det_indices)

    def _predicted_boxes(self, track_rows: np.ndarray) -> np.ndarray:
        """(M, 4) predicted corner boxes of the tracks, clipped to the image when known."""
        boxes = xywh_to_corners(self.tracks.box_mean[track_rows])
        if self._image_size is not None:
            height, width = self._image_size
            boxes = np.minimum(np.maximum(boxes, 0.0), [width, height, width, height])
        return boxes

    def _buffered_iou(self, track_rows: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
        """(M, N) IoU of the predicted boxes and the (N, 4) detections, both widened on each
        side by ``position_uncertainty_buffer`` standard deviations of the track's predicted
        centre (C-BIoU's buffered IoU, the buffer sized by the filter: wide for a new track
        whose speed is unknown or one lost a while, about nothing for a steady track)."""
        rows, cols = np.divmod(np.arange(len(track_rows) * len(det_boxes)), len(det_boxes))
        predicted, buffer = self._buffered_boxes(track_rows)
        iou = _buffered_pair_iou(predicted[rows], det_boxes[cols], buffer[rows])
        return iou.reshape(len(track_rows), len(det_boxes))

    def _buffered_boxes(self, track_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 4) predicted boxes of the tracks and (M, 2) twice their buffer on x and y
        (``position_uncertainty_buffer`` standard deviations of the predicted cx and cy);
        computed for every track once until the boxes change, then gathered."""
        if self._frame_boxes is None:
            everyone = np.arange(len(self.tracks))
            std = np.sqrt(self.tracks.box_covariance[:, 0, :2])  # (T, 2) of cx, cy
            buffer = 2.0 * self.position_uncertainty_buffer * std
            self._frame_boxes = (self._predicted_boxes(everyone), buffer)
        boxes, buffer = self._frame_boxes
        return boxes[track_rows], buffer[track_rows]

    def _buffered_overlaps(
        self, track_rows: np.ndarray, det_boxes: np.ndarray, min_iou: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The K pairs of M tracks and N (N, 4) detections whose buffered IoU (as
        ``_buffered_iou``) is at least ``min_iou``: (K,) positions in ``track_rows``, (K,)
        in ``det_boxes`` (row-major order), (K,) their IoU. Only the pairs whose buffered
        boxes overlap on both axes (a cheap M x N test) get their IoU computed."""
        predicted, buffer = self._buffered_boxes(track_rows)  # (M, 4), (M, 2)
        if min_iou > 0:  # a pair reaching min_iou overlaps on both axes
            p, d = predicted.T, det_boxes.T  # (4, M), (4, N)
            # x on every pair (M x N), then y only on the pairs that overlap across.
            across = (
                np.minimum(p[2][:, None], d[2]) - np.maximum(p[0][:, None], d[0])
                + buffer[:, 0:1]
                > 0
            )  # fmt: skip
            rows, cols = across.nonzero()  # (K'',) each, row-major
            down = (
                np.minimum(p[3, rows], d[3, cols]) - np.maximum(p[1, rows], d[1, cols])
                + buffer[rows, 1]
                > 0
            )  # fmt: skip
            rows, cols = rows[down], cols[down]  # (K',) each
        else:
            rows, cols = np.divmod(np.arange(len(track_rows) * len(det_boxes)), len(det_boxes))
        iou = _buffered_pair_iou(predicted[rows], det_boxes[cols], buffer[rows])  # (K',)
        keep = ~(iou < min_iou)
        return rows[keep], cols[keep], iou[keep]

    @staticmethod
    def _assign_pairs(
        r: np.ndarray,
        c: np.ndarray,
        cost: np.ndarray,
        track_rows: np.ndarray,
        det_indices: np.ndarray,
    ) -> _Matches:
        """Matches from the K possible pairs (positions ``r`` in ``track_rows``, ``c`` in
        ``det_indices``, row-major) and their (K,) costs."""
        assignment = pair_assignment(r, c, cost, (len(track_rows), len(det_indices)))
        return _Matches(
            track_rows=track_rows[assignment.matches[:, 0]],
            det_indices=det_indices[assignment.matches[:, 1]],
            unmatched_track_rows=track_rows[assignment.unmatched_rows],
            unmatched_det_indices=det_indices[assignment.unmatched_cols],
        )

    @staticmethod
    def _assign(
        cost: np.ndarray, gated: np.ndarray, track_rows: np.ndarray, det_indices: np.ndarray
    ) -> _Matches:
        assignment = gated_assignment(cost, gated)
        return _Matches(
            track_rows=track_rows[assignment.matches[:, 0]],
            det_indices=det_indices[assignment.matches[:, 1]],
            unmatched_track_rows=track_rows[assignment.unmatched_rows],
            unmatched_det_indices=det_indices[assignment.unmatched_cols],
        )

    def _headings(self, track_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 2) older observed centres and (M, 2) unit headings from there to the latest
        observation (zero where the track moved less than ``min_heading_motion``)."""
        tracks = self.tracks
        times = tracks.history_s[track_rows]  # (M, H)
        latest = tracks.history_centres[track_rows, -1]  # (M, 2)
        old_enough = times <= times[:, -1:] - self.direction_lag_s + 1e-6
        # The newest observation at least the lag old, else the oldest one kept.
        newest_old = HISTORY_LENGTH - 1 - np.argmax(old_enough[:, ::-1], axis=1)
        oldest = np.argmax(np.isfinite(times), axis=1)
        pick = np.where(old_enough.any(axis=1), newest_old, oldest)
        origins = tracks.history_centres[track_rows, pick]  # (M, 2)
        motion = latest - origins
        length = np.sqrt(np.einsum("kd,kd->k", motion, motion))[:, None]  # (M, 1)
        heights = np.maximum(tracks.boxes[track_rows, 3:4] - tracks.boxes[track_rows, 1:2], 1.0)
        moving = length >= self.min_heading_motion * heights
        # Finite by construction (a NaN motion is not ``moving``), so no NaN clean-up.
        return origins, np.where(moving, motion / np.maximum(length, 1e-9), 0.0)

    def _reliable_root_distance(
        self, track_rows: np.ndarray, det_indices: np.ndarray, det: _Detections
    ) -> tuple[np.ndarray, np.ndarray]:
        """(K,) root distances (depth discounted) of K track-detection pairs, and (K,) where
        both roots are reliable."""
        tracks = self.tracks
        has_root = tracks.has_root[track_rows]
        track_roots = np.where(has_root[:, None], tracks.mean[track_rows, :3], np.nan)
        distance = root_distance(track_roots, det.roots[det_indices], det.depth_weight[det_indices])
        return _zero_nan(distance), det.reliable_root[det_indices] & has_root

    def _detections(self, poses: Poses) -> _Detections:
        """The frame's detections with the per-detection cues computed once."""
        boxes = poses.boxes.astype(np.float64)  # (N, 4)
        roots = poses.root.astype(np.float64)  # (N, 3)
        std = self.motion_model.measurement_std(_zero_nan(roots))  # (N, 3)
        xywh = corners_to_xywh(boxes)  # (N, 4)
        appearance = poses.data.get(APPEARANCE) if self.appearance_weight > 0 else None
        if appearance is not None:
            appearance = np.asarray(appearance, np.float64)
            if appearance.shape != (len(poses), DESCRIPTOR_SIZE):
                raise ValueError(
                    f"PoseTracker.update: poses.data[{APPEARANCE!r}] has shape "
                    f"{appearance.shape}, expected ({len(poses)}, {DESCRIPTOR_SIZE})"
                )
        return _Detections(
            poses=poses,
            boxes=boxes,
            xywh=xywh,
            scores=poses.scores.astype(np.float64),
            keypoints=_box_relative_keypoints(poses.kp2d, boxes, xywh),
            roots=roots,
            depth_weight=std[:, 0] / std[:, 2],
            reliable_root=np.isfinite(roots).all(axis=1) & (std[:, 2] <= self.reliable_depth_std_m),
            cut=self._cut_by_border(boxes),
            known_root=~np.isnan(roots).any(axis=1),
            appearance=appearance,
        )

    def _cut_by_border(self, boxes: np.ndarray) -> np.ndarray:
        """(N,) whether each (N, 4) corner box has a side on the image border."""
        cut = boxes[:, :2].min(axis=1) <= EDGE_MARGIN_PX
        if self._image_size is not None:
            height, width = self._image_size
            cut |= (boxes[:, 2] >= width - EDGE_MARGIN_PX) | (
                boxes[:, 3] >= height - EDGE_MARGIN_PX
            )
        return cut

    def _correct(
        self, track_rows: np.ndarray, det_indices: np.ndarray, det: _Detections, timestamp_s: float
    ) -> None:
        """Feed the matched detections to their tracks: box filter (re-updated from the last
        observation after a gap), history, pose cues, hits, state, root, scale."""
        tracks = self.tracks
        poses = det.poses
        self._frame_boxes = None  # the matched tracks' boxes change
        boxes = det.boxes[det_indices]  # (K, 4)
        uncut = self._uncut_boxes(track_rows, boxes)  # (K, 4) sides on the border extended
        if uncut is boxes:  # nothing moved: the frame's box cues hold
            uncut_xywh, keypoints = det.xywh[det_indices], det.keypoints[det_indices]
        else:
            uncut_xywh = corners_to_xywh(uncut)
            keypoints = _box_relative_keypoints(poses.kp2d[det_indices], uncut)
        self._reupdate_after_gap(track_rows, uncut, timestamp_s)
        mean, covariance = self.box_model.update(
            tracks.box_mean[track_rows], tracks.box_covariance[track_rows], uncut
        )
        tracks.box_mean[track_rows] = tracks.observed_box_mean[track_rows] = mean
        tracks.box_covariance[track_rows] = tracks.observed_box_covariance[track_rows] = covariance
        tracks.history_centres[track_rows] = np.concatenate(
            [tracks.history_centres[track_rows, 1:], uncut_xywh[:, None, :2]], axis=1
        )
        tracks.history_s[track_rows] = np.concatenate(
            [tracks.history_s[track_rows, 1:], np.full((len(track_rows), 1), timestamp_s)], axis=1
        )
        tracks.keypoints[track_rows] = keypoints
        tracks.pose[track_rows] = _flat_finite(poses.kp3d_rel[det_indices])
        tracks.boxes[track_rows] = boxes
        tracks.hits[track_rows] += 1
        tracks.confidence[track_rows] = self._smooth_confidence(
            tracks.confidence[track_rows],
            det.scores[det_indices],
            timestamp_s - tracks.last_seen_s[track_rows],
        )
        tracks.last_seen_s[track_rows] = timestamp_s
        confirmed = (tracks.states[track_rows] != _TENTATIVE) | (
            tracks.hits[track_rows] >= self.min_hits_to_confirm
        )
        tracks.states[track_rows] = np.where(confirmed, _CONFIRMED, _TENTATIVE)
        self._correct_roots(track_rows, det.roots[det_indices], det.known_root[det_indices])
        if "scale" in poses.data:
            tracks.scale[track_rows] = self._smooth_scale(
                tracks.scale[track_rows], poses.data["scale"][det_indices]
            )
        if det.appearance is not None:
            tracks.appearance[track_rows] = self._smooth_appearance(
                tracks.appearance[track_rows], det.appearance[det_indices]
            )

    def _smooth_appearance(self, previous: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """(K, D) moving averages of the descriptors; a track without one takes the
        measured; a NaN measurement leaves the average unchanged."""
        blended = self.appearance_smoothing * previous + (1 - self.appearance_smoothing) * measured
        if not np.isnan(blended).any():  # the usual case: both known (one check, no wheres)
            return blended
        return np.where(
            np.isnan(measured), previous, np.where(np.isnan(previous), measured, blended)
        )

    def _uncut_boxes(self, track_rows: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(K, 4) detected corner boxes with each side that lies on the image border moved to
        the track's predicted side when that is beyond the border (a cut box keeps the
        predicted extent on its cut side; its uncut sides are measured as detected)."""
        if not self.edge_aware or not len(boxes):
            return boxes
        predicted = xywh_to_corners(self.tracks.box_mean[track_rows])  # (K, 4) unclipped
        # A box squeezed onto the border on both sides of an axis has nothing left to
        # measure there; only a side whose opposite side is off that border is cut.
        low = (boxes[:, :2] <= EDGE_MARGIN_PX) & (boxes[:, 2:] > 2 * EDGE_MARGIN_PX)  # (K, 2)
        uncut = boxes.copy()
        uncut[:, :2] = np.where(low, np.minimum(predicted[:, :2], boxes[:, :2]), boxes[:, :2])
        if self._image_size is not None:
            height, width = self._image_size
            limit = np.array([width, height], np.float64) - EDGE_MARGIN_PX
            high = (boxes[:, 2:] >= limit) & (boxes[:, :2] < limit - EDGE_MARGIN_PX)  # (K, 2)
            uncut[:, 2:] = np.where(high, np.maximum(predicted[:, 2:], boxes[:, 2:]), boxes[:, 2:])
        return uncut

    def _restart_drifted(self, track_rows: np.ndarray, timestamp_s: float) -> None:
        """The tracks at ``track_rows`` that were seen in the previous frame (matched by
        their last observed box: their prediction drifted off) restart their box filter
        at rest from that observation, predicted to ``timestamp_s``."""
        tracks = self.tracks
        seen = track_rows[tracks.states[track_rows] == _CONFIRMED]  # matched last frame
        if not len(seen):
            return
        mean, covariance = self.box_model.initiate(tracks.boxes[seen])
        dt = timestamp_s - tracks.last_seen_s[seen]  # (R,)
        mean, covariance = self.box_model.predict(mean, covariance, dt)
        tracks.box_mean[seen], tracks.box_covariance[seen] = mean, covariance
        self._frame_boxes = None

    def _reupdate_after_gap(
        self, track_rows: np.ndarray, boxes: np.ndarray, timestamp_s: float
    ) -> None:
        """OC-SORT's observation-centric re-update: a track found again after missed frames
        restarts from its filter state at the last observation and is stepped frame by
        frame over the gap, updated at each missed frame with a virtual box on the straight
        line from the last observed box to the new one; the new box itself is the update
        that follows. The drift of the blind predictions is forgotten and the velocity
        becomes that of the line."""
        tracks = self.tracks
        lost = tracks.states[track_rows] == _LOST
        returning, new_boxes = track_rows[lost], boxes[lost]
        if not len(returning):
            return
        gap = np.maximum(timestamp_s - tracks.last_seen_s[returning], 1e-6)  # (R,)
        frame_step = self._frame_step_s if self._frame_step_s > 0 else gap.min()
        steps = np.maximum(np.rint(gap / frame_step), 1).astype(np.int64)  # (R,) frames
        mean = tracks.observed_box_mean[returning]  # (R, 8) copies: fancy indexing
        covariance = tracks.observed_box_covariance[returning]
        start = tracks.boxes[returning]  # (R, 4) last observed corners
        frame_dt = gap / steps  # (R,) the step of each track's missed frames
        if (steps == steps[0]).all() and (frame_dt == frame_dt[0]).all():
            # The usual case (everyone missed the same frames): one step for all, no gathers.
            count, dt = int(steps[0]), float(frame_dt[0])
            for step in range(1, count):
                mean, covariance = self.box_model.predict(mean, covariance, dt)
                line = start + (step / count) * (new_boxes - start)
                mean, covariance = self.box_model.update(mean, covariance, line)
            mean, covariance = self.box_model.predict(mean, covariance, dt)
            tracks.box_mean[returning], tracks.box_covariance[returning] = mean, covariance
            return
        for step in range(1, int(steps.max()) + 1):
            rows = (steps >= step).nonzero()[0]
            everyone = len(rows) == len(steps)  # then no gather and scatter
            if everyone:
                mean, covariance = self.box_model.predict(mean, covariance, frame_dt)
            else:
                mean[rows], covariance[rows] = self.box_model.predict(
                    mean[rows], covariance[rows], frame_dt[rows]
                )
            virtual = rows[step < steps[rows]]  # the missed frames, not the new one
            if not len(virtual):
                continue
            fraction = (step / steps[virtual])[:, None]
            line = start[virtual] + fraction * (new_boxes[virtual] - start[virtual])
            if len(virtual) == len(steps):
                mean, covariance = self.box_model.update(mean, covariance, line)
            else:
                mean[virtual], covariance[virtual] = self.box_model.update(
                    mean[virtual], covariance[virtual], line
                )
        tracks.box_mean[returning], tracks.box_covariance[returning] = mean, covariance

    def _correct_roots(self, track_rows: np.ndarray, roots: np.ndarray, known: np.ndarray) -> None:
        """Kalman-update tracks with a root (``known``: (K,) no NaN in the (K, 3) ``roots``),
        start the filter of tracks seeing their first."""
        tracks = self.tracks
        has_root = tracks.has_root[track_rows]
        update = known & has_root
        rows = track_rows[update]
        if len(rows):
            tracks.mean[rows], tracks.covariance[rows] = self.motion_model.update(
                tracks.mean[rows], tracks.covariance[rows], roots[update]
            )
        start = known & ~has_root
        if start.any():
            rows = track_rows[start]
            tracks.mean[rows], tracks.covariance[rows] = self.motion_model.initiate(roots[start])
            tracks.has_root[rows] = True

    def _smooth_confidence(
        self, previous: np.ndarray, scores: np.ndarray, elapsed_s: np.ndarray
    ) -> np.ndarray:
        """(K,) confidences after K tracks' new detections (``scores``), ``elapsed_s`` (K,)
        after their previous ones: an exponential moving average in time."""
        weight = np.exp(-elapsed_s / self.confidence_time_s)  # (K,) of the past
        return weight * previous + (1.0 - weight) * scores

    def _smooth_scale(self, previous: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Exponential average of body scale; NaN measurements leave it unchanged."""
        measured = np.asarray(measured, dtype=np.float64)
        blended = self.scale_smoothing * previous + (1.0 - self.scale_smoothing) * measured
        return np.where(
            np.isnan(measured), previous, np.where(np.isnan(previous), measured, blended)
        )

    def _start_tracks(
        self,
        det_indices: np.ndarray,
        poses: Poses,
        timestamp_s: float,
        appearance: np.ndarray | None = None,
    ) -> np.ndarray:
        """Append a track per detection (``appearance``: the frame's (N, D) descriptors, or
        None); returns their rows in the table."""
        count = len(det_indices)
        if count == 0:
            return np.zeros(0, np.int64)
        boxes = poses.boxes[det_indices].astype(np.float64)
        roots = poses.root[det_indices].astype(np.float64)
        known = ~np.isnan(roots).any(axis=1)
        mean, covariance = self.motion_model.initiate(np.where(known[:, None], roots, 0.0))
        box_mean, box_covariance = self.box_model.initiate(boxes)
        history_centres = np.full((count, HISTORY_LENGTH, 2), np.nan)
        history_centres[:, -1] = box_mean[:, :2]
        history_s = np.full((count, HISTORY_LENGTH), np.nan)
        history_s[:, -1] = timestamp_s
        scale = (
            np.asarray(poses.data["scale"][det_indices], dtype=np.float64)
            if "scale" in poses.data
            else np.full(count, np.nan)
        )
        state = _CONFIRMED if self.min_hits_to_confirm <= 1 else _TENTATIVE
        keys = np.arange(self._next_key, self._next_key - count, -1, dtype=np.int64)
        self._next_key -= count
        new = TrackTable(
            ids=keys,
            states=np.full(count, state, np.int8),
            hits=np.ones(count, np.int64),
            last_seen_s=np.full(count, timestamp_s, np.float64),
            boxes=boxes,
            box_mean=box_mean,
            box_covariance=box_covariance,
            observed_box_mean=box_mean.copy(),
            observed_box_covariance=box_covariance.copy(),
            history_centres=history_centres,
            history_s=history_s,
            keypoints=_box_relative_keypoints(poses.kp2d[det_indices], boxes),
            pose=_flat_finite(poses.kp3d_rel[det_indices]),
            has_root=known,
            mean=mean,
            covariance=covariance,
            scale=scale,
            appearance=(
                np.full((count, DESCRIPTOR_SIZE), np.nan)
                if appearance is None
                else appearance[det_indices]
            ),
            confidence=poses.scores[det_indices].astype(np.float64),
        )
        first_row = len(self.tracks)
        self.tracks = self.tracks.append(new)
        return np.arange(first_row, first_row + count)

    def _assign_ids(self, shown_rows: np.ndarray) -> dict[int, int]:
        """Give the next ids, in row order, to the tracks among ``shown_rows`` (output this
        frame, `_shown`) that have none yet: output for the first time. Returns their
        provisional keys -> ids."""
        tracks = self.tracks
        rows = np.sort(shown_rows[tracks.ids[shown_rows] < 0])
        if not len(rows):
            return {}
        keys = tracks.ids[rows].tolist()
        tracks.ids[rows] = np.arange(self._next_id, self._next_id + len(rows))
        self._next_id += len(rows)
        return dict(zip(keys, tracks.ids[rows].tolist(), strict=True))

    def _output(self, poses: Poses, shown_rows: np.ndarray, det_indices: np.ndarray) -> Poses:
        """The detections ``det_indices`` of the tracks at ``shown_rows`` (`_shown`), in
        input order, with their track's estimates."""
        tracks = self.tracks
        pick = np.argsort(det_indices, kind="stable")  # in input order
        rows, dets = shown_rows[pick], det_indices[pick]
        out = poses.take(dets)
        out.track_id = tracks.ids[rows].copy()
        mean = np.where(tracks.has_root[rows, None], tracks.mean[rows], np.nan)  # (N, 6)
        out.data["root_filtered"] = mean[:, :3].astype(np.float32)
        out.data["velocity"] = mean[:, 3:].astype(np.float32)
        if "scale" in poses.data:
            out.data["scale_smoothed"] = tracks.scale[rows].astype(np.float32)
        return out

    def _shown(self, track_rows: np.ndarray) -> np.ndarray:
        """(K,) bool: the tracks at ``track_rows`` are output (confirmed, and confident)."""
        tracks = self.tracks
        confirmed = tracks.states[track_rows] == _CONFIRMED
        return confirmed & (tracks.confidence[track_rows] >= self.min_track_confidence)

    def _age_unmatched(self, matched_rows: np.ndarray, timestamp_s: float) -> None:
        """Unmatched tracks: tentative ones die, confirmed ones turn lost (their box stops
        growing or shrinking), lost ones die after their buffer (longer when occluded)."""
        tracks = self.tracks
        unmatched = np.ones(len(tracks), bool)
        unmatched[matched_rows] = False
        tentative = tracks.states == _TENTATIVE
        lost = unmatched & ~tentative
        tracks.states[lost] = _LOST
        tracks.box_mean[lost, 6:] = 0.0
        unseen_s = timestamp_s - tracks.last_seen_s  # (T,)
        # Only a lost track unseen for longer than one buffer and at most the other lives or
        # dies by being occluded; the occlusion test (boxes of every pair) runs for those.
        shorter, longer = sorted((self.lost_track_buffer_s, self.occluded_track_buffer_s))
        lost_rows = lost.nonzero()[0]
        lost_unseen_s = unseen_s[lost_rows]
        undecided = lost_rows[(lost_unseen_s > shorter) & (lost_unseen_s <= longer)]
        occluded = self._occluded(undecided, matched_rows)
        buffer = np.where(occluded, self.occluded_track_buffer_s, self.lost_track_buffer_s)
        expired = unseen_s > buffer
        dead = unmatched & (tentative | expired)
        if dead.any():
            self.tracks = tracks.select(~dead)

    def _occluded(self, lost_rows: np.ndarray, matched_rows: np.ndarray) -> np.ndarray:
        """(T,) True for the lost tracks whose predicted box a nearer matched person covers
        by at least ``occlusion_coverage`` (nearer: nearer root when both are known, else
        the lower box bottom, as on a ground plane seen from above)."""
        tracks = self.tracks
        occluded = np.zeros(len(tracks), bool)
        if not len(lost_rows) or not len(matched_rows):
            return occluded
        hidden = self._predicted_boxes(lost_rows)  # (L, 4)
        front = tracks.boxes[matched_rows]  # (F, 4)
        top_left = np.maximum(hidden[:, None, :2], front[None, :, :2])
        bottom_right = np.minimum(hidden[:, None, 2:], front[None, :, 2:])
        inter = np.prod(np.maximum(bottom_right - top_left, 0.0), axis=-1)  # (L, F)
        area = np.prod(hidden[:, 2:] - hidden[:, :2], axis=1)[:, None]
        both_3d = tracks.has_root[lost_rows, None] & tracks.has_root[None, matched_rows]
        nearer = np.where(
            both_3d,
            tracks.mean[matched_rows, 2][None, :] < tracks.mean[lost_rows, 2][:, None],
            front[None, :, 3] > hidden[:, None, 3],
        )
        occluded[lost_rows] = (
            (inter / np.maximum(area, 1e-9) >= self.occlusion_coverage) & nearer
        ).any(1)
        return occluded


def _buffered_pair_iou(
    predicted: np.ndarray, det_boxes: np.ndarray, buffer: np.ndarray
) -> np.ndarray:
    """(K,) IoU of K pairs of (K, 4) corner boxes, both boxes of a pair widened by the
    pair's (K, 2) buffer (the total widening of each axis)."""
    p, d = predicted.T, det_boxes.T  # (4, K) each
    buffer_x, buffer_y = buffer[:, 0], buffer[:, 1]  # (K,) each
    # Both boxes grow by the track's buffer, so the overlap of each axis grows by it too.
    inter_w = np.maximum(np.minimum(p[2], d[2]) - np.maximum(p[0], d[0]) + buffer_x, 0.0)
    inter_h = np.maximum(np.minimum(p[3], d[3]) - np.maximum(p[1], d[1]) + buffer_y, 0.0)
    inter = inter_w * inter_h  # (K,)
    area_p = (p[2] - p[0] + buffer_x) * (p[3] - p[1] + buffer_y)
    area_d = (d[2] - d[0] + buffer_x) * (d[3] - d[1] + buffer_y)
    return inter / np.maximum(area_p + area_d - inter, 1e-9)


def _scaled(cost: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """(K,) cost times the (K,) factor of each pair, or the cost itself without one."""
    return cost if factor is None else cost * factor


def _box_relative_keypoints(
    kp2d: np.ndarray, boxes: np.ndarray, xywh: np.ndarray | None = None
) -> np.ndarray:
    """(N, K, 2) joints in pixels, (N, 4) boxes -> (N, 2K) joints relative to the box
    centre in box heights (NaN joints at the centre); ``xywh`` the boxes' (N, 4) centre
    and size when already known."""
    xywh = corners_to_xywh(boxes) if xywh is None else xywh  # (N, 4)
    height = np.maximum(xywh[:, 3], 1.0)[:, None, None]
    relative = (np.asarray(kp2d, np.float64) - xywh[:, None, :2]) / height  # (N, K, 2)
    return _zero_nan(relative).reshape(len(boxes), 2 * relative.shape[1])


def _flat_finite(points: np.ndarray) -> np.ndarray:
    """(N, K, D) -> (N, K*D) float64 with NaN set to 0."""
    points = np.asarray(points, np.float64)
    return _zero_nan(points).reshape(len(points), points.shape[1] * points.shape[2])


def _zero_nan(values: np.ndarray) -> np.ndarray:
    """``values`` with NaN replaced by 0 (``np.nan_to_num`` without its slower checks)."""
    return np.where(np.isnan(values), 0.0, values)
