"""NMS in plain torch and the decoding of output maps into `Poses`."""

import numpy as np
import pytest
import torch

from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.boxes import pairwise_box_iou
from crowdpose3d.core.decode import PoseDecoder, _iterative_keep, batched_nms, nms
from crowdpose3d.core.model import PandaNetOutput


def reference_greedy_nms(boxes, scores, threshold):
    """The textbook loop, one box at a time."""
    order = scores.argsort(descending=True, stable=True).tolist()
    iou = pairwise_box_iou(boxes, boxes)
    kept = []
    for index in order:
        if all(iou[index, other] <= threshold for other in kept):
            kept.append(index)
    return kept


def test_nms_hand_made_case():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # 0.9
            [1.0, 1.0, 11.0, 11.0],  # 0.8, IoU 81/119 = 0.68 with box 0 -> suppressed
            [20.0, 20.0, 30.0, 30.0],  # 0.7, alone -> kept
            [0.0, 0.0, 10.0, 10.5],  # 0.95, best -> kept, suppresses box 0
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]


def test_nms_suppression_chain():
    """A suppresses B, B would suppress C, but B is gone so C survives."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [4.0, 0, 14, 10], [8.0, 0, 18, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # IoU(A, B) = 60/140 = 0.43, IoU(B, C) = 0.43, IoU(A, C) = 20/180 = 0.11.
    assert nms(boxes, scores, 0.4).tolist() == [0, 2]
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_the_textbook_loop(seed):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(300, 2, generator=generator) * 200
    sizes = torch.rand(300, 2, generator=generator) * 40 + 5
    boxes = torch.cat((centres - sizes / 2, centres + sizes / 2), dim=1)
    scores = torch.rand(300, generator=generator)
    assert nms(boxes, scores, 0.45).tolist() == reference_greedy_nms(boxes, scores, 0.45)
    # The device (GPU) variant of the rule, run here on the CPU, agrees with the loop.
    order = scores.argsort(descending=True, stable=True)
    suppresses = (pairwise_box_iou(boxes[order], boxes[order]) > 0.45).triu(diagonal=1)
    kept = order[_iterative_keep(suppresses)].tolist()
    assert kept == reference_greedy_nms(boxes, scores, 0.45)


def test_nms_empty():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0


def test_batched_nms_keeps_groups_apart():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10], [1.0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    groups = torch.tensor([0, 1, 0])
    assert batched_nms(boxes, scores, groups, 0.5).tolist() == [0, 1]


@pytest.mark.gpu
def test_nms_on_cuda_matches_cpu():
    generator = torch.Generator().manual_seed(0)
    boxes = torch.rand(500, 2, generator=generator) * 300
    boxes = torch.cat((boxes, boxes + 30), dim=1)
    scores = torch.rand(500, generator=generator)
    assert nms(boxes.cuda(), scores.cuda(), 0.5).cpu().tolist() == nms(boxes, scores, 0.5).tolist()


def test_decoder_reads_out_boxes_and_poses_in_pixels():
    height, width, num_anchors, num_joints = 4, 6, 2, 3
    anchors = anchor_grid(torch.tensor([[8.0, 16.0], [16.0, 32.0]]), height, width, stride=8)
    scores = torch.full((1, height, width, num_anchors), -10.0)
    offsets = torch.zeros(1, height, width, num_anchors, 4)
    kp2d = torch.zeros(1, height, width, num_anchors, num_joints, 2)
    kp3d = torch.zeros(1, height, width, num_anchors, num_joints, 3)
    # One confident read-out at cell (i=2, j=3), anchor 1: centre (28, 20), size 16x32.
    scores[0, 2, 3, 1] = 4.0
    offsets[0, 2, 3, 1] = torch.tensor([0.5, 0.0, 0.0, 0.0])  # centre moves 8 px right
    kp2d[0, 2, 3, 1, 0] = torch.tensor([0.25, -0.5])  # (28 + 4, 20 - 16)
    kp3d[0, 2, 3, 1, 2] = torch.tensor([0.1, 0.2, 0.3])
    # A weaker duplicate next door that NMS must remove (same box).
    scores[0, 2, 4, 1] = 2.0
    offsets[0, 2, 4, 1] = 0.0  # its cell centre (36, 20) is already the same box centre
    outputs = PandaNetOutput(scores, offsets, kp2d, kp3d)

    (poses,) = PoseDecoder(score_threshold=0.5)(outputs, anchors)
    assert len(poses) == 1
    np.testing.assert_allclose(poses.boxes[0], [28.0, 4.0, 44.0, 36.0])
    assert poses.scores[0] == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item())
    np.testing.assert_allclose(poses.kp2d[0, 0], [32.0, 4.0])
    np.testing.assert_allclose(poses.kp2d[0, 1], [28.0, 20.0])
    np.testing.assert_allclose(poses.kp3d_rel[0, 2], [0.1, 0.2, 0.3], rtol=1e-6)
    assert poses.data["anchor"].tolist() == [1]
    assert poses.track_id.tolist() == [-1]
    assert np.isnan(poses.kp3d).all()


def test_decoder_batch_threshold_and_top_k():
    anchors = anchor_grid(torch.tensor([[8.0, 8.0]]), 2, 2, stride=8)
    scores = torch.tensor(
        [[[[3.0], [-3.0]], [[-3.0], [-3.0]]], [[[-3.0], [-3.0]], [[-3.0], [-3.0]]]]
    )
    zeros = torch.zeros
    outputs = PandaNetOutput(
        scores, zeros(2, 2, 2, 1, 4), zeros(2, 2, 2, 1, 5, 2), zeros(2, 2, 2, 1, 5, 3)
    )
    first, second = PoseDecoder(score_threshold=0.5)(outputs, anchors)
    assert len(first) == 1 and len(second) == 0
    assert second.kp2d.shape == (0, 5, 2)

    many = torch.full((1, 2, 2, 1), 3.0)  # four boxes that do not overlap (IoU 0)
    outputs = PandaNetOutput(
        many, zeros(1, 2, 2, 1, 4), zeros(1, 2, 2, 1, 5, 2), zeros(1, 2, 2, 1, 5, 3)
    )
    assert len(PoseDecoder(max_detections=3)(outputs, anchors)[0]) == 3
    assert len(PoseDecoder(pre_nms_top_k=2)(outputs, anchors)[0]) == 2
