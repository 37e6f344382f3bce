"""IoU helpers and the box/pose coders, against hand-computed numbers."""

import math

import pytest
import torch

from crowdpose3d.core.boxes import (
    box_iou,
    cxcywh_to_xyxy,
    pairwise_box_iou,
    unit_square_iou,
    xyxy_to_cxcywh,
)
from crowdpose3d.core.coding import BoxCoder, PoseCoder


def test_box_iou_hand_computed():
    a = torch.tensor([0.0, 0.0, 2.0, 2.0])
    b = torch.tensor([1.0, 1.0, 3.0, 3.0])
    assert box_iou(a, b).item() == pytest.approx(1 / 7)
    assert box_iou(a, a).item() == pytest.approx(1.0)
    assert box_iou(a, torch.tensor([5.0, 5.0, 6.0, 6.0])).item() == 0.0


def test_pairwise_iou_shape_and_values():
    boxes1 = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]])
    boxes2 = torch.tensor([[0.0, 0.0, 10.0, 10.0], [8.0, 0.0, 18.0, 10.0], [50.0, 50, 60, 60]])
    iou = pairwise_box_iou(boxes1, boxes2)
    expected = torch.tensor([[1.0, 1 / 9, 0.0], [1 / 3, 7 / 13, 0.0]])
    torch.testing.assert_close(iou, expected)


def test_unit_square_iou_hand_computed():
    origin = torch.zeros(2)
    assert unit_square_iou(origin, torch.tensor([0.5, 0.0])).item() == pytest.approx(1 / 3)
    assert unit_square_iou(origin, torch.tensor([0.5, 0.5])).item() == pytest.approx(1 / 7)
    assert unit_square_iou(origin, torch.tensor([1.2, 0.0])).item() == 0.0
    assert unit_square_iou(origin, origin).item() == pytest.approx(1.0)


def test_box_format_round_trip():
    boxes = torch.tensor([[1.0, 2.0, 5.0, 10.0]])
    torch.testing.assert_close(xyxy_to_cxcywh(boxes), torch.tensor([[3.0, 6.0, 4.0, 8.0]]))
    torch.testing.assert_close(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes)


def test_box_coder_hand_computed():
    anchor = torch.tensor([10.0, 20.0, 4.0, 8.0])  # cx, cy, w, h
    box = torch.tensor([8.0, 16.0, 16.0, 32.0])  # centre (12, 24), size (8, 16)
    offsets = BoxCoder().encode(box, anchor)
    torch.testing.assert_close(offsets, torch.tensor([0.5, 0.5, math.log(2), math.log(2)]))
    torch.testing.assert_close(BoxCoder().decode(offsets, anchor), box)


def test_box_coder_round_trip_random():
    generator = torch.Generator().manual_seed(0)
    anchors = torch.rand(100, 4, generator=generator, dtype=torch.float64) * 100 + 1
    boxes = cxcywh_to_xyxy(torch.rand(100, 4, generator=generator, dtype=torch.float64) * 200 + 1)
    coder = BoxCoder()
    torch.testing.assert_close(coder.decode(coder.encode(boxes, anchors), anchors), boxes)


def test_box_coder_clamps_huge_sizes():
    anchor = torch.tensor([0.0, 0.0, 1.0, 1.0])
    box = BoxCoder().decode(torch.tensor([0.0, 0.0, 1e4, 1e4]), anchor)
    assert torch.isfinite(box).all()
    assert (box[2] - box[0]).item() == pytest.approx(1000.0, rel=1e-4)


def test_pose_coder_hand_computed_and_round_trip():
    anchor = torch.tensor([10.0, 20.0, 4.0, 8.0])
    joints = torch.tensor([[14.0, 28.0], [10.0, 20.0], [8.0, 16.0]])  # (K, 2)
    coded = PoseCoder().encode(joints, anchor)
    torch.testing.assert_close(coded, torch.tensor([[1.0, 1.0], [0.0, 0.0], [-0.5, -0.5]]))
    torch.testing.assert_close(PoseCoder().decode(coded, anchor), joints)

    generator = torch.Generator().manual_seed(1)
    anchors = torch.rand(7, 4, generator=generator, dtype=torch.float64) * 50 + 1
    joints = torch.rand(7, 22, 2, generator=generator, dtype=torch.float64) * 500
    coder = PoseCoder()
    torch.testing.assert_close(coder.decode(coder.encode(joints, anchors), anchors), joints)
