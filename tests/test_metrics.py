"""Evaluation metrics on hand-made cases: matching, AP, GT-scaled 3DPCK / MPJPE, tables."""

import json
import math

import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22, normalize_pose
from crowdpose3d.data.sample import Sample
from crowdpose3d.engine.metrics import (
    PoseEvaluation,
    average_precision,
    box_iou_matrix,
    joint_errors,
    match_people,
    scale_to_ground_truth,
    sequence_group,
)
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.poses import Poses

K = JTA22.num_joints
WRISTS = JTA22.group_indices("wrists")  # (6, 10)


def person(depth: float, seed: int = 0) -> np.ndarray:
    """A (K, 3) JTA22 pose in metres whose root is ``depth`` metres in front of the camera."""
    pose = np.random.default_rng(seed).normal(scale=0.2, size=(K, 3))
    pose -= pose[JTA22.root]
    return (pose + [0.0, 0.0, depth]).astype(np.float32)


def box(i: int) -> list[float]:
    """Non-overlapping boxes: person i stands in its own 10-pixel column."""
    return [10.0 * i, 0.0, 10.0 * i + 8.0, 30.0]


def sample(poses: list[np.ndarray], sequence: str = "jta/test/seq_0", valid=None) -> Sample:
    n = len(poses)
    kp3d = np.array(poses, dtype=np.float32).reshape(n, K, 3)
    valid = np.ones((n, K), dtype=bool) if valid is None else valid
    return Sample(
        image=np.zeros((32, 128, 3), dtype=np.uint8),
        boxes=np.array([box(i) for i in range(n)]).reshape(n, 4),
        kp2d=np.zeros((n, K, 2)),
        kp3d=kp3d,
        kp2d_valid=valid,
        kp3d_valid=valid,
        visible=valid,
        person_ids=np.arange(n),
        intrinsics=Intrinsics(100.0, 100.0, 64.0, 16.0, 128, 32),
        skeleton=JTA22,
        sequence=sequence,
    )


def normalised(pose: np.ndarray) -> np.ndarray:
    """The network's target for a GT pose: root-relative, bone lengths summing to 1."""
    return normalize_pose(pose.astype(np.float64), JTA22)[0]


def scale_of(pose: np.ndarray) -> float:
    return float(normalize_pose(pose.astype(np.float64), JTA22)[1])


def predictions(rel_poses: list[np.ndarray], boxes: list[list[float]], scores=None) -> Poses:
    n = len(rel_poses)
    return Poses(
        boxes=np.array(boxes).reshape(n, 4),
        scores=np.linspace(0.9, 0.5, n) if scores is None else scores,
        kp2d=np.zeros((n, K, 2)),
        kp3d_rel=np.array(rel_poses).reshape(n, K, 3),
    )


def evaluate_one(poses: Poses, gt: Sample):
    evaluation = PoseEvaluation(JTA22)
    evaluation.add(poses, gt)
    return evaluation.result()


# ---------------------------------------------------------------------- matching and AP
def test_box_iou_matrix():
    iou = box_iou_matrix(np.array([[0, 0, 2, 2], [0, 0, 0, 0]]), np.array([[1, 0, 3, 2]]))
    np.testing.assert_allclose(iou, [[2 / 6], [0.0]])


def test_matching_is_greedy_by_score_and_duplicates_stay_unmatched():
    gt = np.array([[0, 0, 10, 10], [100, 0, 110, 10]], dtype=float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [100, 0, 110, 10], [50, 0, 60, 10]], float)
    # The lower-scoring copy of person 0 is a duplicate; the box in between matches nobody.
    matches = match_people(pred, np.array([0.6, 0.9, 0.8, 0.7]), gt)
    np.testing.assert_array_equal(matches, [-1, 0, 1, -1])


def test_matching_needs_iou_of_one_half():
    gt = np.array([[0, 0, 10, 10]], dtype=float)
    half = np.array([[0, 0, 10, 5]], dtype=float)  # IoU exactly 0.5: a match
    below = np.array([[0, 0, 10, 4.9]], dtype=float)
    assert match_people(half, np.array([1.0]), gt)[0] == 0
    assert match_people(below, np.array([1.0]), gt)[0] == -1


def test_average_precision_of_a_hand_made_ranking():
    # Ranked TP, FP, TP with 3 GT: recall 1/3, 1/3, 2/3; precision 1, 1/2, 2/3.
    # All-point envelope: 1 up to recall 1/3, 2/3 up to recall 2/3 -> 1/3 + 2/9 = 5/9.
    scores = np.array([0.7, 0.9, 0.8])  # given out of order: the function ranks them
    is_tp = np.array([True, True, False])
    assert average_precision(scores, is_tp, 3) == pytest.approx(5 / 9)
    assert average_precision(np.zeros(0), np.zeros(0, bool), 2) == 0.0
    assert math.isnan(average_precision(scores, is_tp, 0))
    assert average_precision(np.array([0.5, 0.4]), np.array([True, True]), 2) == 1.0


