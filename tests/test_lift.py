"""Lift: metric 3D poses from 2D joints + normalised 3D, by reprojection fitting.

People are the synthetic generator's bodies (random sizes, walking), placed on the ground in
front of a camera, projected, and normalised the way the network's targets are.
"""

import logging
import math
from dataclasses import fields

import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22, PANOPTIC19, Skeleton, bone_lengths, normalize_pose
from crowdpose3d.data.synth.body import BodyShape, sample_body
from crowdpose3d.data.synth.camera_sampling import GroundView
from crowdpose3d.data.synth.motion import GaitInput, pose_bodies
from crowdpose3d.data.synth.solids import body_to_world, to_world
from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.geometry.lift import SIZE_PRIORS, Lifter
from crowdpose3d.poses import Poses

INTRINSICS = Intrinsics.from_fov(1280, 720, 60.0)  # fx = fy = 1108.5


def _bodies(rng, n, size=1.0):
    """(N, 22, 3) body-frame joints (x right, y forward, z up, feet on z = 0)."""
    shapes = [sample_body(rng)[0] for _ in range(n)]
    shape = {f.name: np.array([getattr(b, f.name) for b in shapes]) for f in fields(BodyShape)}
    shape = {key: value * size for key, value in shape.items()}
    gait = GaitInput(
        phase=rng.random(n), stride=np.full(n, 1.4), walk=rng.random(n), run=np.zeros(n),
        time=rng.random(n) * 10, head_yaw=rng.normal(0, 0.3, n), style=rng.random(n),
    )  # fmt: skip
    return pose_bodies(shape, gait).joints


def _scene(rng, n, camera, distance=(3.0, 25.0), size=1.0):
    """People in view of `camera`: (kp2d (N,22,2), kp3d (N,22,3) camera frame, GroundView)."""
    view = GroundView.of(camera, (1.0, 60.0))
    d = rng.uniform(*distance, n)
    s = rng.uniform(-0.7, 0.7, n) * view.half_width(d)
    positions = view.to_world(np.stack((s, d), axis=1))  # (N, 2) world xy
    joints = _bodies(rng, n, size)
    rotation = body_to_world(None, positions, rng.uniform(-np.pi, np.pi, n))
    kp3d = camera.world_to_camera(to_world(joints, rotation, positions))
    assert (kp3d[..., 2] > 0.5).all()
    return camera.intrinsics.project(kp3d), kp3d, view


def _camera(height=5.0, pitch=25.0, yaw=0.0, position=(0.0, 0.0)):
    return Camera.looking_at_ground(INTRINSICS, height, pitch, yaw, position)


def _root_error(result, kp3d):
    return np.linalg.norm(result.root - kp3d[:, JTA22.root], axis=1)  # (N,)


# ---------------------------------------------------------------------- size prior
def test_default_size_prior_is_the_synthetic_bodies_mean():
    joints = _bodies(np.random.default_rng(0), 4000)
    total = bone_lengths(joints, JTA22).sum(-1)  # (N,)
    assert total.mean() == pytest.approx(SIZE_PRIORS["jta22"], rel=0.01)
    assert Lifter(INTRINSICS).size_prior == SIZE_PRIORS["jta22"]


# ---------------------------------------------------------------------- no ground plane
@pytest.mark.parametrize("irls_iterations", [0, 3])
def test_exact_data_with_true_scale_gives_the_exact_pose(irls_iterations):
    kp2d, kp3d, _ = _scene(np.random.default_rng(1), 40, _camera())
    rel, scale = normalize_pose(kp3d, JTA22)
    result = Lifter(INTRINSICS, irls_iterations=irls_iterations).lift(kp2d, rel, size_prior=scale)
    assert _root_error(result, kp3d).max() < 1e-6  # metres
    assert np.abs(result.kp3d - kp3d).max() < 1e-6
    assert result.reprojection_error_px.max() < 1e-6
    np.testing.assert_allclose(result.scale, scale)
    assert np.isnan(result.ground_xy).all()


