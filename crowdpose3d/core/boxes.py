"""Box conversions and overlaps in plain torch (no torchvision).

Boxes are ``(x1, y1, x2, y2)`` in pixels unless a name says ``cxcywh``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(..., 4) centre/size boxes -> (..., 4) corner boxes."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """(..., 4) corner boxes -> (..., 4) centre/size boxes."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """(..., 4) xyxy -> (...,) area; inverted boxes have area 0."""
    width = (boxes[..., 2] - boxes[..., 0]).clamp(min=0)
    return width * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-9) -> Tensor:
    """Element-wise IoU of two broadcastable (..., 4) xyxy box tensors -> (...,).

    Differentiable; used by the IoU box loss (eq. 4-5).
    """
    top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1) + box_area(boxes2) - inter
    return inter / (union + eps)


def pairwise_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of every box of (M, 4) against every box of (N, 4) -> (M, N)."""
    return box_iou(boxes1[:, None, :], boxes2[None, :, :])


def unit_square_iou(points1: Tensor, points2: Tensor) -> Tensor:
    """IoU of two unit squares centred at broadcastable (..., 2) points -> (...,).

    In anchor coordinates (paper eq. 6) a unit square is the anchor's own size, so this
    overlap is scale-invariant: a joint off by half an anchor width scores the same for a
    near and a far person. Squares further apart than 1 on either axis have IoU 0.
    """
    overlap = (1.0 - (points1 - points2).abs()).clamp(min=0)  # (..., 2)
    inter = overlap[..., 0] * overlap[..., 1]
    return inter / (2.0 - inter)
