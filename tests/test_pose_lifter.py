"""The pose lifter: features, the numpy network against its torch twin, skeleton-only
training that beats the mean pose, front/back flips, the shipped weights and the stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crowdpose3d.core.skeleton import JTA22, bone_lengths, normalize_pose
from crowdpose3d.engine.lifter_training import (
    HeadErrors,
    LifterNet,
    export_lifter,
    noisy_inputs,
    skeleton_set,
    train_lifter,
)
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.pose_lifter import (
    BUILTIN_LIFTER,
    MOTION_FEATURES,
    PoseLifter,
    lifter_features,
)
from crowdpose3d.geometry.rays import ray_to_camera
from crowdpose3d.pipeline.facts import RunFacts
from crowdpose3d.pipeline.stage import StageContext, StageError
from crowdpose3d.poses import Poses
from crowdpose3d.stages.pose_lifter import PoseLifterParams, PoseLifterStage

K = JTA22.num_joints
CAMERA = Intrinsics.from_fov(512, 320, 70.0)


def _random_lifter(tmp_path, width: int = 32) -> tuple[PoseLifter, LifterNet]:
    torch.manual_seed(0)
    net = LifterNet(2 * K + MOTION_FEATURES, 3 * K, width, blocks=2).eval()
    return PoseLifter.load(export_lifter(net, tmp_path / "lifter.npz")), net


@pytest.fixture(scope="module")
def walkers():
    """Generated crowds: a training set and a held-out one with other seeds."""
    return skeleton_set(16, 6, seed_base=10_000), skeleton_set(4, 6, seed_base=20_000)


def _facing(poses: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(M, K, 3) poses, (M, 3) up -> (M, 3) unit forward of the shoulders and hips."""
    joints = JTA22.joints
    left = [joints.index(n) for n in ("left_shoulder", "left_hip")]
    right = [joints.index(n) for n in ("right_shoulder", "right_hip")]
    lateral = poses[:, left].sum(1) - poses[:, right].sum(1)  # right -> left
    forward = np.cross(lateral, up)  # camera axes are right-handed (x right, y down, z fwd)
    forward -= (forward * up).sum(1, keepdims=True) * up
    return forward / np.maximum(np.linalg.norm(forward, axis=1, keepdims=True), 1e-9)


def test_features_do_not_depend_on_distance():
    pose = skeleton_set(1, 1, seed_base=30_000).kp3d[:1]  # (1, K, 3)
    near, _ = lifter_features(CAMERA.project(pose), CAMERA, JTA22.root)
    farther = pose * 2.0  # the same view, twice as far
    far, _ = lifter_features(CAMERA.project(farther), CAMERA, JTA22.root)
    assert near.shape == (1, 2 * K + MOTION_FEATURES)
    np.testing.assert_allclose(near, far, atol=1e-9)
    assert (near[:, -MOTION_FEATURES:] == 0).all()  # no velocity: motion features off


def test_numpy_network_matches_its_torch_twin_and_output_is_normalised(tmp_path):
    lifter, net = _random_lifter(tmp_path)
    rng = np.random.default_rng(1)
    kp2d = rng.uniform([100, 60], [400, 260], size=(5, K, 2))
    velocity = np.array([[1.0, 0, 0], [np.nan] * 3, [0, 0, 0.1], [0, 0, -1.3], [0.5, 0, 0.5]])
    features, rotation = lifter_features(kp2d, CAMERA, JTA22.root, velocity)
    assert features[1, -1] == 0 and features[2, -1] == 0  # unknown / slower than min_speed
    assert features[0, -1] == 1 and features[3, -1] == 1
    with torch.no_grad():
        half = {k: v.half().float() for k, v in net.state_dict().items()}  # as exported
        net.load_state_dict(half)
        expected = net(torch.from_numpy(features).float()).numpy()
    np.testing.assert_allclose(lifter.network(features), expected, rtol=1e-4, atol=1e-4)
    poses = lifter(kp2d, CAMERA, velocity)
    assert poses.shape == (5, K, 3)
    np.testing.assert_allclose(poses[:, JTA22.root], 0.0, atol=1e-9)
    np.testing.assert_allclose(bone_lengths(poses, JTA22).sum(-1), 1.0, rtol=1e-6)
    assert lifter(np.zeros((0, K, 2)), CAMERA).shape == (0, K, 3)


def test_unreadable_weights_are_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a lifter")
    with pytest.raises(ValueError, match="cannot read the pose lifter") as error:
        PoseLifter.load(bad)
    assert "\n" not in str(error.value)


