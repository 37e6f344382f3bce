"""Is the body's 3D pose in a model's features? A linear probe at three depths of PandaNet.

    python benchmarks/pose_probe.py out/data/pvm_train out/data/pvm_heldout
    python benchmarks/pose_probe.py TRAIN HELDOUT --model out/runs/x/last.pt

For every true person (root in the image, at least `MIN_BOX_HEIGHT_PX` tall) the features
at the output cell of its root pixel are read at three places: the fused pyramid (stride 8,
before the sub-pixel convolution), the map all heads share (stride 4) and the last hidden
layer of the 3D head (the 3D output is a 1x1 convolution of it). A ridge regression from
each to the normalised root-relative pose (camera axes) is fitted on TRAIN (split train)
and scored on HELDOUT (split test): limb and all-joint 3DPCK at 150 mm, ground-truth
scale, next to the model's own 3D output at the same cells (its best-IoU anchor) and the
training set's mean pose. A probe far above the head's own output means the information is
there and the 3D head does not use it; a probe at the mean line means the features lack it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.boxes import cxcywh_to_xyxy, pairwise_box_iou
from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.core.skeleton import normalize_pose
from crowdpose3d.data.transforms import ResizeToFit
from crowdpose3d.engine.evaluator import load_samples
from crowdpose3d.engine.predictor import letterbox_image
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

PCK_THRESHOLD_MM = 150.0
MIN_BOX_HEIGHT_PX = 16.0  # smaller people are a few cells; skipped
RIDGE = 1e-2  # ridge penalty relative to the mean feature variance
LIMB_GROUPS = ("shoulders", "elbows", "wrists", "knees", "ankles")
PLACES = ("pyramid (stride 8)", "shared map (stride 4)", "3D head hidden layer")


def collect(model, anchors, samples, skeleton, fit, frame_step: int):
    """Per person: features at each place, the model's own 3D output, truth and scale."""
    grabbed = {}
    hooks = [
        model.pyramid.register_forward_hook(lambda m, i, o: grabbed.__setitem__(0, o)),
        model.upsample.register_forward_hook(lambda m, i, o: grabbed.__setitem__(1, o)),
        model.kp3d_head.tower.register_forward_hook(lambda m, i, o: grabbed.__setitem__(2, o)),
    ]
    features = [[], [], []]
    own, truth, scales, valid = [], [], [], []
    try:
        for index in range(0, len(samples), frame_step):
            sample = samples[index].mapped_to(skeleton)
            placed, box = letterbox_image(sample.image, fit)
            image = torch.from_numpy(placed).permute(2, 0, 1)[None].float() / 255
            with torch.inference_mode():
                out = model(image)
            height, width = out.scores.shape[1:3]
            root_px = sample.intrinsics.project(sample.kp3d[:, skeleton.root])  # original px
            root_in = root_px * [box.scale_x, box.scale_y] + [box.pad_left, box.pad_top]
            tall = (sample.boxes[:, 3] - sample.boxes[:, 1]) * box.scale_y >= MIN_BOX_HEIGHT_PX
            pose, scale = normalize_pose(
                sample.kp3d.astype(np.float64), skeleton, sample.kp3d_valid
            )
            grid = anchor_grid(anchors, height, width, model.output_stride)  # (H, W, A, 4)
            boxes_in = sample.boxes * np.array([box.scale_x, box.scale_y] * 2) + np.array(
                [box.pad_left, box.pad_top] * 2
            )
            for i in np.flatnonzero(tall & (scale > 0)):
                u, v = root_in[i]
                col, row = int(u // model.output_stride), int(v // model.output_stride)
                if not (0 <= col < width and 0 <= row < height):
                    continue
                for place, stride in ((0, 8), (1, model.output_stride), (2, model.output_stride)):
                    fmap = grabbed[place]  # (1, C, H', W')
                    r = min(int(v // stride), fmap.shape[2] - 1)
                    c = min(int(u // stride), fmap.shape[3] - 1)
                    features[place].append(fmap[0, :, r, c].float().numpy())
                cell = cxcywh_to_xyxy(grid[row, col])  # (A, 4)
                iou = pairwise_box_iou(cell, torch.as_tensor(boxes_in[i : i + 1]).float())
                anchor = int(iou[:, 0].argmax())
                own.append(out.kp3d[0, row, col, anchor].float().numpy())
                truth.append(pose[i])
                scales.append(scale[i])
                valid.append(sample.kp3d_valid[i])
    finally:
        for hook in hooks:
            hook.remove()
    return (
        [np.array(f) for f in features],
        np.array(own),
        np.array(truth),
        np.array(scales),
        np.array(valid),
    )


def ridge(x: np.ndarray, y: np.ndarray):
    """Fit y (N, D) ~ x (N, C) with a bias -> predict function."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    z = np.concatenate([z, np.ones((len(z), 1))], axis=1)
    penalty = RIDGE * len(z) * np.eye(z.shape[1])
    penalty[-1, -1] = 0.0
    weights = np.linalg.solve(z.T @ z + penalty, z.T @ y)
    return lambda q: np.concatenate([(q - mean) / std, np.ones((len(q), 1))], axis=1) @ weights


def pck(pred: np.ndarray, truth: np.ndarray, scale: np.ndarray, valid, joints) -> float:
    error = np.linalg.norm(pred - truth, axis=-1) * scale[:, None] * 1000.0
    return 100.0 * float((error[:, joints] < PCK_THRESHOLD_MM)[valid[:, joints]].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("heldout", type=Path)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--frame-step", type=int, default=2)
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.model)
    model = checkpoint.model.float().eval()
    skeleton = checkpoint.skeleton
    fit = ResizeToFit(*checkpoint.input_size)
    anchors = checkpoint.anchors.float()
    train = collect(
        model, anchors, load_samples(args.train, "train"), skeleton, fit, args.frame_step
    )
    test = collect(model, anchors, load_samples(args.heldout, "test"), skeleton, fit, 1)
    k = skeleton.num_joints
    groups = dict(skeleton.groups)
    limbs = np.array(sorted(j for g in LIMB_GROUPS for j in groups[g]))
    every = np.arange(k)
    _, _, truth, scale, valid = test
    print(f"{len(train[2])} training people, {len(truth)} held-out people; model {args.model}")
    print(f"{'':34}{'limbs 3DPCK':>14}{'all 3DPCK':>14}")
    mean = np.repeat(train[2].reshape(len(train[2]), -1).mean(0)[None], len(truth), 0)
    rows = {"training mean pose": mean.reshape(-1, k, 3), "the model's 3D output": test[1]}
    for place, name in enumerate(PLACES):
        predict = ridge(train[0][place], train[2].reshape(len(train[2]), -1))
        rows[f"probe: {name}"] = predict(test[0][place]).reshape(-1, k, 3)
    for name, pred in rows.items():
        print(
            f"{name:34}{pck(pred, truth, scale, valid, limbs):>14.1f}"
            f"{pck(pred, truth, scale, valid, every):>14.1f}"
        )


if __name__ == "__main__":
    main()
