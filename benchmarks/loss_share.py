"""How much of the backbone's gradient does each task give? The share of the 3D loss.

    python benchmarks/loss_share.py out/data/pvm_train
    python benchmarks/loss_share.py out/data/pvm_train --model out/runs/x/last.pt --batches 4

On training batches (the training transform, batch 8) of a model, each task's loss term
(classification, box, 2D, 3D) is back-propagated alone to the feature map that all heads
share and to the backbone's deepest output; the gradient norms are printed as shares of
their sum. The task weights are the equilibrium of the automatic weighting (eq. 11-15 with
lambda = exp(-s) and regulariser s: d/ds = 0 gives lambda_task = 1 / L_task), or all 1
(``fixed``), since an exported model keeps no loss weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.core.losses import TASKS, PandaNetLoss
from crowdpose3d.core.targets import AnchorMatcher
from crowdpose3d.data.dataset import PoseDataset, collate
from crowdpose3d.engine.trainer import TrainConfig, open_source, training_transform
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

BATCH_SIZE = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="training-like set (JTA layout, split train)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--pose-frame", default="camera", choices=("camera", "ray"))
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.model)
    model = checkpoint.model.float().train()
    skeleton = checkpoint.skeleton
    config = TrainConfig(output_dir="unused", data=[{"root": str(args.data)}])
    samples = open_source(config.data[0], skeleton)
    dataset = PoseDataset(
        samples,
        training_transform(config),
        skeleton,
        input_size=checkpoint.input_size,
        pose_frame=args.pose_frame,
    )
    criterion = PandaNetLoss(
        len(checkpoint.anchors), skeleton.num_joints, classification_balance="balanced+hard"
    )
    matcher = AnchorMatcher()
    grabbed = {}
    model.upsample.register_forward_hook(lambda m, i, o: grabbed.__setitem__("shared", o))
    model.backbone.register_forward_hook(lambda m, i, o: grabbed.__setitem__("c5", o[2]))
    rng = np.random.default_rng(0)
    shares = {w: {p: [] for p in ("shared", "c5")} for w in ("equilibrium", "fixed")}
    losses = []
    for _ in range(args.batches):
        picks = rng.choice(len(dataset), BATCH_SIZE, replace=False)
        images, truth, _ = collate([dataset[int(i)] for i in picks])
        outputs = model(images)
        height, width = outputs.scores.shape[1:3]
        grid = anchor_grid(checkpoint.anchors.float(), height, width, model.output_stride)
        result = criterion(outputs, matcher(grid, truth))
        terms = result.data_terms  # task -> data term (lambda = 1), with its gradient
        losses.append({task: float(terms[task]) for task in TASKS})
        grads = {
            task: torch.autograd.grad(
                terms[task], [grabbed["shared"], grabbed["c5"]], retain_graph=True
            )
            for task in TASKS
        }
        for weighting in shares:
            for p, place in enumerate(("shared", "c5")):
                norms = []
                for task in TASKS:
                    weight = 1.0 / float(terms[task]) if weighting == "equilibrium" else 1.0
                    norms.append(weight * float(grads[task][p].norm()))
                shares[weighting][place].append(np.array(norms) / sum(norms))
    print(f"{args.data}, {args.batches} batches of {BATCH_SIZE}, model {args.model}")
    mean_loss = {t: np.mean([row[t] for row in losses]) for t in TASKS}
    print("mean unweighted task losses: " + ", ".join(f"{t} {mean_loss[t]:.4g}" for t in TASKS))
    print(f"{'weights':>12} {'feature map':>22} " + " ".join(f"{t:>7}" for t in TASKS))
    for weighting, places in shares.items():
        for place, rows in places.items():
            name = {"shared": "shared map (stride 4)", "c5": "backbone stride 32"}[place]
            values = np.mean(rows, axis=0) * 100
            print(f"{weighting:>12} {name:>22} " + " ".join(f"{v:>6.1f}%" for v in values))


if __name__ == "__main__":
    main()
