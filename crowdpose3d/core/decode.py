"""From PandaNet's dense output maps to the people of each image (`Poses`).

Scores are thresholded, the best ``pre_nms_top_k`` anchors decoded into boxes and 2D/3D poses,
overlapping boxes removed by non-maximum suppression, and at most ``max_detections`` people
kept per image. NMS is plain torch, so it runs wherever the model runs (CPU or CUDA) without
torchvision.

Decoding only what matters: `gather_candidates` keeps the ``top_k`` best-scoring anchors of
each image and gathers their boxes and poses from the dense maps (a few hundred of the
~1e5 anchors of a 512x320 input), so nothing downstream touches, converts or copies the
dense maps; the exported graphs end with it (`crowdpose3d.engine.export`), and
`PoseDecoder.decode_candidates` turns its output into the same `Poses` as the dense
`PoseDecoder.__call__` (the ``top_k`` best above the threshold are the best above the
threshold among the ``top_k`` best).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor

from crowdpose3d.core.boxes import pairwise_box_iou
from crowdpose3d.core.coding import BoxCoder, PoseCoder
from crowdpose3d.poses import Poses

if TYPE_CHECKING:
    from crowdpose3d.core.model import PandaNetOutput


class Candidates(NamedTuple):
    """The ``N`` best-scoring anchors of each of ``B`` images, best first, and their
    predictions (from `gather_candidates` or an exported model's outputs)."""

    logits: Tensor  # (B, N) score logits, descending
    indices: Tensor  # (B, N) int64 flat anchor index into (H, W, A): (y * W + x) * A + a
    box_offsets: Tensor  # (B, N, 4)
    kp2d: Tensor  # (B, N, K, 2) in anchor coordinates
    kp3d: Tensor  # (B, N, K, 3) root-relative, bone-normalised


def gather_candidates(outputs: PandaNetOutput, top_k: int) -> Candidates:
    """Dense maps (B, H, W, A, ...) -> the ``min(top_k, H * W * A)`` best anchors per image.

    Traceable for ONNX export (TopK and Gather), and in the maps' own dtype: under bf16 only
    the gathered rows are converted to float32 later, never the ~47 M values of a batch.
    """
    batch, num_joints = outputs.scores.shape[0], outputs.kp2d.shape[-2]
    logits = outputs.scores.reshape(batch, -1)  # (B, M)
    top = logits.topk(min(top_k, logits.shape[1]), dim=1)  # (B, N), sorted descending

    def take(dense: Tensor, width: int) -> Tensor:  # (B, H, W, A, ...) -> (B, N, width)
        rows = dense.reshape(batch, -1, width)  # (B, M, width), a view
        return rows.gather(1, top.indices[..., None].expand(-1, -1, width))

    return Candidates(
        logits=top.values,
        indices=top.indices,
        box_offsets=take(outputs.box_offsets, 4),
        kp2d=take(outputs.kp2d, num_joints * 2).unflatten(-1, (num_joints, 2)),
        kp3d=take(outputs.kp3d, num_joints * 3).unflatten(-1, (num_joints, 3)),
    )


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression -> indices of kept boxes, highest score first.

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,).
        iou_threshold: a box is dropped when it overlaps a kept, higher-scoring box by more.

    The greedy rule "keep j unless a kept box ranked before j overlaps it" is a triangular
    recursion with one solution. On a GPU it is found by iterating the rule on all boxes at
    once until nothing changes (each pass settles at least one more rank), so the work stays
    on the device; on the CPU the textbook loop runs over the kept boxes only, each
    compared with the boxes still standing (`_greedy_keep_boxes`): a crowded frame's 1000
    candidates keep ~100, so it never builds the (N, N) overlap matrix.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True, stable=True)
    if boxes.device.type == "cpu":
        ranked = boxes[order].float().numpy()  # (N, 4)
        return order[torch.from_numpy(_greedy_keep_boxes(ranked, iou_threshold))]
    iou = pairwise_box_iou(boxes[order], boxes[order])  # (N, N)
    suppresses = (iou > iou_threshold).triu(diagonal=1)  # [i, j]: i ranked before j overlaps j
    return order[_iterative_keep(suppresses)]


