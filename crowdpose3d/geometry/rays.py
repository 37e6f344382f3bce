"""The viewing-ray frame of a person: camera axes turned to look straight at the person.

A root-relative pose in camera axes changes with where the person stands in the image: the
same body seen at the left edge of a 75-degree view and at its centre looks alike in the
image (up to a small warp) but differs in camera axes by a rotation of up to 37 degrees. A
convolutional network, which sees a patch and hardly knows where it lies, cannot tell the
two apart; nor can it after a random crop, which moves the principal point (the labels in
camera axes stay the same while the patch moves in the image). Expressed in the person's
*ray frame*, the pose depends only on what the patch shows.

The ray frame of a pixel p: z is the unit ray ``d = K^-1 (u, v, 1)`` through p, and x, y
are the camera's x, y turned by the smallest rotation taking the optical axis (0, 0, 1) to
d (Rodrigues' formula about ``(0, 0, 1) x d``), so at the principal point the ray frame is
the camera frame. ``R = ray_rotation(p)`` has columns (x, y, z) of the ray frame in camera
axes: a camera-frame vector ``c`` is ``R^T c`` in the ray frame and a ray-frame vector
``r`` is ``R r`` in camera axes.
"""

from __future__ import annotations

import numpy as np

from crowdpose3d.geometry.camera import Intrinsics

__all__ = ["POSE_FRAMES", "camera_to_ray", "pose_to_camera", "ray_rotation", "ray_to_camera"]

# Frames a model's root-relative 3D output can be in (checkpoint metadata "pose_frame"):
# "camera" (the paper's, and every checkpoint written before the ray frame existed) or "ray".
POSE_FRAMES = ("camera", "ray")


def ray_rotation(pixels: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(..., 2) pixels -> (..., 3, 3) rotations whose third column is the unit ray."""
    pixels = np.asarray(pixels, dtype=np.float64)
    x = (pixels[..., 0] - intrinsics.cx) / intrinsics.fx
    y = (pixels[..., 1] - intrinsics.cy) / intrinsics.fy
    ray = np.stack((x, y, np.ones_like(x)), axis=-1)
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)  # (..., 3) unit, z > 0
    dx, dy, dz = ray[..., 0], ray[..., 1], ray[..., 2]
    # R = I + [v]x + [v]x^2 / (1 + c), v = (0, 0, 1) x d = (-dy, dx, 0), c = dz > 0.
    k = 1.0 / (1.0 + dz)
    rotation = np.empty((*ray.shape[:-1], 3, 3))
    rotation[..., 0, 0] = 1.0 - k * dx * dx
    rotation[..., 0, 1] = -k * dx * dy
    rotation[..., 0, 2] = dx
    rotation[..., 1, 0] = -k * dx * dy
    rotation[..., 1, 1] = 1.0 - k * dy * dy
    rotation[..., 1, 2] = dy
    rotation[..., 2, 0] = -dx
    rotation[..., 2, 1] = -dy
    rotation[..., 2, 2] = dz
    return rotation


def camera_to_ray(vectors: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(N, K, 3) camera-axes vectors and (N, 3, 3) `ray_rotation` -> (N, K, 3) ray frame."""
    return np.einsum("nji,nkj->nki", rotation, np.asarray(vectors, dtype=np.float64))


def ray_to_camera(vectors: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(N, K, 3) ray-frame vectors and (N, 3, 3) `ray_rotation` -> (N, K, 3) camera axes."""
    return np.einsum("nij,nkj->nki", rotation, np.asarray(vectors, dtype=np.float64))


def pose_to_camera(
    kp3d_ray: np.ndarray, kp2d: np.ndarray, root: int, intrinsics: Intrinsics
) -> np.ndarray:
    """(N, K, 3) ray-frame poses -> camera axes, each turned along the ray through its own
    root joint's pixel (``kp2d`` (N, K, 2), joint index ``root``) under ``intrinsics``."""
    kp2d = np.asarray(kp2d, dtype=np.float64)
    rotation = ray_rotation(kp2d[:, root], intrinsics)  # (N, 3, 3)
    return ray_to_camera(kp3d_ray, rotation)
