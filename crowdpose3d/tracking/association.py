"""Matching tracks to detections: the cues of a pair, and Hungarian assignment.

Box overlap is an (M, N) matrix for M tracks and N detections; the other cues are computed
only for the K pairs the overlap leaves possible, as (K,) arrays (a track overlaps one or
two people, so K is about M, not M x N). Each is in [0, 1] (0: a perfect fit), so a
weight reads as the importance of that cue next to ``1 - IoU``:

- ``box_iou_matrix``: overlap of the track's predicted box and the detected box;
- ``direction_cost``: OC-SORT's velocity-direction consistency, the angle between the way
  a track was heading and the way it would have to go to reach the detection;
- ``descriptor_distance``: how much a person's pose changed (2D joints inside the box, or
  the root-relative 3D pose), an RMS distance;
- ``root_distance``: the 3D distance of the roots over a gate in metres (depth discounted).

The tracker sums them; ``GATED_COST`` marks pairs that must never be matched.
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
    "box_iou_matrix",
    "descriptor_distance",
    "direction_cost",
    "gated_assignment",
    "linear_assignment",
    "pair_assignment",
    "root_distance",
]


def direction_cost(
    origins: np.ndarray, track_directions: np.ndarray, det_centres: np.ndarray
) -> np.ndarray:
    """OC-SORT's velocity-direction consistency of K track-detection pairs: (K,) angle / pi
    between each track's unit heading (K, 2) and the direction from its older observation
    ``origins`` (K, 2) to the detection centre (K, 2); 0 for tracks without a heading (NaN
    or zero rows)."""
    to_det = det_centres - origins  # (K, 2)
    to_det /= np.maximum(np.sqrt(np.einsum("kd,kd->k", to_det, to_det)), 1e-9)[:, None]
    cosine = np.minimum(np.maximum(np.einsum("kd,kd->k", to_det, track_directions), -1.0), 1.0)
    has_heading = np.isfinite(track_directions).all(axis=1) & (
        np.abs(track_directions).sum(axis=1) > 0
    )
    return np.where(has_heading, np.arccos(cosine) / np.pi, 0.0)


def descriptor_distance(track_desc: np.ndarray, det_desc: np.ndarray, dims: int) -> np.ndarray:
    """(K, D) and (K, D) flattened joint coordinates of K pairs -> (K,) RMS distance per
    joint, clipped to 1. ``dims`` is the number of coordinates per joint (2 or 3); NaN
    joints must have been zeroed by the caller."""
    num_joints = max(track_desc.shape[1] // dims, 1)
    diff = track_desc - det_desc  # (K, D)
    return np.minimum(np.sqrt(np.einsum("kd,kd->k", diff, diff) / num_joints), 1.0)


def root_distance(
    track_roots: np.ndarray, det_roots: np.ndarray, depth_weight: np.ndarray
) -> np.ndarray:
    """(K, 3) and (K, 3) roots of K pairs in metres -> (K,) distance with the depth
    difference multiplied by ``depth_weight`` (K,) first (monocular depth is less certain
    than the lateral position); NaN where a root is unknown."""
    diff = track_roots - det_roots  # (K, 3)
    diff[:, 2] *= depth_weight
    return np.sqrt(np.einsum("kd,kd->k", diff, diff))


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
    rows = matched.nonzero()[0]
    matches = np.stack([rows, col_of_row[rows]], axis=1)  # (K, 2)
    col_taken = np.zeros(num_cols, dtype=bool)
    col_taken[matches[:, 1]] = True
    return Assignment(matches, (~matched).nonzero()[0], (~col_taken).nonzero()[0])


def gated_assignment(cost: np.ndarray, gated: np.ndarray) -> Assignment:
    """Minimum-cost matching that never uses a ``gated`` pair, for costs far below
    ``GATED_COST``: the most possible pairs, then the least total cost (`pair_assignment`
    on the pairs ``gated`` leaves possible)."""
    rows, cols = (~gated).nonzero()  # (K,) each, row-major
    return pair_assignment(rows, cols, cost[rows, cols], cost.shape)


def pair_assignment(
    rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, shape: tuple[int, int]
) -> Assignment:
    """Minimum-cost matching of an (M, N) problem given by its K possible pairs (``rows``,
    ``cols``: (K,) distinct, row-major order; ``cost``: (K,), far below ``GATED_COST``): the
    most pairs, then the least total cost; pairs not listed are never matched.

    The same matching as ``linear_assignment`` of the dense matrix with ``GATED_COST``
    elsewhere and a limit of ``GATED_COST / 2``, much faster: pairs that are the only
    possibility of their row and of their column are taken at once (most pairs, people
    being apart), and the rest is padded to a square of ``GATED_COST`` and solved by plain
    ``lapjv`` (no extension to M + N rows); the impossible pairs it had to use are dropped.
    A Hungarian solution first minimises how many ``GATED_COST`` pairs it uses, which is
    maximising the possible pairs, exactly as the extended problem does. Everything but
    the solver works on the K pairs, not on M x N matrices.
    """
    num_rows, num_cols = shape
    row_degree = np.bincount(rows, minlength=num_rows)  # (M,) possible pairs of each row
    col_degree = np.bincount(cols, minlength=num_cols)  # (N,)
    # A pair that is the only possibility of both its row and its column is in every
    # optimal matching; the others (all pairs of their rows and columns) need the solver.
    alone = (row_degree[rows] == 1) & (col_degree[cols] == 1)  # (K,)
    alone_rows, alone_cols = rows[alone], cols[alone]  # rows ascending
    if alone.all():  # nothing contested: no solver
        matched_rows, matched_cols = alone_rows, alone_cols
    else:
        rest = ~alone
        rest_rows, row_at = _compact(rows[rest], num_rows)  # (R,), (K',)
        rest_cols, col_at = _compact(cols[rest], num_cols)  # (C,), (K',)
        square = np.full((max(len(rest_rows), len(rest_cols)),) * 2, GATED_COST)
        square[row_at, col_at] = cost[rest]
        _, col_of_row, _ = lap.lapjv(square)
        sub_cols = np.asarray(col_of_row[: len(rest_rows)], dtype=np.int64)
        sub_rows = (sub_cols < len(rest_cols)).nonzero()[0]
        sub_cols = sub_cols[sub_rows]
        keep = square[sub_rows, sub_cols] < GATED_COST  # a possible pair
        rows_all = np.concatenate([alone_rows, rest_rows[sub_rows[keep]]])
        order = np.argsort(rows_all, kind="stable")
        matched_rows = rows_all[order]
        matched_cols = np.concatenate([alone_cols, rest_cols[sub_cols[keep]]])[order]
    row_taken = np.zeros(num_rows, bool)
    row_taken[matched_rows] = True
    col_taken = np.zeros(num_cols, bool)
    col_taken[matched_cols] = True
    return Assignment(
        np.column_stack([matched_rows, matched_cols]),  # (K, 2)
        (~row_taken).nonzero()[0],
        (~col_taken).nonzero()[0],
    )


def _compact(indices: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(K,) indices below ``size`` -> (U,) the distinct ones ascending and (K,) where each
    is among them (``np.unique(..., return_inverse=True)`` without sorting)."""
    present = np.zeros(size, bool)
    present[indices] = True
    distinct = present.nonzero()[0]  # (U,) ascending
    position = np.empty(size, np.int64)  # (size,) rank of each present index
    position[distinct] = np.arange(len(distinct))
    return distinct, position[indices]
