"""Frames per second of the synthetic crowd generator (`crowdpose3d synth`).

For 1, 10, 30 and 60 people at 928x576 prints two figures: render only (simulation, gait,
painting, label image and occlusion flags, in memory) and the full write path (the same
plus H.264 encoding through PyAV and building the JTA annotation rows, with the JSON
written at the end). Each figure is the median of `--repeats` runs of `--frames` frames,
after the background of the sequence (rendered once per sequence) is ready.

With `--renderer mesh` it measures the articulated-body renderer (anny meshes, OpenGL on
Mesa's llvmpipe; needs the 'mesh' extra) at 10 and 30 people by default.

    python benchmarks/synth_speed.py
    python benchmarks/synth_speed.py --frames 60 --people 30
    python benchmarks/synth_speed.py --renderer mesh --frames 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from crowdpose3d.data.synth import SynthConfig, frame_rows, generate_sequence
from crowdpose3d.data.synth.writer import VideoWriter


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"
    except OSError:
        return "load average unknown"


def measure(
    people: int,
    frames: int,
    write: bool,
    renderer: str = "solids",
    seed: int = 1,
    motion: str = "procedural",
    backgrounds: str | None = None,
) -> float:
    """Frames per second for one sequence, timed from its first frame to its last."""
    config = SynthConfig(
        num_frames=frames + 1,
        min_people=people,
        max_people=people,
        renderer=renderer,
        motion=motion,
        backgrounds=backgrounds,
    )
    sequence = iter(generate_sequence(config, seed))
    next(sequence)  # the first frame pays for the background: not timed
    with tempfile.TemporaryDirectory() as folder:
        video = (
            VideoWriter(
                Path(folder) / "seq.mp4",
                config.width,
                config.height,
                config.fps,
                config.crf,
                config.preset,
            )
            if write
            else None
        )
        rows = []
        start = time.perf_counter()
        for frame in sequence:
            if video is not None:
                video.write(frame.image)
                rows.extend(frame_rows(frame))
        if video is not None:
            video.close()
            (Path(folder) / "seq.json").write_text(json.dumps(rows, separators=(", ", ": ")))
        elapsed = time.perf_counter() - start
    return frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=90, help="timed frames per run (90)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure, median (3)")
    parser.add_argument(
        "--people",
        type=int,
        nargs="+",
        default=None,
        help="people per scene (solids: 1 10 30 60; mesh: 10 30)",
    )
    parser.add_argument("--renderer", choices=["solids", "mesh"], default="solids")
    parser.add_argument("--motion", choices=["procedural", "jupedsim"], default="procedural")
    parser.add_argument("--backgrounds", default=None, help="a `crowdpose3d photos` folder")
    args = parser.parse_args()
    options = {"motion": args.motion, "backgrounds": args.backgrounds}
    people_counts = args.people or ([10, 30] if args.renderer == "mesh" else [1, 10, 30, 60])

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
    print(f"before: {_load()} (other processes busy when well above 0)")
    print(
        f"renderer {args.renderer}, motion {args.motion}, backgrounds "
        f"{args.backgrounds or 'procedural'}, 928x576, H.264 crf 23 preset veryfast, "
        "2 encoder threads"
    )
    print(f"{'people':>6} {'render fps':>11} {'render+encode+annotate fps':>27}")
    for people in people_counts:
        render = statistics.median(
            measure(people, args.frames, False, args.renderer, **options)
            for _ in range(args.repeats)
        )
        full = statistics.median(
            measure(people, args.frames, True, args.renderer, **options)
            for _ in range(args.repeats)
        )
        print(f"{people:>6} {render:>11.1f} {full:>27.1f}")
    print(f"after: {_load()}")


if __name__ == "__main__":
    main()
