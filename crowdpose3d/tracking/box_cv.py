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
30 fps. Everything is batched over tracks: ``(T, 8)`` states, ``(T, 8, 8)`` covariances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (4, 8) measurement matrix: the filter observes the box (cx, cy, w, h).
MEASUREMENT_MATRIX = np.hstack([np.eye(4), np.zeros((4, 4))])
_EYE4, _EYE8 = np.eye(4), np.eye(8)
#: Smallest box side kept by the filter, pixels (a shrinking prediction never turns over).
MIN_SIDE_PX = 1.0


def corners_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 -> (N, 4) centre x, centre y, width, height."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    size = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] + size / 2, size], axis=1)


def xywh_to_corners(xywh: np.ndarray) -> np.ndarray:
    """(N, >=4) centre x, centre y, width, height (first four columns) -> (N, 4) x1 y1 x2 y2."""
    centre, size = xywh[:, :2], np.maximum(xywh[:, 2:4], MIN_SIDE_PX)
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


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

    acceleration_heights_per_s2: float = 1.0
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
        """(N, 4) corner boxes -> states (N, 8) at rest and covariances (N, 8, 8)."""
        xywh = corners_to_xywh(boxes)  # (N, 4)
        state = np.concatenate([xywh, np.zeros_like(xywh)], axis=1)  # (N, 8)
        height = np.clip(xywh[:, 3:4], MIN_SIDE_PX, None)  # (N, 1)
        std = np.concatenate(
            [
                np.repeat(self.measurement_noise_per_height * height, 4, axis=1),
                np.repeat(self.initial_speed_heights_per_s * height, 4, axis=1),
            ],
            axis=1,
        )  # (N, 8)
        return state, (std**2)[:, :, None] * _EYE8

    def predict(
        self, state: np.ndarray, covariance: np.ndarray, dt: float | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move (T, 8) states and (T, 8, 8) covariances ``dt`` seconds ahead (scalar or (T,)).

        ``F P F^T`` in blocks, F = [[I, dt I], [0, I]] on (position, velocity):
        P_pp + dt (P_pv + P_vp) + dt^2 P_vv, P_pv + dt P_vv, P_vp + dt P_vv, P_vv.
        """
        dt = np.broadcast_to(np.asarray(dt, dtype=np.float64), (len(state),))  # (T,)
        step = dt[:, None, None]
        state = state.copy()
        state[:, :4] += dt[:, None] * state[:, 4:]
        state[:, 2:4] = np.maximum(state[:, 2:4], MIN_SIDE_PX)
        pp, pv = covariance[:, :4, :4], covariance[:, :4, 4:]
        vp, vv = covariance[:, 4:, :4], covariance[:, 4:, 4:]
        variance = (self.acceleration_heights_per_s2 * state[:, 3])[:, None, None] ** 2
        # Piecewise white acceleration per coordinate: [[dt^4/4, dt^3/2], [dt^3/2, dt^2]] var.
        cross = pv + step * vv + (step**3 / 2) * variance * _EYE4
        covariance = np.concatenate(
            [
                np.concatenate(
                    [
                        pp + step * (pv + vp) + step**2 * vv + (step**4 / 4) * variance * _EYE4,
                        cross,
                    ],
                    axis=2,
                ),
                np.concatenate([cross.transpose(0, 2, 1), vv + step**2 * variance * _EYE4], axis=2),
            ],
            axis=1,
        )  # (T, 8, 8)
        return state, covariance

    def update(
        self, state: np.ndarray, covariance: np.ndarray, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct (T, 8) states and (T, 8, 8) covariances with (T, 4) detected corner boxes."""
        measured = corners_to_xywh(boxes)  # (T, 4)
        height = np.maximum(measured[:, 3], MIN_SIDE_PX)
        noise = (self.measurement_noise_per_height * height)[:, None, None] ** 2 * _EYE4
        innovation = measured - state[:, :4]  # (T, 4)
        system = covariance[:, :4, :4] + noise  # (T, 4, 4) S = H P H^T + R
        gain = covariance[:, :, :4] @ np.linalg.inv(system)  # (T, 8, 4) K = P H^T S^-1
        state = state + (gain @ innovation[:, :, None])[:, :, 0]
        covariance = covariance - gain @ covariance[:, :4, :]  # (I - K H) P
        return state, covariance
