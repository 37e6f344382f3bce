"""Self-calibration on crafted people seen by a known camera (no model, no video)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.geometry.self_calibration import (
    EXACT_TILT,
    FIT_COLUMN_BELOW_PITCH_DEG,
    FOOT_HEIGHT_M,
    FOV_PRIOR,
    HEIGHT_PRIORS,
    SHIPPED_TILT,
    SelfCalibrator,
    ground_camera,
)
from crowdpose3d.poses import Poses

WIDTH, HEIGHT = 960, 540
JOINTS = list(JTA22.joints)
HEAD, NECK = JOINTS.index("head_top"), JOINTS.index("neck")
ANKLES = [JOINTS.index("right_ankle"), JOINTS.index("left_ankle")]


def crafted_people(
    camera,
    rng,
    people=40,
    frames=20,
    sitting=0.0,
    junk=0.0,
    noise_px=1.0,
    spread=0.07,
    tilt=SHIPPED_TILT,
):
    """Frames of people standing at random on the ground that ``camera`` sees: (poses,
    person ids) per frame. ``sitting``: share of people at 0.6 of their height; ``junk``:
    share of detections with random joints; ``tilt``: each person's image is turned about
    the mid-ankle pixel so that its tilt from the image's vertical is the one this detector
    draws (a `DetectorTilt`; the default is the shipped model's, whose people lean less
    than the true vertical, small ones least)."""
    k = camera.intrinsics
    out = []
    stature = rng.normal(1.72, spread, people)
    short = rng.random(people) < sitting
    stature[short] *= 0.6
    # Ground points that project into the image: sample pixels, cast onto the ground.
    pixels = np.stack(
        (rng.uniform(40, WIDTH - 40, people), rng.uniform(0.45, 0.95, people) * HEIGHT), 1
    )
    ray = np.stack(((pixels[:, 0] - k.cx) / k.fx, (pixels[:, 1] - k.cy) / k.fy, np.ones(people)), 1)
    world_ray = ray @ camera.rotation  # R^T d
    centre = camera.centre
    t = -centre[2] / world_ray[:, 2]
    ground = centre + t[:, None] * world_ray  # (P, 3)
    for f in range(frames):
        phase = f * 0.1 + np.arange(people)
        walk = ground + 0.05 * f * np.stack((np.sin(phase), np.cos(phase), 0 * stature), 1)
        kp3d_world = np.zeros((people, len(JOINTS), 3))
        kp3d_world[:] = walk[:, None]
        for a, side in zip(ANKLES, (-0.1, 0.1), strict=True):
            kp3d_world[:, a, 0] += side
            kp3d_world[:, a, 2] = FOOT_HEIGHT_M[0]
        kp3d_world[:, HEAD, 2] = stature * HEIGHT_PRIORS["head_top"][0] / 1.72
        kp3d_world[:, NECK, 2] = stature * HEIGHT_PRIORS["neck"][0] / 1.72
        cam = camera.world_to_camera(kp3d_world)  # (P, K, 3)
        kp2d = k.project(cam)  # (P, K, 2)
        foot = kp2d[:, ANKLES].mean(axis=1, keepdims=True)  # (P, 1, 2)
        along = foot[:, 0] - kp2d[:, HEAD]  # (P, 2) head to feet
        true_tilt = np.arctan2(along[:, 0], along[:, 1])  # (P,) radians
        drawn = tilt.expected(true_tilt, along[:, 1], foot[:, 0, 0], WIDTH)  # (P,)
        turn = drawn - true_tilt  # (P,)
        cos, sin = np.cos(turn)[:, None], np.sin(turn)[:, None]
        d = kp2d - foot  # turning (x, y) by +turn raises atan2(x, y) by turn
        kp2d = foot + np.stack((cos * d[..., 0] + sin * d[..., 1],
                                -sin * d[..., 0] + cos * d[..., 1]), axis=-1)  # fmt: skip
        kp2d = kp2d + rng.normal(0, noise_px, (people, len(JOINTS), 2))
        rel = cam - cam[:, 15:16]
        rel /= 4.25
        bad = rng.random(people) < junk
        kp2d[bad] = rng.uniform(50, 500, (int(bad.sum()), len(JOINTS), 2))
        boxes = np.concatenate((kp2d.min(1) - 5, kp2d.max(1) + 5), axis=1)
        visible = (
            (cam[..., 2] > 0).all(1)
            & (boxes[:, 0] > 10)
            & (boxes[:, 2] < WIDTH - 10)
            & (boxes[:, 1] > 10)
            & (boxes[:, 3] < HEIGHT - 10)
        )
        poses = Poses(
            boxes=boxes[visible],
            scores=np.full(int(visible.sum()), 0.9),
            kp2d=kp2d[visible],
            kp3d_rel=rel[visible],
        )
        out.append((poses, np.flatnonzero(visible)))
    return out


@pytest.mark.parametrize(
    ("height", "pitch", "roll", "fov"),
    [(3.0, 10.0, 0.0, 60.0), (8.0, 30.0, 3.0, 80.0), (15.0, 45.0, -2.0, 45.0)],
)
def test_recovers_a_known_camera(height, pitch, roll, fov):
    rng = np.random.default_rng(7)
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), height, pitch, roll)
    calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT)
    for poses, ids in crafted_people(camera, rng, people=80):
        calibrator.add(poses, ids)
    estimate = calibrator.estimate()
    assert estimate is not None
    print(estimate.describe())
    assert abs(estimate.pitch_deg - pitch) < 1.0
    assert abs(estimate.roll_deg - roll) < 1.0
    assert abs(estimate.height_m / height - 1) < 0.05
    assert abs(estimate.fov_deg / fov - 1) < 0.05
    # The uncertainty is honest: the truth within 4 sigma, and sigma is not huge (it
    # carries the doubt about the detector's tilt gain, `TILT_GAIN_STD`).
    assert abs(estimate.pitch_deg - pitch) < 4 * estimate.pitch_sigma_deg + 0.2
    assert 0 < estimate.height_sigma_m < 0.3 * height


def test_the_detectors_tilt_is_undone_and_its_doubt_is_in_the_sigma():
    """People drawn as the shipped model draws them (`DetectorTilt`: they lean less than
    the true vertical, small people least, plus a tilt by image column) on a wide lens
    looking down: a calibrator that knows the detector undoes it and lands within issue
    17's targets; one that takes the keypoints for exact is further off in the field of
    view, and says so in its sigma (the gain's and the column term's doubt)."""
    height, pitch, fov = 8.0, 30.0, 85.0
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), height, pitch)
    people = crafted_people(camera, np.random.default_rng(12), people=60)
    found = {}
    for name, tilt in (("shipped", SHIPPED_TILT), ("exact", EXACT_TILT)):
        calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT, tilt=tilt)
        for poses, ids in people:
            calibrator.add(poses, ids)
        found[name] = calibrator.estimate()
        print(name, found[name].describe())
    right, wrong = found["shipped"], found["exact"]
    assert abs(right.pitch_deg - pitch) < 2.0
    assert abs(right.height_m / height - 1) < 0.10
    assert abs(right.fov_deg / fov - 1) < 0.10
    assert abs(wrong.fov_deg - fov) > 2 * abs(right.fov_deg - fov) + 2.0  # the tilt matters
    assert abs(right.fov_deg - fov) < 2 * right.fov_sigma_deg + 1.0
    assert abs(wrong.fov_deg - fov) < 2 * wrong.fov_sigma_deg


def test_detector_tilt_by_size_and_column():
    """The shipped model's tilt: 0.61 of the true vertical at 50 px at the image centre,
    more for taller people, plus its own lean off the centre; exact keypoints are the
    true vertical."""
    vertical = np.array([0.2, 0.2, 0.2, 0.0])
    height = np.array([50.0, 50.0 * np.e, 50.0, 50.0])
    column = np.array([WIDTH / 2, WIDTH / 2, WIDTH / 2, WIDTH])  # the last at the edge
    drawn = SHIPPED_TILT.expected(vertical, height, column, WIDTH)
    assert drawn[0] == pytest.approx(SHIPPED_TILT.gain * 0.2)
    assert drawn[1] == pytest.approx((SHIPPED_TILT.gain + SHIPPED_TILT.size_slope) * 0.2)
    assert drawn[3] == pytest.approx(SHIPPED_TILT.position / 2)
    np.testing.assert_allclose(EXACT_TILT.expected(vertical, height, column, WIDTH), vertical)


def test_the_lens_prior_pulls_only_where_the_verticals_hardly_converge():
    """`FOV_PRIOR` (60 degrees): exact people under a camera looking down are not moved by
    it; under a camera 2 degrees below the horizon it pulls the lens towards 60 degrees, and
    the sigma it reports keeps the truth within 2.5 sigma."""
    found = {}
    for h, pitch, fov in ((8.0, 30.0, 85.0), (4.0, 2.0, 45.0), (4.0, 2.0, 80.0)):
        camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), h, pitch)
        people = crafted_people(camera, np.random.default_rng(21), tilt=EXACT_TILT)
        for prior in (None, FOV_PRIOR):
            calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT, tilt=EXACT_TILT, fov_prior=prior)
            for poses, ids in people:
                calibrator.add(poses, ids)
            found[fov, prior] = estimate = calibrator.estimate()
            print(fov, prior, estimate.describe())
            assert abs(estimate.fov_deg - fov) < 2.5 * estimate.fov_sigma_deg
    assert found[85.0, FOV_PRIOR].fov_deg == pytest.approx(found[85.0, None].fov_deg, rel=0.01)
    for fov in (45.0, 80.0):
        free, pulled = found[fov, None].fov_deg, found[fov, FOV_PRIOR].fov_deg
        assert abs(free / fov - 1) < 0.05  # exact people at a low pitch still carry the lens
        assert abs(pulled - FOV_PRIOR[0]) < abs(free - FOV_PRIOR[0]) - 3.0  # the pull


def test_outliers_are_rejected():
    rng = np.random.default_rng(8)
    height, pitch, fov = 6.0, 20.0, 70.0
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), height, pitch)
    calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT)
    for poses, ids in crafted_people(camera, rng, sitting=0.15, junk=0.1):
        calibrator.add(poses, ids)
    estimate = calibrator.estimate()
    assert estimate is not None
    print(estimate.describe())
    assert abs(estimate.pitch_deg - pitch) < 1.5
    assert abs(estimate.height_m / height - 1) < 0.07
    assert abs(estimate.fov_deg / fov - 1) < 0.07
    assert estimate.inliers < 0.9 * estimate.observations  # the sitting and the junk


def test_too_few_people_give_no_estimate():
    rng = np.random.default_rng(9)
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, 60), 5.0, 20.0)
    calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT)
    for poses, ids in crafted_people(camera, rng, people=3, frames=2):
        calibrator.add(poses, ids)
    assert calibrator.estimate() is None


def test_cut_off_and_unsure_people_are_skipped():
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, 60), 5.0, 20.0)
    poses, _ = crafted_people(camera, np.random.default_rng(3), people=10, frames=1)[0]
    calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT)
    assert calibrator.add(poses, 0) > 0
    poses.boxes[:, 3] = HEIGHT - 1  # every box reaches the bottom edge: cut off
    assert calibrator.add(poses, 0) == 0
    poses, _ = crafted_people(camera, np.random.default_rng(3), people=10, frames=1)[0]
    poses.scores[:] = 0.2
    assert calibrator.add(poses, 0) == 0


def test_estimate_round_trips_as_a_camera_file():
    rng = np.random.default_rng(11)
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, 70), 6.0, 25.0, 4.0)
    assert camera.pitch_deg == pytest.approx(25.0) and camera.roll_deg == pytest.approx(4.0)
    calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT, focal_px=camera.intrinsics.fx)
    for poses, ids in crafted_people(camera, rng):
        calibrator.add(poses, ids)
    estimate = calibrator.estimate()
    assert estimate is not None
    assert estimate.fov_deg == pytest.approx(70.0)  # a known focal length stays
    assert estimate.fov_sigma_deg == 0.0
    back = Camera.from_dict(estimate.to_dict())
    assert back.roll_deg == pytest.approx(estimate.roll_deg, abs=1e-9)
    assert back.centre[2] == pytest.approx(estimate.height_m)
    assert abs(estimate.roll_deg - 4.0) < 1.0


def lift_stage_run(hold: bool) -> tuple[list, object]:
    """The lift stage with camera: auto on 4 s of crafted people at 10 fps."""
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.stages.lift import LiftParams, LiftStage

    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, 65), 7.0, 25.0)
    people = crafted_people(camera, np.random.default_rng(5), people=60, frames=40)
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (HEIGHT, WIDTH, 3))
    frames = [Frame("crafted", i, i / 10, image, poses=p) for i, (p, _) in enumerate(people)]
    context = StageContext()
    context.facts.fps, context.facts.skeleton, context.facts.live = 10.0, "jta22", False
    params = LiftParams(camera="auto", auto_seconds=1.0, auto_refine_seconds=1.0,
                        auto_until_seconds=3.0, auto_hold=hold)  # fmt: skip
    stage = LiftStage(params)
    stage.open(context)
    return list(stage(iter(frames))), context.facts


def test_lift_stage_auto_holds_then_refines():
    out, facts = lift_stage_run(hold=True)
    assert len(out) == 40 and [f.index for f in out] == list(range(40))  # order kept
    assert all(np.isfinite(f.poses.data["ground_xy"]).all() for f in out)  # all held rows
    calibration = facts.self_calibration
    assert calibration["ready"] and calibration["ready_frame"] == 0
    assert calibration["estimates"] == 3  # at 1, 2 and 3 s
    assert abs(calibration["pitch_deg"] - 25.0) < 1.5
    assert facts.camera_source == "auto" and facts.ground_plane is True
    assert facts.camera_height_m == pytest.approx(calibration["height_m"])


def test_lift_stage_auto_without_hold_marks_the_first_ground_row():
    out, facts = lift_stage_run(hold=False)
    ready = facts.self_calibration["ready_frame"]
    assert ready == 10  # the first estimate at 1 s
    for frame in out:
        ground = frame.poses.data["ground_xy"]
        assert np.isnan(ground).all() if frame.index < ready else np.isfinite(ground).all()


def test_the_tilts_column_term_can_be_fitted_per_clip():
    """People drawn with a column lean of their own (-0.02 rad per image width, where the
    shipped model's prior says -0.137 +- 0.05) under a camera looking down, where the
    verticals' convergence varies with the row and so parts from the column term: with
    ``fit_column`` the calibrator finds the clip's term (within 2 sigma, closer than the
    prior) and the camera within issue 17's targets; without it the term stays the prior's
    (sigma 0, its doubt is in the camera's sigmas)."""
    height, pitch, fov, column = 8.0, 35.0, 70.0, -0.02
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), height, pitch)
    drawn = replace(SHIPPED_TILT, position=column)
    people = crafted_people(camera, np.random.default_rng(31), people=60, tilt=drawn)
    found = {}
    for fit in (False, True):
        calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT, fit_column=fit)
        for poses, ids in people:
            calibrator.add(poses, ids)
        found[fit] = estimate = calibrator.estimate()
        print(fit, estimate.describe(), estimate.column_tilt, estimate.column_tilt_sigma)
    fixed, fitted = found[False], found[True]
    assert fixed.column_tilt == pytest.approx(SHIPPED_TILT.position)
    assert fixed.column_tilt_sigma == 0.0
    assert 0 < fitted.column_tilt_sigma < SHIPPED_TILT.position_std
    assert abs(fitted.column_tilt - column) < 2 * fitted.column_tilt_sigma
    assert abs(fitted.column_tilt - column) < 0.75 * abs(SHIPPED_TILT.position - column)
    assert abs(fitted.pitch_deg - pitch) < 2.0
    assert abs(fitted.height_m / height - 1) < 0.10
    assert abs(fitted.fov_deg / fov - 1) < 0.10
    assert abs(fitted.fov_deg - fov) < abs(fixed.fov_deg - fov)


