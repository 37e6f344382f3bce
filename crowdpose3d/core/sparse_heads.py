"""The best anchors of each image without the dense head outputs ("sparse heads").

PandaNet's box, 2D and 3D heads end with a 1x1 output convolution (every preset but
``darknet53``, whose output kernel is 3x3). A 1x1 convolution at one cell is a matrix
product of that cell's tower features, so the predictions of the ``top_k`` best anchors
need only the score head densely: its logits choose the anchors (TopK), the other heads'
towers run densely, and their output convolutions run only at the chosen cells (Gather,
MatMul). The result equals `gather_candidates` of the dense forward up to float rounding
(same anchors, same order), without computing or writing the dense 2D / 3D maps: at
512x320 those are 80 x 128 cells x 10 anchors x 110 values, 11.3 M floats per image
(~45 MB), and their 1x1 convolutions 10 % of the model's FLOPs.
"""

from __future__ import annotations

from torch import Tensor

from crowdpose3d.core.decode import Candidates, gather_candidates
from crowdpose3d.core.model import Head, PandaNet

__all__ = ["candidate_forward", "supports_sparse_heads"]


def supports_sparse_heads(model: PandaNet) -> bool:
    """Whether the heads' output convolutions are 1x1 (so they can run per cell)."""
    heads = (model.box_head, model.kp2d_head, model.kp3d_head)
    return all(head.output.kernel_size == (1, 1) and head.output.groups == 1 for head in heads)


def candidate_forward(model: PandaNet, images: Tensor, top_k: int) -> Candidates:
    """(B, 3, H, W) RGB in [0, 1] -> the ``min(top_k, H' * W' * A)`` best anchors per image.

    Equal to ``gather_candidates(model(images), top_k)`` (float rounding aside); falls back
    to exactly that when the output convolutions are not 1x1 (`supports_sparse_heads`).
    """
    if not supports_sparse_heads(model):
        return gather_candidates(model(images), top_k)
    features = model.trunk(images)  # (B, C, H, W)
    batch = features.shape[0]
    num_anchors, num_joints = model.num_anchors, model.num_joints
    logits = model.score_head(features).reshape(batch, -1)  # (B, H*W*A), cell-major
    top = logits.topk(min(top_k, logits.shape[1]), dim=1)  # (B, N), sorted descending
    cells = top.indices // num_anchors  # (B, N) flat cell index y * W + x
    anchors = top.indices % num_anchors  # (B, N)

    def at_candidates(head: Head, width: int) -> Tensor:  # -> (B, N, width)
        hidden = head.tower(features).flatten(2)  # (B, C_h, H*W): a view, also of NHWC
        channels = hidden.shape[1]
        picked = hidden.gather(2, cells[:, None, :].expand(-1, channels, -1))  # (B, C_h, N)
        weight = head.output.weight.flatten(1)  # (A * width, C_h)
        values = weight @ picked  # (B, A * width, N): every anchor of the chosen cells
        if head.output.bias is not None:
            values = values + head.output.bias[:, None]
        values = values.unflatten(1, (num_anchors, width))  # (B, A, width, N)
        index = anchors[:, None, None, :].expand(-1, 1, width, -1)  # (B, 1, width, N)
        return values.gather(1, index)[:, 0].transpose(1, 2)  # (B, N, width)

    return Candidates(
        logits=top.values,
        indices=top.indices,
        box_offsets=at_candidates(model.box_head, 4),
        kp2d=at_candidates(model.kp2d_head, num_joints * 2).unflatten(-1, (num_joints, 2)),
        kp3d=at_candidates(model.kp3d_head, num_joints * 3).unflatten(-1, (num_joints, 3)),
    )
