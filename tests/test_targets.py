"""Matching, PONO, A+ and the readout labels C on a crafted two-person overlap.

The scene and its hand-computed overlaps are described in crafted_scene.py.

"""

import pytest
import torch
from crafted_scene import ANCHORS, crafted_predictions, two_people

from crowdpose3d.core.targets import (
    AnchorMatcher,
    GroundTruth,
    per_object_normalised_overlap,
    readout_labels,
)


def test_pono_and_positives_hand_computed():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    torch.testing.assert_close(targets.iou.flatten(), torch.tensor([1.0, 7 / 13, 2 / 3, 0.0]))
    torch.testing.assert_close(targets.pono.flatten(), torch.tensor([1.0, 21 / 26, 1.0, 0.0]))
    assert targets.matched.flatten().tolist() == [0, 1, 1, -1]
    assert targets.positive.flatten().tolist() == [True, True, True, False]
    assert targets.positive_index.tolist() == [0, 1, 2]
    assert targets.anchor_id.tolist() == [0, 0, 0]
    torch.testing.assert_close(
        targets.boxes, torch.tensor([[0.0, 0, 10, 10], [8.0, 0, 18, 10], [8.0, 0, 18, 10]])
    )
    # p1's joint (13, 5) seen from a1 (centre 10, width 10) is at 0.3 anchor widths.
    torch.testing.assert_close(targets.kp2d[1], torch.tensor([[0.3, 0.0], [0.3, 0.0]]))
    torch.testing.assert_close(targets.kp2d[2], torch.tensor([[-0.2, 0.0], [-0.2, 0.0]]))
    torch.testing.assert_close(targets.kp3d[2], two_people().kp3d[1])


def test_pono_threshold_is_strict():
    iou = torch.tensor([[0.8, 0.0], [0.4, 0.0], [0.41, 0.0], [0.0, 0.3]])
    pono, matched, _ = per_object_normalised_overlap(iou)
    torch.testing.assert_close(pono, torch.tensor([1.0, 0.5, 0.41 / 0.8, 1.0]))
    assert matched.tolist() == [0, 0, 0, 1]
    targets_positive = (pono > 0.5).tolist()
    assert targets_positive == [True, False, True, True]  # exactly 0.5 is not positive


def test_image_without_people_has_no_positives():
    targets = AnchorMatcher()(ANCHORS, [GroundTruth.empty(num_joints=2)])
    assert targets.num_positives == 0
    assert not targets.positive.any()
    assert targets.matched.flatten().tolist() == [-1, -1, -1, -1]


def test_batch_gathers_each_image_own_people():
    one_person = GroundTruth(
        boxes=torch.tensor([[20.0, 0.0, 30.0, 10.0]]),
        kp2d=torch.full((1, 2, 2), 25.0),
        kp3d=torch.ones(1, 2, 3),
    )
    targets = AnchorMatcher()(ANCHORS, [two_people(), one_person])
    assert targets.positive.shape == (2, 1, 4, 1)
    # Image 1: only a3 matches its person; its flat index is 4 + 3 = 7.
    assert targets.positive_index.tolist() == [0, 1, 2, 7]
    torch.testing.assert_close(targets.kp3d[3], torch.ones(2, 3))
    torch.testing.assert_close(targets.boxes[3], torch.tensor([20.0, 0.0, 30.0, 10.0]))


def test_readout_labels_in_the_three_modes():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    offsets, kp2d = crafted_predictions()
    labels = {
        mode: readout_labels(targets, offsets, kp2d, mode).flatten().tolist()
        for mode in ("none", "box", "pose")
    }
    # none: O > 0.5.
    assert labels["none"] == [1.0, 1.0, 1.0, 0.0]
    # box: a0 1 * 1; a1 21/26 * 1 = 0.81; a2 1 * 30/170 = 0.18.
    assert labels["box"] == [1.0, 1.0, 0.0, 0.0]
    # pose: a0 mean(1, 0.75/1.25 = 0.6) = 0.8; a1 21/26 * 0.3/1.7 = 0.14;
    # a2 1 * mean(1, 0.2/1.8) = 0.56.
    assert labels["pose"] == [1.0, 0.0, 1.0, 0.0]


def test_pose_selection_uses_only_valid_joints():
    targets = AnchorMatcher()(ANCHORS, [two_people(torch.tensor([[True, True], [True, False]]))])
    offsets, kp2d = crafted_predictions()
    kp2d[0, 0, 0, 0, 1] = torch.tensor([1.5, 0.0])  # a0: joint 1 IoU 0, mean (1 + 0) / 2 = 0.5 -> 0
    labels = readout_labels(targets, offsets, kp2d, "pose").flatten().tolist()
    # a2 now sees only p1's joint 0, predicted exactly: 1 * 1 > 0.5.
    assert labels == [0.0, 0.0, 1.0, 0.0]


def test_person_without_2d_joints_falls_back_to_box_overlap():
    targets = AnchorMatcher()(ANCHORS, [two_people(torch.tensor([[True, True], [False, False]]))])
    offsets, kp2d = crafted_predictions()
    assert readout_labels(targets, offsets, kp2d, "pose").flatten().tolist() == [1, 1, 0, 0]


def test_readout_labels_carry_no_gradient():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    offsets, kp2d = crafted_predictions()
    offsets.requires_grad_(True)
    kp2d.requires_grad_(True)
    labels = readout_labels(targets, offsets, kp2d, "pose")
    assert not labels.requires_grad


def test_unknown_selection_mode():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    offsets, kp2d = crafted_predictions()
    with pytest.raises(ValueError, match="unknown anchor selection mode"):
        readout_labels(targets, offsets, kp2d, "best")


def test_ground_truth_shape_check():
    with pytest.raises(ValueError, match="shapes disagree"):
        GroundTruth(boxes=torch.zeros(2, 4), kp2d=torch.zeros(3, 5, 2), kp3d=torch.zeros(3, 5, 3))
