"""Why identities switch: every ID switch of each tracker on the benchmark's clips, with its
causes, so the tracker is changed by measured effect rather than by guesses.

    python benchmarks/tracking_switches.py                 # tuning clips (the default)
    python benchmarks/tracking_switches.py --split heldout --peers bytetrack ocsort botsort

Runs our track stage on the cached detections of ``benchmarks/tracking_peers.py`` (run that
first: it makes the clips, the detections and the peers' result files) and reads the peers'
result files it wrote. Switches are counted as TrackEval's CLEAR counts them: frame by frame
a true person is matched to a tracker box at IoU >= 0.5, a match of the previous frames
kept first (Hungarian on IoU otherwise); a switch is a person matched to another tracker id
than at their latest match. Each switch gets every cause that applies (a switch can have
several) and a primary one, the first that applies in this order:

- ``edge``: the person's true box touches the image border at the switch or at the latest
  match (a box cut by the border changes size and centre unnaturally);
- ``occlusion``: the person went unmatched for frames before the switch while a nearer
  person (lower box bottom) covered at least half of their true box;
- ``crossing``: another true person's box overlaps theirs (IoU >= 0.2) at the switch or at
  the latest match, with no gap (the ids swapped or jumped between neighbours);
- ``low score``: the tracker box at the switch or at the latest match scores under the
  high-score threshold of our tracker;
- ``gap``: unmatched for frames before the switch, none of the above (the track died, or
  the detector missed the person, and a new track was born);
- ``other``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from tracking_peers import (  # noqa: E402
    CLIP_SIZE,
    FRAME_RATES,
    PEERS,
    add_verified_flag,
    clips_of,
    detections,
    run_ours,
    write_ground_truth,
)

from crowdpose3d.pipeline.defaults import DEFAULT_MODEL  # noqa: E402
from crowdpose3d.stages.track import TrackParams  # noqa: E402
from crowdpose3d.tracking.association import box_iou_matrix, linear_assignment  # noqa: E402

MATCH_IOU = 0.5  # a tracker box matches a true box at this IoU (MOTChallenge)
EDGE_MARGIN_PX = 2.0  # a true box this close to the border counts as cut by it
CROSSING_IOU = 0.2  # two true boxes overlapping this much are crossing
COVERED_SHARE = 0.5  # share of a true box a nearer one must cover to occlude it
CAUSES = ("edge", "occlusion", "crossing", "low score", "gap", "other")
#: Bonus that keeps a previous frame's match over a better-overlapping new one (TrackEval).
KEEP_BONUS = 1000.0


def read_mot(path: Path) -> pd.DataFrame:
    """A MOTChallenge file -> frame (from 1), id, x1, y1, x2, y2, score, cls."""
    table = pd.read_csv(path, header=None).iloc[:, :8]
    table.columns = ["frame", "id", "x", "y", "w", "h", "score", "cls"]
    table["x1"], table["y1"] = table.x, table.y
    table["x2"], table["y2"] = table.x + table.w, table.y + table.h
    return table[["frame", "id", "x1", "y1", "x2", "y2", "score", "cls"]]


def switches(gt: pd.DataFrame, predicted: pd.DataFrame, high_score: float) -> Counter:
    """Counter of primary causes (keys as ``CAUSES``) and of every cause (``"any <cause>"``)
    of the ID switches of ``predicted`` against the pedestrians of ``gt``."""
    height, width = CLIP_SIZE
    people = gt[gt.cls == 1]
    by_frame_gt = {f: g for f, g in people.groupby("frame")}
    by_frame_p = {f: g for f, g in predicted.groupby("frame")}
    last: dict[int, tuple[int, int, np.ndarray, float, np.ndarray]] = {}  # gt id -> state
    counts: Counter = Counter()
    for frame in sorted(by_frame_gt):
        t = by_frame_gt[frame]
        p = by_frame_p.get(frame, predicted.iloc[:0])
        t_boxes = t[["x1", "y1", "x2", "y2"]].to_numpy(float)  # (G, 4)
        p_boxes = p[["x1", "y1", "x2", "y2"]].to_numpy(float)  # (P, 4)
        iou = box_iou_matrix(t_boxes, p_boxes)  # (G, P)
        t_ids, p_ids = t.id.to_numpy(int), p.id.to_numpy(int)
        previous_ids = np.array([last[g][1] if g in last else -1 for g in t_ids], int)
        kept = previous_ids[:, None] == p_ids[None, :]  # (G, P) the pair matched last time
        similarity = iou + KEEP_BONUS * (kept & (iou >= MATCH_IOU))
        cost = np.where(iou >= MATCH_IOU, KEEP_BONUS + 1 - similarity, 2 * KEEP_BONUS + 2)
        matches = linear_assignment(cost, cost_limit=2 * KEEP_BONUS + 1).matches
        gt_overlap = box_iou_matrix(t_boxes, t_boxes)
        np.fill_diagonal(gt_overlap, 0.0)
        for i, j in matches:
            g, q, box, score = int(t_ids[i]), int(p_ids[j]), t_boxes[i], float(p.score.iloc[j])
            previous = last.get(g)
            last[g] = (frame, q, box, score, gt_overlap[i])
            if previous is None or previous[1] == q:
                continue
            old_frame, _, old_box, old_score, old_overlap = previous
            gap = frame - old_frame > 1
            causes = set()
            for b in (box, old_box):
                if (
                    b[0] <= EDGE_MARGIN_PX
                    or b[1] <= EDGE_MARGIN_PX
                    or b[2] >= width - EDGE_MARGIN_PX
                    or b[3] >= height - EDGE_MARGIN_PX
                ):
                    causes.add("edge")
            if gap and _covered(people, g, old_frame, frame):
                causes.add("occlusion")
            if not gap and max(gt_overlap[i].max(initial=0), old_overlap.max(initial=0)) >= (
                CROSSING_IOU
            ):
                causes.add("crossing")
            if min(score, old_score) < high_score:
                causes.add("low score")
            if gap and "occlusion" not in causes:
                causes.add("gap")
            primary = next((c for c in CAUSES if c in causes), "other")
            counts[primary] += 1
            for c in causes:
                counts[f"any {c}"] += 1
    return counts


def _covered(people: pd.DataFrame, person: int, start: int, stop: int) -> bool:
    """Whether a nearer true person (lower box bottom) covered at least ``COVERED_SHARE``
    of ``person``'s true box in some frame strictly between ``start`` and ``stop``."""
    window = people[(people.frame > start) & (people.frame < stop)]
    for _, group in window.groupby("frame"):
        own = group[group.id == person]
        if own.empty:
            continue
        box = own[["x1", "y1", "x2", "y2"]].to_numpy(float)[0]
        others = group[(group.id != person) & (group.y2 > box[3])]
        if others.empty:
            continue
        o = others[["x1", "y1", "x2", "y2"]].to_numpy(float)
        inter_w = np.clip(np.minimum(o[:, 2], box[2]) - np.maximum(o[:, 0], box[0]), 0, None)
        inter_h = np.clip(np.minimum(o[:, 3], box[3]) - np.maximum(o[:, 1], box[1]), 0, None)
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
        if (inter_w * inter_h / area).max() >= COVERED_SHARE:
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tune", "heldout"), default="tune")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    add_verified_flag(parser)  # the peers' files are those of tracking_peers.py's latest run
    args = parser.parse_args(argv)
    params = TrackParams()
    print(f"split {args.split}; primary cause of each ID switch (every cause in brackets)")
    for fps in FRAME_RATES:
        clips = [c for c in clips_of(args.split, False) if c.fps == fps]
        totals: dict[str, Counter] = {}
        for clip in clips:
            if not any(clip.folder.glob("detections_*.npz")):
                raise SystemExit(
                    f"{clip.folder}: no cached detections; run "
                    f"`python benchmarks/tracking_peers.py --split {args.split} --prepare-only`"
                )
            gt = read_mot(write_ground_truth(clip))
            run_ours(detections(clip, args.model, args.verified), clip.folder / "ours.txt", {})
            for name in ("ours", *args.peers):
                path = clip.folder / f"{name}.txt"
                if not path.is_file():
                    raise SystemExit(f"{path}: missing; run benchmarks/tracking_peers.py first")
                found = switches(gt, read_mot(path), params.high_score_threshold)
                totals[name] = totals.get(name, Counter()) + found
        print(f"\n{fps:g} fps ({len(clips)} clips)")
        print(f"{'tracker':>10} {'all':>4} " + " ".join(f"{c:>15}" for c in CAUSES))
        for name, counts in totals.items():
            total = sum(counts[c] for c in CAUSES)
            cells = [f"{counts[c]:>4} ({counts['any ' + c]:>4})".rjust(15) for c in CAUSES]
            print(f"{name:>10} {total:>4} " + " ".join(cells))


if __name__ == "__main__":
    main()
