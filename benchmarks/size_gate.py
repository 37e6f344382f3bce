"""How human-sized the model's detections are on the ground: the lift's ``size_ratio``
(`crowdpose3d.geometry.lift`) of the detections on people and of the others, on the clips
of `benchmarks/tracking_peers.py` (their cached detections, lifted with the clips' true
cameras), and what share of each the lift stage's size gate keeps.

    python benchmarks/size_gate.py --split tune                  # chose the default gate
    python benchmarks/size_gate.py --split tune --renderer mesh --street-furniture

A detection is on a person when its box has IoU >= ``ON_PERSON_IOU`` with a true box of a
person with at least a quarter of the joints visible; only detections scoring at least
``MIN_SCORE`` count. Run `tracking_peers.py` with the same split first (it makes the clips
and the cache).
"""

from __future__ import annotations

import argparse

import numpy as np
import tracking_peers  # benchmarks/tracking_peers.py (this folder is on sys.path)

from crowdpose3d.data.jta import JTADataset
from crowdpose3d.stages.lift import DEFAULT_SIZE_GATE
from crowdpose3d.tracking.association import box_iou_matrix

ON_PERSON_IOU = 0.5
MIN_SCORE = 0.5
PERCENTILES = (0.1, 1, 5, 50, 95, 99, 99.9)
GATES = (DEFAULT_SIZE_GATE, (0.6, 1.5), (0.7, 1.4))


def ratios(clip: tracking_peers.Clip, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(P,) size ratios of the detections on people and (O,) of the others."""
    truth = {}
    for sample in JTADataset(clip.folder, split="test"):
        seen = sample.visible.mean(axis=1) >= tracking_peers.MIN_VISIBLE_FRACTION
        truth[sample.frame - 1] = sample.boxes[seen]
    on, off = [], []
    for frame in tracking_peers.detections(clip, model, verified=True, size_gate=None):
        poses = frame.poses
        confident = poses.scores >= MIN_SCORE
        boxes = poses.boxes[confident].astype(np.float64)
        ratio = np.asarray(poses.data["size_ratio"], np.float64)[confident]
        people = truth.get(frame.index, np.zeros((0, 4)))
        if len(people) and len(boxes):
            best = box_iou_matrix(boxes, people.astype(np.float64)).max(axis=1)
        else:
            best = np.zeros(len(boxes))
        on.append(ratio[best >= ON_PERSON_IOU])
        off.append(ratio[best < ON_PERSON_IOU])
    return np.concatenate(on), np.concatenate(off)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(tracking_peers.SEEDS), default="tune")
    parser.add_argument("--renderer", choices=("solids", "mesh"), default="solids")
    parser.add_argument("--street-furniture", action="store_true")
    parser.add_argument("--model", default=tracking_peers.DEFAULT_MODEL)
    args = parser.parse_args(argv)
    clips = tracking_peers.clips_of(
        args.split, False, args.renderer, street_furniture=args.street_furniture
    )
    on, off = [], []
    for clip in clips:
        if not any(clip.folder.glob("videos/test/*.mp4")):
            raise SystemExit(f"{clip.folder} is missing: run benchmarks/tracking_peers.py first")
        people, others = ratios(clip, args.model)
        on.append(people)
        off.append(others)
    groups = {"on people": np.concatenate(on), "on no person": np.concatenate(off)}
    print(
        f"split {args.split}, {len(clips)} {args.renderer} clips"
        f"{' with street furniture' if args.street_furniture else ''}, verified detections "
        f"at score >= {MIN_SCORE:g}, true cameras"
    )
    print(f"{'detections':<14} {'count':>7} " + " ".join(f"{f'p{p:g}':>6}" for p in PERCENTILES))
    for name, values in groups.items():
        values = values[np.isfinite(values)]
        cells = np.percentile(values, PERCENTILES) if len(values) else [np.nan] * len(PERCENTILES)
        print(f"{name:<14} {len(values):>7} " + " ".join(f"{v:6.2f}" for v in cells))
    for low, high in GATES:
        kept = {
            name: float(np.mean(~((values < low) | (values > high)))) if len(values) else np.nan
            for name, values in groups.items()
        }
        default = " (the default)" if (low, high) == DEFAULT_SIZE_GATE else ""
        print(
            f"gate {low:g}-{high:g}{default}: keeps {100 * kept['on people']:.2f} % of the "
            f"detections on people, {100 * kept['on no person']:.1f} % of the others"
        )


if __name__ == "__main__":
    main()
