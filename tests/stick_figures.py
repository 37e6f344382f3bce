"""Tiny labelled images for end-to-end tests: JTA-22 stick figures seen by a pinhole camera.

Each person is a template standing pose with random arm and leg swings, body turn and size,
placed on the ground in front of the camera; the image draws every bone as a thick line with
its own colour. Labels: boxes, 2D joints (pixels), bone-normalised 3D joints.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from crowdpose3d.core.skeleton import JTA22, normalize_pose
from crowdpose3d.core.targets import GroundTruth

# A standing person in metres: x to the person's left, y up from the feet, z forward.
_TEMPLATE = np.array(
    [
        [0.00, 1.70, 0.0],
        [0.00, 1.60, 0.0],
        [0.00, 1.48, 0.0],  # head top/centre, neck
        [-0.05, 1.45, 0.0],
        [-0.19, 1.42, 0.0],
        [-0.22, 1.15, 0.0],
        [-0.24, 0.90, 0.0],  # right
        [0.05, 1.45, 0.0],
        [0.19, 1.42, 0.0],
        [0.22, 1.15, 0.0],
        [0.24, 0.90, 0.0],  # left arm
        [0.00, 1.40, 0.0],
        [0.00, 1.30, 0.0],
        [0.00, 1.20, 0.0],
        [0.00, 1.08, 0.0],  # spine0-3
        [0.00, 0.96, 0.0],  # spine4 (root)
        [-0.10, 0.92, 0.0],
        [-0.11, 0.50, 0.0],
        [-0.11, 0.08, 0.0],  # right leg
        [0.10, 0.92, 0.0],
        [0.11, 0.50, 0.0],
        [0.11, 0.08, 0.0],  # left leg
    ]
)
_SWINGS = ((4, (5, 6)), (8, (9, 10)), (16, (17, 18)), (19, (20, 21)))  # pivot, moved joints


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """(22, 3) a person in body coordinates (y up), with swung limbs, turned and scaled."""
    pose = _TEMPLATE.copy()
    for pivot, moved in _SWINGS:
        angle = rng.uniform(-0.7, 0.7)
        c, s = np.cos(angle), np.sin(angle)
        rel = pose[list(moved)] - pose[pivot]
        pose[list(moved)] = pose[pivot] + np.stack(
            (rel[:, 0], c * rel[:, 1] - s * rel[:, 2], s * rel[:, 1] + c * rel[:, 2]), axis=1
        )
    turn = rng.uniform(-np.pi, np.pi)
    c, s = np.cos(turn), np.sin(turn)
    pose = pose @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]]).T
    return pose * rng.uniform(0.9, 1.1)


def render_scene(
    rng: np.random.Generator, height: int, width: int, num_people: int, focal: float
) -> tuple[np.ndarray, GroundTruth]:
    """One (H, W, 3) uint8 image and its labels; people at 3-8 m, not cut by the border."""
    image = np.full((height, width, 3), rng.integers(40, 90, size=3), dtype=np.uint8)
    camera_height = 1.2
    people_3d, people_2d = [], []
    while len(people_3d) < num_people:
        depth = rng.uniform(3.0, 8.0)
        body = random_pose(rng)
        x = rng.uniform(-0.35, 0.35) * depth * width / focal
        # Camera coordinates: x right, y down, z forward; the ground is y = camera_height.
        camera = np.stack((body[:, 0] + x, camera_height - body[:, 1], body[:, 2] + depth), 1)
        pixels = focal * camera[:, :2] / camera[:, 2:] + np.array([width / 2, height / 2])
        inside = (pixels > 2).all() and (pixels < [width - 2, height - 2]).all()
        if inside:
            people_3d.append(camera)
            people_2d.append(pixels)
    # Far people first so near ones are drawn over them.
    order = np.argsort([-p[:, 2].mean() for p in people_3d])
    colours = rng.integers(120, 256, size=(len(JTA22.bones), 3))
    for index in order:
        thickness = max(2, int(round(0.06 * focal / people_3d[index][:, 2].mean())))
        for bone, (parent, child) in enumerate(JTA22.bones):
            a, b = people_2d[index][parent], people_2d[index][child]
            cv2.line(
                image,
                tuple(int(v) for v in a),
                tuple(int(v) for v in b),
                tuple(int(v) for v in colours[bone]),
                thickness,
                cv2.LINE_AA,
            )
    kp2d = torch.tensor(np.array(people_2d), dtype=torch.float32)
    kp3d, _ = normalize_pose(torch.tensor(np.array(people_3d), dtype=torch.float32), JTA22)
    margin = 4.0
    boxes = torch.cat((kp2d.amin(1) - margin, kp2d.amax(1) + margin), dim=1)
    return image, GroundTruth(boxes=boxes, kp2d=kp2d, kp3d=kp3d)


def make_batch(seed: int, count: int, height: int, width: int, people: int = 2):
    """(count, 3, H, W) float images in [0, 1] and their `GroundTruth` list."""
    rng = np.random.default_rng(seed)
    scenes = [render_scene(rng, height, width, people, focal=1.1 * width) for _ in range(count)]
    images = torch.tensor(np.stack([s[0] for s in scenes])).permute(0, 3, 1, 2).float() / 255
    return images, [s[1] for s in scenes]
