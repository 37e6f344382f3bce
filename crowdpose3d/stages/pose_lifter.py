"""The pose-lifter stage: each tracked person's 3D pose read again from its 2D joints and its
track's velocity by `crowdpose3d.geometry.pose_lifter.PoseLifter` (a departure from the
paper; docs/models.md, "The pose lifter").

It runs after the track stage, which gives each person's 3D root velocity (``data
["velocity"]``, m/s in camera axes; NaN for a new track), and after the lift stage, which
gives the camera (``facts.intrinsics``), the root and the person's size (``data["scale"]``).
It replaces ``kp3d_rel`` with the lifter's pose (the network's own 3D output is kept in
``data["kp3d_rel_head"]``) and sets ``kp3d = root + scale * kp3d_rel``; the root and the
size stay the lift's. Without a velocity (``use_motion: false``, or no track stage before
it) the lifter reads the 2D joints alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.pose_lifter import BUILTIN_LIFTER, PoseLifter
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.poses import Poses

BUILTIN = "builtin"  # the `weights` value for the shipped lifter
FALLBACK_FOV_DEG = 60.0  # horizontal field of view when no lift stage published a camera


class PoseLifterParams(StageParams):
    weights: str = BUILTIN  # "builtin" or the path of a lifter .npz (scripts/train_lifter.py)
    use_motion: bool = True  # read the track's velocity (the body faces the way it walks)


class PoseLifterStage(BaseStage):
    """Replaces ``poses.kp3d_rel`` and ``poses.kp3d`` with the lifter's pose."""

    Params = PoseLifterParams

    def __init__(self, params: PoseLifterParams) -> None:
        super().__init__(params)
        self.params: PoseLifterParams = params
        self._lifter: PoseLifter | None = None

    def open(self, context: StageContext) -> None:
        super().open(context)
        path = BUILTIN_LIFTER if self.params.weights == BUILTIN else self.params.weights
        try:
            self._lifter = PoseLifter.load(path)
        except ValueError as error:
            raise StageError(f"pose_lifter: {error}") from None

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.poses is not None and len(frame.poses):
                frame.poses = self.refine(frame.poses, frame.size)
            yield frame

    def refine(self, poses: Poses, size: tuple[int, int]) -> Poses:
        """The people of one frame with the lifter's poses (``size``: image (H, W))."""
        facts = self.context.facts
        if facts.skeleton not in (None, self._lifter.skeleton.name):
            raise StageError(
                f"pose_lifter: the model's skeleton is {facts.skeleton}, the lifter's "
                f"{self._lifter.skeleton.name}; remove the pose_lifter stage"
            )
        if facts.intrinsics:
            intrinsics = Intrinsics.from_dict(facts.intrinsics)
        else:
            intrinsics = Intrinsics.from_fov(size[1], size[0], FALLBACK_FOV_DEG)
        velocity = poses.data.get("velocity") if self.params.use_motion else None
        rel = self._lifter(poses.kp2d, intrinsics, velocity).astype(np.float32)  # (N, K, 3)
        scale = poses.data.get("scale")
        kp3d = poses.kp3d
        if scale is not None:
            kp3d = poses.root[:, None, :] + scale[:, None, None] * rel  # NaN where not lifted
        return Poses(
            boxes=poses.boxes,
            scores=poses.scores,
            kp2d=poses.kp2d,
            kp3d_rel=rel,
            kp3d=kp3d,
            root=poses.root,
            track_id=poses.track_id,
            data={**poses.data, "kp3d_rel_head": poses.kp3d_rel},
        )