def test_the_column_term_is_fitted_only_for_a_nearly_level_camera():
    """By default (``fit_column`` None) the column term is fitted when a first fit finds
    the camera looking down by less than `FIT_COLUMN_BELOW_PITCH_DEG`: people drawn with a
    column lean of their own under a camera 6 degrees down get a fitted term (a sigma) and
    the lens within 10 %, where the pooled term would drag it; under one 35 degrees down the
    term stays fixed."""
    column = -0.03
    drawn = replace(SHIPPED_TILT, position=column)
    found = {}
    for height, pitch, fov in ((3.0, 6.0, 60.0), (8.0, 35.0, 70.0)):
        camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), height, pitch)
        people = crafted_people(camera, np.random.default_rng(33), people=60, tilt=drawn)
        for fit in (None, False):
            calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT, fit_column=fit)
            for poses, ids in people:
                calibrator.add(poses, ids)
            found[pitch, fit] = estimate = calibrator.estimate()
            print(pitch, fit, estimate.describe(), estimate.column_tilt)
    low, low_fixed = found[6.0, None], found[6.0, False]
    assert FIT_COLUMN_BELOW_PITCH_DEG > 6.0  # the first fit says 2.7 degrees
    assert low.column_tilt_sigma > 0
    assert abs(low.column_tilt - column) < abs(SHIPPED_TILT.position - column)
    assert abs(low.fov_deg / 60.0 - 1) < 0.10
    assert abs(low.fov_deg - 60.0) < abs(low_fixed.fov_deg - 60.0)
    assert abs(low.pitch_deg - 6.0) < 2.0 and abs(low.height_m / 3.0 - 1) < 0.10
    steep = found[35.0, None]
    assert steep.column_tilt_sigma == 0.0
    assert steep.fov_deg == pytest.approx(found[35.0, False].fov_deg)


