"""Recall of a model by person height and by visible-joint share on JTA-layout test sets.

On every 4th test frame, a person counts as found when a detection (score >= 0.3) overlaps
their box by IoU >= 0.5. Recall is printed by box height (pixels) and by the share of the
person's joints that are visible; it shows where one held-out set is harder than another.

    python benchmarks/recall_by_size.py out/data/synth_heldout out/data/mesh_heldout
"""

from __future__ import annotations

import argparse

import numpy as np

from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

HEIGHTS = ((0, 20), (20, 40), (40, 80), (80, 10_000))
VISIBLE = ((0.0, 0.3), (0.3, 0.7), (0.7, 1.01))


def people_found(predictor, root: str, frame_step: int) -> np.ndarray:
    """(P, 3) rows of (box height px, visible share, found 0/1) over a test split."""
    from crowdpose3d.data.jta import JTADataset
    from crowdpose3d.tracking.association import box_iou_matrix

    dataset = JTADataset(root, split="test", frame_step=frame_step)
    rows = []
    for index in range(len(dataset)):
        sample = dataset[index]
        if len(sample.boxes) == 0:
            continue
        poses = predictor([sample.image])[0]
        found = np.zeros(len(sample.boxes), bool)
        if len(poses):
            iou = box_iou_matrix(sample.boxes.astype(float), poses.boxes.astype(float))
            found = (iou >= 0.5).any(axis=1)
        height = sample.boxes[:, 3] - sample.boxes[:, 1]
        visible = sample.visible.mean(axis=1)
        rows.append(np.stack((height, visible, found), axis=1))
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("roots", nargs="+", help="JTA-layout folders with a test split")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--frame-step", type=int, default=4)
    args = parser.parse_args()

    from crowdpose3d.engine.predictor import Predictor

    predictor = Predictor.from_spec(args.model, device="cpu", score_threshold=0.3)
    for root in args.roots:
        rows = people_found(predictor, root, args.frame_step)
        print(f"{root}: {len(rows)} people, recall {rows[:, 2].mean():.2f}")
        for column, bins, label in ((0, HEIGHTS, "height px"), (1, VISIBLE, "visible")):
            for low, high in bins:
                inside = (rows[:, column] >= low) & (rows[:, column] < high)
                recall = rows[inside, 2].mean() if inside.any() else float("nan")
                print(f"  {label} {low}-{high}: {int(inside.sum()):>4} people, recall {recall:.2f}")


if __name__ == "__main__":
    main()
