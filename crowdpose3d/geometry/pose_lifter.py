"""`PoseLifter`: a small MLP that maps a person's 2D joints (and, when a track knows it, the
direction the person moves) to the root-relative 3D pose. A departure from the paper.

PandaNet's 3D head regresses the root-relative pose from the image features; in this
project's CPU-trained model it outputs nearly the same average body for everyone (it does
not know which way people face: docs/models.md, "Why the 3D head learns only the mean"). The
lifter (Martinez et al. 2017, "A simple yet effective baseline for 3D human pose
estimation") replaces that output with a pose read from the network's 2D joints, which
follow people, plus a motion cue: the body faces the way it walks.

Inputs, per person (all in the person's viewing-ray frame, `crowdpose3d.geometry.rays`, so
where the person stands in the image does not matter):

- the K 2D joints as tangent-plane coordinates of their rays (``x / z, y / z`` of each
  joint's unit ray turned into the root's ray frame; the root is at 0), divided by their
  root-mean-square radius (so the distance to the camera does not matter);
- the unit direction of motion (ray frame), the speed (m/s divided by `SPEED_UNIT`, at most
  `MAX_SPEED` m/s) and a flag that they are known: all zero when the person stands or no
  track velocity is known.

Output: the (K, 3) pose in the root's ray frame, made root-relative and normalised to
bone-length sum 1 (the PandaNet convention, `core.skeleton.normalize_pose`), then turned
into camera axes along the ray through the root's 2D joint.

The network (`LIFTER_LAYOUT`): a linear layer to ``width`` channels and ReLU, ``blocks``
residual blocks of two linear + ReLU layers each, and a linear output layer; inference is
plain numpy (a few matrix products for all the people of a frame). The weights are an
``.npz`` file written by `crowdpose3d.engine.lifter_training` (`scripts/train_lifter.py`);
the shipped one is `crowdpose3d/weights/pose-lifter.npz` (`BUILTIN_LIFTER`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crowdpose3d.core.skeleton import JTA22, Skeleton, normalize_pose
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.rays import ray_rotation, ray_to_camera

__all__ = [
    "BUILTIN_LIFTER",
    "MAX_SPEED",
    "MOTION_FEATURES",
    "SPEED_UNIT",
    "PoseLifter",
    "lifter_features",
    "motion_features",
]

BUILTIN_LIFTER = Path(__file__).resolve().parent.parent / "weights" / "pose-lifter.npz"
SPEED_UNIT = 2.0  # m/s: the speed feature is speed / SPEED_UNIT (walking ~0.65, running ~1.7)
MAX_SPEED = 6.0  # m/s: faster track velocities are clipped (a sprinting person is ~8 m/s)
MOTION_FEATURES = 5  # direction (3) + speed (1) + known flag (1)
_EPS = 1e-9


def motion_features(
    velocity: np.ndarray | None, rotation: np.ndarray, min_speed: float
) -> np.ndarray:
    """(N, 3) camera-axes velocities (m/s, NaN rows unknown) and (N, 3, 3) ray rotations ->
    (N, MOTION_FEATURES): the direction in the ray frame, the scaled speed and a known
    flag; zero rows where the velocity is unknown or slower than ``min_speed`` m/s."""
    n = len(rotation)
    out = np.zeros((n, MOTION_FEATURES))
    if velocity is None:
        return out
    velocity = np.asarray(velocity, dtype=np.float64).reshape(n, 3)
    speed = np.linalg.norm(velocity, axis=1)  # (N,)
    known = np.isfinite(speed) & (speed >= min_speed)
    if not known.any():
        return out
    direction = velocity[known] / speed[known, None]
    out[known, :3] = np.einsum("nji,nj->ni", rotation[known], direction)  # R^T d
    out[known, 3] = np.minimum(speed[known], MAX_SPEED) / SPEED_UNIT
    out[known, 4] = 1.0
    return out


def lifter_features(
    kp2d: np.ndarray,
    intrinsics: Intrinsics,
    root: int,
    velocity: np.ndarray | None = None,
    min_speed: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) pixels -> ((N, 2K + MOTION_FEATURES) features, (N, 3, 3) ray rotations).

    ``velocity``: (N, 3) m/s in camera axes or None; see `motion_features`.
    """
    kp2d = np.asarray(kp2d, dtype=np.float64)
    n, k = kp2d.shape[:2]
    rotation = ray_rotation(kp2d[:, root], intrinsics)  # (N, 3, 3)
    x = (kp2d[..., 0] - intrinsics.cx) / intrinsics.fx
    y = (kp2d[..., 1] - intrinsics.cy) / intrinsics.fy
    rays = np.stack((x, y, np.ones_like(x)), axis=-1)  # (N, K, 3) camera axes
    in_ray = np.einsum("nji,nkj->nki", rotation, rays)  # (N, K, 3) root's ray frame
    plane = in_ray[..., :2] / np.maximum(in_ray[..., 2:], _EPS)  # (N, K, 2), root at 0
    radius = np.sqrt((plane**2).sum(-1).mean(-1))  # (N,)
    plane = plane / np.maximum(radius, _EPS)[:, None, None]
    motion = motion_features(velocity, rotation, min_speed)
    return np.concatenate((plane.reshape(n, 2 * k), motion), axis=1), rotation


