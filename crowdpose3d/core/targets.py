"""Training targets: anchor matching (eq. 1-3), PONO, positives A+ and readout labels C (eq. 9).

Every anchor of the grid is matched to the ground-truth box it overlaps most (eq. 1) and so
to that person's 2D and 3D pose (eq. 2-3). The Per-Object Normalised Overlap (PONO, from
LapNet) divides an anchor's IoU by the best IoU any anchor matched to the same person has,
so a small far person gets positives as surely as a large near one. Anchors with PONO > 0.5
form A+; only they supervise boxes and poses. The readout labels C that train the score map
are a subset of A+ chosen by one of three strategies (`SELECTION_MODES`).

Targets are kept dense only for per-anchor maps; the per-person regression targets are
gathered for the positives alone (P rows), which keeps memory small for 60-person images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from crowdpose3d.core.boxes import box_iou, cxcywh_to_xyxy, pairwise_box_iou, unit_square_iou
from crowdpose3d.core.coding import BoxCoder, PoseCoder

SelectionMode = Literal["none", "box", "pose"]
SELECTION_MODES: tuple[str, ...] = ("none", "box", "pose")


@dataclass
class GroundTruth:
    """The labelled people of one image.

    Attributes:
        boxes: (N, 4) xyxy pixels.
        kp2d: (N, K, 2) joints in pixels.
        kp3d: (N, K, 3) root-relative, bone-normalised 3D joints (sum of bone lengths 1).
        kp2d_valid: (N, K) bool, joints whose 2D position is labelled (default all).
        kp3d_valid: (N, K) bool, joints whose 3D position is labelled (default all); all
            False for a 2D-only dataset such as COCO, so its 3D loss is zero.
    """

    boxes: Tensor
    kp2d: Tensor
    kp3d: Tensor
    kp2d_valid: Tensor | None = None
    kp3d_valid: Tensor | None = None

    def __post_init__(self) -> None:
        n, k = self.kp2d.shape[:2]
        if self.boxes.shape != (n, 4) or self.kp3d.shape != (n, k, 3):
            raise ValueError(
                f"GroundTruth shapes disagree: boxes {tuple(self.boxes.shape)}, "
                f"kp2d {tuple(self.kp2d.shape)}, kp3d {tuple(self.kp3d.shape)}"
            )
        if self.kp2d_valid is None:
            self.kp2d_valid = torch.ones(n, k, dtype=torch.bool, device=self.boxes.device)
        if self.kp3d_valid is None:
            self.kp3d_valid = torch.ones(n, k, dtype=torch.bool, device=self.boxes.device)
        self.kp2d_valid = self.kp2d_valid.bool()
        self.kp3d_valid = self.kp3d_valid.bool()

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def to(self, device: torch.device | str) -> GroundTruth:
        """The same labels on another device."""
        return GroundTruth(
            boxes=self.boxes.to(device),
            kp2d=self.kp2d.to(device),
            kp3d=self.kp3d.to(device),
            kp2d_valid=self.kp2d_valid.to(device),
            kp3d_valid=self.kp3d_valid.to(device),
        )

    @classmethod
    def empty(cls, num_joints: int, device: torch.device | str = "cpu") -> GroundTruth:
        """An image with nobody in it."""
        zeros = torch.zeros
        return cls(
            zeros(0, 4, device=device),
            zeros(0, num_joints, 2, device=device),
            zeros(0, num_joints, 3, device=device),
        )


@dataclass
class Targets:
    """Matching results for a batch of B images on an (H, W, A) anchor grid.

    Dense maps (B, H, W, A): ``iou`` with the matched box, ``pono`` (O), ``matched`` person
    index within its image (-1 when no box overlaps) and ``positive`` (A+).
    Per positive anchor (P rows, in the order of ``positive.flatten().nonzero()``):
    ``positive_index`` flat index into (B, H, W, A), ``anchor_id`` (a), ``anchors``
    (cx, cy, w, h), the matched ``boxes`` (xyxy), ``kp2d`` in anchor coordinates, ``kp3d``,
    and their validity masks.
    """

    iou: Tensor
    pono: Tensor
    matched: Tensor
    positive: Tensor
    positive_index: Tensor
    anchor_id: Tensor
    anchors: Tensor
    boxes: Tensor
    kp2d: Tensor
    kp2d_valid: Tensor
    kp3d: Tensor
    kp3d_valid: Tensor

    @property
    def num_positives(self) -> int:
        return int(self.positive_index.numel())


def per_object_normalised_overlap(iou: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """PONO of M anchors against N boxes from their (M, N) IoU matrix.

    Returns ``(pono (M,), matched (M,), best_iou (M,))``: each anchor's matched box is its
    highest-IoU box (eq. 1; -1 when it overlaps none) and its PONO is that IoU divided by the
    highest IoU among all anchors matched to the same box.
    """
    num_anchors, num_boxes = iou.shape
    if num_boxes == 0:
        zeros = iou.new_zeros(num_anchors)
        return zeros, torch.full_like(zeros, -1, dtype=torch.long), zeros
    best_iou, matched = iou.max(dim=1)  # (M,), (M,)
    matched = torch.where(best_iou > 0, matched, torch.full_like(matched, -1))
    per_box_max = iou.new_zeros(num_boxes).scatter_reduce(
        0, matched.clamp(min=0), torch.where(matched >= 0, best_iou, 0.0), reduce="amax"
    )  # (N,) best IoU among the anchors matched to each box
    pono = torch.where(
        matched >= 0, best_iou / per_box_max[matched.clamp(min=0)].clamp(min=1e-12), 0.0
    )
    return pono, matched, best_iou


class AnchorMatcher:
    """Matches an anchor grid to the people of each image (eq. 1-3) and builds `Targets`.

    Args:
        positive_threshold: PONO above which an anchor is positive (A+); 0.5 in the paper.
        pose_coder: codes 2D joints in anchor coordinates.
    """

    def __init__(self, positive_threshold: float = 0.5, pose_coder: PoseCoder | None = None):
        self.positive_threshold = positive_threshold
        self.pose_coder = pose_coder or PoseCoder()

    def __call__(self, anchors: Tensor, ground_truth: list[GroundTruth]) -> Targets:
        """anchors (H, W, A, 4) cxcywh pixels; one `GroundTruth` per image -> `Targets`."""
        height, width, num_anchors, _ = anchors.shape
        flat_anchors = anchors.reshape(-1, 4)  # (M, 4), M = H * W * A
        anchor_boxes = cxcywh_to_xyxy(flat_anchors)
        num_cells = flat_anchors.shape[0]

        ious, ponos, matches = [], [], []
        for gt in ground_truth:
            iou = pairwise_box_iou(anchor_boxes, gt.boxes.to(anchor_boxes))  # (M, N)
            pono, matched, best_iou = per_object_normalised_overlap(iou)
            ious.append(best_iou)
            ponos.append(pono)
            matches.append(matched)
        shape = (len(ground_truth), height, width, num_anchors)
        iou = torch.stack(ious).reshape(shape)
        pono = torch.stack(ponos).reshape(shape)
        matched = torch.stack(matches).reshape(shape)
        positive = pono > self.positive_threshold

        positive_index = positive.flatten().nonzero().squeeze(1)  # (P,)
        image_index = positive_index // num_cells
        person_index = matched.flatten()[positive_index]
        positive_anchors = flat_anchors[positive_index % num_cells]  # (P, 4)

        def gather(name: str) -> Tensor:
            """Stack one field of all images and pick each positive's person -> (P, ...)."""
            per_image = [getattr(gt, name).to(anchors.device) for gt in ground_truth]
            offsets = torch.tensor([0] + [len(gt) for gt in ground_truth], device=anchors.device)
            rows = offsets.cumsum(0)[image_index] + person_index
            return torch.cat(per_image)[rows]

        return Targets(
            iou=iou,
            pono=pono,
            matched=matched,
            positive=positive,
            positive_index=positive_index,
            anchor_id=positive_index % num_anchors,
            anchors=positive_anchors,
            boxes=gather("boxes").float(),
            kp2d=self.pose_coder.encode(gather("kp2d").float(), positive_anchors),
            kp2d_valid=gather("kp2d_valid"),
            kp3d=gather("kp3d").float(),
            kp3d_valid=gather("kp3d_valid"),
        )


