"""The detection verifier's cost per frame with and without its cascade, in one run.

The network runs once per frame (no verifier, down to `VERIFIER_INPUT_SCORE`, what the
verify stage is handed); then, on the same detections, the verifier scores every frame in
full (HOG for every crop: ``cascade=False``, the verifier before the cascade) and with its
cascade (HOG only where the cheap score cannot decide), in alternating rounds, at the
verify stage's threshold. It prints the fastest round's ms per frame of each, their ratio,
the share of crops that still get HOG, and how many keep / drop decisions at the
`DECISION_SCORES` thresholds differ from the full verifier's.

    OMP_NUM_THREADS=1 python benchmarks/verifier_speed.py                 # generated clip
    OMP_NUM_THREADS=1 python benchmarks/verifier_speed.py --video out/vtest/vtest.avi

Default frames: the generated 30-person 512x320 clip of `benchmarks/backends.py` (seed 1).
Timing vtest.avi is fine (nothing is fitted or chosen on it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crowdpose3d.engine.verifier import VERIFIER_INPUT_SCORE
from crowdpose3d.engine.verifier_training import DECISION_SCORES
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL


def generated_frames(count: int) -> list[np.ndarray]:
    """``count`` (320, 512, 3) frames of a generated 30-person street clip."""
    from crowdpose3d.data.synth import SynthConfig, generate_sequence

    config = SynthConfig(num_frames=count, fps=10, width=512, height=320, min_people=30,
                         max_people=30)  # fmt: skip
    return [frame.image for frame in generate_sequence(config, seed=1)]


def video_frames(path: str, count: int) -> list[np.ndarray]:
    """``count`` RGB frames evenly spaced over the video."""
    import av

    with av.open(path) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [images[i] for i in np.linspace(0, len(images) - 1, count).round().astype(int)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", help="frames of this video (default: a generated clip)")
    parser.add_argument("--frames", type=int, default=20, help="frames (20)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (5)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--verifier", default="builtin", help="builtin or an .npz (builtin)")
    parser.add_argument(
        "--threshold", type=float, default=VERIFIER_INPUT_SCORE,
        help=f"the verify stage's score threshold ({VERIFIER_INPUT_SCORE})",
    )  # fmt: skip
    args = parser.parse_args()

    import cv2
    import torch

    from crowdpose3d.engine.predictor import Predictor
    from crowdpose3d.engine.verifier import DetectionVerifier, load_verifier
    from crowdpose3d.messages import first_line

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        loaded = load_verifier(args.verifier)
        images = video_frames(args.video, args.frames) if args.video else None
    except (ValueError, OSError) as error:
        raise SystemExit(first_line(error)) from None
    if loaded is None:
        raise SystemExit("--verifier none has no cost to measure: give builtin or an .npz")
    full = DetectionVerifier(loaded.weights, loaded.name, cascade=False)
    cascade = DetectionVerifier(loaded.weights, loaded.name, cascade=True)
    if not cascade.cascade:
        raise SystemExit(f"{loaded.name} has no cascade: add one with scripts/train_verifier.py")
    images = images if images is not None else generated_frames(args.frames)
    predictor = Predictor.from_spec(args.model, device="cpu", score_threshold=VERIFIER_INPUT_SCORE,
                                    backend="torch", precision="fp32")  # fmt: skip
    detections = [predictor([image])[0] for image in images]
    best = {"full": np.inf, "cascade": np.inf}
    outputs = {}
    for _ in range(args.rounds):
        for name, verifier in (("full", full), ("cascade", cascade)):
            verifier.counts = {"detections": 0, "hog_crops": 0}
            started = time.perf_counter()
            outputs[name] = [
                verifier(image, poses, args.threshold)
                for image, poses in zip(images, detections, strict=True)
            ]
            best[name] = min(best[name], time.perf_counter() - started)
    changed = 0
    kept_diff = 0.0
    for before, after, found in zip(outputs["full"], outputs["cascade"], detections, strict=True):
        scores = {}
        for name, poses in (("full", before), ("cascade", after)):
            score = np.zeros(len(found))  # dropped: 0
            for box, value in zip(poses.boxes, poses.scores, strict=True):
                score[np.flatnonzero((found.boxes == box).all(axis=1))] = value
            scores[name] = score
        for threshold in DECISION_SCORES:
            kept = {name: score >= threshold for name, score in scores.items()}
            changed += int((kept["full"] != kept["cascade"]).sum())
        both = (scores["full"] > 0) & (scores["cascade"] > 0)
        if both.any():
            change = np.abs(scores["full"] - scores["cascade"])[both]
            kept_diff = max(kept_diff, float(change.max()))
    frames = len(images)
    per_frame = {name: 1000 * seconds / frames for name, seconds in best.items()}
    total = cascade.counts["detections"]
    print(f"{frames} frames ({args.video or 'generated 30-person 512x320 clip'}), "
          f"{total / frames:.1f} detections per frame at network score >= "
          f"{VERIFIER_INPUT_SCORE}, verifier threshold {args.threshold}, fastest of "
          f"{args.rounds} rounds")  # fmt: skip
    print(f"verifier ms per frame: full (HOG for every crop) {per_frame['full']:.2f}, "
          f"cascade {per_frame['cascade']:.2f}; cascade / full = "
          f"{per_frame['cascade'] / per_frame['full']:.2f}")  # fmt: skip
    print(f"HOG crops: {cascade.counts['hog_crops']} of {total} "
          f"({100 * cascade.counts['hog_crops'] / max(total, 1):.0f} %)")  # fmt: skip
    print(f"decisions changed at scores {', '.join(map(str, DECISION_SCORES))}: {changed} of "
          f"{total * len(DECISION_SCORES)}; largest score change of a detection both keep: "
          f"{kept_diff:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
