"""Constant-velocity Kalman arithmetic on independent (position, velocity) blocks.

Both of the tracker's filters (``box_cv``: the box's cx, cy, w, h; ``xyz_cv``: the root's x,
y, z) have D coordinates that never mix: the initial covariance, the transition
(position += velocity dt), the process noise (white acceleration per coordinate) and the
measurement noise (one variance per coordinate) are all per coordinate. A ``(T, 2D, 2D)``
covariance ordered [positions, velocities] is then D independent 2x2 blocks, held as one
``(T, 3, D)`` array of *blocks*: ``[:, 0]`` the position variances, ``[:, 1]`` the
position-velocity covariances, ``[:, 2]`` the velocity variances of each coordinate. Predict
and update are a few elementwise operations on ``(T, D)`` arrays instead of batched matrix
products and inverses, and the tracker's table gathers 3D numbers per track instead of
(2D)^2 (the tests check both filters, through ``compose``, against filterpy's matrix form).

Predict and update compute *track-last*, on the (2D, T) and (3, D, T) transposes, and
return track-first views of them: a coordinate's T values are then one run of memory, so
each elementwise operation is one pass over T numbers instead of T passes over D (several
times faster at D = 3 or 4); a table column that holds such a view is transposed back to
contiguous memory for free by the next step. The numbers are the same either way.
"""

from __future__ import annotations

import numpy as np


def blocks(covariance: np.ndarray) -> np.ndarray:
    """(T, 2D, 2D) covariances -> (T, 3, D) blocks: position variances, position-velocity
    covariances and velocity variances of each coordinate (the rest must be zero)."""
    dims = covariance.shape[1] // 2
    coords = np.arange(dims)
    return np.stack(
        [
            covariance[:, coords, coords],
            covariance[:, coords, coords + dims],
            covariance[:, coords + dims, coords + dims],
        ],
        axis=1,
    )


def compose(cov_blocks: np.ndarray) -> np.ndarray:
    """(T, 3, D) blocks (as `blocks` returns them) -> (T, 2D, 2D) covariances."""
    count, _, dims = cov_blocks.shape
    coords = np.arange(dims)
    covariance = np.zeros((count, 2 * dims, 2 * dims))
    covariance[:, coords, coords] = cov_blocks[:, 0]
    covariance[:, coords, coords + dims] = cov_blocks[:, 1]
    covariance[:, coords + dims, coords] = cov_blocks[:, 1]
    covariance[:, coords + dims, coords + dims] = cov_blocks[:, 2]
    return covariance


def diagonal(variances: np.ndarray) -> np.ndarray:
    """(T, 2D) variances of [positions, velocities], uncorrelated -> (T, 3, D) blocks."""
    dims = variances.shape[1] // 2
    return np.stack(
        [variances[:, :dims], np.zeros_like(variances[:, :dims]), variances[:, dims:]], axis=1
    )


def time_step(dt: float | np.ndarray) -> float | np.ndarray:
    """A step of ``dt`` seconds as a Python float (scalar arithmetic on it stays out of
    numpy), or (T, 1) float64 for (T,) per-track steps."""
    if isinstance(dt, (float, int)):  # the usual case, without numpy's dispatch
        return float(dt)
    if np.ndim(dt):
        return np.asarray(dt, dtype=np.float64)[:, None]
    return float(dt)


def predict(
    state: np.ndarray, cov_blocks: np.ndarray, dt: float | np.ndarray, variance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2D) states and (T, 3, D) covariance blocks ``dt`` seconds ahead (scalar or (T,)),
    with white acceleration of ``variance`` ((T, 1), (T, D) or scalar) per coordinate:
    ``F P F^T + Q`` = pp + 2 dt pv + dt^2 vv + dt^4/4 q, pv + dt vv + dt^3/2 q, vv + dt^2 q.

    Computed track-last (`_track_last`) and returned as track-first views of those arrays.
    """
    dims = state.shape[1] // 2
    step = _track_last(time_step(dt))  # (1, T) or a float
    variance = _track_last(variance)  # (1 or D, T) or a float
    s, c = _track_last_copy(state, cov_blocks)  # (2D, T), (3, D, T)
    out_state = np.empty((2 * dims, len(state)))
    out_state[:dims] = s[:dims] + step * s[dims:]
    out_state[dims:] = s[dims:]
    pp, pv, vv = c  # (D, T) each
    step2 = step * step
    out = np.empty((3, dims, len(state)))
    out[0] = pp + 2.0 * step * pv + step2 * vv + (step2 * step2 / 4.0) * variance
    out[1] = pv + step * vv + (step2 * step / 2.0) * variance
    out[2] = vv + step2 * variance
    return out_state.T, out.transpose(2, 0, 1)


def update(
    state: np.ndarray, cov_blocks: np.ndarray, measured: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct (T, 2D) states and (T, 3, D) covariance blocks with (T, D) measured positions
    of measurement variance ``noise`` ((T, 1) or (T, D)): per coordinate S = pp + r, gain
    (pp, pv) / S, covariance (I - K H) P. Computed track-last, as `predict`."""
    dims = state.shape[1] // 2
    s, c = _track_last_copy(state, cov_blocks)  # (2D, T), (3, D, T)
    pp, pv, vv = c  # (D, T) each
    system = pp + noise.T  # (D, T) S = H P H^T + R
    gain_p, gain_v = pp / system, pv / system  # (D, T) K = P H^T S^-1
    innovation = measured.T - s[:dims]  # (D, T)
    out_state = np.empty((2 * dims, len(state)))
    out_state[:dims] = s[:dims] + gain_p * innovation
    out_state[dims:] = s[dims:] + gain_v * innovation
    keep = 1.0 - gain_p
    out = np.empty((3, dims, len(state)))
    out[0] = pp * keep
    out[1] = pv * keep
    out[2] = vv - gain_v * pv
    return out_state.T, out.transpose(2, 0, 1)


def _track_last(values: float | np.ndarray) -> float | np.ndarray:
    """A float as it is; a (T, 1) or (T, D) per-track array as its (1 or D, T) transpose."""
    return values.T if isinstance(values, np.ndarray) and values.ndim == 2 else values


def _track_last_copy(state: np.ndarray, cov_blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2D) states and (T, 3, D) blocks -> contiguous (2D, T) and (3, D, T): no copy
    when they are the track-first views that `predict` and `update` return."""
    return (
        np.ascontiguousarray(state.T),
        np.ascontiguousarray(cov_blocks.transpose(1, 2, 0)),
    )