def mean_joint_overlap(pred_kp2d: Tensor, target_kp2d: Tensor, valid: Tensor) -> Tensor:
    """Mean over valid joints of the unit-square IoU (eq. 6) -> (P,).

    pred_kp2d, target_kp2d (P, K, 2) in anchor coordinates; valid (P, K). A person with no
    valid joint gets NaN (callers choose a fallback).
    """
    overlap = unit_square_iou(pred_kp2d, target_kp2d)  # (P, K)
    count = valid.sum(dim=1)
    total = torch.where(valid, overlap, 0.0).sum(dim=1)
    return torch.where(count > 0, total / count.clamp(min=1), float("nan"))


@torch.no_grad()
def readout_labels(
    targets: Targets,
    box_offsets: Tensor,
    kp2d: Tensor,
    mode: SelectionMode = "pose",
    threshold: float = 0.5,
    box_coder: BoxCoder | None = None,
) -> Tensor:
    """Positive readout labels C (eq. 9) for the score map -> (B, H, W, A) float in {0, 1}.

    Args:
        targets: the batch's matching.
        box_offsets: (B, H, W, A, 4) predicted offsets (used by mode ``box``).
        kp2d: (B, H, W, A, K, 2) predicted joints in anchor coordinates (mode ``pose``).
        mode: ``none``: C = [O > t], no selection; ``box``: C = [O * IoU(B^, B) > t], the
            box-aware selection of LapNet; ``pose``: C = [O * mean_k IoU2D_k > t], the paper's
            Pose-Aware Anchor Selection (a person without labelled 2D joints falls back to
            the box overlap).
        threshold: t, 0.5 in the paper.

    Predictions enter without gradient: C is a label, not a path for the loss to act on.
    """
    if mode not in SELECTION_MODES:
        raise ValueError(f"unknown anchor selection mode {mode!r}; choose from {SELECTION_MODES}")
    pono = targets.pono
    if mode == "none":
        return (pono > threshold).float()

    labels = torch.zeros_like(pono).flatten()
    index = targets.positive_index
    if index.numel() == 0:
        return labels.reshape(pono.shape)
    box_coder = box_coder or BoxCoder()
    predicted_boxes = box_coder.decode(
        box_offsets.detach().reshape(-1, 4)[index].float(), targets.anchors
    )
    overlap = box_iou(predicted_boxes, targets.boxes)  # (P,)
    if mode == "pose":
        num_joints = kp2d.shape[-2]
        pose_overlap = mean_joint_overlap(
            kp2d.detach().reshape(-1, num_joints, 2)[index].float(),
            targets.kp2d,
            targets.kp2d_valid,
        )
        overlap = torch.where(torch.isnan(pose_overlap), overlap, pose_overlap)
    labels[index] = (pono.flatten()[index] * overlap > threshold).float()
    return labels.reshape(pono.shape)
