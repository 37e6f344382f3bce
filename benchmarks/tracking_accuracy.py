"""Tracking accuracy of the default pipeline on generated clips with ground truth: MOTA,
IDF1, identity switches and lifted root errors, averaged over clips, for one or more
settings of the track stage.

    python benchmarks/tracking_accuracy.py                           # the defaults, 3 clips
    python benchmarks/tracking_accuracy.py --high 0.5 0.7 0.8        # sweep the start score
    python benchmarks/tracking_accuracy.py --model out/runs/x/last.pt --clips 5

Clips: `crowdpose3d.demo.make_sample_clip` with seeds 501, 502, ... (not the demo's 11 and
not the training seeds), 50 frames at 10 fps, 512x320, 6-14 people, the clip's camera
(ground plane) given to the lift. Each setting runs the whole pipeline on every clip.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from crowdpose3d.demo import compare_with_truth, make_sample_clip, truth_table
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL, default_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

KEYS = ["mota", "idf1", "id_switches", "misses", "false_positives", "root_error_median_m"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--high", type=float, nargs="+", default=[None])
    parser.add_argument("--min-hits", type=int, nargs="+", default=[None])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tracking_accuracy_"))
    clips = [make_sample_clip(work / f"clip{i}", seed=501 + i) for i in range(args.clips)]
    truths = [truth_table(clip.root) for clip in clips]
    print(f"{args.clips} clips, model {args.model}")
    print(f"{'high':>5} {'hits':>5} " + " ".join(f"{k:>19}" for k in KEYS))
    for high, hits in itertools.product(args.high, args.min_hits):
        track = {}
        if high is not None:
            track["high_score_threshold"] = high
        if hits is not None:
            track["min_hits_to_confirm"] = hits
        rows = []
        for i, (clip, truth) in enumerate(zip(clips, truths, strict=True)):
            config = default_pipeline(
                str(clip.video),
                str(work / f"out{i}"),
                model=args.model,
                camera={"camera_file": str(clip.camera)},
            )
            next(s for s in config["stages"] if s["type"] == "track").update(track)
            runner = PipelineRunner(validate_pipeline(config), StageContext(overwrite=True))
            runner.open()
            runner.run()
            rows.append(compare_with_truth(pd.read_parquet(work / f"out{i}"), truth))
        means = {k: float(np.mean([r[k] for r in rows])) for k in KEYS}
        label = f"{high if high is not None else 'def':>5} {hits if hits is not None else 'def':>5}"
        print(label + " " + " ".join(f"{means[k]:>19.3f}" for k in KEYS), flush=True)


if __name__ == "__main__":
    main()
