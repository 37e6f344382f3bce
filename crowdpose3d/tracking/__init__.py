"""Multi-person tracking: Kalman models named by their state (box, 3D root), association
cues, trackers.

``TRACKERS`` maps the name a pipeline config uses to a tracker class; ``build_tracker``
makes one from keyword parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

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

TRACKERS: Mapping[str, type[PoseTracker]] = MappingProxyType({"pose3d": PoseTracker})


def build_tracker(name: str, **params: Any) -> PoseTracker:
    """The tracker registered as ``name``, built with ``params`` as keyword arguments."""
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; choose one of {sorted(TRACKERS)}")
    return TRACKERS[name](**params)


__all__ = [
    "TRACKERS",
    "Assignment",
    "KalmanFilterBox",
    "KalmanFilterXYZ",
    "PoseTracker",
    "TrackState",
    "box_iou_matrix",
    "build_tracker",
    "descriptor_distance",
    "direction_cost",
    "linear_assignment",
    "root_distance",
]
