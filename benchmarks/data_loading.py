"""Can data loading keep up with training? Loader throughput against the training step.

Builds in-memory synthetic frames (noise images of 1920x1080 with ~20 random 3D people and
their exact projections: no dataset on disk), then measures

1. per-sample milliseconds of each stage in the main process: skeleton mapping, random
   scale, random crop, flip, colour jitter, to tensor, targets (`Sample.to_ground_truth`);
2. samples per second of `PoseDataset` + transforms + `collate` through a
   `torch.utils.data.DataLoader` with 0 and 2 workers (after the first batch, so worker
   start-up is reported apart), with float32 images (what the model takes) and with uint8
   images (4x fewer bytes between processes; the training loop converts them);
3. the training step of a PandaNet preset at the same input size and batch: anchor
   matching, forward, `PandaNetLoss`, backward and an SGD step, median over a few steps;

and prints whether loading can starve training (loader samples/s < training samples/s).

    python benchmarks/data_loading.py                       # 928x576, batch 4, cpu
    python benchmarks/data_loading.py --device cuda --batch-size 24
    python benchmarks/data_loading.py --quick               # small numbers, a smoke run

Loader and training are timed one after the other: on a small machine they would compete
for the same cores in a real run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from crowdpose3d.core.anchors import anchor_grid, kmeans_anchors
from crowdpose3d.core.losses import PandaNetLoss
from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.core.targets import AnchorMatcher
from crowdpose3d.data.dataset import PoseDataset, collate, random_sample
from crowdpose3d.data.transforms import (
    ColorJitter,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
)


def parse_size(text: str) -> tuple[int, int]:
    """'928x576' -> (width, height)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT") from None
    return width, height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-size", type=parse_size, default=(928, 576), metavar="WxH")
    parser.add_argument("--frame-size", type=parse_size, default=(1920, 1080), metavar="WxH")
    parser.add_argument("--people", type=int, default=20, help="people per frame (default 20)")
    parser.add_argument("--frames", type=int, default=16, help="distinct in-memory frames")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per loader")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--train-steps", type=int, default=3, help="timed steps (after 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny run to check it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.batches, args.train_steps, args.batch_size = 4, 3, 1, 2
    return args


def training_transform(height: int, width: int) -> Compose:
    """Random scale around the size that fits the input, crop, flip, colour jitter."""
    return Compose(
        [
            RandomScale(0.8, 1.25, fit_size=(height, width)),
            RandomCrop(height, width),
            RandomHorizontalFlip(p=0.5),
            ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02),
        ]
    )


def stage_milliseconds(dataset: PoseDataset, repeats: int) -> dict[str, float]:
    """Median per-sample milliseconds of each stage of `PoseDataset.__getitem__`."""
    times: dict[str, list[float]] = {}

    def timed(name, function, *args):
        started = time.perf_counter()
        result = function(*args)
        times.setdefault(name, []).append(1000 * (time.perf_counter() - started))
        return result

    for index in range(repeats):
        rng = dataset.rng(index % len(dataset))
        sample = timed("map skeleton", dataset.samples[index % len(dataset)].mapped_to, JTA22)
        for transform in dataset.transform.transforms:
            sample = timed(type(transform).__name__, transform, sample, rng)
        timed(
            "to tensor",
            lambda image: torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0),
            sample.image,
        )
        timed("to_ground_truth", sample.to_ground_truth)
        timed("whole item", dataset.__getitem__, index % len(dataset))
    return {name: statistics.median(values) for name, values in times.items()}


def loader_throughput(
    dataset: PoseDataset, batch_size: int, workers: int, batches: int
) -> tuple[float, float]:
    """(seconds to the first batch, samples per second over the next ``batches``).

    ``dataset`` must hold at least ``batches + 1`` batches (one epoch, one set of workers).
    """
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),
    )
    started = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    rate = batches * batch_size / (time.perf_counter() - started)
    del iterator  # stops the workers
    return first, rate


