"""Pinhole cameras: intrinsics, extrinsics, projection.

Conventions (OpenCV's): camera coordinates have x to the right, y down and z forward, in
metres; pixel coordinates have (0, 0) at the centre of the top-left pixel.
World coordinates for generated scenes have the ground at z = 0 and z up. Extrinsics map
world to camera: ``X_cam = R @ X_world + t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera's intrinsics for an image of ``width x height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.fx <= 0 or self.fy <= 0 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"invalid intrinsics {self}: focal lengths and size must be > 0")

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> Intrinsics:
        """Square pixels, principal point at the image centre, given horizontal field of view."""
        if not 0 < horizontal_fov_deg < 180:
            raise ValueError(f"field of view must be in (0, 180) degrees, got {horizontal_fov_deg}")
        focal = (width / 2) / math.tan(math.radians(horizontal_fov_deg) / 2)
        return cls(focal, focal, width / 2, height / 2, int(width), int(height))

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, width: int, height: int) -> Intrinsics:
        """From a 3x3 K matrix (skew ignored)."""
        k = np.asarray(matrix, dtype=np.float64)
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), width, height)

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) K."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @property
    def horizontal_fov_deg(self) -> float:
        return math.degrees(2 * math.atan((self.width / 2) / self.fx))

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixels (points must have z > 0)."""
        points = np.asarray(points, dtype=np.float64)
        z = points[..., 2]
        return np.stack(
            (self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy),
            axis=-1,
        )

    def back_project(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """(..., 2) pixels at (...,) depths z -> (..., 3) camera-frame points."""
        pixels = np.asarray(pixels, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)
        x = (pixels[..., 0] - self.cx) / self.fx * depth
        y = (pixels[..., 1] - self.cy) / self.fy * depth
        return np.stack((x, y, depth), axis=-1)

    def cropped(self, left: float, top: float, width: int, height: int) -> Intrinsics:
        """The intrinsics of the crop whose top-left corner is at (left, top)."""
        return replace(self, cx=self.cx - left, cy=self.cy - top, width=width, height=height)

    def scaled(self, scale_x: float, scale_y: float | None = None) -> Intrinsics:
        """The intrinsics after resizing the image by (scale_x, scale_y).

        Pixel centres are at integer coordinates (OpenCV), so under a resize a pixel
        coordinate u maps to (u + 0.5) * s - 0.5.
        """
        scale_y = scale_x if scale_y is None else scale_y
        return Intrinsics(
            self.fx * scale_x,
            self.fy * scale_y,
            (self.cx + 0.5) * scale_x - 0.5,
            (self.cy + 0.5) * scale_y - 0.5,
            int(round(self.width * scale_x)),
            int(round(self.height * scale_y)),
        )

    def flipped_horizontally(self) -> Intrinsics:
        """The intrinsics of the mirrored image (u -> width - 1 - u) for mirrored 3D (x -> -x)."""
        return replace(self, cx=self.width - 1 - self.cx)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intrinsics:
        return cls(
            float(data["fx"]),
            float(data["fy"]),
            float(data["cx"]),
            float(data["cy"]),
            int(data["width"]),
            int(data["height"]),
        )


@dataclass(frozen=True)
class Camera:
    """Intrinsics and world-to-camera extrinsics: ``X_cam = rotation @ X_world + translation``."""

    intrinsics: Intrinsics
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    def __post_init__(self) -> None:
        rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6):
            raise ValueError("camera rotation is not orthonormal")
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(
            self, "translation", np.asarray(self.translation, dtype=np.float64).reshape(3)
        )

    @classmethod
    def looking_at_ground(
        cls,
        intrinsics: Intrinsics,
        height: float,
        pitch_deg: float,
        yaw_deg: float = 0.0,
        position_xy: tuple[float, float] = (0.0, 0.0),
        roll_deg: float = 0.0,
    ) -> Camera:
        """A camera ``height`` metres above the ground (z = 0, z up), tilted down by
        ``pitch_deg`` below the horizon, looking along ``yaw_deg`` (0 = world +y), rolled by
        ``roll_deg`` about its optical axis (positive turns the camera's x axis towards its
        y axis: the world appears turned anticlockwise in the image)."""
        pitch, yaw, roll = math.radians(pitch_deg), math.radians(yaw_deg), math.radians(roll_deg)
        forward = np.array(
            [math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), -math.sin(pitch)]
        )
        level = np.array([math.cos(yaw), -math.sin(yaw), 0.0])  # x axis before the roll
        below = np.cross(forward, level)  # y axis before the roll
        right = math.cos(roll) * level + math.sin(roll) * below
        down = -math.sin(roll) * level + math.cos(roll) * below
        rotation = np.stack((right, down, forward))  # rows: camera axes in world coordinates
        centre = np.array([position_xy[0], position_xy[1], height])
        return cls(intrinsics, rotation, -rotation @ centre)

    @property
    def pitch_deg(self) -> float:
        """The optical axis's angle below the horizon (world z up)."""
        return math.degrees(math.asin(float(np.clip(-self.rotation[2, 2], -1, 1))))

    @property
    def roll_deg(self) -> float:
        """The turn about the optical axis (`looking_at_ground`'s ``roll_deg``)."""
        return math.degrees(math.atan2(-self.rotation[0, 2], -self.rotation[1, 2]))

    @property
    def centre(self) -> np.ndarray:
        """(3,) the camera's position in world coordinates."""
        return -self.rotation.T @ self.translation

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera-frame points."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation

    def camera_to_world(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 3) world points."""
        return (np.asarray(points, dtype=np.float64) - self.translation) @ self.rotation

    def project_world(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 2) pixels."""
        return self.intrinsics.project(self.world_to_camera(points))

    def to_dict(self) -> dict[str, Any]:
        return {
            "intrinsics": self.intrinsics.to_dict(),
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Camera:
        return cls(
            Intrinsics.from_dict(data["intrinsics"]),
            np.array(data["rotation"], dtype=np.float64),
            np.array(data["translation"], dtype=np.float64),
        )
