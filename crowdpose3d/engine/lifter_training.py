"""Training the `PoseLifter` (`crowdpose3d.geometry.pose_lifter`) on skeletons only.

No image is rendered: the synthetic generator's own camera sampler, crowd simulation and
procedural gait (`crowdpose3d.data.synth`) give posed 3D skeletons in camera axes, which
are projected with the sequence's camera, and every epoch each person is turned about the
vertical to a fresh random heading (`turned`). The 2D joints the lifter reads at run time
come from PandaNet's 2D head, so each training sample's 2D joints get that head's errors:
`HeadErrors`, a line per joint and image axis fitted to the head's real output on a
*training* set (``benchmarks/pose2d_accuracy.py --save``), which reproduces how the head
pulls the limbs towards the average body; without such a file, the `JOINT_NOISE`
Gaussians of the same median error. The motion input is the true velocity plus the noise
of a tracker's estimate, and is left out for a share of people (a new track has no
velocity yet).

    python scripts/train_lifter.py --head-errors out/pose2d_train.npz
    # writes crowdpose3d/weights/pose-lifter.npz (docs/models.md, "The pose lifter")

Seeds: training sequences use `TRAIN_SEED_BASE` upwards, far from every rendered set's
seeds (configs 100-600, held-out sets 997-999 and 4242, pvm_train 7100).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from crowdpose3d.core.skeleton import JTA22, normalize_pose
from crowdpose3d.data.synth.camera_sampling import GroundView, sample_camera
from crowdpose3d.data.synth.config import SynthConfig
from crowdpose3d.data.synth.crowd import Crowd
from crowdpose3d.data.synth.solids import body_to_world, to_world
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.pose_lifter import lifter_features
from crowdpose3d.geometry.rays import camera_to_ray

__all__ = [
    "JOINT_NOISE",
    "HeadErrors",
    "LifterNet",
    "SkeletonSet",
    "export_lifter",
    "noisy_inputs",
    "skeleton_set",
    "train_lifter",
]

TRAIN_SEED_BASE = 1_000_000  # first training sequence seed (no rendered set is near it)
MIN_HEIGHT_PX = 8.0  # people shorter than this in the image are not detected anyway
MIN_DEPTH_M = 0.5  # joints nearer than this to the camera plane: person dropped
# Per-axis 2D noise std of each JTA-22 joint, fraction of the person's image height: the
# median 2D error of `builtin:crowd-small` per joint group on out/data/pvm_train
# (`benchmarks/pose2d_accuracy.py out/data/pvm_train --split train --frame-step 2`)
# divided by 1.18 (the median radius of a unit 2D Gaussian).
_GROUP_NOISE = {
    "head": 0.055,
    "neck": 0.046,
    "clavicles": 0.049,
    "shoulders": 0.081,
    "elbows": 0.089,
    "wrists": 0.108,
    "spines": 0.044,
    "hips": 0.053,
    "knees": 0.071,
    "ankles": 0.108,
}
JOINT_NOISE = np.zeros(JTA22.num_joints)
for _group, _joints in JTA22.groups:
    JOINT_NOISE[list(_joints)] = _GROUP_NOISE[_group]
NOISE_FACTOR = (0.3, 1.5)  # per-person multiplier of JOINT_NOISE, uniform
OUTLIER_RATE = 0.05  # share of joints that get OUTLIER_NOISE on top
OUTLIER_NOISE = 0.25  # per-axis std of an outlier, fraction of the image height
NO_MOTION_RATE = 0.2  # share of people given no velocity (new tracks)
VELOCITY_NOISE_MPS = (0.0, 0.3)  # isotropic std of the tracker's velocity, uniform range
DEPTH_VELOCITY_NOISE_MPS = (0.0, 0.6)  # extra std along the viewing ray (depth is weakest)


@dataclass
class SkeletonSet:
    """Posed skeletons seen by their cameras; one row per person-frame.

    kp3d: (P, K, 3) metres, camera axes. kp2d: (P, K, 2) true pixels. height: (P,) image
    height of the person (pixels). velocity: (P, 3) true m/s in camera axes. up: (P, 3)
    the world's up in camera axes. camera: (P,) index into ``intrinsics``.
    """

    kp3d: np.ndarray
    kp2d: np.ndarray
    height: np.ndarray
    velocity: np.ndarray
    up: np.ndarray
    camera: np.ndarray
    intrinsics: list[Intrinsics]

    def __len__(self) -> int:
        return len(self.kp3d)


def skeleton_set(
    sequences: int,
    frames: int = 30,
    seed_base: int = TRAIN_SEED_BASE,
    config: SynthConfig | None = None,
) -> SkeletonSet:
    """People of ``sequences`` simulated crowds (seeds ``seed_base`` upwards), every frame."""
    config = config or SynthConfig(width=512, height=320, fps=5.0, min_people=5, max_people=40)
    out: dict[str, list] = {k: [] for k in ("kp3d", "kp2d", "height", "velocity", "up", "camera")}
    intrinsics = []
    dt = 1.0 / config.fps
    for s in range(sequences):
        rng = np.random.default_rng(seed_base + s)
        camera = sample_camera(config, rng)
        k = camera.intrinsics
        intrinsics.append(k)
        view = GroundView.of(camera, config.distance_range_m)
        population = int(rng.integers(config.min_people, config.max_people + 1))
        crowd = Crowd(view, population, rng, config.run_fraction, config.stand_fraction)
        for index in range(frames):
            if index > 0:
                crowd.step(dt)
            pose, positions, headings = crowd.pose()
            rotation = body_to_world(pose, positions, headings)
            joints = camera.world_to_camera(to_world(pose.joints, rotation, positions))
            speed = np.array([p.speed for p in crowd.people])
            forward = np.stack((np.sin(headings), np.cos(headings), 0 * headings), 1)
            velocity = (camera.rotation @ (forward * speed[:, None]).T).T  # (N, 3)
            depth_ok = (joints[..., 2] > MIN_DEPTH_M).all(1)
            pixels = k.project(np.where(depth_ok[:, None, None], joints, 1.0))
            root = pixels[:, JTA22.root]
            inside = (root[:, 0] >= 0) & (root[:, 0] < k.width)
            inside &= (root[:, 1] >= 0) & (root[:, 1] < k.height)
            height = pixels[..., 1].max(1) - pixels[..., 1].min(1)
            keep = depth_ok & inside & (height >= MIN_HEIGHT_PX)
            out["kp3d"].append(joints[keep])
            out["kp2d"].append(pixels[keep])
            out["height"].append(height[keep] * 1.1)  # head top and feet beyond the joints
            out["velocity"].append(velocity[keep])
            out["up"].append(np.repeat(camera.rotation[:, 2][None], int(keep.sum()), 0))
            out["camera"].append(np.full(int(keep.sum()), s))
    arrays = {key: np.concatenate(value) for key, value in out.items()}
    return SkeletonSet(intrinsics=intrinsics, **arrays)


def turned(data: SkeletonSet, rng: np.random.Generator) -> SkeletonSet:
    """Every person turned about the world's vertical through its root by a random angle
    (the velocity with it) and projected again: new orientations to the camera for free.
    People whose turned joints come nearer than `MIN_DEPTH_M` keep their own pose."""
    angle = rng.uniform(-np.pi, np.pi, size=len(data))
    u = data.up / np.linalg.norm(data.up, axis=1, keepdims=True)  # (P, 3)
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    cross = np.zeros((len(data), 3, 3))  # [u]x
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -u[:, 2], u[:, 1], -u[:, 0]
    cross = cross - cross.transpose(0, 2, 1)
    rotation = c * np.eye(3) + s * cross + (1 - c) * np.einsum("ni,nj->nij", u, u)
    root = data.kp3d[:, JTA22.root : JTA22.root + 1]  # (P, 1, 3)
    kp3d = np.einsum("nij,nkj->nki", rotation, data.kp3d - root) + root
    keep = ~(kp3d[..., 2] > MIN_DEPTH_M).all(1)
    kp3d[keep] = data.kp3d[keep]
    velocity = np.einsum("nij,nj->ni", rotation, data.velocity)
    velocity[keep] = data.velocity[keep]
    kp2d = np.zeros_like(data.kp2d)
    for cam in np.unique(data.camera):
        rows = data.camera == cam
        kp2d[rows] = data.intrinsics[cam].project(kp3d[rows])
    height = (kp2d[..., 1].max(1) - kp2d[..., 1].min(1)) * 1.1
    return SkeletonSet(kp3d, kp2d, height, velocity, data.up, data.camera, data.intrinsics)


@dataclass(frozen=True)
class HeadErrors:
    """How a 2D head's joints relate to the truth, per joint and image axis, in units of the
    person's image height, root-relative: ``predicted = slope * true + intercept + noise``
    with noise std ``residual`` (a least-squares line per joint and axis). A head that
    does not know which way a person faces pulls the limbs' horizontal offsets towards the
    average body (slopes of 0.1-0.2 for `builtin:crowd-small`); the lifter must learn that.

    slope, intercept, residual: (K, 2). root: (2,) std of the root joint's own error.
    """

    slope: np.ndarray
    intercept: np.ndarray
    residual: np.ndarray
    root: np.ndarray

    @classmethod
    def fit(cls, path: str | Path) -> HeadErrors:
        """From a ``benchmarks/pose2d_accuracy.py --save`` file of matched people."""
        with np.load(path) as data:
            predicted, true, box = data["kp2d"], data["true_kp2d"], data["box"]
        height = (box[:, 3] - box[:, 1])[:, None, None]  # (M, 1, 1)
        r = JTA22.root
        p = (predicted - predicted[:, r : r + 1]) / height  # (M, K, 2)
        t = (true - true[:, r : r + 1]) / height
        t_mean, p_mean = t.mean(0), p.mean(0)
        variance = np.maximum(((t - t_mean) ** 2).mean(0), 1e-12)
        slope = ((t - t_mean) * (p - p_mean)).mean(0) / variance
        slope[r] = 1.0
        intercept = p_mean - slope * t_mean
        residual = (p - slope * t - intercept).std(0)
        root = ((predicted[:, r] - true[:, r]) / height[:, 0]).std(0)
        return cls(slope, intercept, residual, root)

    def apply(self, kp2d: np.ndarray, height: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(P, K, 2) true pixels, (P,) image heights -> (P, K, 2) pixels as the head errs."""
        h = height[:, None, None]
        r = JTA22.root
        root = kp2d[:, r : r + 1] + rng.normal(size=(len(kp2d), 1, 2)) * self.root * h
        offset = (kp2d - kp2d[:, r : r + 1]) / h
        noise = rng.normal(size=kp2d.shape) * self.residual
        return root + (self.slope * offset + self.intercept + noise) * h


