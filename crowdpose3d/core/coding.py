"""Coders between image space and an anchor's space (paper 3.3.1-3.3.2).

Anchors are ``(cx, cy, w, h)`` in pixels. A box is coded as the offsets
``(dx, dy, dw, dh) = ((x - ax) / aw, (y - ay) / ah, log(w / aw), log(h / ah))`` of its
centre and size, so the IoU loss sees ``anchor transformed with estimated offsets``. A 2D
joint is coded by translating it to the anchor centre and dividing by the anchor's width and
height. Both coders are exact inverses of each other (up to float rounding) except that
decoded log-sizes are clamped so ``exp`` cannot overflow.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from crowdpose3d.core.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh

# Largest log size ratio a decoded box may have: a box 1000x larger than its anchor.
MAX_LOG_SIZE_RATIO = math.log(1000.0)


class BoxCoder:
    """Encodes xyxy boxes as offsets against (cx, cy, w, h) anchors and decodes them back."""

    def __init__(self, max_log_size_ratio: float = MAX_LOG_SIZE_RATIO) -> None:
        self.max_log_size_ratio = max_log_size_ratio

    def encode(self, boxes: Tensor, anchors: Tensor) -> Tensor:
        """(..., 4) xyxy boxes and broadcastable (..., 4) anchors -> (..., 4) offsets."""
        cx, cy, w, h = xyxy_to_cxcywh(boxes).unbind(-1)
        ax, ay, aw, ah = anchors.unbind(-1)
        return torch.stack(
            ((cx - ax) / aw, (cy - ay) / ah, torch.log(w / aw), torch.log(h / ah)), dim=-1
        )

    def decode(self, offsets: Tensor, anchors: Tensor) -> Tensor:
        """(..., 4) offsets and broadcastable (..., 4) anchors -> (..., 4) xyxy boxes."""
        dx, dy, dw, dh = offsets.unbind(-1)
        ax, ay, aw, ah = anchors.unbind(-1)
        limit = self.max_log_size_ratio
        centre_size = torch.stack(
            (
                ax + dx * aw,
                ay + dy * ah,
                aw * torch.exp(dw.clamp(-limit, limit)),
                ah * torch.exp(dh.clamp(-limit, limit)),
            ),
            dim=-1,
        )
        return cxcywh_to_xyxy(centre_size)


class PoseCoder:
    """Codes 2D joints in anchor coordinates: translated to the anchor centre, divided by
    the anchor's width and height (paper 3.3.2)."""

    def encode(self, joints: Tensor, anchors: Tensor) -> Tensor:
        """(..., K, 2) pixel joints and (..., 4) anchors -> (..., K, 2) anchor coordinates."""
        centre = anchors[..., None, :2]  # (..., 1, 2)
        size = anchors[..., None, 2:]  # (..., 1, 2)
        return (joints - centre) / size

    def decode(self, coded: Tensor, anchors: Tensor) -> Tensor:
        """(..., K, 2) anchor coordinates and (..., 4) anchors -> (..., K, 2) pixels."""
        return coded * anchors[..., None, 2:] + anchors[..., None, :2]
