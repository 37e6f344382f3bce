"""Does the track stage's appearance descriptor tell people apart? Measured with the true
identities on `tracking_peers.py`'s clips, before the tracker is asked to trust it.

    python benchmarks/tracking_appearance.py                    # tuning clips, solids
    python benchmarks/tracking_appearance.py --split heldout --renderer mesh --quick

Each detection is matched to a true person (IoU >= 0.5, Hungarian). For every true person
seen at frame t and again ``--gap`` frames later, the descriptor distance
(`crowdpose3d.tracking.appearance.appearance_distance`) to their own later detection
("same") is set against the distance to the nearest-colour later detection of a
*neighbour*, another true person whose later box overlaps the person's box at t (the one
who could take their id). Prints per clip the median distances and how often "same" is
the smaller: the share of would-be swaps between neighbours the descriptor alone decides
right. Uses (and makes, where missing) the clips' detection and appearance caches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tracking_peers import SEEDS, clips_of, detections, make_clip, write_ground_truth  # noqa: E402
from tracking_switches import MATCH_IOU, read_mot  # noqa: E402

from crowdpose3d.pipeline.defaults import DEFAULT_MODEL  # noqa: E402
from crowdpose3d.tracking.appearance import APPEARANCE, appearance_distance  # noqa: E402
from crowdpose3d.tracking.association import box_iou_matrix, linear_assignment  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(SEEDS), default="tune")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--renderer", choices=("solids", "mesh"), default="solids")
    parser.add_argument("--quick", action="store_true", help="tracking_peers.py's --quick clips")
    parser.add_argument("--fps", type=float, nargs="+", default=[5.0, 10.0, 30.0])
    parser.add_argument("--gap", type=int, default=1, help="frames between the two looks")
    return parser.parse_args(argv)


def labelled(frames, gt) -> list[dict[int, int]]:
    """Per frame: true id -> index of the detection matched to that person."""
    people = gt[gt.cls == 1]
    by_frame = {f: g for f, g in people.groupby("frame")}
    out = []
    for frame in frames:
        truth = by_frame.get(frame.index + 1)
        if truth is None or not len(frame.poses):
            out.append({})
            continue
        iou = box_iou_matrix(truth[["x1", "y1", "x2", "y2"]].to_numpy(float), frame.poses.boxes)
        found = linear_assignment(np.where(iou >= MATCH_IOU, 1 - iou, 2.0)).matches
        ids = truth.id.to_numpy(int)
        out.append({int(ids[g]): int(d) for g, d in found})
    return out


def separation(frames, gt, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(same, nearest neighbour) distances of every person seen at t and t + gap that has
    a neighbour then."""
    labels = labelled(frames, gt)
    same, other = [], []
    for t in range(len(frames) - gap):
        now, later = labels[t], labels[t + gap]
        if not now or not later:
            continue
        desc_now = frames[t].poses.data[APPEARANCE]
        desc_later = frames[t + gap].poses.data[APPEARANCE]
        boxes_now, boxes_later = frames[t].poses.boxes, frames[t + gap].poses.boxes
        later_ids = np.array(list(later))
        later_dets = np.array([later[i] for i in later_ids])
        for person, det in now.items():
            if person not in later:
                continue
            overlap = box_iou_matrix(boxes_now[det : det + 1], boxes_later[later_dets])[0]
            neighbours = later_dets[(overlap > 0) & (later_ids != person)]
            if not len(neighbours):
                continue
            mine = desc_now[det : det + 1]
            same.append(appearance_distance(mine, desc_later[later[person] : later[person] + 1]))
            repeated = np.repeat(mine, len(neighbours), 0)
            rivals = appearance_distance(repeated, desc_later[neighbours])
            other.append(rivals.min(keepdims=True))
    if not same:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(same), np.concatenate(other)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    listed = clips_of(args.split, args.quick, args.renderer, args.seeds)
    clips = [c for c in listed if c.fps in args.fps]
    all_same, all_other = [], []
    for clip in clips:
        make_clip(clip)
        frames = detections(clip, DEFAULT_MODEL)
        gt = read_mot(write_ground_truth(clip))
        same, other = separation(frames, gt, args.gap)
        all_same.append(same)
        all_other.append(other)
        if len(same):
            print(
                f"{clip.name}: {len(same)} looks with a neighbour; median distance same "
                f"{np.median(same):.3f}, nearest neighbour {np.median(other):.3f}; same nearer "
                f"in {np.mean(same < other):.1%}",
                flush=True,
            )
    same, other = np.concatenate(all_same), np.concatenate(all_other)
    print(
        f"all {len(clips)} clips, gap {args.gap}: {len(same)} looks; median same "
        f"{np.median(same):.3f} (90th pct {np.percentile(same, 90):.3f}), nearest neighbour "
        f"{np.median(other):.3f} (10th pct {np.percentile(other, 10):.3f}); same nearer in "
        f"{np.mean(same < other):.1%}"
    )


if __name__ == "__main__":
    main()