# ---------------------------------------------------------------------- 3D errors
def test_a_prediction_equal_to_the_normalised_gt_is_0_mm_off():
    gt = np.stack([person(12.0, seed=1), person(30.0, seed=2)])
    pred_rel = np.stack([normalised(p) for p in gt])
    pred, gt_rel, valid = scale_to_ground_truth(pred_rel, gt, np.ones((2, K), bool), JTA22)
    np.testing.assert_allclose(pred, gt_rel, atol=1e-6)
    np.testing.assert_allclose(gt_rel, gt - gt[:, JTA22.root : JTA22.root + 1], atol=1e-5)
    assert valid.all()
    np.testing.assert_allclose(joint_errors(pred_rel, gt, valid, JTA22), 0.0, atol=1e-3)

    result = evaluate_one(predictions(list(pred_rel), [box(0), box(1)]), sample(list(gt)))
    assert result.ap == pytest.approx(100.0)
    assert result.pck3d == pytest.approx(100.0)
    assert result.mpjpe_mm == pytest.approx(0.0, abs=1e-3)


def test_scale_comes_from_the_gt_not_the_prediction():
    gt = person(8.0, seed=3)
    rel = normalised(gt)
    rel[5] += [0.1 / scale_of(gt), 0.0, 0.0]  # right elbow 100 mm off at the GT's scale
    errors = joint_errors(rel[None], gt[None], np.ones((1, K), bool), JTA22)
    assert errors[0, 5] == pytest.approx(100.0, abs=1e-3)
    assert np.delete(errors[0], 5).max() < 1e-3


@pytest.mark.parametrize(("offset_mm", "correct"), [(149.9, True), (150.0, False)])
def test_150_mm_is_not_correct(offset_mm, correct):
    gt = person(15.0, seed=4)
    rel = normalised(gt)
    rel[WRISTS[0]] += [0.0, offset_mm / 1000.0 / scale_of(gt), 0.0]
    result = evaluate_one(predictions([rel], [box(0)]), sample([gt]))
    assert result.pck3d == pytest.approx(100.0 * (K - (not correct)) / K)
    assert result.mpjpe_mm == pytest.approx(offset_mm / K, abs=1e-3)


def test_a_missed_person_counts_all_its_joints_wrong():
    gt = [person(5.0, seed=5), person(6.0, seed=6)]
    result = evaluate_one(predictions([normalised(gt[0])], [box(0)]), sample(gt))
    assert result.pck3d == pytest.approx(50.0)  # 22 of 44 joints
    assert result.mpjpe_mm == pytest.approx(0.0, abs=1e-3)  # over the matched person only
    assert result.ap == pytest.approx(50.0)  # recall 1/2 at precision 1
    assert (result.num_people, result.num_detections, result.num_matched) == (2, 1, 1)


def test_a_duplicate_is_a_false_positive_and_leaves_3dpck_alone():
    gt = [person(5.0, seed=7), person(6.0, seed=8)]
    rel = [normalised(p) for p in gt]
    garbage = np.full((K, 3), 5.0)
    # Ranked: person 0 (TP), its duplicate (FP), person 1 (TP).
    poses = predictions([rel[0], garbage, rel[1]], [box(0), box(0), box(1)], [0.9, 0.8, 0.7])
    result = evaluate_one(poses, sample(gt))
    # recall 1/2, 1/2, 1; precision 1, 1/2, 2/3 -> AP = 1/2 * 1 + 1/2 * 2/3.
    assert result.ap == pytest.approx(100.0 * (0.5 + 1 / 3))
    assert result.pck3d == pytest.approx(100.0)
    assert result.mpjpe_mm == pytest.approx(0.0, abs=1e-3)
    assert (result.num_detections, result.num_matched) == (3, 2)


def test_unlabelled_joints_are_ignored():
    gt = person(9.0, seed=9)
    rel = normalised(gt)
    rel[WRISTS[1]] = [3.0, 3.0, 3.0]  # far off, but the GT wrist is not labelled
    valid = np.ones((1, K), dtype=bool)
    valid[0, WRISTS[1]] = False
    # Scale: the bones that reach the unlabelled wrist do not count (normalize_pose).
    rel_gt = normalize_pose(gt.astype(np.float64), JTA22, valid[0])[0]
    rel[np.arange(K) != WRISTS[1]] = rel_gt[np.arange(K) != WRISTS[1]]
    result = evaluate_one(predictions([rel], [box(0)]), sample([gt], valid=valid))
    assert result.pck3d == pytest.approx(100.0)
    assert result.pck_by_group["wrists"] == pytest.approx(100.0)  # the other wrist only


