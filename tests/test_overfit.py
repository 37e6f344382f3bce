"""The whole train/decode loop: a tiny PandaNet memorises a handful of labelled images.

Anchors by k-means on the boxes, matching and Pose-Aware labels, the automatically weighted
loss, the optimiser, then decoding with NMS must give back every person: boxes with IoU > 0.7,
2D joints within a few pixels, 3D joints close, and nobody extra.
"""

import time

import numpy as np
import pytest
import torch
from stick_figures import make_batch

from crowdpose3d.core.anchors import anchor_grid, kmeans_anchors
from crowdpose3d.core.boxes import pairwise_box_iou
from crowdpose3d.core.decode import PoseDecoder
from crowdpose3d.core.losses import PandaNetLoss
from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.targets import AnchorMatcher

HEIGHT, WIDTH = 128, 160
NUM_ANCHORS = 3
STEPS = 600


@pytest.mark.slow
def test_tiny_pandanet_memorises_and_decodes_a_few_images():
    torch.manual_seed(0)
    images, ground_truth = make_batch(seed=0, count=4, height=HEIGHT, width=WIDTH)
    box_sizes = torch.cat([gt.boxes[:, 2:] - gt.boxes[:, :2] for gt in ground_truth])
    anchor_sizes = torch.tensor(kmeans_anchors(box_sizes.numpy(), NUM_ANCHORS, seed=0))

    model = PandaNet(num_anchors=NUM_ANCHORS, num_joints=22, preset="tiny")
    grid = anchor_grid(anchor_sizes, *model.output_size(HEIGHT, WIDTH), model.output_stride)
    targets = AnchorMatcher()(grid, ground_truth)
    criterion = PandaNetLoss(NUM_ANCHORS, 22, weighting="task+anchor+joint", selection="pose")
    parameters = list(model.parameters()) + list(criterion.parameters())
    optimiser = torch.optim.Adam(parameters, lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=STEPS)

    started = time.perf_counter()
    model.train()
    first_loss = None
    for _ in range(STEPS):
        result = criterion(model(images), targets)
        optimiser.zero_grad()
        result.total.backward()
        optimiser.step()
        schedule.step()
        first_loss = first_loss if first_loss is not None else result.parts
    elapsed = time.perf_counter() - started
    print(
        f"{STEPS} steps in {elapsed:.1f} s; last parts",
        {k: float(v) for k, v in result.parts.items()},
    )
    for task in ("loc", "2d", "3d"):
        assert result.parts[task] < 0.2 * first_loss[task], task

    model.eval()
    with torch.inference_mode():
        detections = PoseDecoder(score_threshold=0.5)(model(images), grid)
    for poses, gt in zip(detections, ground_truth, strict=True):
        assert len(poses) == len(gt), "every person found once, nobody extra"
        iou = pairwise_box_iou(gt.boxes, torch.from_numpy(poses.boxes))  # (N, D)
        best = iou.argmax(dim=1)
        assert sorted(best.tolist()) == list(range(len(gt))), "one detection per person"
        assert (iou.max(dim=1).values > 0.7).all()
        kp2d_error = np.linalg.norm(poses.kp2d[best.numpy()] - gt.kp2d.numpy(), axis=-1)
        kp3d_error = np.linalg.norm(poses.kp3d_rel[best.numpy()] - gt.kp3d.numpy(), axis=-1)
        print(
            f"box IoU {iou.max(dim=1).values.min():.3f} (worst), 2D error "
            f"{kp2d_error.mean():.2f} px, 3D error {kp3d_error.mean():.4f}"
        )
        assert kp2d_error.mean() < 2.0, f"2D error {kp2d_error.mean():.2f} px"
        # Bone lengths sum to 1; the figures' bones sum to about 4.1 m, so 0.01 is about 4 cm.
        assert kp3d_error.mean() < 0.01, f"3D error {kp3d_error.mean():.4f}"
