"""Each loss term and the automatic weighting (eq. 5-15), by hand on the crafted scene.

With the predictions of crafted_scene.py at positives a0 (p0), a1 (p1), a2 (p1):
- box IoU: a0 1, a1 1, a2 30/170 = 3/17 -> loc terms 0, 0, (14/17)^2;
- 2D unit-square IoU per joint: a0 (1, 0.6), a1 (3/17, 3/17), a2 (1, 1/9);
- 3D with all-zero predictions: squared norms a0 (0, 0.14), a1 (0, 0.25), a2 (0, 0.25);
- zero score logits give a BCE of log 2 at every anchor, whatever the labels.
"""

import math

import pytest
import torch
from crafted_scene import ANCHORS, crafted_predictions, two_people

from crowdpose3d.core.boxes import box_iou
from crowdpose3d.core.losses import (
    LossWeights,
    PandaNetLoss,
    box_loss,
    pose2d_loss,
    pose3d_loss,
)
from crowdpose3d.core.model import PandaNetOutput
from crowdpose3d.core.targets import AnchorMatcher, GroundTruth

LOC = [0.0, 0.0, (14 / 17) ** 2]
LOSS_2D = [[0.0, 0.4**2], [(14 / 17) ** 2, (14 / 17) ** 2], [0.0, (8 / 9) ** 2]]
LOSS_3D = [[0.0, 0.14], [0.0, 0.25], [0.0, 0.25]]


def crafted_outputs(requires_grad=False):
    offsets, kp2d = crafted_predictions()
    outputs = PandaNetOutput(
        scores=torch.zeros(1, 1, 4, 1),
        box_offsets=offsets,
        kp2d=kp2d,
        kp3d=torch.zeros(1, 1, 4, 1, 2, 3),
    )
    if requires_grad:
        for tensor in outputs:
            tensor.requires_grad_(True)
    return outputs


def test_individual_terms_hand_computed():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    assert box_loss(a, b).item() == pytest.approx((6 / 7) ** 2)
    assert pose2d_loss(torch.zeros(1, 1, 2), torch.tensor([[[0.5, 0.0]]])).item() == (
        pytest.approx((2 / 3) ** 2)
    )
    assert pose3d_loss(torch.zeros(1, 1, 3), torch.tensor([[[1.0, 2.0, 2.0]]])).item() == 9.0
    assert box_iou(a, b).item() == pytest.approx(1 / 7)


def test_total_with_unit_weights():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    result = PandaNetLoss(num_anchors=1, num_joints=2)(crafted_outputs(), targets)
    loc = sum(LOC) / 3
    loss_2d = sum(map(sum, LOSS_2D)) / 6
    loss_3d = sum(map(sum, LOSS_3D)) / 6
    assert result.parts["cls"].item() == pytest.approx(math.log(2))
    assert result.parts["loc"].item() == pytest.approx(loc)
    assert result.parts["2d"].item() == pytest.approx(loss_2d)
    assert result.parts["3d"].item() == pytest.approx(loss_3d)
    assert result.total.item() == pytest.approx(math.log(2) + loc + loss_2d + loss_3d)
    assert result.parts["num_positives"].item() == 3
    assert result.parts["num_readout"].item() == 2  # pose selection keeps a0 and a2
    assert result.weights["task/cls"].item() == 1.0


def test_weighted_total_with_regularisers():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    loss = PandaNetLoss(num_anchors=1, num_joints=2, weighting="task+anchor+joint")
    task, anchor_cls, anchor_loc = [0.5, -0.2, 0.3, 1.0], 0.7, -0.4
    joint_2d, joint_3d = [0.1, 0.2], [-0.3, 0.6]
    with torch.no_grad():
        loss.weights.task.copy_(torch.tensor(task))
        loss.weights.anchor_cls.fill_(anchor_cls)
        loss.weights.anchor_loc.fill_(anchor_loc)
        loss.weights.joint_2d.copy_(torch.tensor([joint_2d]))
        loss.weights.joint_3d.copy_(torch.tensor([joint_3d]))
    result = loss(crafted_outputs(), targets)

    def weighted(s_task, data, regulariser):
        return math.exp(-s_task) * data + s_task + regulariser

    def joint_data(per_joint, s_joint):
        return sum(math.exp(-s_joint[k]) * row[k] for row in per_joint for k in range(2)) / 6

    cls = weighted(task[0], math.exp(-anchor_cls) * math.log(2), anchor_cls)
    loc = weighted(task[1], math.exp(-anchor_loc) * sum(LOC) / 3, anchor_loc)
    p2d = weighted(task[2], joint_data(LOSS_2D, joint_2d), sum(joint_2d) / 2)
    p3d = weighted(task[3], joint_data(LOSS_3D, joint_3d), sum(joint_3d) / 2)
    assert result.parts["weighted/cls"].item() == pytest.approx(cls)
    assert result.parts["weighted/loc"].item() == pytest.approx(loc)
    assert result.parts["weighted/2d"].item() == pytest.approx(p2d)
    assert result.parts["weighted/3d"].item() == pytest.approx(p3d)
    assert result.total.item() == pytest.approx(cls + loc + p2d + p3d)
    assert result.weights["task/loc"].item() == pytest.approx(math.exp(0.2))
    torch.testing.assert_close(result.weights["joint/3d"], torch.exp(-torch.tensor([joint_3d])))


