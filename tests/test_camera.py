"""Pinhole intrinsics and the ground-looking camera."""

import math

import numpy as np
import pytest

from crowdpose3d.geometry.camera import Camera, Intrinsics


def test_fov_and_projection_hand_computed():
    k = Intrinsics.from_fov(1000, 500, 90.0)
    assert k.fx == pytest.approx(500.0) and (k.cx, k.cy) == (500.0, 250.0)
    np.testing.assert_allclose(k.project([1.0, -0.5, 2.0]), [750.0, 125.0])
    np.testing.assert_allclose(k.back_project([750.0, 125.0], 2.0), [1.0, -0.5, 2.0])
    assert k.horizontal_fov_deg == pytest.approx(90.0)


def test_crop_scale_flip_keep_projection_consistent():
    k = Intrinsics(800.0, 810.0, 320.5, 240.25, 640, 480)
    points = np.array([[0.3, -0.2, 4.0], [-1.0, 0.5, 9.0]])
    pixels = k.project(points)
    np.testing.assert_allclose(k.cropped(100, 50, 300, 200).project(points), pixels - [100, 50])
    scaled = k.scaled(0.5, 0.25)
    np.testing.assert_allclose(scaled.project(points), (pixels + 0.5) * [0.5, 0.25] - 0.5)
    assert (scaled.width, scaled.height) == (320, 120)
    mirrored = points * [-1, 1, 1]
    flipped = k.flipped_horizontally().project(mirrored)
    np.testing.assert_allclose(flipped[:, 0], k.width - 1 - pixels[:, 0])
    np.testing.assert_allclose(flipped[:, 1], pixels[:, 1])


def test_camera_looking_at_ground():
    k = Intrinsics.from_fov(640, 480, 60.0)
    camera = Camera.looking_at_ground(k, height=10.0, pitch_deg=45.0, yaw_deg=30.0)
    np.testing.assert_allclose(camera.centre, [0, 0, 10.0], atol=1e-9)
    # The ground point straight ahead at 10 m projects to the principal point.
    ahead = np.array([10 * math.sin(math.radians(30)), 10 * math.cos(math.radians(30)), 0.0])
    np.testing.assert_allclose(camera.project_world(ahead), [k.cx, k.cy], atol=1e-9)
    np.testing.assert_allclose(camera.world_to_camera(ahead)[2], math.hypot(10, 10))
    # Up in the world is up (negative y) in the image.
    above = camera.project_world(ahead + [0, 0, 1.0])
    assert above[1] < k.cy
    round_trip = camera.camera_to_world(camera.world_to_camera(ahead))
    np.testing.assert_allclose(round_trip, ahead, atol=1e-9)
    assert Camera.from_dict(camera.to_dict()).to_dict() == camera.to_dict()


def test_invalid_inputs():
    with pytest.raises(ValueError):
        Intrinsics(0.0, 1.0, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="orthonormal"):
        Camera(Intrinsics.from_fov(10, 10, 60), np.ones((3, 3)), np.zeros(3))
