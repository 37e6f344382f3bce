"""Constant-velocity Kalman model of a 3D root, state ``[x, y, z, vx, vy, vz]``.

Named for its state vector as BoxMOT names its filters (``xyah``, ``xysr``...). Positions are
metres in camera coordinates (x right, y down, z forward), velocities metres per second. The
time step comes from frame timestamps, so dropped frames and variable frame rates are handled
by a larger ``dt``, not by predicting several times.

Process noise: piecewise-constant white acceleration of standard deviation
``acceleration_std_mps2`` on each axis (filterpy's ``Q_discrete_white_noise``), i.e. how
quickly a walker may change its velocity.

Measurement noise grows with depth. A monocular root comes from the body's apparent size,
``z = f * S / s`` (``S`` metric size, ``s`` size in pixels), so a relative error in ``s`` or
``S`` is the same relative error in ``z``: ``std_z = position_noise_m + depth_noise_per_m * z``.
The lateral coordinates ``x = (u - cx) z / f`` are much better constrained (the image gives the
direction), and grow more slowly: ``std_x = std_y = position_noise_m + lateral_noise_per_m * z``.

The filter runs batched in numpy over all tracks (``predict`` / ``update`` take ``(T, 6)``
states and ``(T, 3, 3)`` covariance blocks, ``cv_blocks``; ``cv_blocks.compose`` gives the
(T, 6, 6) matrices): one filterpy ``KalmanFilter`` object per track costs
about 20 us per predict+update, over a millisecond per frame at 60 people. ``make_filter``
builds the equivalent filterpy filter for one track; the tests check that both give the same
numbers, so filterpy stays the reference for the model's arithmetic. filterpy is imported
there only: with scipy it costs about 75 MB of resident memory that a tracking run does not
need (``process_noise`` writes filterpy's matrix in numpy; a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from filterpy.kalman import KalmanFilter

import crowdpose3d.tracking.cv_blocks as cv_blocks

#: (3, 6) measurement matrix: the filter observes the position only.
MEASUREMENT_MATRIX = np.hstack([np.eye(3), np.zeros((3, 3))])


@dataclass(frozen=True)
class KalmanFilterXYZ:
    """Constant-velocity Kalman model of a 3D point seen by a monocular camera.

    Attributes:
        acceleration_std_mps2: process noise, standard deviation of the acceleration (m/s^2)
            on each axis; larger follows turns and stops faster but smooths less.
        position_noise_m: measurement standard deviation (m) of every axis at zero depth.
        lateral_noise_per_m: growth of the x / y measurement std per metre of depth.
        depth_noise_per_m: growth of the z measurement std per metre of depth, i.e. the
            relative error of monocular depth (0.05 = 5 %).
        initial_speed_std_mps: velocity standard deviation (m/s) of a new track, whose
            velocity starts at zero.
    """

    acceleration_std_mps2: float = 2.0
    position_noise_m: float = 0.05
    lateral_noise_per_m: float = 0.01
    depth_noise_per_m: float = 0.05
    initial_speed_std_mps: float = 1.5

    def __post_init__(self) -> None:
        for name in ("acceleration_std_mps2", "position_noise_m", "initial_speed_std_mps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"KalmanFilterXYZ: {name} must be > 0, got {getattr(self, name)}")
        for name in ("lateral_noise_per_m", "depth_noise_per_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"KalmanFilterXYZ: {name} must be >= 0, got {getattr(self, name)}")

    def transition(self, dt: float) -> np.ndarray:
        """(6, 6) F: position += velocity * dt."""
        matrix = np.eye(6)
        matrix[:3, 3:] = dt * np.eye(3)
        return matrix

    def process_noise(self, dt: float) -> np.ndarray:
        """(6, 6) Q for a step of ``dt`` seconds, ordered [x, y, z, vx, vy, vz].

        filterpy's ``Q_discrete_white_noise(dim=2, dt, var, block_size=3,
        order_by_dim=False)``: the (position, velocity) block of one axis on each of x, y, z.
        """
        block = np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])  # (2, 2)
        return np.kron(block, np.eye(3)) * self.acceleration_std_mps2**2

    def measurement_std(self, roots: np.ndarray) -> np.ndarray:
        """(N, 3) measured roots -> (N, 3) measurement standard deviations in metres."""
        depth = np.maximum(np.asarray(roots, dtype=np.float64)[:, 2], 0.0)[:, None]  # (N, 1)
        growth = np.array(
            [self.lateral_noise_per_m, self.lateral_noise_per_m, self.depth_noise_per_m]
        )
        return self.position_noise_m + depth * growth  # (N, 3)

    def measurement_noise(self, roots: np.ndarray) -> np.ndarray:
        """(N, 3) measured roots -> (N, 3, 3) diagonal R."""
        variance = self.measurement_std(roots) ** 2  # (N, 3)
        return variance[:, :, None] * np.eye(3)  # (N, 3, 3)

    def initiate(self, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) first measurements -> states (N, 6) at rest and covariance blocks (N, 3, 3)."""
        roots = np.asarray(roots, dtype=np.float64).reshape(-1, 3)
        state = np.concatenate([roots, np.zeros_like(roots)], axis=1)  # (N, 6)
        variance = np.concatenate(
            [self.measurement_std(roots) ** 2, np.full_like(roots, self.initial_speed_std_mps**2)],
            axis=1,
        )  # (N, 6)
        return state, cv_blocks.diagonal(variance)

    def predict(
        self, state: np.ndarray, covariance: np.ndarray, dt: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move (T, 6) states and (T, 3, 3) covariance blocks ``dt`` seconds ahead
        (`cv_blocks.predict`: the three axes are independent blocks)."""
        return cv_blocks.predict(state, covariance, dt, self.acceleration_std_mps2**2)

    def update(
        self, state: np.ndarray, covariance: np.ndarray, roots: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct (T, 6) states and (T, 3, 3) covariance blocks with (T, 3) measured roots
        (`cv_blocks.update`; the same numbers as filterpy's Joseph-form update, which the
        optimal gain makes equal to ``(I - K H) P``)."""
        roots = np.asarray(roots, dtype=np.float64).reshape(-1, 3)
        noise = self.measurement_std(roots) ** 2  # (T, 3) diagonal R
        return cv_blocks.update(state, covariance, roots, noise)

    def make_filter(self, root: np.ndarray) -> KalmanFilter:
        """A filterpy ``KalmanFilter`` for one track started at ``root`` (3,).

        Step it with ``kf.predict(F=model.transition(dt), Q=model.process_noise(dt))`` and
        ``kf.update(z, R=model.measurement_noise(z[None])[0])``.
        """
        from filterpy.kalman import KalmanFilter

        state, covariance = self.initiate(np.asarray(root)[None])
        kf = KalmanFilter(dim_x=6, dim_z=3)
        kf.x = state[0][:, None]
        kf.P = cv_blocks.compose(covariance)[0]
        kf.H = MEASUREMENT_MATRIX.copy()
        return kf
