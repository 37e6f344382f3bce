"""Multi-person tracking: Kalman models named by their state (box, 3D root), association
cues, the tracker and the tracking scores (`crowdpose3d.tracking.metrics`)."""

from __future__ import annotations

from crowdpose3d.tracking.association import (
    Assignment,
    box_iou_matrix,
    descriptor_distance,
    direction_cost,
    linear_assignment,
    root_distance,
)
from crowdpose3d.tracking.box_cv import KalmanFilterBox
from crowdpose3d.tracking.tracker import PoseTracker, TrackState
from crowdpose3d.tracking.xyz_cv import KalmanFilterXYZ

__all__ = [
    "Assignment",
    "KalmanFilterBox",
    "KalmanFilterXYZ",
    "PoseTracker",
    "TrackState",
    "box_iou_matrix",
    "descriptor_distance",
    "direction_cost",
    "linear_assignment",
    "root_distance",
]