def noisy_inputs(
    data: SkeletonSet,
    rng: np.random.Generator,
    turn: bool = True,
    head_errors: HeadErrors | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features with the 2D head's and the tracker's noise, and ray-frame targets; with
    ``turn``, each person first turned to a random heading (`turned`). The 2D error is
    ``head_errors``' model when given, else the `JOINT_NOISE` Gaussians.

    Returns (P, F) float32 features, (P, K, 3) float32 targets (normalised pose in the ray
    frame of the *noisy* root pixel, as at run time) and (P, 3, 3) rotations.
    """
    if turn:
        data = turned(data, rng)
    p, k = data.kp2d.shape[:2]
    if head_errors is not None:
        kp2d = head_errors.apply(data.kp2d, data.height, rng)
    else:
        factor = rng.uniform(*NOISE_FACTOR, size=(p, 1, 1))
        sigma = JOINT_NOISE[None, :, None] * factor * data.height[:, None, None]  # (P, K, 1)
        kp2d = data.kp2d + rng.normal(size=(p, k, 2)) * sigma
    outlier = rng.random((p, k, 1)) < OUTLIER_RATE
    kp2d += outlier * rng.normal(size=(p, k, 2)) * OUTLIER_NOISE * data.height[:, None, None]
    velocity = data.velocity.copy()
    velocity += rng.normal(size=(p, 3)) * rng.uniform(*VELOCITY_NOISE_MPS, size=(p, 1))
    ray = data.kp3d[:, JTA22.root] / np.linalg.norm(data.kp3d[:, JTA22.root], axis=1)[:, None]
    along = rng.normal(size=(p, 1)) * rng.uniform(*DEPTH_VELOCITY_NOISE_MPS, size=(p, 1))
    velocity += along * ray
    velocity[rng.random(p) < NO_MOTION_RATE] = np.nan
    features = np.zeros((p, 2 * k + 5))
    rotations = np.zeros((p, 3, 3))
    for c in np.unique(data.camera):
        rows = data.camera == c
        features[rows], rotations[rows] = lifter_features(
            kp2d[rows], data.intrinsics[c], JTA22.root, velocity[rows]
        )
    pose, _ = normalize_pose(data.kp3d.astype(np.float64), JTA22)
    target = camera_to_ray(pose, rotations)
    return features.astype(np.float32), target.astype(np.float32), rotations


class LifterNet(nn.Module):
    """The torch twin of `PoseLifter.network` (same layer names, same arithmetic)."""

    def __init__(self, inputs: int, outputs: int, width: int = 384, blocks: int = 2) -> None:
        super().__init__()
        self.input = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(
            nn.ModuleList((nn.Linear(width, width), nn.Linear(width, width))) for _ in range(blocks)
        )
        self.output = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B, 3K)
        h = torch.relu(self.input(x))
        for first, second in self.blocks:
            h = h + torch.relu(second(torch.relu(first(h))))
        return self.output(h)


def train_lifter(
    train: SkeletonSet,
    epochs: int = 20,
    batch_size: int = 256,
    lr: float = 1e-3,
    width: int = 384,
    blocks: int = 2,
    seed: int = 0,
    head_errors: HeadErrors | None = None,
    threads: int = 1,
    log=print,
) -> LifterNet:
    """Adam on the mean per-joint distance (bone-length units), fresh noise and headings
    each epoch. One thread by default: on a shared CPU a second one is far slower."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = train.kp2d.shape[1]
    net = LifterNet(2 * k + 5, 3 * k, width, blocks)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * max(1, len(train) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=steps)
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        features, target, _ = noisy_inputs(train, rng, head_errors=head_errors)
        x, y = torch.from_numpy(features), torch.from_numpy(target).reshape(len(target), -1)
        order = torch.randperm(len(x))
        total = 0.0
        for b in range(len(x) // batch_size or 1):
            if step >= steps:
                break
            rows = order[b * batch_size : (b + 1) * batch_size]
            out = net(x[rows]).reshape(len(rows), k, 3)
            loss = torch.linalg.vector_norm(out - y[rows].reshape(-1, k, 3), dim=-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            total += loss.item()
        rate = len(x) / (time.perf_counter() - start)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / max(b + 1, 1):.4f} ({rate:,.0f} samples/s)")
    return net.eval()


def export_lifter(net: LifterNet, path: str | Path, min_speed: float = 0.5) -> Path:
    """Write ``net`` as the float16 ``.npz`` `PoseLifter.load` reads."""
    arrays = {name: t.detach().numpy().astype(np.float16) for name, t in net.state_dict().items()}
    arrays["blocks"] = np.array(len(net.blocks))
    arrays["min_speed"] = np.array(min_speed, dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path