def training_step_seconds(
    dataset: PoseDataset, preset: str, batch_size: int, steps: int, device: str
) -> tuple[float, float]:
    """(median seconds of one training step, of which anchor matching) on ``device``."""
    images, targets, _ = collate([dataset[i % len(dataset)] for i in range(batch_size)])
    sizes = torch.cat([gt.boxes[:, 2:] - gt.boxes[:, :2] for gt in targets]).numpy()
    anchor_sizes = torch.from_numpy(kmeans_anchors(sizes, 10, seed=0))
    model = PandaNet(num_anchors=10, num_joints=JTA22.num_joints, preset=preset).to(device)
    criterion = PandaNetLoss(10, JTA22.num_joints).to(device)
    grid = anchor_grid(
        anchor_sizes.to(device), *model.output_size(*images.shape[2:]), model.output_stride
    )
    optimiser = torch.optim.SGD(
        list(model.parameters()) + list(criterion.parameters()), lr=1e-4, momentum=0.9
    )
    matcher = AnchorMatcher()
    model.train()

    def synchronise():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step_times, match_times = [], []
    for _ in range(steps + 1):  # the first step warms up
        synchronise()
        started = time.perf_counter()
        batch = images.to(device, non_blocking=True)
        matched = matcher(grid, [gt.to(device) for gt in targets])
        synchronise()
        match_times.append(time.perf_counter() - started)
        loss = criterion(model(batch), matched).total
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        synchronise()
        step_times.append(time.perf_counter() - started)
    return statistics.median(step_times[1:]), statistics.median(match_times[1:])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    input_width, input_height = args.input_size
    frame_width, frame_height = args.frame_size
    rng = np.random.default_rng(0)
    frames = [
        random_sample(
            rng, height=frame_height, width=frame_width, num_people=args.people, skeleton=JTA22
        )
        for _ in range(args.frames)
    ]
    # Frames are reused (by reference) so one epoch holds every timed batch.
    length = (args.batches + 1) * args.batch_size
    dataset = PoseDataset(
        [frames[i % len(frames)] for i in range(length)],
        training_transform(input_height, input_width),
        JTA22,
        input_size=(input_height, input_width),
        seed=0,
    )
    load = os.getloadavg()
    print(
        f"data loading: {args.frames} synthetic {frame_width}x{frame_height} frames, "
        f"{args.people} people, -> {input_width}x{input_height}, batch {args.batch_size}"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )

    print("\nper-sample stages, main process (median ms):")
    for name, ms in stage_milliseconds(dataset, repeats=max(8, args.frames)).items():
        print(f"  {name:<22s}{ms:8.2f}")

    print("\nDataLoader + collate:")
    rates = {}
    for dtype in (torch.float32, torch.uint8):
        dataset.image_dtype = dtype
        for workers in args.workers:
            first, rate = loader_throughput(dataset, args.batch_size, workers, args.batches)
            name = f"{workers} workers, {str(dtype).removeprefix('torch.')}"
            rates[name] = rate
            print(
                f"  {name:<20s}{rate:7.1f} samples/s ({1000 / rate:6.1f} ms/sample), "
                f"first batch after {first:.2f} s"
            )
    dataset.image_dtype = torch.float32

    step, matching = training_step_seconds(
        dataset, args.preset, args.batch_size, args.train_steps, args.device
    )
    train_rate = args.batch_size / step
    print(
        f"\ntraining step, preset {args.preset!r} on {args.device}, batch {args.batch_size} at "
        f"{input_width}x{input_height}: {1000 * step:.0f} ms (anchor matching "
        f"{1000 * matching:.0f} ms) = {train_rate:.1f} samples/s"
    )
    for name, rate in rates.items():
        verdict = "starves training" if rate < train_rate else "keeps up"
        print(f"  loader, {name:<20s}{rate / train_rate:7.1f}x the training rate: {verdict}")
    per_process = rates.get("0 workers, float32")
    if per_process:
        print(
            f"  one process makes {per_process:.1f} samples/s: this step needs about "
            f"{train_rate / per_process:.2f} workers' worth of loading"
        )


if __name__ == "__main__":
    main()
