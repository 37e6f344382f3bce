"""Occlusion flags of the joints, read from the renderer's label image.

After painting far to near, each pixel of the label image names the item that is visible
there. A joint whose pixel shows
- another person's part or a vehicle is `occluded`;
- a part of its own body that the joint does not lie in (`solids.JOINT_PARTS`) and whose
  centre is nearer to the camera than the joint by `self_margin` is `self_occluded`
  (e.g. the far shoulder behind the chest, a wrist behind the pelvis);
- its own part, or a part it lies in, is visible.
Joints outside the image or behind the camera get neither flag (they cannot be seen, and
JTA's flags are about what hides a joint inside the frame). The flags therefore agree with
the rendered image by construction; tests check them against an independent ray cast.
"""

from __future__ import annotations

import numpy as np

from crowdpose3d.data.synth.render import LabelTable
from crowdpose3d.data.synth.solids import JOINT_PARTS, NUM_PARTS

# (22, P) True where joint j lies in part p.
JOINT_IN_PART = np.zeros((len(JOINT_PARTS), NUM_PARTS), dtype=bool)
for _joint, _parts in enumerate(JOINT_PARTS):
    JOINT_IN_PART[_joint, list(_parts)] = True


def in_image(joints2d: np.ndarray, depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, K) True where a joint is in front of the camera and its pixel inside the image."""
    u, v = np.round(joints2d[..., 0]), np.round(joints2d[..., 1])
    return (depth > 0) & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)


def occlusion_flags(
    labels: np.ndarray,
    table: LabelTable,
    owner_index: np.ndarray,
    joints2d: np.ndarray,
    depth: np.ndarray,
    self_margin: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Flags of N people's joints.

    labels: (H, W) label image; table: what its labels are; owner_index: (N,) each person's
    index in the renderer's `owner` numbering; joints2d: (N, K, 2) pixels; depth: (N, K)
    camera z. Returns (occluded, self_occluded), both (N, K) bool.
    """
    height, width = labels.shape
    u, v = _pixels(joints2d, width, height)
    label = labels[v, u]  # (N, K)
    return _flags(
        table.owner[label],
        table.part[label],
        table.depth[label],
        in_image(joints2d, depth, width, height),
        owner_index,
        depth,
        self_margin,
    )


def buffer_occlusion_flags(
    owner: np.ndarray,
    part: np.ndarray,
    surface_depth: np.ndarray,
    owner_index: np.ndarray,
    joints2d: np.ndarray,
    depth: np.ndarray,
    self_margin: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Flags of N people's joints from per-pixel buffers (the mesh renderer's).

    owner, part: (H, W) person index (-1 background, -2 vehicle) and body part seen at each
    pixel; surface_depth: (H, W) camera z of that surface. The rule is the one above, with
    the visible surface's own depth instead of a part centre's.
    """
    height, width = owner.shape
    u, v = _pixels(joints2d, width, height)
    return _flags(
        owner[v, u],
        part[v, u],
        surface_depth[v, u],
        in_image(joints2d, depth, width, height),
        owner_index,
        depth,
        self_margin,
    )


def _pixels(joints2d: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.clip(np.round(joints2d[..., 0]), 0, width - 1).astype(np.int64)
    v = np.clip(np.round(joints2d[..., 1]), 0, height - 1).astype(np.int64)
    return u, v


def _flags(owner, part, surface_depth, visible, owner_index, depth, self_margin):
    """(occluded, self_occluded) from what each joint's pixel shows, all (N, K)."""
    mine = owner == owner_index[:, None]
    occluded = visible & ~mine & (owner != -1)
    joint = np.broadcast_to(np.arange(owner.shape[1]), owner.shape)
    lies_in = JOINT_IN_PART[joint, np.maximum(part, 0)]
    nearer = surface_depth < depth - self_margin
    self_occluded = visible & mine & ~lies_in & nearer
    return occluded, self_occluded