def test_pixel_noise_moves_the_root_by_a_fraction_of_a_percent_of_depth():
    rng = np.random.default_rng(2)
    kp2d, kp3d, _ = _scene(rng, 200, _camera())
    rel, scale = normalize_pose(kp3d, JTA22)
    noisy = kp2d + rng.normal(0, 1.5, kp2d.shape)
    result = Lifter(INTRINSICS).lift(noisy, rel, size_prior=scale)
    # The depth error of a fixed-size fit is about noise / (pixel spread * sqrt(K)) of the
    # depth: ~1% for a 35 px-spread person; here it is measured against the true depth.
    depth = kp3d[:, JTA22.root, 2]
    relative = _root_error(result, kp3d) / depth
    assert np.median(relative) < 0.01 and relative.max() < 0.06
    near = depth < 8  # near people: within a few centimetres
    assert near.sum() > 20 and _root_error(result, kp3d)[near].max() < 0.1
    assert np.median(_root_error(result, kp3d)[near]) < 0.03
    assert 1.0 < np.median(result.reprojection_error_px) < 2.5  # ~ the noise, not more


def test_without_ground_a_wrong_prior_scales_the_whole_pose_along_its_rays():
    kp2d, kp3d, _ = _scene(np.random.default_rng(3), 20, _camera())
    rel, scale = normalize_pose(kp3d, JTA22)
    result = Lifter(INTRINSICS).lift(kp2d, rel, size_prior=1.1 * scale)
    np.testing.assert_allclose(result.root, 1.1 * kp3d[:, JTA22.root], rtol=1e-6)
    assert result.reprojection_error_px.max() < 1e-6


def test_an_outlier_joint_barely_moves_the_root():
    rng = np.random.default_rng(4)
    kp2d, kp3d, _ = _scene(rng, 100, _camera(), distance=(3.0, 15.0))
    rel, scale = normalize_pose(kp3d, JTA22)
    noisy = kp2d + rng.normal(0, 1.0, kp2d.shape)
    clean = Lifter(INTRINSICS).lift(noisy, rel, size_prior=scale)  # before the outlier
    height_px = np.ptp(kp2d[..., 1], axis=1)  # (N,)
    joint = rng.integers(0, 22, len(kp2d))
    angle = rng.uniform(0, 2 * np.pi, len(kp2d))
    rows = np.arange(len(kp2d))
    noisy[rows, joint] += 0.3 * height_px[:, None] * np.stack((np.cos(angle), np.sin(angle)), 1)
    plain = Lifter(INTRINSICS, irls_iterations=0).lift(noisy, rel, size_prior=scale)
    robust = Lifter(INTRINSICS).lift(noisy, rel, size_prior=scale)
    plain_error, robust_error = _root_error(plain, kp3d), _root_error(robust, kp3d)
    clean_error = _root_error(clean, kp3d)
    # One joint 30% of the body height away: least squares moves the root ~0.5 m (median),
    # IRLS stays within 2x the error of the same noisy joints without the outlier.
    assert np.median(plain_error) > 0.3
    assert np.median(robust_error) < 2 * np.median(clean_error) < 0.08
    assert robust_error.max() < 0.5


