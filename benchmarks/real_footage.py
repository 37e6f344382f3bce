"""People visible versus people found on sampled frames of real footage.

Runs one or more models on evenly spaced frames of a video (OpenCV's `vtest.avi`, see
docs/models.md) and, for each model and frame, counts the people it finds (detections with
score >= --score) and, with --tracks, the tracks the default pipeline wrote for that frame.
With --people (boxes of the people visible, drawn by eye: `benchmarks/data/
vtest_people.json`) each detection or track box is matched one-to-one to a visible person
(IoU >= 0.3, highest score first; the hand-drawn boxes are rough) and the table gives, per
frame, found / visible and the false alarms (boxes on no one). It also writes one PNG per
frame and model with the detections drawn (boxes, scores, skeletons).

    python benchmarks/real_footage.py out/vtest/vtest.avi --models builtin:crowd-small \
        --frames 8 --out out/vtest/frames --tracks out/vtest/tracks \
        --overlays out/vtest/overlay.mp4 --people benchmarks/data/vtest_people.json

--overlays also saves the same frames of the pipeline's overlay videos (`crowdpose3d track
... --overlay`) as PNGs. --verifiers none builtin scores each model's detections without
and with the detection verifier (`crowdpose3d.engine.verifier`) in one run: the network
runs once per frame at the pandanet stage's threshold (`VERIFIER_INPUT_SCORE`), the
verifier re-scores those detections, then --score applies; it also prints the verifier's
cost in ms per frame next to the predictor's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import cv2
import numpy as np

from crowdpose3d.engine.verifier import VERIFIER_INPUT_SCORE
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL


def sample_frames(video: str, count: int, skip: int) -> list[tuple[int, np.ndarray]]:
    """`count` (frame index, RGB image) pairs evenly spaced after the first `skip` frames."""
    with av.open(video) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    wanted = np.linspace(skip, len(images) - 1, count).round().astype(int)
    return [(int(i), images[i]) for i in wanted]


def match(boxes: np.ndarray, scores: np.ndarray, people: np.ndarray) -> tuple[int, int]:
    """(people found, false alarms): boxes (N, 4) matched greedily by score to people (M, 4)."""
    from crowdpose3d.tracking.association import box_iou_matrix

    if len(boxes) == 0 or len(people) == 0:
        return 0, len(boxes)
    iou = box_iou_matrix(boxes.astype(float), people.astype(float))  # (N, M)
    taken = np.zeros(len(people), bool)
    found = 0
    for i in np.argsort(-scores):
        candidates = np.where(~taken & (iou[i] >= 0.3))[0]
        if len(candidates):
            taken[candidates[np.argmax(iou[i, candidates])]] = True
            found += 1
    return found, len(boxes) - found


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
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--frames", type=int, default=8, help="frames to sample (8)")
    parser.add_argument("--skip", type=int, default=40, help="frames skipped at the start (40)")
    parser.add_argument("--score", type=float, default=0.5, help="detection threshold (0.5)")
    parser.add_argument("--tracks", nargs="*", default=[], help="tracks dataset per model")
    parser.add_argument(
        "--overlays", nargs="*", default=[], help="overlay videos of the pipeline: same frames"
    )
    parser.add_argument("--out", default="out/vtest/frames", help="folder for the PNGs")
    parser.add_argument("--people", default=None, help="JSON of the visible people's boxes")
    parser.add_argument(
        "--sweep", type=float, nargs="*", default=[],
        help="with --people: also found / false alarms of the detections at these higher "
        "score thresholds (the same predictions, filtered)",
    )  # fmt: skip
    parser.add_argument(
        "--verifiers", nargs="+", default=["none"], metavar="builtin|none|PATH",
        help="detection verifiers to compare per model (none)",
    )  # fmt: skip
    args = parser.parse_args()

    import time

    import pandas as pd
    import torch

    from crowdpose3d.engine.predictor import Predictor
    from crowdpose3d.engine.verifier import load_verifier
    from crowdpose3d.messages import first_line

    torch.set_num_threads(2)
    frames = sample_frames(args.video, args.frames, args.skip)
    indices = [index for index, _ in frames]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tracks = [pd.read_parquet(t) for t in args.tracks]
    people = {}
    if args.people:
        marked = json.loads(Path(args.people).read_text())["frames"]
        people = {int(k): np.array(v, float).reshape(-1, 4) for k, v in marked.items()}
    try:
        verifiers = [(v, load_verifier(v)) for v in args.verifiers]
    except ValueError as error:
        raise SystemExit(first_line(error)) from None
    model_names = [Path(m.replace("builtin:", "")).stem for m in args.models]
    # One column per model and verifier ("+none" left off when only none is asked for).
    names = [
        n if args.verifiers == ["none"] else f"{n}+{Path(v).stem}"
        for n in model_names
        for v, _ in verifiers
    ]
    columns = [f"det {n}" for n in names] + [f"tracks {Path(t).name}" for t in args.tracks]
    print(f"detections: score >= {args.score}; cells: found/visible false-alarms "
          f"(or boxes, without --people); PNGs in {out}")  # fmt: skip
    print(f"{'frame':>6} {'visible':>8} " + " ".join(f"{c[:24]:>24}" for c in columns))
    input_score = min(args.score, VERIFIER_INPUT_SCORE)
    predictors = [Predictor.from_spec(m, device="cpu", score_threshold=input_score)
                  for m in args.models]  # fmt: skip
    seconds = {"predict": 0.0, **{v: 0.0 for v, _ in verifiers}}
    totals = np.zeros((len(columns), 2), int)
    swept = np.zeros((len(names), len(args.sweep), 2), int)  # (model, threshold, found/false)
    visible_total = 0
    for index, image in frames:
        results = []  # (boxes, scores) per column
        column = 0
        for predictor in predictors:
            started = time.perf_counter()
            found = predictor([image])[0]
            seconds["predict"] += time.perf_counter() - started
            for spec, verifier in verifiers:
                started = time.perf_counter()
                if verifier is None:
                    poses = found[found.scores >= args.score]
                else:
                    poses = verifier(image, found, threshold=args.score)
                seconds[spec] += time.perf_counter() - started
                name = names[column]
                column += 1
                results.append((poses.boxes, poses.scores))
                label = f"frame {index}  {name}  found {len(poses)}"
                cv2.imwrite(str(out / f"frame{index:04d}_{name}.png"),
                            draw(image, poses, predictor.skeleton.bones, label))  # fmt: skip
        for table in tracks:
            rows = table[table["frame"] == index]
            boxes = rows[["box_x1", "box_y1", "box_x2", "box_y2"]].to_numpy(float)
            results.append((boxes, rows["score"].to_numpy(float)))
        truth = people.get(index)
        cells = []
        for c, (boxes, scores) in enumerate(results):
            if truth is None:
                cells.append(f"{len(boxes)}")
                continue
            found, false = match(np.asarray(boxes), np.asarray(scores), truth)
            totals[c] += (found, false)
            for t, threshold in enumerate(args.sweep if c < len(names) else []):
                keep = np.asarray(scores) >= threshold
                swept[c, t] += match(np.asarray(boxes)[keep], np.asarray(scores)[keep], truth)
            cells.append(f"{found}/{len(truth)} {false}")
        visible = "-" if truth is None else str(len(truth))
        visible_total += 0 if truth is None else len(truth)
        print(f"{index:>6} {visible:>8} " + " ".join(f"{c:>24}" for c in cells))
    if people:
        cells = [f"{f}/{visible_total} {a}" for f, a in totals]
        print(f"{'all':>6} {visible_total:>8} " + " ".join(f"{c:>24}" for c in cells))
        for column, (found, false) in zip(columns, totals, strict=True):
            print(f"{column}: found {100 * found / visible_total:.0f} % of the people visible, "
                  f"{false / len(frames):.1f} false alarms per frame")  # fmt: skip
        for name, rows in zip(names, swept, strict=True):
            for threshold, (found, false) in zip(args.sweep, rows, strict=True):
                print(f"det {name} at score >= {threshold}: found "
                      f"{100 * found / visible_total:.0f} %, "
                      f"{false / len(frames):.1f} false alarms per frame")  # fmt: skip
    runs = len(frames) * len(predictors)
    cost = ", ".join(f"verifier {v} {1000 * seconds[v] / runs:.1f}" for v, _ in verifiers)
    print(f"ms per frame: predictor {1000 * seconds['predict'] / runs:.1f}, {cost}")
    for overlay in args.overlays:
        for index, image in sample_frames(overlay, args.frames, args.skip):
            if index in indices:
                name = f"frame{index:04d}_{Path(overlay).stem}.png"
                cv2.imwrite(str(out / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
