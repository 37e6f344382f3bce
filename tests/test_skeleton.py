"""Tests for crowdpose3d.core.skeleton: joint sets, mappings and bone-length normalisation."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from crowdpose3d.core.skeleton import (
    JTA22,
    MUPOTS17,
    PANOPTIC19,
    SKELETONS,
    Skeleton,
    bone_lengths,
    denormalize_pose,
    get_skeleton,
    joint_mapping,
    map_joints,
    normalize_pose,
)

ALL = [JTA22, PANOPTIC19, MUPOTS17]


def _mirror_name(name: str) -> str:
    """left_x <-> right_x and l_x <-> r_x; centre joints unchanged."""
    for a, b in (("left_", "right_"), ("l_", "r_")):
        if name.startswith(a):
            return b + name[len(a) :]
        if name.startswith(b):
            return a + name[len(b) :]
    return name


# ---------------------------------------------------------------------- joint sets
@pytest.mark.parametrize(
    ("skeleton", "num_joints", "root_name"),
    [(JTA22, 22, "spine4"), (PANOPTIC19, 19, "body_center"), (MUPOTS17, 17, "pelvis")],
)
def test_joint_counts_and_root(skeleton: Skeleton, num_joints: int, root_name: str) -> None:
    assert skeleton.num_joints == num_joints
    assert skeleton.num_bones == num_joints - 1
    assert skeleton.joints[skeleton.root] == root_name
    assert SKELETONS[skeleton.name] is skeleton


def test_dataset_joint_orders() -> None:
    # JTA README "Joint Types" 0..21.
    assert JTA22.joints == (
        "head_top", "head_center", "neck",
        "right_clavicle", "right_shoulder", "right_elbow", "right_wrist",
        "left_clavicle", "left_shoulder", "left_elbow", "left_wrist",
        "spine0", "spine1", "spine2", "spine3", "spine4",
        "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    )  # fmt: skip
    # panoptic-toolbox README, coco19 order.
    assert PANOPTIC19.joints[:3] == ("neck", "nose", "body_center")
    assert PANOPTIC19.index("l_shoulder") == 3
    assert PANOPTIC19.index("r_shoulder") == 9
    assert PANOPTIC19.joints[15:] == ("l_eye", "l_ear", "r_eye", "r_ear")
    # MPI-INF-3DHP "relevant" 17 joints (MuPoTS-3D); pelvis is joint 15 (1-based).
    assert MUPOTS17.joints[:2] == ("head_top", "neck")
    assert MUPOTS17.index("r_shoulder") == 2
    assert MUPOTS17.index("l_ankle") == 13
    assert MUPOTS17.joints[14:] == ("pelvis", "spine", "head")


@pytest.mark.parametrize("skeleton", ALL, ids=lambda s: s.name)
def test_bones_form_a_tree_rooted_at_the_root(skeleton: Skeleton) -> None:
    children: dict[int, list[int]] = {}
    for parent, child in skeleton.bones:
        children.setdefault(parent, []).append(child)
    seen, queue = {skeleton.root}, deque([skeleton.root])
    while queue:
        for child in children.get(queue.popleft(), []):
            assert child not in seen, "a joint reached twice: not a tree"
            seen.add(child)
            queue.append(child)
    assert seen == set(range(skeleton.num_joints))
    parents = skeleton.parents
    assert parents[skeleton.root] == -1
    assert sum(p == -1 for p in parents) == 1


def test_jta_spine_runs_from_the_neck_down_to_the_root() -> None:
    parents = JTA22.parents
    # spine0 hangs under the neck in JTA's limbs, so walking up from the neck reaches spine4.
    chain, joint = [], JTA22.index("neck")
    while joint != -1:
        chain.append(JTA22.joints[joint])
        joint = parents[joint]
    assert chain == ["neck", "spine0", "spine1", "spine2", "spine3", "spine4"]
    assert parents[JTA22.index("right_hip")] == JTA22.index("spine4")
    assert parents[JTA22.index("left_hip")] == JTA22.index("spine4")


@pytest.mark.parametrize("skeleton", ALL, ids=lambda s: s.name)
def test_flip_permutation_is_an_involution_swapping_left_and_right(skeleton: Skeleton) -> None:
    perm = skeleton.flip_permutation()
    assert sorted(perm) == list(range(skeleton.num_joints))
    assert [perm[perm[i]] for i in range(skeleton.num_joints)] == list(range(skeleton.num_joints))
    for i, name in enumerate(skeleton.joints):
        assert skeleton.joints[perm[i]] == _mirror_name(name)
    assert perm[skeleton.root] == skeleton.root
    assert any(perm[i] != i for i in range(skeleton.num_joints))


def test_jta_groups_follow_paper_table_4() -> None:
    names = [name for name, _ in JTA22.groups]
    assert names == [
        "head", "neck", "clavicles", "shoulders", "elbows",
        "wrists", "spines", "hips", "knees", "ankles",
    ]  # fmt: skip
    covered = sorted(i for _, indices in JTA22.groups for i in indices)
    assert covered == list(range(22))  # every joint in exactly one group
    assert JTA22.group_indices("spines") == (11, 12, 13, 14, 15)
    assert [JTA22.joints[i] for i in JTA22.group_indices("clavicles")] == [
        "right_clavicle",
        "left_clavicle",
    ]
    with pytest.raises(ValueError, match="no group 'torso'"):
        JTA22.group_indices("torso")


def test_get_skeleton_and_index_errors() -> None:
    assert get_skeleton("jta22") is JTA22
    assert get_skeleton("MuPoTS17") is MUPOTS17
    with pytest.raises(ValueError, match="jta22, mupots17, panoptic19"):
        get_skeleton("h36m17")
    assert JTA22.index("right_knee") == 17
    with pytest.raises(ValueError, match="no joint 'pelvis'"):
        JTA22.index("pelvis")


_TINY = {
    "name": "tiny",
    "joints": ("root", "l_a", "r_a", "top"),
    "bones": ((0, 1), (0, 2), (0, 3)),
    "flip_pairs": ((1, 2),),
    "root": 0,
}


def test_custom_skeleton_accepts_lists_and_mapping_groups() -> None:
    tiny = Skeleton(**{**_TINY, "bones": [[0, 1], [0, 2], [0, 3]], "groups": {"arms": [1, 2]}})
    assert tiny.bones == ((0, 1), (0, 2), (0, 3))
    assert tiny.groups == (("arms", (1, 2)),)
    assert tiny.flip_permutation() == (0, 2, 1, 3)
    hash(tiny)  # frozen and hashable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root": 4}, "root index 4"),
        ({"bones": ((0, 1), (0, 2))}, "has 3 bones"),
        ({"bones": ((0, 1), (0, 2), (0, 7))}, "outside 0..3"),
        ({"bones": ((0, 1), (1, 2), (2, 1))}, "a second time"),
        ({"bones": ((0, 1), (3, 2), (0, 3))}, "parents-first"),
        ({"flip_pairs": ((1, 2), (2, 3))}, "reuses a joint"),
        ({"flip_pairs": ((1, 1),)}, "with itself"),
        ({"flip_pairs": ((0, 3),)}, "root joint"),
        ({"bones": ((0, 1), (1, 2), (0, 3)), "flip_pairs": ((1, 3),)}, "onto themselves"),
        ({"joints": ("root", "l_a", "l_a", "top")}, "duplicate joint names"),
        ({"groups": (("g", (9,)),)}, "group 'g'"),
        ({"landmarks": ("pelvis", None)}, "2 landmarks for 4 joints"),
    ],
)
def test_invalid_skeletons_are_rejected(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Skeleton(**{**_TINY, **change})


# ---------------------------------------------------------------------- mappings
def test_jta_to_panoptic_mapping_uses_shared_joints_only() -> None:
    mapping = joint_mapping(JTA22, PANOPTIC19)
    assert mapping.shape == (19,)
    assert mapping.dtype == np.int64
    expect = {
        "neck": "neck", "body_center": "spine4",
        "l_shoulder": "left_shoulder", "l_elbow": "left_elbow", "l_wrist": "left_wrist",
        "l_hip": "left_hip", "l_knee": "left_knee", "l_ankle": "left_ankle",
        "r_shoulder": "right_shoulder", "r_elbow": "right_elbow", "r_wrist": "right_wrist",
        "r_hip": "right_hip", "r_knee": "right_knee", "r_ankle": "right_ankle",
    }  # fmt: skip
    for j, name in enumerate(PANOPTIC19.joints):
        if name in expect:
            assert mapping[j] == JTA22.index(expect[name]), name
        else:
            assert mapping[j] == -1, name  # nose, eyes, ears have no JTA joint


def test_jta_to_mupots_mapping() -> None:
    mapping = joint_mapping(JTA22, MUPOTS17)
    assert mapping[MUPOTS17.index("head_top")] == JTA22.index("head_top")
    assert mapping[MUPOTS17.index("head")] == JTA22.index("head_center")
    assert mapping[MUPOTS17.index("pelvis")] == JTA22.index("spine4")
    assert mapping[MUPOTS17.index("spine")] == -1
    assert mapping[MUPOTS17.index("r_wrist")] == JTA22.index("right_wrist")
    assert (mapping >= 0).sum() == 16
    back = joint_mapping(MUPOTS17, PANOPTIC19)
    assert back[PANOPTIC19.index("body_center")] == MUPOTS17.index("pelvis")
    assert (back >= 0).sum() == 14  # body joints of coco19 without nose, eyes, ears


def test_identity_mapping() -> None:
    for skeleton in ALL:
        np.testing.assert_array_equal(
            joint_mapping(skeleton, skeleton), np.arange(skeleton.num_joints)
        )


def test_map_jta_to_panoptic_and_back_keeps_shared_joints() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2, 22, 3))
    panoptic, valid_p = map_joints(points, JTA22, PANOPTIC19)
    assert panoptic.shape == (2, 19, 3)
    assert valid_p.shape == (2, 19)
    np.testing.assert_array_equal(panoptic[:, PANOPTIC19.index("nose")], 0.0)
    assert not valid_p[:, PANOPTIC19.index("nose")].any()

    back, valid_back = map_joints(panoptic, PANOPTIC19, JTA22, valid_p)
    shared = [
        "neck", "spine4", "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
        "right_ankle", "left_hip", "left_knee", "left_ankle",
    ]  # fmt: skip
    idx = [JTA22.index(n) for n in shared]
    np.testing.assert_array_equal(back[:, idx], points[:, idx])
    assert valid_back[:, idx].all()
    others = [i for i in range(22) if i not in idx]
    assert not valid_back[:, others].any()
    np.testing.assert_array_equal(back[:, others], 0.0)


def test_map_joints_propagates_validity_and_matches_torch() -> None:
    rng = np.random.default_rng(1)
    points = rng.normal(size=(3, 22, 2))
    valid = np.ones((3, 22), dtype=bool)
    valid[1, JTA22.index("left_knee")] = False
    out_np, valid_np = map_joints(points, JTA22, MUPOTS17, valid)
    assert not valid_np[1, MUPOTS17.index("l_knee")]
    assert valid_np[0, MUPOTS17.index("l_knee")]
    assert not valid_np[:, MUPOTS17.index("spine")].any()

    points_t = torch.tensor(points, requires_grad=True)
    out_t, valid_t = map_joints(points_t, JTA22, MUPOTS17, torch.from_numpy(valid))
    assert isinstance(out_t, torch.Tensor) and valid_t.dtype == torch.bool
    np.testing.assert_array_equal(out_t.detach().numpy(), out_np)
    np.testing.assert_array_equal(valid_t.numpy(), valid_np)
    out_t.sum().backward()
    # Each JTA joint with a MuPoTS counterpart gets gradient 1, the others 0.
    used = joint_mapping(JTA22, MUPOTS17)
    expected = np.zeros((3, 22, 2))
    expected[:, used[used >= 0]] = 1.0
    np.testing.assert_array_equal(points_t.grad.numpy(), expected)


def test_map_joints_rejects_wrong_joint_count() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 22, D\)"):
        map_joints(np.zeros((19, 3)), JTA22, PANOPTIC19)


# ---------------------------------------------------------------------- normalisation
ROOT = np.array([1.0, 2.0, 3.0])


def _hand_pose() -> np.ndarray:
    """A JTA pose where only three bones have length: spine4->spine3 = 2,
    spine4->right_hip = 5 (3-4-5), right_hip->right_knee = 12; all others are 0.
    Sum of bone lengths = 19."""
    pose = np.tile(ROOT, (22, 1))
    above = ROOT + [0.0, 2.0, 0.0]
    for name in ("spine3", "spine2", "spine1", "spine0", "neck", "head_center", "head_top",
                 "right_clavicle", "right_shoulder", "right_elbow", "right_wrist",
                 "left_clavicle", "left_shoulder", "left_elbow", "left_wrist"):  # fmt: skip
        pose[JTA22.index(name)] = above
    pose[JTA22.index("right_hip")] = ROOT + [3.0, 4.0, 0.0]
    pose[JTA22.index("right_knee")] = ROOT + [3.0, 4.0, 12.0]
    pose[JTA22.index("right_ankle")] = ROOT + [3.0, 4.0, 12.0]
    return pose


def test_bone_lengths_of_hand_built_pose() -> None:
    lengths = bone_lengths(_hand_pose(), JTA22)
    assert lengths.shape == (21,)
    by_bone = dict(zip(JTA22.bones, lengths, strict=True))
    assert by_bone[(15, 14)] == 2.0
    assert by_bone[(15, 16)] == 5.0
    assert by_bone[(16, 17)] == 12.0
    assert lengths.sum() == 19.0


def test_normalize_hand_built_pose() -> None:
    normalized, scale = normalize_pose(_hand_pose(), JTA22)
    assert scale == pytest.approx(19.0, abs=1e-12)
    np.testing.assert_array_equal(normalized[JTA22.root], 0.0)
    np.testing.assert_allclose(normalized[JTA22.index("right_hip")], [3 / 19, 4 / 19, 0.0])
    np.testing.assert_allclose(normalized[JTA22.index("right_knee")], [3 / 19, 4 / 19, 12 / 19])
    np.testing.assert_allclose(normalized[JTA22.index("head_top")], [0.0, 2 / 19, 0.0])
    assert bone_lengths(normalized, JTA22).sum() == pytest.approx(1.0, abs=1e-12)


def test_normalize_mupots_pose_scale() -> None:
    # pelvis at origin, spine 5 above (0,3,4), neck 10 above the spine, the rest on the neck
    # except the left hip: 3 to the side. Bones: 5 + 10 + 3 = 18.
    pose = np.zeros((17, 3))
    spine, neck = np.array([0.0, 3.0, 4.0]), np.array([0.0, 13.0, 4.0])
    pose[MUPOTS17.index("spine")] = spine
    for name in ("neck", "head", "head_top", "r_shoulder", "r_elbow", "r_wrist",
                 "l_shoulder", "l_elbow", "l_wrist"):  # fmt: skip
        pose[MUPOTS17.index(name)] = neck
    for name in ("l_hip", "l_knee", "l_ankle"):
        pose[MUPOTS17.index(name)] = [3.0, 0.0, 0.0]
    normalized, scale = normalize_pose(pose, MUPOTS17)
    assert scale == pytest.approx(18.0)
    np.testing.assert_allclose(normalized[MUPOTS17.index("neck")], neck / 18.0)


def test_invalid_joints_leave_the_sum_and_are_zeroed() -> None:
    pose = _hand_pose()
    valid = np.ones(22, dtype=bool)
    knee = JTA22.index("right_knee")
    valid[knee] = False
    pose[knee] = np.nan  # a dataset's missing joint must not leak anywhere
    normalized, scale = normalize_pose(pose, JTA22, valid)
    # right_hip->right_knee (12) and right_knee->right_ankle (0) leave the sum: 19 - 12 = 7.
    assert scale == pytest.approx(7.0)
    np.testing.assert_array_equal(normalized[knee], 0.0)
    assert np.isfinite(normalized).all()
    np.testing.assert_allclose(normalized[JTA22.index("right_hip")], [3 / 7, 4 / 7, 0.0])
    lengths = bone_lengths(normalized, JTA22)
    bone_valid = np.array([valid[p] and valid[c] for p, c in JTA22.bones])
    assert lengths[bone_valid].sum() == pytest.approx(1.0)


def test_invalid_root_gives_zeros_and_zero_scale_without_nan() -> None:
    poses = np.stack([_hand_pose(), _hand_pose()])  # (2, 22, 3)
    valid = np.ones((2, 22), dtype=bool)
    valid[0, JTA22.root] = False
    normalized, scale = normalize_pose(poses, JTA22, valid)
    np.testing.assert_array_equal(scale, [0.0, 19.0])
    np.testing.assert_array_equal(normalized[0], 0.0)
    assert bone_lengths(normalized[1], JTA22).sum() == pytest.approx(1.0)


def test_degenerate_pose_gives_zero_scale() -> None:
    normalized, scale = normalize_pose(np.tile(ROOT, (22, 1)), JTA22)
    assert scale == 0.0
    np.testing.assert_array_equal(normalized, 0.0)
    # All joints invalid except the root: no bone has two valid ends.
    valid = np.zeros(22, dtype=bool)
    valid[JTA22.root] = True
    normalized, scale = normalize_pose(_hand_pose(), JTA22, valid)
    assert scale == 0.0
    np.testing.assert_array_equal(normalized, 0.0)


@pytest.mark.parametrize("skeleton", ALL, ids=lambda s: s.name)
def test_batched_numpy_and_torch_agree(skeleton: Skeleton) -> None:
    rng = np.random.default_rng(2)
    poses = rng.normal(size=(2, 3, skeleton.num_joints, 3)).astype(np.float32)
    valid = rng.random((2, 3, skeleton.num_joints)) > 0.2
    valid[..., skeleton.root] = True
    norm_np, scale_np = normalize_pose(poses, skeleton, valid)
    assert norm_np.shape == poses.shape and norm_np.dtype == np.float32
    assert scale_np.shape == (2, 3)
    norm_t, scale_t = normalize_pose(torch.from_numpy(poses), skeleton, torch.from_numpy(valid))
    assert norm_t.dtype == torch.float32
    np.testing.assert_allclose(norm_t.numpy(), norm_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale_t.numpy(), scale_np, rtol=1e-5)
    # Each batch element equals its own unbatched normalisation.
    one, one_scale = normalize_pose(poses[1, 2], skeleton, valid[1, 2])
    np.testing.assert_allclose(norm_np[1, 2], one, rtol=1e-6)
    assert one_scale == pytest.approx(float(scale_np[1, 2]), rel=1e-6)


def test_valid_broadcasts_over_batch() -> None:
    poses = np.stack([_hand_pose(), 2.0 * _hand_pose()])
    valid = np.ones(22, dtype=bool)
    valid[JTA22.index("right_knee")] = False
    _, scale = normalize_pose(poses, JTA22, valid)
    # The second pose is the first scaled by 2 about the origin: bone lengths double.
    np.testing.assert_allclose(scale, [7.0, 14.0])
    with pytest.raises(ValueError, match="does not fit"):
        normalize_pose(poses, JTA22, np.ones(5, dtype=bool))


def test_torch_normalize_is_differentiable() -> None:
    torch.manual_seed(0)
    pose = torch.randn(2, 17, 3, dtype=torch.float64, requires_grad=True)
    valid = torch.ones(2, 17, dtype=torch.bool)
    valid[1, MUPOTS17.index("l_wrist")] = False
    assert torch.autograd.gradcheck(
        lambda p: normalize_pose(p, MUPOTS17, valid)[0], (pose,), eps=1e-6, atol=1e-5
    )


def test_torch_gradients_stay_finite_with_nan_invalid_joints_and_zero_bones() -> None:
    pose = torch.tensor(_hand_pose(), requires_grad=True)  # several zero-length bones
    valid = torch.ones(22, dtype=torch.bool)
    valid[JTA22.index("left_ankle")] = False
    with torch.no_grad():
        pose[JTA22.index("left_ankle")] = float("nan")
    normalized, scale = normalize_pose(pose, JTA22, valid)
    (normalized.square().sum() + scale).backward()
    assert torch.isfinite(pose.grad).all()
    assert (pose.grad[JTA22.index("left_ankle")] == 0).all()

    bad_root = torch.tensor(_hand_pose(), requires_grad=True)
    valid_root = torch.ones(22, dtype=torch.bool)
    valid_root[JTA22.root] = False
    normalized, scale = normalize_pose(bad_root, JTA22, valid_root)
    assert scale.item() == 0.0 and (normalized == 0).all()
    (normalized.sum() + scale).backward()
    assert torch.isfinite(bad_root.grad).all()


def test_denormalize_inverts_normalize() -> None:
    rng = np.random.default_rng(3)
    poses = rng.normal(size=(4, 22, 3))
    normalized, scale = normalize_pose(poses, JTA22)
    restored = denormalize_pose(normalized, scale, poses[:, JTA22.root])
    np.testing.assert_allclose(restored, poses, atol=1e-12)

    poses_t = torch.from_numpy(poses)
    norm_t, scale_t = normalize_pose(poses_t, JTA22)
    restored_t = denormalize_pose(norm_t, scale_t, poses_t[:, JTA22.root])
    assert isinstance(restored_t, torch.Tensor)
    np.testing.assert_allclose(restored_t.numpy(), poses, atol=1e-12)

    # A single pose with a scalar scale.
    single = denormalize_pose(normalized[0], float(scale[0]), poses[0, JTA22.root])
    np.testing.assert_allclose(single, poses[0], atol=1e-12)


def test_integer_input_is_promoted_to_float() -> None:
    # Only the spine is off the pelvis: pelvis->spine and spine->neck are both 5 long.
    pose = np.zeros((17, 3), dtype=np.int64)
    pose[MUPOTS17.index("spine")] = [0, 3, 4]
    normalized, scale = normalize_pose(pose, MUPOTS17)
    assert normalized.dtype == np.float64
    assert scale == 10.0
    np.testing.assert_allclose(normalized[MUPOTS17.index("spine")], [0.0, 0.3, 0.4])