class PoseLifter:
    """A loaded lifter: ``lifter(kp2d, intrinsics, velocity)`` -> (N, K, 3) normalised
    root-relative poses in camera axes.

    Args:
        weights: name -> array as `crowdpose3d.engine.lifter_training.export_lifter` writes
            them (``input.weight`` (W, F), ``input.bias``, ``blocks.I.J.weight`` /
            ``.bias``, ``output.weight`` (3K, W), ``output.bias``, ``min_speed``).
        skeleton: the joint set (JTA-22, the synthetic generator's).
    """

    def __init__(self, weights: dict[str, np.ndarray], skeleton: Skeleton = JTA22) -> None:
        self.skeleton = skeleton
        self.weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.blocks = int(self.weights.get("blocks", np.array(0)).item())
        self.min_speed = float(self.weights.get("min_speed", np.array(0.5)).item())
        inputs = self.weights["input.weight"].shape[1]
        expected = 2 * skeleton.num_joints + MOTION_FEATURES
        if inputs != expected or self.weights["output.weight"].shape[0] != 3 * len(skeleton.joints):
            raise ValueError(
                f"lifter weights take {inputs} inputs; the {skeleton.name} lifter takes "
                f"{expected}: retrain with scripts/train_lifter.py"
            )

    @classmethod
    def load(cls, path: str | Path = BUILTIN_LIFTER, skeleton: Skeleton = JTA22) -> PoseLifter:
        """The lifter in an ``.npz`` file (ValueError with one line if unreadable)."""
        path = Path(path)
        try:
            with np.load(path) as data:
                weights = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the pose lifter {path}: {error}") from None
        return cls(weights, skeleton)

    def network(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, 3K) raw outputs (ray frame, before normalising)."""
        w = self.weights
        h = np.maximum(features.astype(np.float32) @ w["input.weight"].T + w["input.bias"], 0)
        for i in range(self.blocks):
            a = np.maximum(h @ w[f"blocks.{i}.0.weight"].T + w[f"blocks.{i}.0.bias"], 0)
            h = h + np.maximum(a @ w[f"blocks.{i}.1.weight"].T + w[f"blocks.{i}.1.bias"], 0)
        return h @ w["output.weight"].T + w["output.bias"]

    def __call__(
        self, kp2d: np.ndarray, intrinsics: Intrinsics, velocity: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, K, 2) pixels, optional (N, 3) velocities (m/s, camera axes, NaN unknown) ->
        (N, K, 3) root-relative poses with bone-length sum 1, camera axes."""
        k = self.skeleton.num_joints
        kp2d = np.asarray(kp2d, dtype=np.float64).reshape(-1, k, 2)
        if len(kp2d) == 0:
            return np.zeros((0, k, 3))
        features, rotation = lifter_features(
            kp2d, intrinsics, self.skeleton.root, velocity, self.min_speed
        )
        in_ray = self.network(features).astype(np.float64).reshape(-1, k, 3)
        normalised, _ = normalize_pose(in_ray, self.skeleton)
        return ray_to_camera(normalised, rotation)
