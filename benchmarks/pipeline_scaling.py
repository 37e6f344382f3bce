"""Per-frame time of the whole default pipeline (decode -> PandaNet -> lift -> track ->
Parquet) on generated clips with 1, 10, 30 and 60 people, measured in one run, with each
stage's share.

    python benchmarks/pipeline_scaling.py                 # 40 frames per clip, 3 rounds
    python benchmarks/pipeline_scaling.py --device cuda   # on a GPU

Targets (issue 5): the 60-people frame time within 1.2x of the 1-person one; tracking under
2 ms per frame at 60 people; the stages around the model adding under 15 % to the model's
own time. The clips are generated first (crowdpose3d synth, 512x320, the shipped model's
input size); rounds interleave the people counts so machine noise hits them alike, and
each figure is the median over rounds. "busy" is a stage's time per frame not spent
waiting on its queues; the stages run on threads, so the frame time is set by the slowest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import pandas as pd

from crowdpose3d.data.synth import SynthConfig, write_sequence
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL, default_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

STAGES = [
    "source:video",
    "stages[0]:pandanet",
    "stages[1]:verify",
    "stages[2]:lift",
    "stages[3]:track",
    "sinks[0]:parquet",
]


def make_clip(folder: Path, people: int, frames: int) -> tuple[Path, Path]:
    config = SynthConfig(
        num_frames=frames, fps=10, width=512, height=320, min_people=people, max_people=people
    )
    paths = write_sequence(folder, "test", people, config, seed=1000 + people)
    return paths["video"], paths["camera"]


def run_once(video: Path, camera: Path, output: Path, model: str, device: str) -> dict:
    config = validate_pipeline(
        default_pipeline(
            str(video), str(output), model=model, device=device, camera={"camera_file": str(camera)}
        )
    )
    runner = PipelineRunner(config, StageContext(overwrite=True))
    runner.open()
    report = runner.run()
    people = len(pd.read_parquet(output)) / report.frames
    busy = {s["stage"]: s["busy_ms_per_frame"] for s in report.stages}
    return {"frame_ms": 1000 * report.seconds / report.frames, "people": people, **busy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[1, 10, 30, 60])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pipeline_scaling_"))
    clips = {n: make_clip(work / "clips", n, args.frames) for n in args.people}
    runs: dict[int, list[dict]] = {n: [] for n in args.people}
    for _ in range(args.rounds):
        for n in args.people:
            runs[n].append(run_once(*clips[n], work / f"out_{n}", args.model, args.device))

    rows = {}
    for n in args.people:
        rows[n] = {key: statistics.median(r[key] for r in runs[n]) for key in runs[n][0]}
    print(
        f"{args.frames} frames per clip at 512x320, median of {args.rounds} rounds, "
        f"model {args.model}, device {args.device}"
    )
    header = (
        f"{'people':>6} {'tracked':>8} {'frame ms':>9} "
        + " ".join(f"{s.split(':')[1]:>9}" for s in STAGES)
        + f" {'around/model':>13}"
    )
    print(header + "\n" + " " * 25 + "busy ms per frame (share of the summed busy time)")
    for n, row in rows.items():
        total = sum(row[s] for s in STAGES)
        around = sum(row[s] for s in STAGES if "pandanet" not in s) / row[STAGES[1]]
        cells = " ".join(f"{row[s]:5.1f}({100 * row[s] / total:2.0f}%)" for s in STAGES)
        print(
            f"{n:>6} {row['people']:>8.1f} {row['frame_ms']:>9.1f} {cells} {100 * around:>12.1f}%"
        )
    first, last = rows[args.people[0]], rows[args.people[-1]]
    print(
        f"\nframe time {args.people[-1]} vs {args.people[0]} people: "
        f"{last['frame_ms'] / first['frame_ms']:.2f}x (target <= 1.2x)"
    )
    print(
        f"tracking at {args.people[-1]} people: {last['stages[3]:track']:.2f} ms/frame (target < 2)"
    )
    around = sum(last[s] for s in STAGES if "pandanet" not in s) / last[STAGES[1]]
    print(
        f"stages around the model at {args.people[-1]} people: {100 * around:.1f}% "
        "of the model's time (target < 15%)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({str(n): r for n, r in rows.items()}, indent=2))


if __name__ == "__main__":
    main()