def test_a_person_without_3d_root_counts_for_ap_only():
    gt = [person(5.0, seed=10), person(6.0, seed=11)]
    valid = np.ones((2, K), dtype=bool)
    valid[1, JTA22.root] = False
    result = evaluate_one(predictions([normalised(gt[0])], [box(0)]), sample(gt, valid=valid))
    assert result.pck3d == pytest.approx(100.0)  # person 1 has no 3D evaluation
    assert result.ap == pytest.approx(50.0)


# ---------------------------------------------------------------------- tables
def test_distance_bins_use_the_gt_root_depth():
    depths = [5.0, 10.0, 15.0, 25.0, 35.0, 45.0]  # exactly 10 m belongs to 10-20
    gt = [person(d, seed=20 + i) for i, d in enumerate(depths)]
    found = [0, 3]  # the people at 5 m and 25 m are detected, the others missed
    poses = predictions([normalised(gt[i]) for i in found], [box(i) for i in found])
    result = evaluate_one(poses, sample(gt))
    assert list(result.pck_by_distance) == ["<10", "10-20", "20-30", "30-40", ">40", "all"]
    assert result.pck_by_distance == pytest.approx(
        {"<10": 100.0, "10-20": 0.0, "20-30": 100.0, "30-40": 0.0, ">40": 0.0, "all": 100 / 3}
    )
    assert result.people_by_distance == {
        "<10": 1,
        "10-20": 2,
        "20-30": 1,
        "30-40": 1,
        ">40": 1,
        "all": 6,
    }


def test_empty_distance_bin_is_nan():
    result = evaluate_one(predictions([], []), sample([person(5.0)]))
    assert math.isnan(result.pck_by_distance["20-30"])
    assert result.to_dict()["pck_by_distance"]["20-30"] is None


def test_joint_groups_follow_table_4():
    gt = person(12.0, seed=30)
    rel = normalised(gt)
    rel[list(WRISTS)] += 0.3 / scale_of(gt)  # both wrists ~520 mm off
    result = evaluate_one(predictions([rel], [box(0)]), sample([gt]))
    assert list(result.pck_by_group) == [
        "head",
        "neck",
        "clavicles",
        "shoulders",
        "elbows",
        "wrists",
        "spines",
        "hips",
        "knees",
        "ankles",
        "all",
    ]
    assert result.pck_by_group["wrists"] == 0.0
    assert all(
        v == pytest.approx(100.0)
        for g, v in result.pck_by_group.items()
        if g not in ("wrists", "all")
    )
    assert result.pck_by_group["all"] == pytest.approx(100.0 * 20 / 22)


def test_per_sequence_rows_and_their_mean():
    evaluation = PoseEvaluation(JTA22)
    gt_a, gt_b = person(5.0, seed=40), person(5.0, seed=41)
    rel_b = normalised(gt_b)
    rel_b[WRISTS[0]] += [0.0, 0.0, 0.022 / scale_of(gt_b)]  # 22 mm on one joint: MPJPE 1 mm
    evaluation.add(
        predictions([normalised(gt_a)], [box(0)]), sample([gt_a], "panoptic/160422_haggling1/00_16")
    )
    evaluation.add(predictions([rel_b], [box(0)]), sample([gt_b], "panoptic/160422_mafia2/00_30"))
    evaluation.add(predictions([], []), sample([gt_b], "panoptic/160422_mafia2/00_16"))
    result = evaluation.result()
    assert list(result.by_sequence) == ["Haggling", "Mafia", "mean"]
    assert result.by_sequence["Haggling"]["mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert result.by_sequence["Mafia"]["mpjpe_mm"] == pytest.approx(1.0, abs=1e-3)
    assert result.by_sequence["Mafia"]["pck3d"] == pytest.approx(50.0)
    assert result.by_sequence["Mafia"]["images"] == 2
    assert result.by_sequence["mean"]["pck3d"] == pytest.approx(75.0)
    assert result.pck3d == pytest.approx(200 / 3)  # pooled over joints


def test_sequence_group_names():
    assert sequence_group("panoptic/160906_pizza1/00_16") == "Pizza"
    assert sequence_group("panoptic/160422_ultimatum1/00_30") == "Ultimatum"
    assert sequence_group("mupots/TS12") == "TS12"
    assert sequence_group("jta/test/seq_7") == "seq_7"


def test_result_is_json_and_prints_the_tables():
    gt = person(25.0, seed=50)
    result = evaluate_one(predictions([normalised(gt)], [box(0)]), sample([gt]))
    data = json.loads(json.dumps(result.to_dict()))
    for key in ("ap", "pck3d", "mpjpe_mm", "pck_by_distance", "pck_by_group", "by_sequence"):
        assert key in data
    assert data["mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    text = result.format_tables()
    for heading in ("AP", "3DPCK", "MPJPE", "10-20", ">40", "clavicles", "seq_0"):
        assert heading in text


def test_nothing_evaluated_gives_nan_not_errors():
    result = PoseEvaluation(JTA22).result()
    assert math.isnan(result.ap) and math.isnan(result.pck3d) and math.isnan(result.mpjpe_mm)
    assert "-" in result.format_tables()
