"""People found on sampled frames of real footage, for counting by eye (no ground truth).

Runs one or more models on evenly spaced frames of a video (OpenCV's `vtest.avi`, see
docs/models.md) and, for each model and frame, prints how many people it finds (detections
with score >= --score) and, when --tracks is given, how many confirmed tracks the default
pipeline wrote for that frame. It also writes one PNG per frame and model with the
detections drawn (boxes and skeletons) and the frame number, so that the people visible can
be counted by eye next to the people found: the model card's table comes from these.

    python benchmarks/real_footage.py out/vtest/vtest.avi --models builtin:crowd-small \
        --frames 8 --out out/vtest/frames
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np


def sample_frames(video: str, count: int, skip: int) -> list[tuple[int, np.ndarray]]:
    """`count` (frame index, RGB image) pairs evenly spaced after the first `skip` frames."""
    with av.open(video) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    wanted = np.linspace(skip, len(images) - 1, count).round().astype(int)
    return [(int(i), images[i]) for i in wanted]


def draw(image: np.ndarray, poses, bones, label: str) -> np.ndarray:
    """BGR copy of `image` with boxes, scores and 2D skeletons."""
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for box, score, joints in zip(poses.boxes, poses.scores, poses.kp2d, strict=True):
        x1, y1, x2, y2 = np.round(box).astype(int)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 255), 1)
        cv2.putText(out, f"{score:.2f}", (x1, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (0, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
        for a, b in bones:
            pa, pb = np.round(joints[a]).astype(int), np.round(joints[b]).astype(int)
            cv2.line(out, tuple(pa), tuple(pb), (0, 255, 0), 1, cv2.LINE_AA)
    cv2.putText(out, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2,
                cv2.LINE_AA)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video")
    parser.add_argument("--models", nargs="+", default=["builtin:crowd-small"])
    parser.add_argument("--frames", type=int, default=8, help="frames to sample (8)")
    parser.add_argument("--skip", type=int, default=40, help="frames skipped at the start (40)")
    parser.add_argument("--score", type=float, default=0.5, help="detection threshold (0.5)")
    parser.add_argument("--tracks", nargs="*", default=[], help="tracks dataset per model")
    parser.add_argument("--out", default="out/vtest/frames", help="folder for the PNGs")
    args = parser.parse_args()

    import pandas as pd
    import torch

    from crowdpose3d.predict import Predictor

    torch.set_num_threads(2)
    frames = sample_frames(args.video, args.frames, args.skip)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tracks = [pd.read_parquet(t) for t in args.tracks]
    header = f"{'frame':>6} " + " ".join(f"{'found:' + m[-18:]:>26}" for m in args.models)
    if tracks:
        header += " " + " ".join(f"{'tracks:' + Path(t).name[-14:]:>22}" for t in args.tracks)
    print(f"score >= {args.score}; PNGs in {out}")
    print(header)
    predictors = [Predictor.from_spec(m, device="cpu", score_threshold=args.score)
                  for m in args.models]  # fmt: skip
    for index, image in frames:
        found = []
        for spec, predictor in zip(args.models, predictors, strict=True):
            poses = predictor([image])[0]
            found.append(len(poses))
            name = spec.replace("builtin:", "").replace("/", "_").replace(".pt", "")
            label = f"frame {index}  {spec}  found {len(poses)}"
            bones = predictor.skeleton.bones
            cv2.imwrite(str(out / f"frame{index:04d}_{Path(name).name}.png"),
                        draw(image, poses, bones, label))  # fmt: skip
        row = f"{index:>6} " + " ".join(f"{n:>26}" for n in found)
        if tracks:
            row += " " + " ".join(f"{int((t['frame'] == index).sum()):>22}" for t in tracks)
        print(row)


if __name__ == "__main__":
    main()
