"""Box overlap in numpy, for everything that matches boxes outside the network: the
tracker's association, the pose metrics, the tracking scores and the demo.

Boxes are ``(x1, y1, x2, y2)`` in pixels; an inverted box has area 0. (The differentiable
torch version the loss uses is `crowdpose3d.core.boxes.box_iou`.)
"""

from __future__ import annotations

import numpy as np


def box_iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every box of (M, 4) against every box of (N, 4) -> (M, N) float64.

    One rule for an empty union (two boxes of area 0 that do not overlap): IoU 0. Empty
    inputs give an empty (M, 0) or (0, N) matrix.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)[:, None, :]  # (M, 1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)[None, :, :]  # (1, N, 4)
    top_left = np.maximum(a[..., :2], b[..., :2])  # (M, N, 2)
    bottom_right = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.clip(bottom_right - top_left, 0.0, None).prod(axis=-1)  # (M, N)
    area_a = np.clip(a[..., 2:] - a[..., :2], 0.0, None).prod(axis=-1)  # (M, 1)
    area_b = np.clip(b[..., 2:] - b[..., :2], 0.0, None).prod(axis=-1)  # (1, N)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
