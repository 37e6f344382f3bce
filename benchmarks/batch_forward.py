"""Does batching pay on this CPU? The bare forward pass per image at batch 1, 2, 4 and 8,
for every backend x precision, and the CPU time each used.

    python benchmarks/batch_forward.py                      # every row, threads 2 and 1
    python benchmarks/batch_forward.py --rows torch:bf16 onnxruntime:int8 --threads 2

For each backend x precision (in its own process: another backend's idle thread pools slow
a forward down on a shared machine) and each thread count, the backend's `Runner` (the
forward pass of the pandanet stage: letterboxed uint8 (B, 320, 512, 3) in, the best
candidates out; no letterbox, no decode) is timed at each batch size: the median wall ms
per image over ``--repeats`` calls after two warm-ups, and the CPU ms per image (process
CPU time over the same calls), so "CPUs used" = CPU / wall shows whether the threads keep
the cores busy. On a loaded machine the wall figures are the machine's share, not the
model's cost; with one thread the CPU ms per image is the cost (nothing spins), which is
why threads 1 goes first; with two, a thread that waits for the other may spin, counted.
"per image vs batch 1" < 1 means a batch of B is cheaper per image than B batch-1
forwards. Input frames are from a generated 30-person street (512x320), the clip
`benchmarks/multi_camera.py` streams. The machine's other load is printed first
(`busy_other_cpus`): figures taken with other processes busy are not quiet figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCHES = (1, 2, 4, 8)  # the batch sizes timed
ROWS = (  # backend:precision, in the order printed
    "torch:fp32",
    "torch:bf16",
    "onnxruntime:fp32",
    "onnxruntime:int8",
    "openvino:fp32",
    "openvino:bf16",
    "openvino:int8",
)
PEOPLE = 30  # people in the generated frames (the multi-camera benchmark's street)
WARMUPS = 2  # untimed calls per batch size (oneDNN / the backends set up per shape)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="backend:precision")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per batch size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def make_frames(folder: Path, count: int) -> list[np.ndarray]:
    """``count`` decoded RGB frames (320, 512, 3) of a generated street with people."""
    import av

    from crowdpose3d.data.synth import SynthConfig, write_sequence

    config = SynthConfig(num_frames=count, fps=10, width=512, height=320,
                         min_people=PEOPLE, max_people=PEOPLE)  # fmt: skip
    paths = write_sequence(folder, "test", 30, config, seed=1830)
    with av.open(str(paths["video"])) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][:count]


def worker(job: dict) -> dict:
    """One backend x precision x threads: per batch size, wall and CPU ms per image."""
    from crowdpose3d.engine.backends import load_model
    from crowdpose3d.engine.predictor import Predictor, letterbox_image
    from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

    frames = make_frames(Path(job["work"]), max(job["batches"]))
    predictor = Predictor(load_model(DEFAULT_MODEL), device="cpu", backend=job["backend"],
                          precision=job["precision"], threads=job["threads"])  # fmt: skip
    images = np.stack([letterbox_image(f, predictor.fit)[0] for f in frames])  # (B, H, W, 3)
    figures = {}
    for size in job["batches"]:
        batch = np.ascontiguousarray(images[:size])
        for _ in range(WARMUPS):
            predictor.runner(batch)
        walls, cpu = [], time.process_time()
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            predictor.runner(batch)
            walls.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu
        figures[size] = {
            "wall_ms_per_image": 1000 * float(np.median(walls)) / size,
            "cpu_ms_per_image": 1000 * cpu / (job["repeats"] * size),
            "cpus_used": cpu / sum(walls),
        }
    return figures


def main() -> int:
    args = parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from backends import busy_other_cpus

    print(f"other processes keep {busy_other_cpus(2.0):.2f} CPUs busy")
    results = []
    with tempfile.TemporaryDirectory(prefix="batch_forward_") as work:
        for threads in args.threads:
            for row in args.rows:
                backend, precision = row.split(":")
                job = {"backend": backend, "precision": precision, "threads": threads,
                       "batches": args.batches, "repeats": args.repeats,
                       "work": str(Path(work) / "clip")}  # fmt: skip
                done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)],
                                      capture_output=True, text=True)  # fmt: skip
                if done.returncode != 0:
                    tail = done.stderr.strip().splitlines()[-1:]
                    print(f"{row} threads {threads}: failed {tail}")
                    continue
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                results.append({"row": row, "threads": threads, "figures": figures})
                one = figures["1"]["wall_ms_per_image"]
                cells = ", ".join(
                    f"b{b} {f['wall_ms_per_image']:.1f} ms ({f['wall_ms_per_image'] / one:.2f}x,"
                    f" cpu {f['cpu_ms_per_image']:.0f} ms, {f['cpus_used']:.2f} CPUs)"
                    for b, f in figures.items()
                )
                print(f"{row:<17} threads {threads}: {cells}", flush=True)
    print(f"other processes keep {busy_other_cpus(2.0):.2f} CPUs busy")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
