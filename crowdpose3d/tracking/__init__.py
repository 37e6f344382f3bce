"""Multi-person 3D tracking: Kalman models named by their state, association, the tracker
and the tracking scores (`crowdpose3d.tracking.metrics`)."""

from __future__ import annotations

from crowdpose3d.tracking.association import (
    Assignment,
    association_cost,
    box_iou_matrix,
    linear_assignment,
)
from crowdpose3d.tracking.tracker import PoseTracker, TrackState
from crowdpose3d.tracking.xyz_cv import KalmanFilterXYZ

__all__ = [
    "Assignment",
    "KalmanFilterXYZ",
    "PoseTracker",
    "TrackState",
    "association_cost",
    "box_iou_matrix",
    "linear_assignment",
]
