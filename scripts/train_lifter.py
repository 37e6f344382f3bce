"""Train the pose lifter (`crowdpose3d.geometry.pose_lifter`) on skeletons and write the
shipped weights (`crowdpose3d/weights/pose-lifter.npz`). No image is rendered.

    # the 2D head's errors on a training set (not a held-out one), then the lifter:
    crowdpose3d synth out/data/pvm_train --sequences 10 --frames 30 --fps 5 --width 512 \\
        --height 320 --min-people 5 --max-people 40 --seed 7100
    python benchmarks/pose2d_accuracy.py out/data/pvm_train --split train --frame-step 2 \\
        --save out/pose2d_train.npz
    python scripts/train_lifter.py --head-errors out/pose2d_train.npz

Without ``--head-errors`` the 2D noise is the Gaussian `JOINT_NOISE` model
(`crowdpose3d.engine.lifter_training`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from crowdpose3d.engine.lifter_training import (
    TRAIN_SEED_BASE,
    HeadErrors,
    export_lifter,
    skeleton_set,
    train_lifter,
)
from crowdpose3d.geometry.pose_lifter import BUILTIN_LIFTER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--head-errors", type=Path, help="pose2d_accuracy.py --save file")
    parser.add_argument("--sequences", type=int, default=120, help="simulated crowds")
    parser.add_argument("--frames", type=int, default=30, help="frames per crowd (5 fps)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=BUILTIN_LIFTER)
    args = parser.parse_args()

    start = time.perf_counter()
    train = skeleton_set(args.sequences, args.frames, seed_base=TRAIN_SEED_BASE)
    print(f"{len(train)} skeletons from {args.sequences} crowds in "
          f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    errors = HeadErrors.fit(args.head_errors) if args.head_errors else None
    net = train_lifter(
        train,
        epochs=args.epochs,
        width=args.width,
        blocks=args.blocks,
        seed=args.seed,
        head_errors=errors,
        log=lambda line: print(line, flush=True),
    )
    path = export_lifter(net, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) after "
          f"{(time.perf_counter() - start) / 60:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