def test_head_errors_recover_a_known_shrink():
    """A fake head that pulls x offsets halfway to zero: the fitted slope says 0.5."""
    rng = np.random.default_rng(2)
    true = rng.normal(200, 30, size=(400, K, 2))
    predicted = true.copy()
    root = true[:, JTA22.root : JTA22.root + 1]
    predicted[..., 0] = root[..., 0] + 0.5 * (true[..., 0] - root[..., 0])
    box = np.tile([0.0, 0.0, 10.0, 100.0], (400, 1))

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dump.npz"
        np.savez(path, kp2d=predicted, true_kp2d=true, box=box)
        errors = HeadErrors.fit(path)
    others = [j for j in range(K) if j != JTA22.root]
    np.testing.assert_allclose(errors.slope[others, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(errors.slope[others, 1], 1.0, atol=1e-6)
    assert errors.residual.max() < 1e-6


@pytest.mark.slow
def test_tiny_lifter_beats_the_mean_pose_and_faces_the_way_people_walk(walkers, tmp_path):
    train, held_out = walkers
    net = train_lifter(train, epochs=80, batch_size=64, lr=3e-3, width=96, log=lambda _: None)
    lifter = PoseLifter.load(export_lifter(net, tmp_path / "tiny.npz"))
    features, _, rotation = noisy_inputs(held_out, np.random.default_rng(3), turn=False)
    out, _ = normalize_pose(lifter.network(features).reshape(-1, K, 3).astype(float), JTA22)
    predicted = ray_to_camera(out, rotation)
    true, scale = normalize_pose(held_out.kp3d, JTA22)
    mean = normalize_pose(train.kp3d, JTA22)[0].mean(0)

    def mpjpe(poses):
        return float((np.linalg.norm(poses - true, axis=-1) * scale[:, None]).mean())

    assert mpjpe(predicted) < 0.8 * mpjpe(np.broadcast_to(mean, true.shape))
    # Front and back: among walkers given their velocity, the body faces the right way.
    walking = (features[:, -1] == 1) & (np.linalg.norm(held_out.velocity, axis=1) > 0.8)
    up = held_out.up / np.linalg.norm(held_out.up, axis=1, keepdims=True)
    cos = (_facing(predicted, up) * _facing(true, up)).sum(1)
    assert walking.sum() > 50
    assert (cos[walking] < 0).mean() < 0.1  # turned round for under 10 % of walkers


def test_shipped_lifter_turns_the_body_with_the_velocity(walkers):
    """The shipped weights: the same 2D joints with the velocity reversed give a body
    facing the other way (the motion cue is used), and the given one faces forward."""
    lifter = PoseLifter.load(BUILTIN_LIFTER)
    _, held_out = walkers
    moving = np.linalg.norm(held_out.velocity, axis=1) > 0.8
    kp3d, velocity = held_out.kp3d[moving], held_out.velocity[moving]
    up = held_out.up[moving] / np.linalg.norm(held_out.up[moving], axis=1, keepdims=True)
    cameras = held_out.camera[moving]
    forward, backward = np.zeros_like(velocity), np.zeros_like(velocity)
    for c in np.unique(cameras):
        rows = cameras == c
        k = held_out.intrinsics[c]
        kp2d = k.project(kp3d[rows])
        forward[rows] = _facing(lifter(kp2d, k, velocity[rows]), up[rows])
        backward[rows] = _facing(lifter(kp2d, k, -velocity[rows]), up[rows])
    heading = velocity - (velocity * up).sum(1, keepdims=True) * up
    heading /= np.linalg.norm(heading, axis=1, keepdims=True)
    assert ((forward * heading).sum(1) > 0.5).mean() > 0.8
    # Reversed, the velocity contradicts the (here perfect) 2D joints, which also carry
    # some of the facing; a lifter that ignored the velocity would turn nobody round.
    assert ((backward * heading).sum(1) < -0.5).mean() > 0.6


def _stage(weights: str = "builtin", skeleton: str = "jta22") -> PoseLifterStage:
    stage = PoseLifterStage(PoseLifterParams(weights=weights))
    stage.open(StageContext(facts=RunFacts(skeleton=skeleton, intrinsics=CAMERA.to_dict())))
    return stage


def test_stage_sets_the_metric_pose_from_the_lift_root_and_size():
    people = skeleton_set(1, 1, seed_base=30_000)
    n = len(people)
    root = people.kp3d[:, JTA22.root]
    poses = Poses(
        boxes=np.tile([0.0, 0.0, 10.0, 10.0], (n, 1)),
        scores=np.ones(n),
        kp2d=CAMERA.project(people.kp3d),
        kp3d_rel=np.zeros((n, K, 3)),
        root=root,
        data={"scale": np.full(n, 4.0, np.float32), "velocity": people.velocity},
    )
    out = _stage().refine(poses, (320, 512))
    np.testing.assert_allclose(out.kp3d, root[:, None] + 4.0 * out.kp3d_rel, atol=1e-4)
    np.testing.assert_allclose(bone_lengths(out.kp3d_rel, JTA22).sum(-1), 1.0, rtol=1e-4)
    assert (out.data["kp3d_rel_head"] == 0).all()  # the network's own output is kept
    np.testing.assert_array_equal(out.root, poses.root)


def test_stage_errors_are_one_line(tmp_path):
    with pytest.raises(StageError, match="cannot read the pose lifter"):
        _stage(weights=str(tmp_path / "missing.npz"))
    stage = _stage(skeleton="panoptic19")
    poses = Poses(boxes=np.zeros((1, 4)), scores=[1.0], kp2d=np.zeros((1, 19, 2)),
                  kp3d_rel=np.zeros((1, 19, 3)))  # fmt: skip
    with pytest.raises(StageError, match="remove the pose_lifter stage"):
        stage.refine(poses, (320, 512))
