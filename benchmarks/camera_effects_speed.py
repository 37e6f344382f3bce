"""Cost of the real-camera effects (crowdpose3d/data/camera_effects.py) per training image.

For each effect, and for `CameraEffects` at its default probabilities, prints the median
milliseconds per image at 512x320 and 928x576 over ``--repeats`` calls (after one warm-up
call, which pays for e.g. the H.264 encoder's start), and each as a ratio of decoding one
JPEG of the same size, measured in the same run:

    python benchmarks/camera_effects_speed.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.data.camera_effects import (
    DEFAULT_PROBABILITIES,
    CameraEffects,
)
from crowdpose3d.data.dataset import random_sample


def _median_ms(call, repeats: int) -> float:
    call(0)  # warm-up
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        call(index + 1)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    effects = {**CameraEffects().effects, "CameraEffects (defaults)": CameraEffects()}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, cv2 one thread")
    for width, height in ((512, 320), (928, 576)):
        sample = random_sample(np.random.default_rng(0), height=height, width=width,
                               num_people=5, skeleton=JTA22)  # fmt: skip
        # A photograph-like image: smooth gradients and edges, not white noise.
        y, x = np.mgrid[0:height, 0:width]
        image = np.stack((x * 255 / width, y * 255 / height, 128 + 60 * np.sin(x / 9.0)), -1)
        sample.image = np.ascontiguousarray(image.astype(np.uint8))
        ok, encoded = cv2.imencode(".jpg", sample.image)
        base = _median_ms(
            lambda i, data=encoded: cv2.imdecode(data, cv2.IMREAD_COLOR), args.repeats
        )
        print(f"\n{width}x{height}: decoding one JPEG of it: {base:.2f} ms (ratio 1)")
        print(f"{'effect':<26} {'p':>5} {'ms':>8} {'x decode':>9}")
        for name, effect in effects.items():
            ms = _median_ms(
                lambda i, e=effect, s=sample: e(s, np.random.default_rng(i)), args.repeats
            )
            p = DEFAULT_PROBABILITIES.get(name, float("nan"))
            print(f"{name:<26} {p:>5.2f} {ms:>8.2f} {ms / base:>9.2f}")


if __name__ == "__main__":
    main()