def _greedy_keep_boxes(ranked: np.ndarray, iou_threshold: float) -> np.ndarray:
    """(N, 4) xyxy boxes, best first -> int64 kept ranks, ascending.

    One iteration per kept box: its IoU with the boxes still standing (the formula of
    `crowdpose3d.core.boxes.box_iou`, in float32, so the values are the same) removes those
    it overlaps by more than ``iou_threshold``.
    """
    x1, y1, x2, y2 = (np.ascontiguousarray(ranked[:, i]) for i in range(4))  # (N,) each
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)  # (N,)
    eps = np.float32(1e-9)  # box_iou's eps
    standing = np.arange(len(ranked))
    kept = []
    while len(standing):
        best, rest = standing[0], standing[1:]
        kept.append(best)
        width = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        height = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = width * height  # (R,)
        iou = inter / (area[best] + area[rest] - inter + eps)
        standing = rest[~(iou > iou_threshold)]
    return np.asarray(kept, dtype=np.int64)


def _iterative_keep(suppresses: Tensor) -> Tensor:
    """(N, N) bool, [i, j] = rank i suppresses rank j -> (N,) bool kept ranks (on device)."""
    keep = torch.ones(len(suppresses), dtype=torch.bool, device=suppresses.device)
    for _ in range(len(suppresses)):
        new_keep = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


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

    @torch.no_grad()
    def decode_candidates(self, candidates: Candidates, anchors: Tensor) -> list[Poses]:
        """`Candidates` (B, N, ...) and the anchor grid (H, W, A, 4) -> B `Poses`: the people
        `__call__` finds in the dense maps the candidates were gathered from (when N is at
        least ``pre_nms_top_k`` or all anchors), values equal to float rounding.

        The whole batch is decoded at once and each image cut and suppressed
        (`_greedy_keep_boxes`) in numpy: small arrays, and no wake-ups of torch's thread
        pool, which cost milliseconds per op when the pipeline's threads share the cores.
        """
        num_anchors = anchors.shape[2]
        flat_anchors = anchors.reshape(-1, 4).float().cpu().numpy()  # (M, 4) cx, cy, w, h
        indices = candidates.indices.cpu().numpy().astype(np.int64)  # (B, N)
        chosen = flat_anchors[indices]  # (B, N, 4)
        logits = candidates.logits.float().cpu().numpy()  # (B, N), descending
        scores = 1.0 / (1.0 + np.exp(-logits))  # sigmoid
        boxes = _decode_boxes(
            candidates.box_offsets.float().cpu().numpy(), chosen, self.box_coder
        )  # (B, N, 4)
        centre, size = chosen[..., None, :2], chosen[..., None, 2:]  # (B, N, 1, 2) each
        kp2d = candidates.kp2d.float().cpu().numpy() * size + centre  # PoseCoder.decode
        kp3d = candidates.kp3d.float().cpu().numpy()  # (B, N, K, 3)
        results = []
        for image in range(len(scores)):
            # Scores descend, so the candidates above the threshold are a prefix, already in
            # NMS order.
            count = min(int((scores[image] > self.score_threshold).sum()), self.pre_nms_top_k)
            keep = _greedy_keep_boxes(boxes[image, :count], self.nms_iou_threshold)
            keep = keep[: self.max_detections]
            results.append(
                Poses(
                    boxes=boxes[image, keep],
                    scores=scores[image, keep],
                    kp2d=kp2d[image, keep],
                    kp3d_rel=kp3d[image, keep],
                    data={"anchor": indices[image, keep] % num_anchors},
                )
            )
        return results


def _decode_boxes(offsets: np.ndarray, anchors: np.ndarray, coder: BoxCoder) -> np.ndarray:
    """`BoxCoder.decode` in numpy: (..., 4) offsets, (..., 4) cxcywh anchors -> (..., 4) xyxy."""
    limit = coder.max_log_size_ratio
    centre = anchors[..., :2] + offsets[..., :2] * anchors[..., 2:]  # (..., 2)
    half = anchors[..., 2:] * np.exp(np.clip(offsets[..., 2:], -limit, limit)) / 2  # (..., 2)
    return np.concatenate((centre - half, centre + half), axis=-1).astype(np.float32)
