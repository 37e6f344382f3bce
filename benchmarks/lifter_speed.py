"""What the pose lifter costs per frame: `PoseLifter` on 60 people against one PandaNet
forward pass of the shipped model at 512x320, interleaved in one run (on a shared machine
only the ratio means anything).

    python benchmarks/lifter_speed.py
    python benchmarks/lifter_speed.py --people 60 --rounds 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crowdpose3d.engine.lifter_training import skeleton_set
from crowdpose3d.engine.predictor import Predictor
from crowdpose3d.geometry.pose_lifter import PoseLifter
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()

    people = skeleton_set(4, 10, seed_base=3_000_000)
    rows = np.resize(np.arange(len(people)), args.people)  # repeat people to the count
    camera = people.intrinsics[0]
    kp2d = camera.project(people.kp3d[rows])  # (N, K, 2)
    velocity = people.velocity[rows]
    lifter = PoseLifter.load()
    predictor = Predictor.from_spec(args.model, device="cpu", precision="fp32", backend="torch")
    image = np.random.default_rng(0).integers(0, 255, (320, 512, 3), dtype=np.uint8)
    lifter(kp2d, camera, velocity)  # warm-up
    predictor([image])
    lift_s, model_s = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        lifter(kp2d, camera, velocity)
        lift_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        predictor([image])
        model_s.append(time.perf_counter() - start)
    lift, model = float(np.median(lift_s)), float(np.median(model_s))
    print(
        f"pose lifter, {args.people} people: {lift * 1e3:.2f} ms per frame; PandaNet "
        f"({args.model}, fp32, 512x320, batch 1): {model * 1e3:.1f} ms; lifter / model = "
        f"{lift / model:.3f} (medians of {args.rounds} interleaved rounds)"
    )


if __name__ == "__main__":
    main()
