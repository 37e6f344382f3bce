"""Anchor sizes by k-means on box sizes with a 1 - IoU distance, and the anchor grid.

The anchors are computed on the training set's boxes as in YOLOv2 / LapNet (paper 3.1):
each box is reduced to its (w, h) and compared with a centroid as if both were centred at
the same point, so the distance ``1 - IoU`` favours no box size over another.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def size_iou(sizes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """IoU of (N, 2) box sizes with (M, 2) centroid sizes, all centred at one point -> (N, M)."""
    inter = np.minimum(sizes[:, None, 0], centroids[None, :, 0]) * np.minimum(
        sizes[:, None, 1], centroids[None, :, 1]
    )
    union = (sizes[:, 0] * sizes[:, 1])[:, None] + (centroids[:, 0] * centroids[:, 1])[None] - inter
    return inter / union


def kmeans_anchors(
    sizes: np.ndarray,
    num_anchors: int = 10,
    seed: int = 0,
    restarts: int = 5,
    max_iterations: int = 300,
) -> np.ndarray:
    """Cluster (N, 2) box (w, h) sizes into ``num_anchors`` anchor sizes -> (num_anchors, 2).

    k-means++ initialisation and Lloyd iterations under the distance ``1 - IoU``; centroids
    are the mean size of their members. The best of ``restarts`` runs (highest mean IoU of a
    box with its nearest anchor) is kept, which avoids the local optima a single run can
    fall into. Deterministic for a given seed. Sorted by area, smallest first.
    """
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    sizes = sizes[(sizes > 0).all(axis=1)]
    distinct = len(np.unique(sizes, axis=0))
    if distinct < num_anchors:
        raise ValueError(
            f"k-means anchors need at least {num_anchors} distinct positive box sizes, "
            f"got {distinct}; use fewer anchors or more training boxes"
        )
    rng = np.random.default_rng(seed)
    runs = [_kmeans_once(sizes, num_anchors, rng, max_iterations) for _ in range(restarts)]
    best = max(runs, key=lambda centroids: mean_best_iou(sizes, centroids))
    order = np.argsort(best[:, 0] * best[:, 1], kind="stable")
    return best[order].astype(np.float32)


def _kmeans_once(
    sizes: np.ndarray, num_anchors: int, rng: np.random.Generator, max_iterations: int
) -> np.ndarray:
    """One k-means++ seeded run of Lloyd's algorithm under 1 - IoU -> (num_anchors, 2)."""
    centroids = [sizes[rng.integers(len(sizes))]]
    for _ in range(1, num_anchors):
        distance = 1.0 - size_iou(sizes, np.array(centroids)).max(axis=1)
        centroids.append(sizes[rng.choice(len(sizes), p=distance / distance.sum())])
    centroids = np.array(centroids)

    assignment = np.full(len(sizes), -1)
    for _ in range(max_iterations):
        distance = 1.0 - size_iou(sizes, centroids)  # (N, M)
        new_assignment = distance.argmin(axis=1)
        if np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for cluster in range(num_anchors):
            members = sizes[assignment == cluster]
            if len(members):
                centroids[cluster] = members.mean(axis=0)
            else:  # an empty cluster restarts at the worst-served box
                centroids[cluster] = sizes[distance.min(axis=1).argmax()]
    return centroids


def mean_best_iou(sizes: np.ndarray, anchors: np.ndarray) -> float:
    """Mean over boxes of the IoU with their best anchor: how well anchors cover the sizes."""
    iou = size_iou(np.asarray(sizes, np.float64), np.asarray(anchors, np.float64))
    return float(iou.max(axis=1).mean())


def anchor_grid(anchor_sizes: Tensor, height: int, width: int, stride: int) -> Tensor:
    """The grid A of anchors for an output map of ``height x width`` cells.

    Args:
        anchor_sizes: (A, 2) anchor (w, h) in input pixels.
        height, width: output map size in cells.
        stride: input pixels per output cell.

    Returns:
        (height, width, A, 4) anchors as (cx, cy, w, h) in input pixels, centred on the
        cell centres ``((j + 0.5) * stride, (i + 0.5) * stride)``.
    """
    anchor_sizes = torch.as_tensor(anchor_sizes, dtype=torch.float32)
    device = anchor_sizes.device
    num_anchors = anchor_sizes.shape[0]
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    centres = torch.stack((cx, cy), dim=-1)[:, :, None, :].expand(height, width, num_anchors, 2)
    sizes = anchor_sizes[None, None].expand(height, width, num_anchors, 2)
    return torch.cat((centres, sizes), dim=-1)
