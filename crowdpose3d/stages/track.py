"""The track stage: identities over time (`crowdpose3d.tracking.PoseTracker`): Kalman
filters on each person's 3D root and velocity, Hungarian association on a cost mixing 3D
distance and box overlap, ByteTrack's second pass for low-score detections."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import Field, model_validator

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageParams
from crowdpose3d.poses import Poses
from crowdpose3d.tracking import PoseTracker


class TrackParams(StageParams):
    # Defaults tuned for builtin:crowd-small (stage 3) with benchmarks/tracking_accuracy.py:
    # 0.7 / 3 gave MOTA 0.705 against 0.505 for 0.9 / 5, the defaults of the model before.
    high_score_threshold: float = Field(0.7, ge=0, le=1)  # may start and confirm tracks
    low_score_threshold: float = Field(0.1, ge=0, le=1)  # may only continue confirmed tracks
    min_hits_to_confirm: int = Field(3, ge=1)  # frames in a row before a track is output
    lost_track_buffer_s: float = Field(1.0, ge=0)  # how long a lost track can come back
    max_distance_m: float = Field(1.0, gt=0)  # 3D gate between a prediction and a detection
    iou_weight: float = Field(0.3, ge=0, le=1)  # share of 1 - IoU in the association cost
    min_iou_without_3d: float = Field(0.2, ge=0, le=1)  # gate when a root is unknown
    scale_smoothing: float = Field(0.8, ge=0, lt=1)  # weight of the past in the body scale

    @model_validator(mode="after")
    def _ordered(self) -> TrackParams:
        if self.low_score_threshold > self.high_score_threshold:
            raise ValueError("low_score_threshold must not exceed high_score_threshold")
        return self


class TrackStage(BaseStage):
    """Sets ``poses.track_id`` and keeps only the people of confirmed tracks; adds
    ``root_filtered``, ``velocity`` (m/s) and ``scale_smoothed`` to ``poses.data``."""

    Params = TrackParams

    def __init__(self, params: TrackParams) -> None:
        super().__init__(params)
        self.params: TrackParams = params
        self.tracker = PoseTracker(**params.model_dump())
        self.dropped_non_finite = 0  # people dropped for NaN / infinite model outputs

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report."""
        return {"non_finite_dropped": self.dropped_non_finite}

    def open(self, context: StageContext) -> None:
        super().open(context)
        self.tracker.reset()

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        # After --resume, new ids continue above those already written.
        offset = max(self.context.plan.resume_point.after_track_id, 0)
        for frame in frames:
            if frame.poses is not None:
                poses, dropped = finite_people(frame.poses)
                self.dropped_non_finite += dropped
                frame.poses = self.tracker.update(poses, frame.pts_s)
                if offset:
                    frame.poses.track_id = frame.poses.track_id + offset
            yield frame


def finite_people(poses: Poses) -> tuple[Poses, int]:
    """The people whose box and score are finite and whose outputs hold no infinity (NaN
    3D joints or root only mean "not lifted") -> (them, how many were dropped)."""
    keep = np.isfinite(poses.boxes).all(1) & np.isfinite(poses.scores)  # (N,)
    for values in (poses.kp2d, poses.kp3d_rel, poses.kp3d, poses.root):
        keep &= ~np.isinf(values.reshape(len(poses), -1)).any(1)
    dropped = int(len(poses) - keep.sum())
    return (poses[keep] if dropped else poses), dropped
