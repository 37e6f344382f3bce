"""Lift: metric 3D poses in camera coordinates from 2D joints and normalised 3D poses.

PandaNet (section 3.3.2) predicts, per person, 2D joints in pixels and a root-relative pose
whose bone lengths sum to 1. The metric pose is ``kp3d = scale * kp3d_rel + root``. The
pinhole equations are linear in (scale, root), so the root comes from a least-squares fit of
the pose's projection to the 2D joints; the scale, which a single view cannot tell from
depth, comes from a human-size prior or, when the camera's height and pitch above a flat
ground are known, from the feet touching the ground.

Everything is vectorised over the N people of a frame: each pass builds batched 3x3 or 4x4
normal equations and solves them at once. A few iteratively reweighted (Huber) passes keep
one badly placed joint from dragging the root.

Size priors (``SIZE_PRIORS``, metres of bone-length sum for a typical adult):

- jta22 4.25: mean bone sum of 20,000 bodies of the synthetic generator
  (``data.synth.body.sample_body``, stature 1.72 +- 0.09 m; sum = 2.47 x stature, std
  0.22 m). ``tests/test_lift.py`` recomputes it.
- mupots17 4.19: the same bodies mapped to MuPoTS-17 (3.65 m over the bones with a JTA
  counterpart) plus 0.54 m for pelvis-spine-neck (the synthetic pelvis-to-neck distance;
  the synthetic spine is nearly straight).
- panoptic19 4.40, approximate: 3.94 m over the mapped bones of the same bodies plus about
  0.46 m of face bones (neck-nose 0.20, nose-eye 0.05 and eye-ear 0.085 on each side), which
  are textbook head proportions, not measurements.

The lowest ankle of a standing or walking synthetic body is 0.099 +- 0.009 m above the
ground (same bodies, random gait phases), or 0.0233 +- 0.0018 of its bone-length sum: the
default ``ankle_height`` is 0.099 m for a person of the prior's size, scaled with each
person's fitted size (which keeps the ground constraint linear).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from crowdpose3d.core.skeleton import JTA22, Skeleton
from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.geometry.rays import pose_to_camera
from crowdpose3d.poses import Poses

__all__ = ["DEFAULT_ANKLE_HEIGHT", "SIZE_PRIORS", "LiftResult", "Lifter"]

SIZE_PRIORS: dict[str, float] = {"jta22": 4.25, "mupots17": 4.19, "panoptic19": 4.40}
DEFAULT_ANKLE_HEIGHT = 0.099  # metres: lowest ankle above the ground, prior-sized person
_MIN_DEPTH = 0.05  # metres: depths below this are clipped when weighting residuals


@dataclass(frozen=True)
class LiftResult:
    """Metric poses of N people; rows of people that could not be lifted are NaN.

    kp3d: (N, K, 3) metres, camera coordinates (x right, y down, z forward).
    root: (N, 3) metres, the root joint (``kp3d[:, skeleton.root]``).
    scale: (N,) metres per unit of bone-length sum (the person's bone-length sum).
    reprojection_error_px: (N,) mean pixel distance between the projected ``kp3d`` and the
        2D joints, over the joints used in the fit.
    ground_xy: (N, 2) metres, the point on the ground below the root in the ground frame
        (origin below the camera, x to the right, y forward along the camera's heading);
        NaN without a ground plane.
    size_ratio: (N,) the size the joints and the ground contact ask for, before the clamp
        to ``scale_range``, over the size prior: about 1 for an adult standing on the
        ground, far from it for something the size of a lamp post or a window; NaN without
        a ground plane (the size is then the prior's).
    """

    kp3d: np.ndarray
    root: np.ndarray
    scale: np.ndarray
    reprojection_error_px: np.ndarray
    ground_xy: np.ndarray
    size_ratio: np.ndarray


class Lifter:
    """Recovers metric 3D poses for one camera by reprojection fitting (paper 3.3.2).

    Without ``camera_height`` the scale is the size prior and only the root is fitted.
    With ``camera_height`` (metres above the ground) and ``pitch_deg`` (optical axis below
    the horizon; ``roll_deg`` about the optical axis, default 0) the scale is fitted too:
    the lowest ankle must lie ``ankle_height * scale / size_prior`` above the ground, a weak
    prior (relative std ``size_prior_sigma``) keeps near-degenerate views stable, and the
    scale is clamped to ``scale_range`` x prior. Residual weights: ``pixel_sigma`` for 2D
    joints, ``foot_sigma`` (metres) for the ground contact. ``irls_iterations`` reweighted
    passes use Huber weights whose threshold is twice the person's median joint residual
    (at least ``huber_min_px``). People with fewer than ``min_joints`` usable joints, or
    whose root would be behind the camera, get NaN.
    """

    def __init__(
        self,
        intrinsics: Intrinsics,
        skeleton: Skeleton = JTA22,
        *,
        size_prior: float | None = None,
        camera_height: float | None = None,
        pitch_deg: float | None = None,
        ankle_height: float = DEFAULT_ANKLE_HEIGHT,
        size_prior_sigma: float = 0.15,
        scale_range: tuple[float, float] = (0.55, 1.25),
        pixel_sigma: float = 2.0,
        foot_sigma: float = 0.03,
        irls_iterations: int = 3,
        huber_min_px: float = 1.0,
        min_joints: int = 3,
        roll_deg: float = 0.0,
    ) -> None:
        if size_prior is None:
            if skeleton.name not in SIZE_PRIORS:
                raise ValueError(
                    f"no default size prior for skeleton {skeleton.name!r}; pass size_prior "
                    "(the bone-length sum of a typical adult, in metres)"
                )
            size_prior = SIZE_PRIORS[skeleton.name]
        if size_prior <= 0:
            raise ValueError(f"size_prior must be > 0 metres, got {size_prior}")
        if (camera_height is None) != (pitch_deg is None):
            raise ValueError("give both camera_height and pitch_deg for a ground plane, or neither")
        if not 0 < scale_range[0] <= 1 <= scale_range[1]:
            raise ValueError(f"scale_range must satisfy 0 < low <= 1 <= high, got {scale_range}")
        if min(size_prior_sigma, pixel_sigma, foot_sigma, huber_min_px) <= 0:
            raise ValueError("size_prior_sigma, pixel_sigma, foot_sigma, huber_min_px must be > 0")
        self.intrinsics = intrinsics
        self.skeleton = skeleton
        self.size_prior = float(size_prior)
        self.size_prior_sigma = float(size_prior_sigma)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.pixel_sigma = float(pixel_sigma)
        self.foot_sigma = float(foot_sigma)
        self.irls_iterations = int(irls_iterations)
        self.huber_min_px = float(huber_min_px)
        self.min_joints = max(int(min_joints), 2)  # 2 joints = 4 equations for 3 unknowns
        self.ankle_height = float(ankle_height)
        self.camera: Camera | None = None  # the ground-plane camera (ground at world z = 0)
        self.feet = np.array(
            [i for i, name in enumerate(skeleton.joints) if name.endswith("ankle")], np.int64
        )
        if camera_height is not None and pitch_deg is not None:
            if camera_height <= 0 or not -90 <= pitch_deg <= 90:
                raise ValueError(
                    f"need camera_height > 0 m and pitch_deg in [-90, 90], got "
                    f"{camera_height}, {pitch_deg}"
                )
            if len(self.feet) == 0:
                raise ValueError(
                    f"skeleton {skeleton.name!r} has no '*ankle' joint to put on the ground"
                )
            # Yaw 0 at the world origin: world x, y are the ground frame of `LiftResult`.
            self.camera = Camera.looking_at_ground(
                intrinsics, camera_height, pitch_deg, roll_deg=roll_deg
            )

    # ------------------------------------------------------------------ public
    def __call__(self, poses: Poses, weights: np.ndarray | None = None) -> Poses:
        """A copy of ``poses`` with ``kp3d`` and ``root`` filled and ``scale``,
        ``reprojection_error_px``, ``ground_xy``, ``size_ratio`` added to ``data``."""
        kp3d_rel = poses.kp3d_rel
        if "kp3d_ray" in poses.data:  # a ray-frame model: turn it with this camera
            kp3d_rel = pose_to_camera(
                poses.data["kp3d_ray"], poses.kp2d, self.skeleton.root, self.intrinsics
            ).astype(np.float32)
            poses = dataclasses.replace(poses, kp3d_rel=kp3d_rel)
        result = self.lift(poses.kp2d, kp3d_rel, weights)
        data = {
            **poses.data,
            "scale": result.scale.astype(np.float32),
            "reprojection_error_px": result.reprojection_error_px.astype(np.float32),
            "ground_xy": result.ground_xy.astype(np.float32),
            "size_ratio": result.size_ratio.astype(np.float32),
        }
        return dataclasses.replace(poses, kp3d=result.kp3d, root=result.root, data=data)

    def lift(
        self,
        kp2d: np.ndarray,
        kp3d_rel: np.ndarray,
        weights: np.ndarray | None = None,
        size_prior: float | np.ndarray | None = None,
    ) -> LiftResult:
        """Lift N people: kp2d (N, K, 2) pixels, kp3d_rel (N, K, 3) normalised.

        weights: optional (N, K) joint weights >= 0 (e.g. visibility); joints with weight 0
        or a NaN coordinate are left out of the fit. size_prior: overrides the configured
        prior, a scalar or (N,) (e.g. a track's known size).
        """
        k = self.skeleton.num_joints
        kp2d = np.asarray(kp2d, dtype=np.float64)
        rel = np.asarray(kp3d_rel, dtype=np.float64)
        if kp2d.ndim != 3 or kp2d.shape[1:] != (k, 2) or rel.shape != (len(kp2d), k, 3):
            raise ValueError(
                f"need kp2d (N, {k}, 2) and kp3d_rel (N, {k}, 3) for skeleton "
                f"{self.skeleton.name!r}, got {kp2d.shape} and {rel.shape}"
            )
        n = len(kp2d)
        w = np.ones((n, k)) if weights is None else np.asarray(weights, dtype=np.float64)
        w = np.broadcast_to(w, (n, k))
        prior = np.broadcast_to(
            np.asarray(self.size_prior if size_prior is None else size_prior, np.float64), (n,)
        )

        usable = np.isfinite(kp2d).all(-1) & np.isfinite(rel).all(-1) & (w > 0)  # (N, K)
        w = np.where(usable, w, 0.0)
        rel0 = np.where(np.isfinite(rel), rel, 0.0)  # (N, K, 3), NaN-free for the sums
        k_mat = self.intrinsics
        xn = np.where(usable, (kp2d[..., 0] - k_mat.cx) / k_mat.fx, 0.0)  # (N, K)
        yn = np.where(usable, (kp2d[..., 1] - k_mat.cy) / k_mat.fy, 0.0)
        ok = usable.sum(1) >= self.min_joints  # (N,)

        # Pinhole rows in the unknowns (s, tx, ty, tz): X - xn * Z = 0 and Y - yn * Z = 0.
        design = np.zeros((n, k, 2, 4))  # (N, K, xy, unknown)
        design[..., 0, 0] = rel0[..., 0] - xn * rel0[..., 2]
        design[..., 1, 0] = rel0[..., 1] - yn * rel0[..., 2]
        design[..., 0, 1] = 1.0
        design[..., 1, 2] = 1.0
        design[..., 0, 3] = -xn
        design[..., 1, 3] = -yn
        design = design.reshape(n, 2 * k, 4)  # (N, 2K, 4)
        target = np.zeros((n, 2 * k))  # (N, 2K)
        focal = np.array([k_mat.fx, k_mat.fy])

        if self.camera is not None:
            design, target, extra_weight = self._ground_rows(design, target, rel, prior)
        else:
            extra_weight = np.zeros((n, 0))

        # Pass 0: the size prior as scale, uniform weights over the joints.
        scale = prior.copy()
        fitted = np.full(n, np.nan)  # (N,) the scale before the clamp (ground plane only)
        row_weight = np.repeat(w, 2, axis=1)  # (N, 2K)
        root = self._solve_root(design[:, : 2 * k], target[:, : 2 * k], row_weight, scale, ok)
        passes = max(self.irls_iterations, 1 if self.camera is not None else 0)
        for _ in range(passes):
            points = scale[:, None, None] * rel0 + root[:, None, :]  # (N, K, 3)
            depth = np.maximum(points[..., 2], _MIN_DEPTH)  # (N, K)
            residual = self._residual_px(points, xn, yn, usable)  # (N, K)
            robust = self._huber(residual, usable) if self.irls_iterations > 0 else 1.0
            pixel_weight = (w * robust)[..., None] * (
                focal / (depth[..., None] * self.pixel_sigma)
            ) ** 2
            row_weight = np.concatenate((pixel_weight.reshape(n, 2 * k), extra_weight), axis=1)
            if self.camera is None:
                root = self._solve_root(design, target, row_weight, scale, ok)
                continue
            solution = _solve(design, target, row_weight, ok)  # (N, 4)
            fitted = solution[:, 0]
            low, high = self.scale_range
            scale = np.clip(fitted, low * prior, high * prior)
            clamped = scale != fitted
            root = solution[:, 1:]
            if clamped.any():
                fixed = self._solve_root(design, target, row_weight, scale, ok)
                root = np.where(clamped[:, None], fixed, root)

        return self._result(scale, root, rel, xn, yn, usable, ok, fitted / prior)

    # ------------------------------------------------------------------ internals
    def _ground_rows(
        self, design: np.ndarray, target: np.ndarray, rel: np.ndarray, prior: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Append the ground-contact row and the size-prior row: (N, 2K+2, 4), (N, 2K+2),
        and the weights (N, 2) of the two rows."""
        assert self.camera is not None
        n = len(design)
        up = self.camera.rotation[:, 2]  # (3,) world up in camera coordinates
        # Height above the ground of a camera-frame point X: up . X + camera height, and the
        # lowest foot is the one lowest in the normalised pose (s > 0, t is shared). The
        # contact row: s * (up . P_low - ankle_height / size_prior) + up . t = -height.
        foot_up = rel[:, self.feet] @ up  # (N, F)
        foot_up = np.where(np.isfinite(foot_up), foot_up, np.inf)
        lowest = foot_up.min(axis=1)  # (N,)
        has_feet = np.isfinite(lowest)
        ground = np.zeros((n, 1, 4))
        ground[:, 0, 0] = np.where(has_feet, lowest, 0.0) - self.ankle_height / self.size_prior
        ground[:, 0, 1:] = up
        height = self.camera.centre[2]
        size = np.zeros((n, 1, 4))
        size[:, 0, 0] = 1.0
        design = np.concatenate((design, ground, size), axis=1)
        target = np.concatenate((target, np.full((n, 1), -height), prior[:, None]), axis=1)
        weight = np.stack(
            (
                np.where(has_feet, 1.0 / self.foot_sigma**2, 0.0),
                1.0 / (self.size_prior_sigma * prior) ** 2,
            ),
            axis=1,
        )
        return design, target, weight

    @staticmethod
    def _solve_root(
        design: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray,
        scale: np.ndarray,
        ok: np.ndarray,
    ) -> np.ndarray:
        """Root (N, 3) for a fixed scale (N,): move the scale column to the right side."""
        return _solve(design[..., 1:], target - design[..., 0] * scale[:, None], weight, ok)

    def _residual_px(
        self, points: np.ndarray, xn: np.ndarray, yn: np.ndarray, usable: np.ndarray
    ) -> np.ndarray:
        """(N, K) pixel distance between projected points and the 2D joints (0 if unused)."""
        depth = np.where(points[..., 2] > _MIN_DEPTH, points[..., 2], _MIN_DEPTH)
        du = self.intrinsics.fx * (points[..., 0] / depth - xn)
        dv = self.intrinsics.fy * (points[..., 1] / depth - yn)
        return np.where(usable, np.hypot(du, dv), 0.0)

    def _huber(self, residual: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """(N, K) Huber weights, threshold 2 x each person's median residual (>= the floor);
        for Gaussian noise of std sigma per axis that is about 2.4 sigma."""
        ranked = np.sort(np.where(usable, residual, np.inf), axis=1)  # (N, K)
        count = usable.sum(1)
        middle = np.take_along_axis(ranked, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
        middle = np.where(count > 0, middle, 0.0)
        delta = np.maximum(2.0 * middle, self.huber_min_px)[:, None]
        return np.minimum(1.0, delta / np.maximum(residual, 1e-12))

    def _result(
        self,
        scale: np.ndarray,
        root: np.ndarray,
        rel: np.ndarray,
        xn: np.ndarray,
        yn: np.ndarray,
        usable: np.ndarray,
        ok: np.ndarray,
        size_ratio: np.ndarray,
    ) -> LiftResult:
        ok = ok & (root[:, 2] > 0)  # a root behind the camera is no lift of a visible person
        scale = np.where(ok, scale, np.nan)
        size_ratio = np.where(ok, size_ratio, np.nan)
        root = np.where(ok[:, None], root, np.nan)
        kp3d = scale[:, None, None] * rel + root[:, None, :]  # (N, K, 3)
        residual = self._residual_px(kp3d, xn, yn, usable)  # (N, K)
        count = usable.sum(1)
        error = np.where(ok, residual.sum(1) / np.maximum(count, 1), np.nan)
        if self.camera is None:
            ground_xy = np.full((len(root), 2), np.nan)
        else:
            ground_xy = self.camera.camera_to_world(root)[:, :2]  # NaN rows stay NaN
        return LiftResult(kp3d, root, scale, error, ground_xy, size_ratio)


def _solve(
    design: np.ndarray, target: np.ndarray, weight: np.ndarray, ok: np.ndarray
) -> np.ndarray:
    """Weighted least squares per person: argmin sum_r weight (design @ x - target)^2.

    design (N, R, U), target (N, R), weight (N, R), ok (N,) -> (N, U); rows of people who
    are not ``ok`` are solved against the identity (their result is discarded).
    """
    weighted = np.swapaxes(design * weight[..., None], 1, 2)  # (N, U, R)
    normal = weighted @ design  # (N, U, U); matmul is ~10x faster than einsum here
    rhs = (weighted @ target[..., None])[..., 0]  # (N, U)
    unknowns = design.shape[-1]
    eye = np.eye(unknowns)
    # A tiny ridge keeps (near-)degenerate people from making the batched solve fail.
    ridge = 1e-14 * np.trace(normal, axis1=1, axis2=2)[:, None, None] / unknowns
    normal = np.where(ok[:, None, None], normal + ridge * eye, eye)
    rhs = np.where(ok[:, None], rhs, 0.0)
    return np.linalg.solve(normal, rhs[..., None])[..., 0]
