"""`Sample`: one labelled image, the record every dataset loader yields.

Whatever the dataset, a sample carries the image, the people's boxes, 2D joints in pixels,
3D joints in metres in the camera frame (x right, y down, z forward), per-joint validity and
visibility, person ids and the camera intrinsics, all on one skeleton. Transforms change the
image and keep the labels and the intrinsics consistent with it; `to_ground_truth` turns a
sample into the model's training targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from crowdpose3d.core.skeleton import Skeleton, map_joints, normalize_pose
from crowdpose3d.core.targets import GroundTruth
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.rays import POSE_FRAMES, camera_to_ray, ray_rotation


@dataclass
class Sample:
    """One labelled image with N people on ``skeleton`` (K joints).

    Attributes:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32 xyxy pixels.
        kp2d: (N, K, 2) float32 joints in pixels.
        kp3d: (N, K, 3) float32 joints in metres, camera frame.
        kp2d_valid: (N, K) bool, the 2D position is labelled.
        kp3d_valid: (N, K) bool, the 3D position is labelled (all False for 2D-only data).
        visible: (N, K) bool, labelled and not occluded (by others or by the body itself).
        person_ids: (N,) int64 identities, persistent across a sequence's frames.
        intrinsics: the camera of this image; ``intrinsics_known`` False when guessed.
        skeleton: the joint set of kp2d / kp3d.
        sequence: where it came from (e.g. ``jta/train/seq_3``); frame: its frame index.
    """

    image: np.ndarray
    boxes: np.ndarray
    kp2d: np.ndarray
    kp3d: np.ndarray
    kp2d_valid: np.ndarray
    kp3d_valid: np.ndarray
    visible: np.ndarray
    person_ids: np.ndarray
    intrinsics: Intrinsics
    skeleton: Skeleton
    intrinsics_known: bool = True
    sequence: str = ""
    frame: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, k = len(self.boxes), self.skeleton.num_joints
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(n, 4)
        self.kp2d = np.asarray(self.kp2d, dtype=np.float32).reshape(n, k, 2)
        self.kp3d = np.asarray(self.kp3d, dtype=np.float32).reshape(n, k, 3)
        self.kp2d_valid = np.asarray(self.kp2d_valid, dtype=bool).reshape(n, k)
        self.kp3d_valid = np.asarray(self.kp3d_valid, dtype=bool).reshape(n, k)
        self.visible = np.asarray(self.visible, dtype=bool).reshape(n, k)
        self.person_ids = np.asarray(self.person_ids, dtype=np.int64).reshape(n)
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"Sample.image must be (H, W, 3), got {self.image.shape}")
        if self.image.shape[:2] != (self.intrinsics.height, self.intrinsics.width):
            raise ValueError(
                f"image is {self.image.shape[1]}x{self.image.shape[0]} but the intrinsics "
                f"describe {self.intrinsics.width}x{self.intrinsics.height}"
            )

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, mask: np.ndarray) -> Sample:
        """The same image with only the people where ``mask`` (N,) is True."""
        return replace(
            self,
            boxes=self.boxes[mask],
            kp2d=self.kp2d[mask],
            kp3d=self.kp3d[mask],
            kp2d_valid=self.kp2d_valid[mask],
            kp3d_valid=self.kp3d_valid[mask],
            visible=self.visible[mask],
            person_ids=self.person_ids[mask],
        )

    def mapped_to(self, skeleton: Skeleton) -> Sample:
        """The labels on another skeleton; joints it lacks become invalid (and zero)."""
        if skeleton == self.skeleton:
            return self
        kp2d, valid2d = map_joints(self.kp2d, self.skeleton, skeleton, self.kp2d_valid)
        kp3d, valid3d = map_joints(self.kp3d, self.skeleton, skeleton, self.kp3d_valid)
        visible, _ = map_joints(self.visible[..., None], self.skeleton, skeleton, self.visible)
        return replace(
            self,
            kp2d=kp2d,
            kp3d=kp3d,
            kp2d_valid=valid2d,
            kp3d_valid=valid3d,
            visible=visible[..., 0].astype(bool) & valid2d,
            skeleton=skeleton,
        )

    def to_ground_truth(self, pose_frame: str = "camera") -> GroundTruth:
        """The model's targets: boxes, 2D joints and bone-normalised root-relative 3D joints.

        ``pose_frame`` ``camera`` keeps the 3D joints in camera axes (the paper); ``ray``
        turns each person's pose into its viewing-ray frame, the ray through its root joint
        under this sample's (transformed) intrinsics (`crowdpose3d.geometry.rays`), so the
        label follows a crop or a rescale of the image as the picture does.
        A person whose 3D scale cannot be computed (root invalid) gets no 3D supervision.
        """
        if pose_frame not in POSE_FRAMES:
            raise ValueError(f"unknown pose frame {pose_frame!r}; choose from {POSE_FRAMES}")
        kp3d = torch.from_numpy(self.kp3d)
        valid3d = torch.from_numpy(self.kp3d_valid)
        normalised, scale = normalize_pose(kp3d, self.skeleton, valid3d)
        valid3d = valid3d & (scale > 0)[:, None]
        if pose_frame == "ray" and len(self):
            root = self.kp3d[:, self.skeleton.root].astype(np.float64)  # (N, 3) metres
            in_front = root[:, 2] > 1e-6
            pixels = self.intrinsics.project(np.where(in_front[:, None], root, [0.0, 0.0, 1.0]))
            rotation = ray_rotation(pixels, self.intrinsics)  # (N, 3, 3)
            normalised = torch.from_numpy(
                camera_to_ray(normalised.numpy(), rotation).astype(np.float32)
            )
            valid3d = valid3d & torch.from_numpy(in_front)[:, None]
        return GroundTruth(
            boxes=torch.from_numpy(self.boxes),
            kp2d=torch.from_numpy(self.kp2d),
            kp3d=normalised.float(),
            kp2d_valid=torch.from_numpy(self.kp2d_valid),
            kp3d_valid=valid3d,
        )
