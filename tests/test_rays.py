"""The viewing-ray frame (crowdpose3d.geometry.rays) and the ray-frame 3D targets."""

import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.data.dataset import random_sample
from crowdpose3d.data.transforms import crop, flip_horizontally, resize
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.rays import camera_to_ray, pose_to_camera, ray_rotation, ray_to_camera

INTRINSICS = Intrinsics.from_fov(512, 320, 75.0)


def test_ray_rotation_is_a_rotation_whose_third_column_is_the_ray():
    pixels = np.array([[256.0, 160.0], [0.0, 0.0], [511.0, 319.0], [400.0, 20.0]])
    rotation = ray_rotation(pixels, INTRINSICS)  # (4, 3, 3)
    for r, (u, v) in zip(rotation, pixels, strict=True):
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        ray = np.array(
            [(u - INTRINSICS.cx) / INTRINSICS.fx, (v - INTRINSICS.cy) / INTRINSICS.fy, 1]
        )
        assert np.allclose(r[:, 2], ray / np.linalg.norm(ray))
    assert np.allclose(rotation[0], np.eye(3))  # the principal point: the camera frame


def test_camera_and_ray_frames_are_inverse():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 22, 3))
    rotation = ray_rotation(rng.uniform(0, 300, size=(5, 2)), INTRINSICS)
    assert np.allclose(ray_to_camera(camera_to_ray(vectors, rotation), rotation), vectors)


def test_ray_frame_target_does_not_depend_on_where_the_camera_points():
    """The same person seen at the image centre and, after a pure rotation of the camera,
    near a corner: the picture of the person is the same up to a small warp; the camera-axes
    label turns by up to 40 degrees, the ray-frame label stays the same."""
    rng = np.random.default_rng(1)
    centred = random_sample(rng, height=320, width=512, num_people=1, skeleton=JTA22)
    root = centred.kp3d[0, JTA22.root].astype(np.float64)
    # Camera turned so that the root's ray is the optical axis: the person at the centre.
    to_centre = ray_rotation(INTRINSICS.project(root)[None], INTRINSICS)[0].T
    people = centred.kp3d.astype(np.float64) @ to_centre.T  # (1, K, 3)
    corner = ray_rotation(np.array([[40.0, 30.0]]), INTRINSICS)[0]  # turn to the corner
    moved = people @ corner.T
    a = _sample(centred, people).to_ground_truth("ray").kp3d.numpy()
    b = _sample(centred, moved).to_ground_truth("ray").kp3d.numpy()
    assert np.allclose(INTRINSICS.project(moved[0, JTA22.root]), [40.0, 30.0])
    assert np.abs(a - b).max() < 1e-5
    cam_a = _sample(centred, people).to_ground_truth("camera").kp3d.numpy()
    cam_b = _sample(centred, moved).to_ground_truth("camera").kp3d.numpy()
    assert np.abs(cam_a - cam_b).max() > 0.01  # camera axes: the label changed


def test_ray_frame_target_follows_crop_resize_and_flip():
    """A crop or a resize leaves the ray through the root unchanged (the intrinsics move
    with the image); a flip mirrors it, so the ray-frame target mirrors (x -> -x, left and
    right swapped) exactly as the camera-axes one does."""
    rng = np.random.default_rng(2)
    sample = random_sample(rng, height=320, width=512, num_people=3, skeleton=JTA22)
    sample = _sample(sample, sample.kp3d, INTRINSICS)
    target = sample.to_ground_truth("ray").kp3d.numpy()
    cropped = crop(resize(sample, 640, 400), 37, 21, 512, 320, min_box_fraction=0.0,
                   min_joints_inside=0)  # fmt: skip
    assert np.allclose(cropped.to_ground_truth("ray").kp3d.numpy(), target, atol=1e-5)
    flipped = flip_horizontally(sample).to_ground_truth("ray").kp3d.numpy()
    perm = list(JTA22.flip_permutation())
    assert np.allclose(flipped, target[:, perm] * [-1.0, 1.0, 1.0], atol=1e-5)


def test_pose_to_camera_undoes_the_ray_frame_target():
    rng = np.random.default_rng(3)
    sample = random_sample(rng, height=320, width=512, num_people=4, skeleton=JTA22)
    ray = sample.to_ground_truth("ray").kp3d.numpy()
    camera = sample.to_ground_truth("camera").kp3d.numpy()
    back = pose_to_camera(ray, sample.kp2d, JTA22.root, sample.intrinsics)
    assert np.allclose(back, camera, atol=1e-5)


def test_unknown_pose_frame_is_one_clear_error():
    sample = random_sample(np.random.default_rng(4), height=64, width=64, num_people=1,
                           skeleton=JTA22)  # fmt: skip
    with pytest.raises(ValueError, match="unknown pose frame 'world'"):
        sample.to_ground_truth("world")


def _sample(template, kp3d, intrinsics=None):
    """``template`` with other 3D people (metres, camera frame), 2D labels re-projected."""
    from crowdpose3d.data.dataset import projected_sample

    return projected_sample(template.image, kp3d, intrinsics or INTRINSICS, JTA22)


def test_a_ray_frame_model_outputs_camera_axes_and_keeps_its_own_frame():
    """The predictor turns a ray-frame checkpoint's poses into camera axes (with the given
    intrinsics, else a 60-degree view) and the lift turns them again with its camera."""
    import torch

    from crowdpose3d.core.checkpoint import load_checkpoint
    from crowdpose3d.engine.predictor import DEFAULT_FOV_DEG, Predictor
    from crowdpose3d.geometry.lift import Lifter

    checkpoint = load_checkpoint("builtin:crowd-small")
    checkpoint.metadata["pose_frame"] = "ray"
    predictor = Predictor(checkpoint, device="cpu", score_threshold=0.0, max_detections=5)
    torch.manual_seed(0)
    image = np.random.default_rng(5).integers(0, 255, (320, 512, 3), dtype=np.uint8)
    guessed = predictor([image])[0]
    assert len(guessed) == 5
    ray = guessed.data["kp3d_ray"]
    default = Intrinsics.from_fov(512, 320, DEFAULT_FOV_DEG)
    assert np.allclose(guessed.kp3d_rel, pose_to_camera(ray, guessed.kp2d, JTA22.root, default))
    known = predictor([image], [INTRINSICS])[0]
    assert np.allclose(known.data["kp3d_ray"], ray)
    assert np.allclose(known.kp3d_rel, pose_to_camera(ray, known.kp2d, JTA22.root, INTRINSICS))
    assert not np.allclose(known.kp3d_rel, guessed.kp3d_rel)
    lifted = Lifter(INTRINSICS, JTA22)(guessed)
    assert np.allclose(lifted.kp3d_rel, known.kp3d_rel, atol=1e-5)
    checkpoint.metadata["pose_frame"] = "world"
    with pytest.raises(ValueError, match="pose_frame 'world'"):
        Predictor(checkpoint, device="cpu")


def test_pose_dataset_builds_ray_frame_targets_when_asked():
    from crowdpose3d.data.dataset import PoseDataset

    samples = [random_sample(np.random.default_rng(6), height=64, width=96, num_people=2,
                             skeleton=JTA22)]  # fmt: skip
    ray = PoseDataset(samples, None, JTA22, input_size=(64, 96), pose_frame="ray")[0][1]
    camera = PoseDataset(samples, None, JTA22, input_size=(64, 96))[0][1]
    assert np.allclose(ray.kp3d.numpy(), samples[0].to_ground_truth("ray").kp3d.numpy())
    assert not np.allclose(ray.kp3d.numpy(), camera.kp3d.numpy())
