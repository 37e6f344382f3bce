"""How good are the 2D joints the 3D lifter reads? Per joint group, the 2D head's error
(fraction of the true box height) on the people it found in a held-out synthetic set, the
share of people whose left and right sides are swapped, and the error of joints the truth
marks occluded against visible ones.

    python benchmarks/pose2d_accuracy.py out/data/pvm_heldout
    python benchmarks/pose2d_accuracy.py out/data/pvm_heldout --save out/pose2d_heldout.npz

A person counts as swapped when the 2D error of its left-right limb joints (shoulders,
elbows, wrists, hips, knees, ankles) is smaller with the sides exchanged than as predicted.
``--save`` writes the matched people (predicted and true 2D joints, true 3D joints, the
network's own 3D output, boxes, visibility, intrinsics, sequence / frame / person id), the
input `crowdpose3d.engine.lifter_training` and the lifter tests can score a lifter on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from crowdpose3d.engine.evaluator import load_samples
from crowdpose3d.engine.metrics import match_people
from crowdpose3d.engine.predictor import Predictor
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

# Mirrored joints whose swap decides the body's facing (the trunk's are too close).
SIDE_NAMES = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def collect(model: str, data: Path, frame_step: int, split: str = "test") -> dict[str, np.ndarray]:
    """Matched people of the set: arrays with one row per person (see the docstring)."""
    samples = load_samples(data, split=split, frame_step=frame_step)
    samples = [samples[i] for i in range(len(samples))]
    predictor = Predictor.from_spec(model, device="cpu", score_threshold=0.3)
    out: dict[str, list] = {
        k: []
        for k in (
            "kp2d", "true_kp2d", "kp3d", "head_kp3d_rel", "box", "visible", "valid",
            "intrinsics", "sequence", "frame", "person",
        )
    }  # fmt: skip
    for s in range(0, len(samples), predictor.batch_size):
        batch = samples[s : s + predictor.batch_size]
        found_all = predictor(
            [sample.image for sample in batch], intrinsics=[b.intrinsics for b in batch]
        )
        for found, sample in zip(found_all, batch, strict=True):
            sample = sample.mapped_to(predictor.skeleton)
            k = sample.intrinsics
            matches = match_people(found.boxes, found.scores, sample.boxes)
            for p in np.flatnonzero(matches >= 0):
                g = int(matches[p])
                out["kp2d"].append(found.kp2d[p])
                out["true_kp2d"].append(sample.kp2d[g])
                out["kp3d"].append(sample.kp3d[g])
                out["head_kp3d_rel"].append(found.kp3d_rel[p])
                out["box"].append(sample.boxes[g])
                out["visible"].append(sample.visible[g])
                out["valid"].append(sample.kp3d_valid[g])
                out["intrinsics"].append([k.fx, k.fy, k.cx, k.cy, k.width, k.height])
                out["sequence"].append(sample.sequence)
                out["frame"].append(sample.frame)
                out["person"].append(int(sample.person_ids[g]))
    return {key: np.array(value) for key, value in out.items()}


def side_pairs(joints: tuple[str, ...]) -> list[tuple[int, int]]:
    """(left, right) joint index pairs of `SIDE_NAMES`."""
    return [(joints.index(f"left_{n}"), joints.index(f"right_{n}")) for n in SIDE_NAMES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a synthetic set (JTA layout)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--frame-step", type=int, default=1)
    parser.add_argument("--split", default="test")
    parser.add_argument("--save", type=Path, help="write the matched people to this .npz")
    args = parser.parse_args()

    people = collect(args.model, args.data, args.frame_step, args.split)
    skeleton = Predictor.from_spec(args.model, device="cpu").skeleton
    height = (people["box"][:, 3] - people["box"][:, 1])[:, None]  # (M, 1) pixels
    error = np.linalg.norm(people["kp2d"] - people["true_kp2d"], axis=-1) / height  # (M, K)
    visible = people["visible"]
    print(f"{args.data}: {len(error)} matched people; model {args.model}")
    print("2D error as a fraction of the true box height (median / 90th percentile):")
    print(f"{'group':12}{'all':>16}{'visible':>16}{'occluded':>16}")
    for group, joints in skeleton.groups:
        e, v = error[:, list(joints)], visible[:, list(joints)]

        def cell(x: np.ndarray) -> str:
            return f"{np.median(x):.3f} / {np.percentile(x, 90):.3f}" if x.size else "-"

        print(f"{group:12}{cell(e):>16}{cell(e[v]):>16}{cell(e[~v]):>16}")
    pairs = side_pairs(skeleton.joints)
    left, right = [a for a, _ in pairs], [b for _, b in pairs]
    as_is = error[:, left + right].mean(1)
    swapped_kp = people["kp2d"].copy()
    swapped_kp[:, left + right] = people["kp2d"][:, right + left]
    swapped = (
        np.linalg.norm(swapped_kp - people["true_kp2d"], axis=-1)[:, left + right] / height
    ).mean(1)
    print(
        f"left and right swapped: {100 * (swapped < as_is).mean():.1f} % of people "
        f"(side-joint error {np.median(as_is):.3f} as predicted, "
        f"{np.median(swapped):.3f} swapped, median)"
    )
    tall = height[:, 0] >= 40
    print(
        f"people 40 px and taller ({tall.sum()}): swapped "
        f"{100 * (swapped < as_is)[tall].mean():.1f} %, median error "
        f"{np.median(error[tall]):.3f}"
    )
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.save, **people)
        print(f"wrote {args.save}")


if __name__ == "__main__":
    main()