# ---------------------------------------------------------------------- ground plane
def test_ground_plane_recovers_size_and_ground_position_of_people_of_any_height():
    rng = np.random.default_rng(5)
    # A yawed camera away from the origin: the ground frame follows the camera.
    camera = _camera(height=5.0, pitch=25.0, yaw=40.0, position=(3.0, -2.0))
    adults = _scene(rng, 60, camera, distance=(4.0, 25.0))
    children = _scene(rng, 20, camera, distance=(4.0, 25.0), size=0.7)  # ~1.2 m tall
    kp2d = np.concatenate((adults[0], children[0]))
    kp3d = np.concatenate((adults[1], children[1]))
    view = adults[2]
    rel, scale = normalize_pose(kp3d, JTA22)
    lifter = Lifter(INTRINSICS, camera_height=5.0, pitch_deg=25.0)
    truth_xy = view.to_ground(camera.camera_to_world(kp3d[:, JTA22.root])[:, :2])
    assert np.ptp(scale) > 1.8  # from children to tall adults

    distance = truth_xy[:, 1]  # forward ground distance, 4-25 m
    near = distance < 8
    # Exact 2D: what remains is the ankle's height above the ground varying with gait and
    # build (+-7.5 mm), which a ray grazing the ground turns into 0.5% of the distance.
    exact = lifter.lift(kp2d, rel)
    xy_error = np.linalg.norm(exact.ground_xy - truth_xy, axis=1)
    assert np.abs(exact.scale / scale - 1).max() < 0.01
    assert xy_error[near].max() < 0.02 and (xy_error / distance).max() < 0.008
    assert _root_error(exact, kp3d).max() < 0.15

    noisy = lifter.lift(kp2d + rng.normal(0, 1.0, kp2d.shape), rel)
    scale_error = np.abs(noisy.scale / scale - 1)
    xy_error = np.linalg.norm(noisy.ground_xy - truth_xy, axis=1)
    assert np.median(scale_error) < 0.01 and scale_error.max() < 0.03
    assert xy_error[near].max() < 0.03 and np.median(xy_error) < 0.04
    assert (xy_error / distance).max() < 0.01


def test_scale_is_clamped_to_a_human_range():
    camera = _camera(height=4.0, pitch=20.0)
    rng = np.random.default_rng(6)
    giants, tiny = _scene(rng, 5, camera, size=2.5), _scene(rng, 5, camera, size=0.35)
    kp2d = np.concatenate((giants[0], tiny[0]))
    rel, _ = normalize_pose(np.concatenate((giants[1], tiny[1])), JTA22)
    result = Lifter(INTRINSICS, camera_height=4.0, pitch_deg=20.0).lift(kp2d, rel)
    prior = SIZE_PRIORS["jta22"]
    np.testing.assert_allclose(result.scale, [1.25 * prior] * 5 + [0.55 * prior] * 5)
    assert np.isfinite(result.root).all()
    # The size before the clamp says how far from human each one is.
    assert (result.size_ratio[:5] > 2.0).all() and (result.size_ratio[5:] < 0.45).all()
    assert np.isnan(Lifter(INTRINSICS).lift(kp2d, rel).size_ratio).all()  # no ground plane


def _stage_frame(kp2d, rel):
    from crowdpose3d.pipeline.frame import Frame

    n = len(kp2d)
    boxes = np.concatenate((kp2d.min(axis=1), kp2d.max(axis=1)), axis=1)
    poses = Poses(
        boxes=boxes.astype(np.float32), scores=np.ones(n, np.float32),
        kp2d=kp2d.astype(np.float32), kp3d_rel=rel.astype(np.float32),
    )  # fmt: skip
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (INTRINSICS.height, INTRINSICS.width, 3))
    return Frame("clip", 0, 0.0, image, poses=poses)


def _lift_stage(**params):
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.stages.lift import LiftParams, LiftStage

    context = StageContext()
    context.facts.skeleton = "jta22"
    stage = LiftStage(LiftParams(fov_deg=60.0, **params))
    stage.open(context)
    return stage


