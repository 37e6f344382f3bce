"""From PandaNet's dense output maps to the people of each image (`Poses`).

Scores are thresholded, the best ``pre_nms_top_k`` anchors decoded into boxes and 2D/3D poses,
overlapping boxes removed by non-maximum suppression, and at most ``max_detections`` people
kept per image. NMS is plain torch, so it runs wherever the model runs (CPU or CUDA) without
torchvision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from crowdpose3d.core.boxes import pairwise_box_iou
from crowdpose3d.core.coding import BoxCoder, PoseCoder
from crowdpose3d.poses import Poses

if TYPE_CHECKING:
    from crowdpose3d.core.model import PandaNetOutput


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression -> indices of kept boxes, highest score first.

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,).
        iou_threshold: a box is dropped when it overlaps a kept, higher-scoring box by more.

    The greedy rule "keep j unless a kept box ranked before j overlaps it" is a triangular
    recursion with one solution. On a GPU it is found by iterating the rule on all boxes at
    once until nothing changes (each pass settles at least one more rank), so the work stays
    on the device; on the CPU the textbook loop over the ranks is faster (thousands of
    crowded candidates can need hundreds of passes).
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True, stable=True)
    iou = pairwise_box_iou(boxes[order], boxes[order])  # (N, N)
    suppresses = (iou > iou_threshold).triu(diagonal=1)  # [i, j]: i ranked before j overlaps j
    if boxes.device.type == "cpu":
        return order[torch.from_numpy(_greedy_keep(suppresses.numpy()))]
    return order[_iterative_keep(suppresses)]


def _iterative_keep(suppresses: Tensor) -> Tensor:
    """(N, N) bool, [i, j] = rank i suppresses rank j -> (N,) bool kept ranks (on device)."""
    keep = torch.ones(len(suppresses), dtype=torch.bool, device=suppresses.device)
    for _ in range(len(suppresses)):
        new_keep = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


def _greedy_keep(suppresses: np.ndarray) -> np.ndarray:
    """(N, N) bool, [i, j] = rank i suppresses rank j -> (N,) bool kept ranks, in one pass."""
    removed = np.zeros(len(suppresses), dtype=bool)
    for rank in range(len(suppresses)):
        if not removed[rank]:
            removed |= suppresses[rank]
    return ~removed


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each group (e.g. image of a batch) -> kept indices, by descending score.

    boxes (N, 4), scores (N,), groups (N,) integer ids; boxes of different groups never
    suppress each other.
    """
    kept = [
        torch.nonzero(groups == group).squeeze(1)[
            nms(boxes[groups == group], scores[groups == group], iou_threshold)
        ]
        for group in torch.unique(groups)
    ]
    if not kept:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    kept = torch.cat(kept)
    return kept[scores[kept].argsort(descending=True, stable=True)]


class PoseDecoder:
    """Turns `PandaNetOutput` maps and their anchor grid into one `Poses` per image.

    Args:
        score_threshold: minimum sigmoid score of a readout anchor.
        nms_iou_threshold: IoU above which a lower-scoring box is suppressed.
        pre_nms_top_k: at most this many anchors per image enter NMS.
        max_detections: at most this many people per image are returned.
    """

    def __init__(
        self,
        score_threshold: float = 0.3,
        nms_iou_threshold: float = 0.5,
        pre_nms_top_k: int = 1000,
        max_detections: int = 200,
        box_coder: BoxCoder | None = None,
        pose_coder: PoseCoder | None = None,
    ) -> None:
        self.score_threshold = score_threshold
        self.nms_iou_threshold = nms_iou_threshold
        self.pre_nms_top_k = pre_nms_top_k
        self.max_detections = max_detections
        self.box_coder = box_coder or BoxCoder()
        self.pose_coder = pose_coder or PoseCoder()

    @torch.no_grad()
    def __call__(self, outputs: PandaNetOutput, anchors: Tensor) -> list[Poses]:
        """outputs with maps (B, H, W, A, ...); anchors (H, W, A, 4) cxcywh -> B `Poses`.

        Boxes and 2D joints are in the network input's pixels; ``data['anchor']`` holds the
        anchor index each person was read out from.
        """
        batch, num_joints = outputs.scores.shape[0], outputs.kp2d.shape[-2]
        num_anchors = anchors.shape[2]
        scores = torch.sigmoid(outputs.scores.float()).reshape(batch, -1)  # (B, M)
        offsets = outputs.box_offsets.float().reshape(batch, -1, 4)  # (B, M, 4)
        kp2d = outputs.kp2d.float().reshape(batch, -1, num_joints, 2)  # (B, M, K, 2)
        kp3d = outputs.kp3d.float().reshape(batch, -1, num_joints, 3)  # (B, M, K, 3)
        flat_anchors = anchors.reshape(-1, 4).to(scores.device)  # (M, 4)

        results = []
        for image in range(batch):
            candidates = torch.nonzero(scores[image] > self.score_threshold).squeeze(1)
            top = scores[image, candidates].topk(min(self.pre_nms_top_k, len(candidates)))
            candidates = candidates[top.indices]
            candidate_anchors = flat_anchors[candidates]
            boxes = self.box_coder.decode(offsets[image, candidates], candidate_anchors)
            keep = nms(boxes, top.values, self.nms_iou_threshold)[: self.max_detections]
            chosen = candidates[keep]
            results.append(
                Poses(
                    boxes=boxes[keep].cpu().numpy(),
                    scores=top.values[keep].cpu().numpy(),
                    kp2d=self.pose_coder.decode(kp2d[image, chosen], flat_anchors[chosen])
                    .cpu()
                    .numpy()
                    .reshape(-1, num_joints, 2),
                    kp3d_rel=kp3d[image, chosen].cpu().numpy().reshape(-1, num_joints, 3),
                    data={"anchor": (chosen % num_anchors).cpu().numpy()},
                )
            )
        return results
