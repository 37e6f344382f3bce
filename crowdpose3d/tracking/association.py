"""Matching tracks to detections: a gated cost matrix and Hungarian assignment.

The cost mixes a 3D term, the root distance divided by a gate in metres, and a 2D term,
``1 - IoU`` of the boxes. Both lie in [0, 1] for possible pairs, so ``iou_weight`` reads as the
share of the 2D term. A pair whose root is unknown on either side (NaN: the camera is not
lifted) is costed on the 2D term alone. Impossible pairs (beyond the 3D gate, or 2D-only with
too little overlap) get ``GATED_COST`` and are never matched.
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np

from crowdpose3d.geometry.boxes import box_iou_matrix

#: Cost of a pair that must not be matched; far above any possible pair's cost (<= 1).
GATED_COST = 1e6
#: Pairs costing more than this are left unmatched by ``linear_assignment``.
MAX_MATCH_COST = 1.0

__all__ = [
    "GATED_COST",
    "MAX_MATCH_COST",
    "Assignment",
    "association_cost",
    "box_iou_matrix",
    "linear_assignment",
]


def association_cost(
    track_roots: np.ndarray,
    track_boxes: np.ndarray,
    det_roots: np.ndarray,
    det_boxes: np.ndarray,
    *,
    max_distance_m: float,
    iou_weight: float,
    min_iou_without_3d: float,
    depth_weight: np.ndarray | None = None,
) -> np.ndarray:
    """(M, N) cost of giving detection j to track i; ``GATED_COST`` where impossible.

    Args:
        track_roots: (M, 3) predicted track roots in metres, NaN rows when unknown.
        track_boxes: (M, 4) track boxes in pixels.
        det_roots: (N, 3) detected roots in metres, NaN rows when unknown.
        det_boxes: (N, 4) detected boxes in pixels.
        max_distance_m: 3D gate; farther pairs are impossible, nearer ones cost distance / gate.
        iou_weight: share of the ``1 - IoU`` term when both roots are known, in [0, 1].
        min_iou_without_3d: pairs costed on 2D alone need at least this IoU.
        depth_weight: (N,) factor on each detection's depth difference before the distance
            is taken, to discount depth noise (monocular depth is less certain than the
            lateral position); 1 when omitted.
    """
    iou = box_iou_matrix(track_boxes, det_boxes)  # (M, N)
    cost_2d = 1.0 - iou
    diff = np.asarray(track_roots, np.float64)[:, None, :] - np.asarray(det_roots, np.float64)[None]
    if depth_weight is not None:
        diff[..., 2] *= np.asarray(depth_weight, dtype=np.float64)[None, :]  # (M, N, 3)
    distance = np.sqrt(np.einsum("mnk,mnk->mn", diff, diff))  # (M, N), NaN if a root is unknown
    has_3d = ~np.isnan(distance)
    cost_3d = np.where(has_3d, distance, 0.0) / max_distance_m
    cost = np.where(has_3d, (1.0 - iou_weight) * cost_3d + iou_weight * cost_2d, cost_2d)
    gated = np.where(has_3d, cost_3d > 1.0, iou < min_iou_without_3d)
    cost[gated] = GATED_COST
    return cost


@dataclass(frozen=True)
class Assignment:
    """Result of ``linear_assignment``: matched (row, col) pairs and what was left over.

    Attributes:
        matches: (K, 2) int64 rows of (row index, column index).
        unmatched_rows: (M - K,) int64 row indices, ascending.
        unmatched_cols: (N - K,) int64 column indices, ascending.
    """

    matches: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def linear_assignment(cost: np.ndarray, cost_limit: float = MAX_MATCH_COST) -> Assignment:
    """Minimum-cost matching of rows to columns; pairs costing over ``cost_limit`` stay apart."""
    cost = np.asarray(cost, dtype=np.float64)
    num_rows, num_cols = cost.shape
    if num_rows == 0 or num_cols == 0:
        return Assignment(
            np.zeros((0, 2), dtype=np.int64),
            np.arange(num_rows, dtype=np.int64),
            np.arange(num_cols, dtype=np.int64),
        )
    _, col_of_row, _ = lap.lapjv(cost, extend_cost=True, cost_limit=cost_limit)
    col_of_row = np.asarray(col_of_row, dtype=np.int64)
    matched = col_of_row >= 0
    rows = np.flatnonzero(matched)
    matches = np.stack([rows, col_of_row[rows]], axis=1)  # (K, 2)
    col_taken = np.zeros(num_cols, dtype=bool)
    col_taken[matches[:, 1]] = True
    return Assignment(matches, np.flatnonzero(~matched), np.flatnonzero(~col_taken))
