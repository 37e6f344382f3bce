"""A random static camera per sequence and the patch of ground it sees.

The camera stands `height` metres above the ground plane (z = 0, z up), tilted down by
`pitch`, with a random heading (yaw). `GroundView` describes the visible ground in the
camera's *ground frame*: `s` metres to the right of the camera and `d` metres forward
(horizontally), which is where people are placed and walk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crowdpose3d.data.synth.config import SynthConfig
from crowdpose3d.geometry.camera import Camera, Intrinsics


def sample_camera(config: SynthConfig, rng: np.random.Generator) -> Camera:
    """A pinhole camera with height, pitch, field of view and yaw drawn from `config`."""
    # Log-uniform height: low street-level cameras (big people) as often as high ones.
    low, high = config.camera_height_m
    height = math.exp(rng.uniform(math.log(low), math.log(high)))
    pitch = rng.uniform(*config.camera_pitch_deg)
    fov = rng.uniform(*config.horizontal_fov_deg)
    yaw = rng.uniform(-180.0, 180.0)
    intrinsics = Intrinsics.from_fov(config.width, config.height, fov)
    return Camera.looking_at_ground(intrinsics, height, pitch, yaw)


@dataclass(frozen=True)
class GroundView:
    """The ground seen by `camera`, in its ground frame (s right, d forward, metres).

    near_d / far_d: forward distances where people can be seen at all (bottom edge of the
    image, clipped by the distance range; far edge or the configured maximum).
    """

    camera: Camera
    near_d: float
    far_d: float

    @classmethod
    def of(cls, camera: Camera, distance_range_m: tuple[float, float]) -> GroundView:
        k = camera.intrinsics
        height, pitch = camera.centre[2], _pitch(camera)
        half_v = (k.height / 2) / k.fy  # tan of half the vertical field of view
        # Bottom edge of the image meets the ground at d_bottom (feet just leave the view).
        bottom = _ground_distance(height, pitch, half_v)
        top = _ground_distance(height, pitch, -half_v)
        # Somebody standing short of the bottom edge still shows their upper body.
        near = max(distance_range_m[0], 0.6 * bottom if bottom is not None else 0.5)
        far = distance_range_m[1] if top is None else min(distance_range_m[1], top + 2.0)
        if bottom is not None:  # a high, flat camera sees nothing in range: use what it sees
            far = max(far, bottom + 8.0)
        return cls(camera, near, max(far, near + 4.0))

    @property
    def pitch(self) -> float:
        return _pitch(self.camera)

    def half_width(self, d: np.ndarray | float) -> np.ndarray:
        """Lateral half-width (metres) of the view at forward distance d (pinhole cone)."""
        k = self.camera.intrinsics
        height = self.camera.centre[2]
        depth = np.asarray(d) * math.cos(self.pitch) + height * math.sin(self.pitch)
        return (k.width / 2) / k.fx * np.maximum(depth, 0.0)

    def contains(self, sd: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """(..., 2) ground-frame points -> (...,) inside the view region grown by margin."""
        s, d = sd[..., 0], sd[..., 1]
        inside_d = (d >= self.near_d - margin) & (d <= self.far_d + margin)
        return inside_d & (np.abs(s) <= self.half_width(np.maximum(d, 0)) + margin)

    def to_world(self, sd: np.ndarray) -> np.ndarray:
        """(..., 2) ground-frame (s, d) -> (..., 2) world (x, y)."""
        right, forward = self._axes()
        sd = np.asarray(sd, dtype=np.float64)
        return self.camera.centre[:2] + sd[..., :1] * right + sd[..., 1:2] * forward

    def to_ground(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world (x, y) -> (..., 2) ground-frame (s, d)."""
        right, forward = self._axes()
        rel = np.asarray(xy, dtype=np.float64) - self.camera.centre[:2]
        return np.stack((rel @ right, rel @ forward), axis=-1)

    def heading_to_world(self, angle: float) -> float:
        """A direction in the ground frame (radians from +d towards +s) -> world yaw."""
        return angle + self.yaw

    @property
    def yaw(self) -> float:
        """World heading of the camera's forward direction (radians from +y towards +x)."""
        forward = self.camera.rotation[2]
        return math.atan2(forward[0], forward[1])

    def _axes(self) -> tuple[np.ndarray, np.ndarray]:
        right = self.camera.rotation[0, :2]
        right = right / np.linalg.norm(right)
        return right, np.array([-right[1], right[0]])


def _pitch(camera: Camera) -> float:
    """Angle of the optical axis below the horizon (radians)."""
    return math.asin(-camera.rotation[2, 2])


def _ground_distance(height: float, pitch: float, tan_below_axis: float) -> float | None:
    """Forward ground distance hit by the ray `tan_below_axis` below the optical axis.

    None when that ray points at or above the horizon.
    """
    angle = pitch + math.atan(tan_below_axis)
    if angle <= math.radians(0.5):
        return None
    return height / math.tan(angle)