def test_the_lift_stage_drops_what_is_not_human_sized_on_the_ground(caplog):
    camera = _camera(height=4.0, pitch=20.0)
    rng = np.random.default_rng(8)
    adults, children = _scene(rng, 6, camera), _scene(rng, 3, camera, size=0.7)
    poles, dolls = _scene(rng, 2, camera, size=2.5), _scene(rng, 2, camera, size=0.3)
    scenes = (adults, children, poles, dolls)
    kp2d = np.concatenate([s[0] for s in scenes])
    rel, _ = normalize_pose(np.concatenate([s[1] for s in scenes]), JTA22)
    ground = {"height_m": 4.0, "pitch_deg": 20.0}

    stage = _lift_stage(**ground)
    lifted = next(iter(stage([_stage_frame(kp2d, rel)]))).poses
    assert len(lifted) == 9  # the adults and the 1.2 m children stay, in their order
    assert stage.counters() == {"size_gate_dropped": 4}  # in the run's stage report
    np.testing.assert_array_equal(lifted.kp2d, kp2d[:9].astype(np.float32))
    assert ((lifted.data["size_ratio"] > 0.5) & (lifted.data["size_ratio"] < 1.6)).all()
    kept = next(iter(_lift_stage(size_gate=None, **ground)([_stage_frame(kp2d, rel)]))).poses
    assert len(kept) == 13
    # Without a ground plane there is no size to judge: nobody is dropped, and the log says
    # what would give one.
    with caplog.at_level(logging.INFO, logger="crowdpose3d.stages.lift"):
        assert len(next(iter(_lift_stage()([_stage_frame(kp2d, rel)]))).poses) == 13
    assert "no ground plane" in caplog.text and "--camera auto" in caplog.text


@pytest.mark.parametrize("gate", [(1.2, 1.6), (0.5, 0.9), (-0.1, 1.5)])
def test_a_size_gate_that_would_drop_a_typical_adult_is_refused(gate):
    from crowdpose3d.stages.lift import LiftParams

    with pytest.raises(ValueError, match="size_gate"):
        LiftParams(size_gate=gate)


def test_a_camera_on_the_ground_falls_back_on_the_size_prior():
    # Feet at the camera's height: every ground distance fits, so the ground says nothing
    # about size and only the weak prior keeps the scale from running to a clamp.
    camera = _camera(height=0.005, pitch=0.0)
    kp2d, kp3d, _ = _scene(np.random.default_rng(7), 10, camera, distance=(4.0, 10.0))
    rel, _ = normalize_pose(kp3d, JTA22)
    kwargs = {"camera_height": 0.005, "pitch_deg": 0.0}
    result = Lifter(INTRINSICS, **kwargs).lift(kp2d, rel)
    assert np.abs(result.scale / SIZE_PRIORS["jta22"] - 1).max() < 0.01
    assert result.reprojection_error_px.max() < 0.1
    no_prior = Lifter(INTRINSICS, size_prior_sigma=100.0, **kwargs).lift(kp2d, rel)
    assert np.ptp(no_prior.scale) > 0.5 * SIZE_PRIORS["jta22"]


# ---------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("ground", [False, True])
def test_no_people(ground):
    kwargs = {"camera_height": 3.0, "pitch_deg": 10.0} if ground else {}
    result = Lifter(INTRINSICS, **kwargs).lift(np.zeros((0, 22, 2)), np.zeros((0, 22, 3)))
    assert result.kp3d.shape == (0, 22, 3) and result.root.shape == (0, 3)
    assert result.scale.shape == result.reprojection_error_px.shape == (0,)
    assert result.ground_xy.shape == (0, 2)
    lifted = Lifter(INTRINSICS, **kwargs)(Poses.empty(22))
    assert len(lifted) == 0 and lifted.data["ground_xy"].shape == (0, 2)


