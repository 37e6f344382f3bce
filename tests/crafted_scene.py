"""A crafted two-person overlap shared by the target and loss tests.

Four anchors of size 10x10 in one row (a grid of H=1, W=4, A=1), as xyxy boxes
    a0 [0, 0, 10, 10], a1 [5, 0, 15, 10], a2 [10, 0, 20, 10], a3 [20, 0, 30, 10]
and two people p0 [0, 0, 10, 10] and p1 [8, 0, 18, 10] overlapping by 2 pixels.

IoU(anchor, person):   p0     p1
    a0                 1      20/180 = 1/9
    a1                 50/150 = 1/3     70/130 = 7/13
    a2                 0      80/120 = 2/3
    a3                 0      0
Matches: a0 -> p0, a1 -> p1, a2 -> p1, a3 -> none. Best IoU per person: p0 1, p1 2/3.
PONO: a0 1, a1 (7/13)/(2/3) = 21/26, a2 1, a3 0; A+ = {a0, a1, a2}.
"""

import torch

from crowdpose3d.core.targets import GroundTruth

ANCHORS = torch.tensor(
    [
        [
            [[5.0, 5.0, 10.0, 10.0]],
            [[10.0, 5.0, 10.0, 10.0]],
            [[15.0, 5.0, 10.0, 10.0]],
            [[25.0, 5.0, 10.0, 10.0]],
        ]
    ]
)  # (H=1, W=4, A=1, 4) cx, cy, w, h


def two_people(kp2d_valid=None):
    return GroundTruth(
        boxes=torch.tensor([[0.0, 0.0, 10.0, 10.0], [8.0, 0.0, 18.0, 10.0]]),
        # p0's joints at (5, 5) and (7.5, 5); p1's both at (13, 5).
        kp2d=torch.tensor([[[5.0, 5.0], [7.5, 5.0]], [[13.0, 5.0], [13.0, 5.0]]]),
        kp3d=torch.tensor(
            [[[0.0, 0.0, 0.0], [0.1, 0.2, 0.3]], [[0.0, 0.0, 0.0], [0.0, -0.5, 0.0]]]
        ),
        kp2d_valid=kp2d_valid,
    )


def crafted_predictions():
    """Offsets and 2D joints predicted at the four anchors (B=1, H=1, W=4, A=1)."""
    offsets = torch.zeros(1, 1, 4, 1, 4)
    offsets[0, 0, 1, 0, 0] = 0.3  # a1 predicts p1's box exactly
    offsets[0, 0, 2, 0, 0] = 0.5  # a2 predicts [15, 0, 25, 10]: IoU with p1 = 30/170
    kp2d = torch.zeros(1, 1, 4, 1, 2, 2)  # a0 predicts both joints at its centre
    kp2d[0, 0, 1, 0] = torch.tensor([1.0, 0.0])  # a1: 0.7 off p1's joints -> IoU2D 0.3/1.7
    kp2d[0, 0, 2, 0, 0] = torch.tensor([-0.2, 0.0])  # a2: joint 0 exact (IoU 1)
    kp2d[0, 0, 2, 0, 1] = torch.tensor([0.6, 0.0])  # a2: joint 1 0.8 off (IoU 0.2/1.8)
    return offsets, kp2d