@pytest.mark.parametrize(
    ("mode", "learned"),
    [
        ("fixed", set()),
        ("task", {"task"}),
        ("task+anchor", {"task", "anchor_cls", "anchor_loc"}),
        ("task+anchor+joint", {"task", "anchor_cls", "anchor_loc", "joint_2d", "joint_3d"}),
    ],
)
def test_weighting_modes_learn_the_right_weights(mode, learned):
    weights = LossWeights(num_anchors=3, num_joints=5, mode=mode)
    trainable = {name for name, p in weights.named_parameters() if p.requires_grad}
    assert trainable == learned
    assert weights.joint_2d.shape == (3, 5)


def test_fixed_weights_total_is_the_plain_sum():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    fixed = PandaNetLoss(1, 2, weighting="fixed")(crafted_outputs(), targets)
    parts = fixed.parts
    expected = parts["cls"] + parts["loc"] + parts["2d"] + parts["3d"]
    assert fixed.total.item() == pytest.approx(expected.item())


def test_learned_weight_settles_at_inverse_loss():
    """d/ds [exp(-s) L + s] = 0 at s = log L: the weight lambda converges to 1 / L."""
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    loss = PandaNetLoss(1, 2, weighting="task")
    optimiser = torch.optim.SGD(loss.parameters(), lr=0.5)
    outputs = crafted_outputs()
    for _ in range(300):
        optimiser.zero_grad()
        result = loss(outputs, targets)
        result.total.backward()
        optimiser.step()
    assert result.weights["task/cls"].item() == pytest.approx(1 / math.log(2), rel=1e-3)
    assert result.weights["task/3d"].item() == pytest.approx(1 / (0.64 / 6), rel=1e-2)


def test_gradients_reach_the_predictions_but_not_the_labels():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    outputs = crafted_outputs(requires_grad=True)
    PandaNetLoss(1, 2)(outputs, targets).total.backward()
    assert outputs.scores.grad.abs().sum() > 0
    assert outputs.kp3d.grad[0, 0, 0, 0, 1].abs().sum() > 0  # a0's joint 1 is off
    assert outputs.kp3d.grad[0, 0, 3].abs().sum() == 0  # a3 is not positive
    assert outputs.box_offsets.grad[0, 0, 2].abs().sum() > 0  # a2's box is off


def test_no_people_keeps_only_classification():
    targets = AnchorMatcher()(ANCHORS, [GroundTruth.empty(num_joints=2)])
    outputs = crafted_outputs(requires_grad=True)
    result = PandaNetLoss(1, 2)(outputs, targets)
    assert result.total.item() == pytest.approx(math.log(2))
    assert "loc" not in result.parts
    result.total.backward()
    assert outputs.kp2d.grad is not None and outputs.kp2d.grad.abs().sum() == 0


def test_people_without_3d_labels_add_no_3d_term():
    people = two_people()
    people.kp3d_valid = torch.zeros(2, 2, dtype=torch.bool)  # COCO-like: 2D only
    targets = AnchorMatcher()(ANCHORS, [people])
    result = PandaNetLoss(1, 2)(crafted_outputs(), targets)
    assert "3d" not in result.parts and "weighted/3d" not in result.parts
    assert "2d" in result.parts


