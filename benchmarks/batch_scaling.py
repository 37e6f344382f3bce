"""Videos per minute of `crowdpose3d batch` with 1 and 2 Ray workers, in one run.

    python benchmarks/batch_scaling.py                         # 6 clips of 16 frames
    python benchmarks/batch_scaling.py --videos 12 --frames 50

The same N generated clips (crowdpose3d.demo.make_sample_clip, distinct seeds) are run
through `crowdpose3d.batch.run_batch` on a local Ray cluster of W CPUs, one CPU (and one
torch thread) per video, so W videos run at once. Each cluster first runs W warm-up clips
so that its worker processes have imported torch; the figure is N videos over the wall time
of the batch after that (model loading per video included). On an idle machine with at
least W free cores the ratio approaches W; a machine shared with other work shows less.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from crowdpose3d.batch import BatchOptions, plan_jobs, ray_cluster, run_batch
from crowdpose3d.demo import make_sample_clip
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL


def videos_per_minute(
    videos: list[Path], warmup: list[Path], workers: int, out: Path, options: BatchOptions
) -> float:
    """Start a cluster of ``workers`` CPUs, warm it up, then time the batch of ``videos``."""
    with ray_cluster(num_cpus=workers):
        run_batch(plan_jobs([str(v) for v in warmup[:workers]]), out / "warmup", options)
        jobs = plan_jobs([str(v) for v in videos])
        started = time.perf_counter()
        results = run_batch(jobs, out / "tracks", options)
        seconds = time.perf_counter() - started
    failed = [r.job.name for r in results if r.status != "done"]
    if failed:
        raise SystemExit(f"batch_scaling: not done: {', '.join(failed)}")
    return 60.0 * len(videos) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6, help="clips per batch (6)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (16)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--device", default="cpu", help="cpu (default) or auto")
    args = parser.parse_args()
    options = BatchOptions(model=args.model, device=args.device, cpus_per_video=1)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        clips = [
            make_sample_clip(root / "clips" / f"c{seed}", seed=seed, frames=args.frames).video
            for seed in range(args.videos + 2)
        ]
        warmup, videos = clips[:2], clips[2:]
        rates = {
            workers: videos_per_minute(videos, warmup, workers, root / f"w{workers}", options)
            for workers in (1, 2)
        }
    print(
        f"{args.videos} clips x {args.frames} frames (512x320, sample street scene), "
        f"model {args.model} on {args.device}; {os.cpu_count()} CPUs, 1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    for workers, rate in rates.items():
        print(f"{workers} Ray worker{'s' if workers > 1 else ''}: {rate:6.1f} videos/min")
    print(f"ratio 2/1: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
