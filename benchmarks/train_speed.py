"""Training samples per second of PandaNet, with and without the speed options.

    python benchmarks/train_speed.py out/data/pvm_train            # small preset, 512x320, batch 8
    python benchmarks/train_speed.py out/data/pvm_train --steps 6 --preset medium

On real training batches (a JTA-layout set read through `PoseDataset` and the training
transform), one training step (anchor matching, forward, loss, backward, SGD step) is timed
in four variants, interleaved round by round so that a machine shared with other jobs slows
them alike:

- ``fp32, NCHW``: the convolutions in the default memory layout, no autocast;
- ``fp32, channels_last``: the model's default layout (`PandaNet.channels_last`);
- ``bf16 autocast, channels_last``: ``cpu_amp: true`` in a training config;
- ``bf16 autocast, NCHW``.

Then the data side: milliseconds to build one batch in the main process (decode, transform,
targets), against the step. The figures are medians over the rounds and ratios to the
first variant, measured in this one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.core.losses import PandaNetLoss
from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.targets import AnchorMatcher
from crowdpose3d.data.dataset import PoseDataset, collate
from crowdpose3d.engine.trainer import TrainConfig, open_source, training_transform
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

VARIANTS = (
    ("fp32, NCHW", False, False),
    ("fp32, channels_last", True, False),
    ("bf16 autocast, channels_last", True, True),
    ("bf16 autocast, NCHW", False, True),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="JTA-layout training set (split train)")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="timed rounds (after one warm-up)")
    args = parser.parse_args()

    shipped = load_checkpoint(DEFAULT_MODEL)
    skeleton, anchors = shipped.skeleton, shipped.anchors.float()
    config = TrainConfig(output_dir="unused", data=[{"root": str(args.data)}])
    dataset = PoseDataset(
        open_source(config.data[0], skeleton),
        training_transform(config),
        skeleton,
        input_size=config.input_size,
        image_dtype=torch.uint8,
    )
    model = PandaNet(len(anchors), skeleton.num_joints, preset=args.preset)
    criterion = PandaNetLoss(len(anchors), skeleton.num_joints)
    optimiser = torch.optim.SGD(
        list(model.parameters()) + list(criterion.parameters()), lr=1e-4, momentum=0.9
    )
    matcher = AnchorMatcher()
    rng = np.random.default_rng(0)
    model.train()

    def batch():
        picks = rng.choice(len(dataset), args.batch_size, replace=False)
        return collate([dataset[int(i)] for i in picks])

    load_times = []
    step_times = {name: [] for name, _, _ in VARIANTS}
    for round_ in range(args.steps + 1):
        started = time.perf_counter()
        images, truth, _ = batch()
        load_times.append(time.perf_counter() - started)
        images = images.float() / 255
        for name, channels_last, bf16 in VARIANTS:
            model.channels_last = channels_last
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                outputs = model(images)
                grid = anchor_grid(anchors, *outputs.scores.shape[1:3], model.output_stride)
                result = criterion(outputs, matcher(grid, truth))
            optimiser.zero_grad(set_to_none=True)
            result.total.backward()
            optimiser.step()
            if round_ > 0:  # the first round warms up
                step_times[name].append(time.perf_counter() - started)

    threads = torch.get_num_threads()
    print(
        f"{args.data}, preset {args.preset}, {config.input_size[1]}x{config.input_size[0]}, "
        f"batch {args.batch_size}, {args.steps} rounds, {threads} torch threads"
    )
    base = statistics.median(step_times[VARIANTS[0][0]])
    print(f"{'variant':32}{'s / step':>10}{'samples / s':>14}{'speed-up':>10}")
    for name, _, _ in VARIANTS:
        seconds = statistics.median(step_times[name])
        print(f"{name:32}{seconds:>10.2f}{args.batch_size / seconds:>14.2f}{base / seconds:>9.2f}x")
    load = statistics.median(load_times[1:])
    best = min(statistics.median(v) for v in step_times.values())
    print(
        f"building one batch in the main process: {load:.2f} s ({load / best * 100:.0f} % of the "
        f"fastest step): with num_workers >= 1 it overlaps the step, on 2 cores it competes "
        f"with it for CPU"
    )


if __name__ == "__main__":
    main()
