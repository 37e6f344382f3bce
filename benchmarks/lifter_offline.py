"""The pose lifter on the 2D head's real joints, without the pipeline: limb / torso / all
3DPCK (150 mm, ground-truth scale) of `PoseLifter` on the matched people a
``benchmarks/pose2d_accuracy.py --save`` file holds, with and without a velocity, and with
the true 2D joints in place of the head's (what a perfect 2D head would give).

    python benchmarks/pose2d_accuracy.py out/data/pvm_train --split train --frame-step 2 \\
        --save out/pose2d_train.npz
    python benchmarks/lifter_offline.py out/pose2d_train.npz
    python benchmarks/lifter_offline.py out/pose2d_train.npz --lifter out/other.npz

The velocity here is the true one (central differences of the true root over the
person's neighbouring saved frames) plus `VELOCITY_NOISE_MPS` of Gaussian noise per axis,
not a tracker's: the pipeline's figures are `benchmarks/pose_vs_mean.py`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from crowdpose3d.core.skeleton import JTA22, normalize_pose
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.pose_lifter import BUILTIN_LIFTER, PoseLifter

PCK_THRESHOLD_MM = 150.0  # the paper's 3DPCK threshold
VELOCITY_NOISE_MPS = 0.2  # per-axis std added to the true velocity
LIMB_GROUPS = ("shoulders", "elbows", "wrists", "knees", "ankles")


def velocities(people: dict[str, np.ndarray], fps: float) -> np.ndarray:
    """(M, 3) m/s of each person's true root from its neighbouring saved frames (NaN for
    a person seen in one frame only)."""
    root = people["kp3d"][:, JTA22.root].astype(np.float64)
    keys = list(zip(people["sequence"], people["person"], people["frame"], strict=True))
    index = {key: i for i, key in enumerate(keys)}
    frames = np.unique(people["frame"])
    step = int(np.diff(frames).min()) if len(frames) > 1 else 1
    out = np.full((len(root), 3), np.nan)
    for i, (sequence, person, frame) in enumerate(keys):
        before = index.get((sequence, person, frame - step), i)
        after = index.get((sequence, person, frame + step), i)
        count = int(before != i) + int(after != i)
        if count:
            out[i] = (root[after] - root[before]) / (count * step / fps)
    return out


def pck(predicted: np.ndarray, people: dict[str, np.ndarray]) -> dict[str, float]:
    """3DPCK (%) per joint set of (M, K, 3) normalised poses."""
    true, scale = normalize_pose(people["kp3d"].astype(np.float64), JTA22, people["valid"])
    error = np.linalg.norm(predicted - true, axis=-1) * scale[:, None] * 1000.0
    valid = people["valid"]
    limbs = sorted(j for g, js in JTA22.groups if g in LIMB_GROUPS for j in js)
    sets = {
        "torso": sorted(set(range(JTA22.num_joints)) - set(limbs)),
        "limbs": limbs,
        "all": list(range(JTA22.num_joints)),
    }
    return {
        name: 100.0 * float((error[:, j][valid[:, j]] < PCK_THRESHOLD_MM).mean())
        for name, j in sets.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("people", type=Path, help="a pose2d_accuracy.py --save file")
    parser.add_argument("--lifter", type=Path, default=BUILTIN_LIFTER)
    parser.add_argument("--fps", type=float, default=5.0, help="the set's frame rate")
    args = parser.parse_args()

    people = dict(np.load(args.people))
    lifter = PoseLifter.load(args.lifter)
    rng = np.random.default_rng(0)
    velocity = velocities(people, args.fps)
    velocity += rng.normal(size=velocity.shape) * VELOCITY_NOISE_MPS
    print(f"{args.people}: {len(people['kp3d'])} people; lifter {args.lifter}")
    print(f"{'input':40}{'torso':>8}{'limbs':>8}{'all':>8}")
    rows = {
        "the 3D head's own pose": None,
        "lifter: head's 2D joints": (people["kp2d"], None),
        "lifter: head's 2D joints + velocity": (people["kp2d"], velocity),
        "lifter: true 2D joints": (people["true_kp2d"], None),
        "lifter: true 2D joints + velocity": (people["true_kp2d"], velocity),
    }
    for name, inputs in rows.items():
        if inputs is None:
            predicted = people["head_kp3d_rel"].astype(np.float64)
        else:
            kp2d, v = inputs
            predicted = np.zeros(people["kp3d"].shape)
            for camera in np.unique(people["intrinsics"], axis=0):
                rows_of = (people["intrinsics"] == camera).all(1)
                k = Intrinsics(*camera[:4], int(camera[4]), int(camera[5]))
                predicted[rows_of] = lifter(kp2d[rows_of], k, None if v is None else v[rows_of])
        scores = pck(predicted, people)
        print(f"{name:40}" + "".join(f"{scores[s]:>8.1f}" for s in ("torso", "limbs", "all")))


if __name__ == "__main__":
    main()
