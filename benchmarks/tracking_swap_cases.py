"""Each ID switch of our tracker on the benchmark's clips, one line per switch, with whether
OC-SORT and BoT-SORT switched on the same person within ``PEER_WINDOW_FRAMES``: the cases
to look at when changing the tracker (`tracking_switches.py` gives the totals per cause).

    python benchmarks/tracking_swap_cases.py --fps 10                  # tuning clips
    python benchmarks/tracking_swap_cases.py --fps 10 --seeds 9206 --summary
    python benchmarks/tracking_swap_cases.py --fps 10 --set appearance_weight=1

Switches are counted as `tracking_switches.py` counts them (TrackEval's CLEAR matching).
Each line: frame, true person, old -> new track id, frames since the person's last match,
whether the new id belonged to another person before (``stolen-from-P``) or is new, where
the old id went (``old-goes-to-P`` or ``old-dies``), the side of the image the true box
touches, its size, and the peers (``Y``: switched too). ``--summary`` prints one line per
clip instead. Runs the peers (and our track stage) on the cached detections of
``tracking_peers.py`` where their result files are missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from tracking_identical import settings  # noqa: E402
from tracking_peers import (  # noqa: E402
    CLIP_SIZE,
    SEEDS,
    add_verified_flag,
    clips_of,
    detections,
    run_ours,
    run_peer,
    write_ground_truth,
)
from tracking_switches import KEEP_BONUS, MATCH_IOU, read_mot  # noqa: E402

from crowdpose3d.pipeline.defaults import DEFAULT_MODEL  # noqa: E402
from crowdpose3d.tracking.association import box_iou_matrix, linear_assignment  # noqa: E402

PEERS = ("ocsort", "botsort")
PEER_WINDOW_FRAMES = 3  # a peer's switch on the same person this close counts as the same
EDGE_MARGIN_PX = 2.0  # a true box this close to the border touches it (as tracking_switches)


def matches(gt: pd.DataFrame, predicted: pd.DataFrame) -> list[tuple[int, int, int, np.ndarray]]:
    """(frame, true id, tracker id, true box) of every match, frame by frame (CLEAR)."""
    people = gt[gt.cls == 1]
    by_frame = {f: g for f, g in predicted.groupby("frame")}
    last: dict[int, int] = {}
    found = []
    for frame, truth in people.groupby("frame"):
        guess = by_frame.get(frame, predicted.iloc[:0])
        t_boxes = truth[["x1", "y1", "x2", "y2"]].to_numpy(float)  # (G, 4)
        iou = box_iou_matrix(t_boxes, guess[["x1", "y1", "x2", "y2"]].to_numpy(float))
        t_ids, p_ids = truth.id.to_numpy(int), guess.id.to_numpy(int)
        previous = np.array([last.get(g, -1) for g in t_ids])
        kept = previous[:, None] == p_ids[None, :]  # (G, P) matched last time
        similarity = iou + KEEP_BONUS * (kept & (iou >= MATCH_IOU))
        cost = np.where(iou >= MATCH_IOU, KEEP_BONUS + 1 - similarity, 2 * KEEP_BONUS + 2)
        for i, j in linear_assignment(cost, cost_limit=2 * KEEP_BONUS + 1).matches:
            last[int(t_ids[i])] = int(p_ids[j])
            found.append((int(frame), int(t_ids[i]), int(p_ids[j]), t_boxes[i]))
    return found


def switches(found: list) -> list[tuple[int, int, int, int, int, np.ndarray]]:
    """(frame, true id, old id, new id, frame of the previous match, true box) per switch."""
    last: dict[int, tuple[int, int]] = {}
    out = []
    for frame, person, track, box in found:
        if person in last and last[person][1] != track:
            out.append((frame, person, last[person][1], track, last[person][0], box))
        last[person] = (frame, track)
    return out


def _switched(found: list, person: int, frame: int) -> bool:
    """Whether ``found`` (`switches`) holds a switch of ``person`` near ``frame``."""
    return any(s[1] == person and abs(s[0] - frame) <= PEER_WINDOW_FRAMES for s in found)


def side(box: np.ndarray) -> str:
    """The image border the box touches, or ``in``."""
    height, width = CLIP_SIZE
    if box[1] <= EDGE_MARGIN_PX:
        return "top"
    if box[3] >= height - EDGE_MARGIN_PX:
        return "bottom"
    if box[0] <= EDGE_MARGIN_PX:
        return "left"
    return "right" if box[2] >= width - EDGE_MARGIN_PX else "in"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(SEEDS), default="tune")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", help="only these of the split's seeds")
    parser.add_argument("--summary", action="store_true", help="one line per clip")
    add_verified_flag(parser)
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", help="track-stage settings of ours"
    )
    args = parser.parse_args(argv)
    params = settings(args.set)
    for clip in clips_of(args.split, False, only=args.seeds):
        if clip.fps != args.fps:
            continue
        frames = detections(clip, DEFAULT_MODEL, args.verified)
        gt = read_mot(write_ground_truth(clip))
        run_ours(frames, clip.folder / "ours.txt", params)
        for peer in PEERS:
            if not (clip.folder / f"{peer}.txt").is_file():
                run_peer(peer, frames, clip.folder / f"{peer}.txt", clip.fps)
        found = matches(gt, read_mot(clip.folder / "ours.txt"))
        ours = switches(found)
        theirs = {p: switches(matches(gt, read_mot(clip.folder / f"{p}.txt"))) for p in PEERS}
        counts = ", ".join(f"{p} {len(s)}" for p, s in theirs.items())
        print(f"{clip.name}: ours {len(ours)}, {counts}")
        if args.summary:
            continue
        owners: dict[int, list[tuple[int, int]]] = {}  # tracker id -> (frame, true id)
        for frame, person, track, _ in found:
            owners.setdefault(track, []).append((frame, person))
        for frame, person, old, new, before, box in ours:
            earlier = [p for f, p in owners[new] if f < frame]
            later = [p for f, p in owners[old] if f >= frame]
            taken = f"stolen-from-{earlier[-1]}" if earlier else "new-id"
            went = f"old-goes-to-{later[0]}" if later else "old-dies"
            peers = " ".join(
                f"{p}:{'Y' if _switched(theirs[p], person, frame) else '-'}" for p in PEERS
            )
            size = f"h{box[3] - box[1]:.0f} w{box[2] - box[0]:.0f}"
            print(
                f"  f{frame} person {person} {old}->{new} gap {frame - before} {taken:16s} "
                f"{went:16s} {side(box):6s} {size:10s} {peers}"
            )


if __name__ == "__main__":
    main()
