"""Cost of the crowd simulation per frame: procedural steering (`Crowd`) against JuPedSim
(`PedSimCrowd`), the same view and people, timed in one run and printed as a ratio.

    python benchmarks/crowd_motion_speed.py [--steps 150] [--fps 5]

Only the motion is timed (stepping and posing the gait), not the rendering.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from crowdpose3d.data.synth import SynthConfig
from crowdpose3d.data.synth.camera_sampling import GroundView, sample_camera
from crowdpose3d.data.synth.crowd import Crowd
from crowdpose3d.data.synth.pedsim import PedSimCrowd


def _ms_per_step(crowd, steps: int, dt: float) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        crowd.step(dt)
        crowd.pose()
    return 1000 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--fps", type=float, default=5.0)
    args = parser.parse_args()
    dt = 1 / args.fps
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {args.fps:g} fps")
    print(f"{'people':>6} {'procedural ms':>14} {'jupedsim ms':>12} {'ratio':>6}")
    for people in (10, 60, 200):
        config = SynthConfig(min_people=people, max_people=people)
        camera = sample_camera(config, np.random.default_rng(people))
        view = GroundView.of(camera, config.distance_range_m)
        procedural = Crowd(view, people, np.random.default_rng(1))
        simulated = PedSimCrowd(view, people, np.random.default_rng(1), np.random.default_rng(2))
        a = _ms_per_step(procedural, args.steps, dt)
        b = _ms_per_step(simulated, args.steps, dt)
        print(f"{people:>6} {a:>14.2f} {b:>12.2f} {b / a:>6.1f}")


if __name__ == "__main__":
    main()