def test_invalid_joints_are_left_out():
    people = two_people(kp2d_valid=torch.tensor([[True, False], [True, True]]))
    targets = AnchorMatcher()(ANCHORS, [people])
    result = PandaNetLoss(1, 2)(crafted_outputs(), targets)
    expected = (2 * (14 / 17) ** 2 + (8 / 9) ** 2) / 5  # a0's joint 1 dropped
    assert result.parts["2d"].item() == pytest.approx(expected)


def test_unknown_weighting_mode():
    with pytest.raises(ValueError, match="unknown loss weighting"):
        LossWeights(1, 2, mode="all")


def test_balanced_classification_averages_positives_and_negatives_apart():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    outputs = crafted_outputs()
    scores = torch.tensor([2.0, 0.0, -1.0, -3.0]).reshape(1, 1, 4, 1)
    outputs = outputs._replace(scores=scores)
    result = PandaNetLoss(1, 2, classification_balance="balanced")(outputs, targets)
    # Pose selection labels a0 and a2 (see test_targets): positives a0, a2; negatives a1, a3.
    softplus = torch.nn.functional.softplus
    positive = (softplus(torch.tensor(-2.0)) + softplus(torch.tensor(1.0))) / 2
    negative = (softplus(torch.tensor(0.0)) + softplus(torch.tensor(-3.0))) / 2
    assert result.parts["weighted/cls"].item() == pytest.approx((positive + negative).item())
    with pytest.raises(ValueError, match="unknown classification balance"):
        PandaNetLoss(1, 2, classification_balance="focal")


def test_hard_negative_term_adds_the_mean_of_the_hardest_negatives(monkeypatch):
    import crowdpose3d.core.losses as losses

    monkeypatch.setattr(losses, "MIN_HARD_NEGATIVES", 1)
    monkeypatch.setattr(losses, "HARD_NEGATIVES_PER_POSITIVE", 0)
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    scores = torch.tensor([2.0, 0.0, -1.0, -3.0]).reshape(1, 1, 4, 1)
    outputs = crafted_outputs()._replace(scores=scores)
    plain = PandaNetLoss(1, 2, classification_balance="balanced")(outputs, targets)
    hard = PandaNetLoss(1, 2, classification_balance="balanced+hard")(outputs, targets)
    # Negatives a1 (logit 0) and a3 (logit -3): the hardest is a1, BCE softplus(0).
    extra = torch.nn.functional.softplus(torch.tensor(0.0)).item()
    difference = hard.parts["weighted/cls"].item() - plain.parts["weighted/cls"].item()
    assert difference == pytest.approx(extra)


def test_pose3d_share_multiplies_only_the_3d_term_and_its_gradient():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    plain_outputs = crafted_outputs(requires_grad=True)
    plain = PandaNetLoss(1, 2, weighting="task")(plain_outputs, targets)
    shared_outputs = crafted_outputs(requires_grad=True)
    shared = PandaNetLoss(1, 2, weighting="task", pose3d_share=4.0)(shared_outputs, targets)
    assert shared.parts["weighted/3d"].item() == pytest.approx(4 * plain.parts["weighted/3d"])
    assert shared.parts["weighted/2d"].item() == pytest.approx(plain.parts["weighted/2d"])
    plain.total.backward()
    shared.total.backward()
    assert torch.allclose(shared_outputs.kp3d.grad, 4 * plain_outputs.kp3d.grad)
    assert torch.allclose(shared_outputs.kp2d.grad, plain_outputs.kp2d.grad)
    with pytest.raises(ValueError, match="pose3d_share"):
        PandaNetLoss(1, 2, pose3d_share=0.0)


def test_start_at_equilibrium_sets_each_task_weight_to_its_inverse_loss():
    targets = AnchorMatcher()(ANCHORS, [two_people()])
    loss = PandaNetLoss(1, 2, weighting="task")
    first = loss(crafted_outputs(), targets)
    loss.start_at_equilibrium(first)
    again = loss(crafted_outputs(), targets)
    assert again.weights["task/cls"].item() == pytest.approx(1 / math.log(2), rel=1e-5)
    assert again.weights["task/3d"].item() == pytest.approx(1 / (0.64 / 6), rel=1e-5)
    # At the equilibrium the gradient of every task's log-variance is zero.
    again.total.backward()
    assert loss.weights.task.grad.abs().max().item() < 1e-5
    fixed = PandaNetLoss(1, 2, weighting="fixed")
    fixed.start_at_equilibrium(fixed(crafted_outputs(), targets))
    assert fixed.weights.task.abs().max().item() == 0.0  # fixed weights stay at 1
