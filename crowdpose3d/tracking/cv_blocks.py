"""Constant-velocity Kalman arithmetic on independent (position, velocity) blocks.

Both of the tracker's filters (``box_cv``: the box's cx, cy, w, h; ``xyz_cv``: the root's x,
y, z) have D coordinates that never mix: the initial covariance, the transition
(position += velocity dt), the process noise (white acceleration per coordinate) and the
measurement noise (one variance per coordinate) are all per coordinate. A ``(T, 2D, 2D)``
covariance ordered [positions, velocities] is then D independent 2x2 blocks, and predict
and update are a few elementwise operations on ``(T, D)`` arrays instead of batched matrix
products and inverses (the tests check both filters against filterpy's matrix form).
"""

from __future__ import annotations

import numpy as np


def blocks(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 2D, 2D) covariances -> (T, D) position variances, position-velocity covariances
    and velocity variances of each coordinate."""
    dims = covariance.shape[1] // 2
    coords = np.arange(dims)
    return (
        covariance[:, coords, coords],
        covariance[:, coords, coords + dims],
        covariance[:, coords + dims, coords + dims],
    )


def compose(pp: np.ndarray, pv: np.ndarray, vv: np.ndarray) -> np.ndarray:
    """(T, D) blocks (as `blocks` returns them) -> (T, 2D, 2D) covariances."""
    count, dims = pp.shape
    coords = np.arange(dims)
    covariance = np.zeros((count, 2 * dims, 2 * dims))
    covariance[:, coords, coords] = pp
    covariance[:, coords, coords + dims] = pv
    covariance[:, coords + dims, coords] = pv
    covariance[:, coords + dims, coords + dims] = vv
    return covariance


def predict(
    state: np.ndarray, covariance: np.ndarray, dt: float | np.ndarray, variance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2D) states and (T, 2D, 2D) covariances ``dt`` seconds ahead (scalar or (T,)), with
    white acceleration of ``variance`` ((T, 1), (T, D) or scalar) per coordinate:
    ``F P F^T + Q`` = pp + 2 dt pv + dt^2 vv + dt^4/4 q, pv + dt vv + dt^3/2 q, vv + dt^2 q.
    """
    dims = state.shape[1] // 2
    dt = np.asarray(dt, dtype=np.float64)
    step = dt[:, None] if dt.ndim else dt  # (T, 1) or scalar
    state = state.copy()
    state[:, :dims] += step * state[:, dims:]
    pp, pv, vv = blocks(covariance)  # (T, D) each
    step2 = step * step
    pp = pp + 2.0 * step * pv + step2 * vv + (step2 * step2 / 4.0) * variance
    pv = pv + step * vv + (step2 * step / 2.0) * variance
    vv = vv + step2 * variance
    return state, compose(pp, pv, vv)


def update(
    state: np.ndarray, covariance: np.ndarray, measured: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct (T, 2D) states and (T, 2D, 2D) covariances with (T, D) measured positions of
    measurement variance ``noise`` ((T, 1) or (T, D)): per coordinate S = pp + r, gain
    (pp, pv) / S, covariance (I - K H) P."""
    dims = state.shape[1] // 2
    pp, pv, vv = blocks(covariance)  # (T, D) each
    system = pp + noise  # (T, D) S = H P H^T + R
    gain_p, gain_v = pp / system, pv / system  # (T, D) K = P H^T S^-1
    innovation = measured - state[:, :dims]  # (T, D)
    state = np.concatenate(
        [state[:, :dims] + gain_p * innovation, state[:, dims:] + gain_v * innovation], axis=1
    )
    keep = 1.0 - gain_p
    return state, compose(pp * keep, pv * keep, vv - gain_v * pv)