@pytest.mark.parametrize("ground", [False, True])
def test_nan_joints_are_ignored_and_too_few_joints_give_nan(ground):
    rng = np.random.default_rng(8)
    kp2d, kp3d, _ = _scene(rng, 12, _camera())
    rel, scale = normalize_pose(kp3d, JTA22)
    lifter = Lifter(INTRINSICS, **({"camera_height": 5.0, "pitch_deg": 25.0} if ground else {}))
    prior = None if ground else scale
    missing = rng.random((12, 22)) < 0.3
    missing[3] = True
    missing[3, :2] = False  # person 3 keeps 2 joints: fewer than min_joints = 3
    missing[4, :] = False
    missing[4, [18, 21]] = True  # person 4's ankles unseen in 2D: the 3D feet still count
    junk = np.where(missing[..., None], 1e4, kp2d)  # garbage that weights must hide
    with_nan = lifter.lift(np.where(missing[..., None], np.nan, kp2d), rel, size_prior=prior)
    weighted = lifter.lift(junk, rel, weights=(~missing).astype(float), size_prior=prior)
    np.testing.assert_allclose(with_nan.root, weighted.root, equal_nan=True)
    fine = np.arange(12) != 3
    assert np.isnan(with_nan.root[3]).all() and np.isnan(with_nan.kp3d[3]).all()
    assert np.isnan(with_nan.scale[3]) and np.isnan(with_nan.reprojection_error_px[3])
    tolerance = 0.1 if ground else 1e-6
    assert _root_error(with_nan, kp3d)[fine].max() < tolerance
    # NaN in the 3D pose of one joint: only that joint of the output is NaN.
    rel_nan = rel.copy()
    rel_nan[0, 5] = np.nan
    partial = lifter.lift(kp2d, rel_nan, size_prior=prior)
    assert np.isnan(partial.kp3d[0, 5]).all()
    assert np.isfinite(np.delete(partial.kp3d[0], 5, axis=0)).all()


def test_a_fit_behind_the_camera_gives_nan():
    # -kp3d projects exactly like kp3d: a point-reflected pose fits only behind the camera.
    kp2d, kp3d, _ = _scene(np.random.default_rng(10), 4, _camera())
    rel, scale = normalize_pose(kp3d, JTA22)
    rel[1:3] *= -1
    result = Lifter(INTRINSICS).lift(kp2d, rel, size_prior=scale)
    assert np.isnan(result.root[1:3]).all() and np.isnan(result.scale[1:3]).all()
    assert _root_error(result, kp3d)[[0, 3]].max() < 1e-6


def test_lifter_fills_a_poses_record():
    kp2d, kp3d, _ = _scene(np.random.default_rng(9), 6, _camera())
    rel, _ = normalize_pose(kp3d, JTA22)
    poses = Poses(
        boxes=np.zeros((6, 4)), scores=np.ones(6), kp2d=kp2d, kp3d_rel=rel,
        data={"anchor": np.arange(6)},
    )  # fmt: skip
    lifted = Lifter(INTRINSICS, camera_height=5.0, pitch_deg=25.0)(poses)
    assert np.isnan(poses.kp3d).all()  # the input is untouched
    assert lifted.kp3d.dtype == np.float32 and np.isfinite(lifted.kp3d).all()
    np.testing.assert_allclose(lifted.root, lifted.kp3d[:, JTA22.root])
    assert np.abs(lifted.root - kp3d[:, JTA22.root]).max() < 0.1
    assert set(lifted.data) == {
        "anchor",
        "scale",
        "reprojection_error_px",
        "ground_xy",
        "size_ratio",
    }
    assert lifted.data["ground_xy"].shape == (6, 2) and lifted.data["scale"].shape == (6,)
    np.testing.assert_array_equal(lifted.kp2d, poses.kp2d)


def test_configuration_errors_are_clear():
    custom = Skeleton("custom", ("a", "b"), ((0, 1),), (), 0)
    with pytest.raises(ValueError, match="no default size prior"):
        Lifter(INTRINSICS, custom)
    assert Lifter(INTRINSICS, custom, size_prior=1.0).size_prior == 1.0
    with pytest.raises(ValueError, match="both camera_height and pitch_deg"):
        Lifter(INTRINSICS, camera_height=3.0)
    with pytest.raises(ValueError, match="ankle"):
        Lifter(INTRINSICS, custom, size_prior=1.0, camera_height=3.0, pitch_deg=10.0)
    with pytest.raises(ValueError, match=r"\(N, 19, 2\)"):
        Lifter(INTRINSICS, PANOPTIC19).lift(np.zeros((2, 22, 2)), np.zeros((2, 22, 3)))
    assert math.isclose(Lifter(INTRINSICS, PANOPTIC19).size_prior, 4.40)
