"""Many videos at once on Ray: three generated street clips processed in parallel by
`crowdpose3d batch` (a local Ray cluster unless --ray-address), one partition per video,
then read back as one dataset.

    python examples/batch_videos.py                          # -> out/examples/batch/
    python examples/batch_videos.py --videos a.mp4 b.mp4 --ray-address 10.0.0.5:6379

Rerunning skips the videos already done. Needs the ray extra: pip install 'crowdpose3d[ray]'.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from crowdpose3d import analysis
from crowdpose3d.demo import make_sample_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", nargs="+", help="video files (default: 3 generated clips)")
    parser.add_argument("--out", default="out/examples/batch")
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: local)")
    args = parser.parse_args()
    out = Path(args.out)
    videos = args.videos or [
        str(make_sample_clip(out / "clips" / f"street_{seed}", seed=seed, frames=30).video)
        for seed in (21, 22, 23)
    ]
    command = [sys.executable, "-m", "crowdpose3d.cli", "batch", *videos, "-o", str(out / "tracks")]
    if args.ray_address:
        command += ["--ray-address", args.ray_address]
    print(" ".join(command), flush=True)
    code = subprocess.run(command).returncode

    tracks = analysis.read_tracks(out / "tracks")
    summary = tracks.groupby("source", observed=True).agg(
        rows=("frame", "size"), frames=("frame", "nunique"), tracks=("track_id", "nunique")
    )
    print(f"\none dataset from {out / 'tracks'}:\n{summary}")
    sys.exit(code)


if __name__ == "__main__":
    main()