def test_the_fovs_sigma_from_the_people_alone_says_when_the_prior_chose_the_lens():
    """`CameraEstimate.fov_people_sigma_deg`: the lens's sigma before the lens prior joins.
    The shipped model's people (crafted): looking down, the converging verticals fix the
    lens; nearly level, where the tilt's column term is fitted, they leave it about three
    times as uncertain as the prior and the estimate is the prior's; a given focal length
    has none."""
    found = {}
    for name, h, pitch, fov in (("down", 8.0, 30.0, 80.0), ("level", 4.0, 3.0, 55.0)):
        camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, fov), h, pitch)
        calibrator = SelfCalibrator(JTA22, WIDTH, HEIGHT)
        for poses, ids in crafted_people(camera, np.random.default_rng(5)):
            calibrator.add(poses, ids)
        found[name] = estimate = calibrator.estimate()
        print(name, estimate.describe(), estimate.fov_people_sigma_deg)
        assert estimate.summary()["fov_people_sigma_deg"] == estimate.fov_people_sigma_deg
        assert estimate.fov_people_sigma_deg >= estimate.fov_sigma_deg
    down, level = found["down"], found["level"]
    # Looking down: 12.9 deg from the people, 8.5 with the prior; the lens within 2 %.
    assert down.fov_people_sigma_deg < 2 * down.fov_sigma_deg
    assert abs(down.fov_deg / 80.0 - 1) < 0.03
    # Nearly level: 24.9 deg from the people, 8.7 with the prior; the lens is the prior's.
    assert level.fov_people_sigma_deg > 2.5 * level.fov_sigma_deg
    assert level.fov_deg == pytest.approx(FOV_PRIOR[0], abs=1.0)
    assert level.fov_people_sigma_deg > 1.5 * down.fov_people_sigma_deg
    lens = Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)
    known = SelfCalibrator(JTA22, WIDTH, HEIGHT, focal_px=lens.fx)
    for poses, ids in crafted_people(ground_camera(lens, 4.0, 10.0), np.random.default_rng(5)):
        known.add(poses, ids)
    assert known.estimate().fov_people_sigma_deg == 0.0
    assert "people alone +- " in level.describe()
    assert "people alone" not in known.estimate().describe()  # nothing estimated
