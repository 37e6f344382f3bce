"""Constant-velocity Kalman model of an image box, state ``[cx, cy, w, h, vcx, vcy, vw, vh]``.

Named for its state as BoxMOT names its filters; pixels and pixels per second. Image-plane
motion is what a monocular tracker can trust at every frame rate: a box's centre moves
smoothly even when the lifted depth jitters by tens of centimetres between frames.

Noise scales with the box height, as in BoT-SORT's ``xywh`` filter (a near person moves
more pixels per second and its box edges are noisier in pixels):

- measurement std of every coordinate: ``measurement_noise_per_height * h``;
- process noise: piecewise-constant white acceleration of std
  ``acceleration_heights_per_s2 * h`` on every coordinate (filterpy's
  ``Q_discrete_white_noise`` structure), i.e. how fast a walker may change course, in body
  heights per second squared.

The time step is the gap between frame timestamps, so the model behaves the same at 5 and
30 fps. Everything is batched over tracks: ``(T, 8)`` states and ``(T, 3, 4)`` covariance
blocks of the four independent (position, velocity) pairs (``cv_blocks``; ``cv_blocks.compose``
gives the (T, 8, 8) matrices), computed elementwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import crowdpose3d.tracking.cv_blocks as cv_blocks

#: Smallest box side kept by the filter, pixels (a shrinking prediction never turns over).
MIN_SIDE_PX = 1.0


def corners_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 -> (N, 4) centre x, centre y, width, height (a view of a
    coordinate-first array: computed on whole coordinate rows, as `cv_blocks` does)."""
    corners = np.ascontiguousarray(np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T)
    xywh = np.empty_like(corners)  # (4, N)
    xywh[2:] = corners[2:] - corners[:2]
    xywh[:2] = corners[:2] + xywh[2:] / 2
    return xywh.T


def xywh_to_corners(xywh: np.ndarray) -> np.ndarray:
    """(N, >=4) centre x, centre y, width, height (first four columns) -> (N, 4) x1 y1 x2 y2
    (a view of a coordinate-first array, as `corners_to_xywh`)."""
    rows = np.ascontiguousarray(xywh[:, :4].T)  # (4, N)
    centre, size = rows[:2], np.maximum(rows[2:], MIN_SIDE_PX)
    half = size / 2
    corners = np.empty_like(rows)
    corners[:2] = centre - half
    corners[2:] = centre + half
    return corners.T


@dataclass(frozen=True)
class KalmanFilterBox:
    """Constant-velocity Kalman model of a person's box in the image.

    Attributes:
        acceleration_heights_per_s2: process noise, std of the acceleration of every box
            coordinate in box heights per s^2; larger follows turns and stops faster.
        measurement_noise_per_height: std of a detected box coordinate, in box heights.
        initial_speed_heights_per_s: velocity std of a new track (velocity starts at zero),
            in box heights per second (a brisk walk is about one height per second).
    """

    acceleration_heights_per_s2: float = 0.25
    measurement_noise_per_height: float = 0.05
    initial_speed_heights_per_s: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "acceleration_heights_per_s2",
            "measurement_noise_per_height",
            "initial_speed_heights_per_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"KalmanFilterBox: {name} must be > 0, got {getattr(self, name)}")

    def initiate(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) corner boxes -> states (N, 8) at rest and covariance blocks (N, 3, 4)."""
        xywh = corners_to_xywh(boxes)  # (N, 4)
        state = np.concatenate([xywh, np.zeros_like(xywh)], axis=1)  # (N, 8)
        height = np.maximum(xywh[:, 3:4], MIN_SIDE_PX)  # (N, 1)
        std = np.concatenate(
            [
                np.repeat(self.measurement_noise_per_height * height, 4, axis=1),
                np.repeat(self.initial_speed_heights_per_s * height, 4, axis=1),
            ],
            axis=1,
        )  # (N, 8)
        return state, cv_blocks.diagonal(std**2)

    def predict(
        self, state: np.ndarray, covariance: np.ndarray, dt: float | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move (T, 8) states and (T, 3, 4) covariance blocks ``dt`` seconds ahead (scalar or (T,));
        the acceleration variance of the predicted box's height (`cv_blocks.predict`)."""
        step = cv_blocks.time_step(dt)  # (T, 1) or a float
        height = np.maximum(state[:, 3] + (step * state[:, 7:8])[:, 0], MIN_SIDE_PX)  # (T,)
        variance = ((self.acceleration_heights_per_s2 * height) ** 2)[:, None]  # (T, 1)
        state, covariance = cv_blocks.predict(state, covariance, dt, variance)
        state[:, 2:4] = np.maximum(state[:, 2:4], MIN_SIDE_PX)
        return state, covariance

    def update(
        self, state: np.ndarray, covariance: np.ndarray, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct (T, 8) states and (T, 3, 4) covariance blocks with (T, 4) detected corner
        boxes."""
        measured = corners_to_xywh(boxes)  # (T, 4)
        height = np.maximum(measured[:, 3], MIN_SIDE_PX)
        noise = ((self.measurement_noise_per_height * height) ** 2)[:, None]  # (T, 1)
        return cv_blocks.update(state, covariance, measured, noise)
