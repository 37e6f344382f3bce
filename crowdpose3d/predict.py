"""`Predictor`: RGB images of any size -> one `Poses` per image, in the images' own pixels.

Each image is letterboxed to the checkpoint's input size (the `ResizeToFit` convention:
resize keeping the aspect ratio, centre, pad with the ImageNet mean colour), the batch runs
through PandaNet under ``torch.inference_mode``, `PoseDecoder` turns the dense maps into
people, and boxes and 2D joints are mapped back with `Letterbox`. The 3D output stays
root-relative and bone-normalised (``Poses.kp3d_rel``, camera axes); metric ``kp3d`` /
``root`` are left NaN for the lift stage.

A checkpoint trained in the viewing-ray frame (metadata ``pose_frame: ray``,
`crowdpose3d.geometry.rays`) outputs each pose in the frame of the ray through its root
joint; the predictor turns it into camera axes with the intrinsics given for each image, or,
without them, those of a `DEFAULT_FOV_DEG` horizontal field of view (the lift stage's
default), and keeps the ray-frame pose in ``Poses.data["kp3d_ray"]`` so that the lift
stage can turn it again with the camera it knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.checkpoint import PandaNetCheckpoint, load_checkpoint
from crowdpose3d.core.decode import PoseDecoder
from crowdpose3d.data.transforms import DEFAULT_FILL, Letterbox, ResizeToFit
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.rays import POSE_FRAMES, pose_to_camera
from crowdpose3d.poses import Poses

__all__ = ["PRECISIONS", "Predictor", "letterbox_image", "resolve_device"]

# Autocast dtypes by name; "fp32" runs without autocast.
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
# Horizontal field of view assumed for a ray-frame model when no intrinsics are given (the
# lift stage's default, crowdpose3d/stages/lift.py).
DEFAULT_FOV_DEG = 60.0


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other name is passed to torch.

    Raises ValueError for an unknown name or a CUDA device on a machine without one.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return resolved


def letterbox_image(
    image: np.ndarray, fit: ResizeToFit, fill: tuple[int, int, int] = DEFAULT_FILL
) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 RGB -> ((fit.height, fit.width, 3) uint8, its `Letterbox`).

    The placement comes from `ResizeToFit.letterbox`; the resampling is that of
    `crowdpose3d.data.transforms.resize` (INTER_AREA when shrinking, else INTER_LINEAR), so
    an image placed here matches a `ResizeToFit` evaluation sample pixel for pixel.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    box = fit.letterbox(height, width)
    new_width, new_height = round(width * box.scale_x), round(height * box.scale_y)
    if (new_width, new_height) != (width, height):
        shrinking = box.scale_x * box.scale_y < 1.0
        image = cv2.resize(
            image,
            (new_width, new_height),
            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
        )
    placed = cv2.copyMakeBorder(
        image,
        box.pad_top,
        fit.height - new_height - box.pad_top,
        box.pad_left,
        fit.width - new_width - box.pad_left,
        cv2.BORDER_CONSTANT,
        value=tuple(int(c) for c in fill),
    )
    return placed, box


class Predictor:
    """Runs a loaded PandaNet checkpoint on lists of images.

    Args:
        checkpoint: from `load_checkpoint` (its model is moved to ``device``).
        device: "auto", "cpu", "cuda" or a torch device.
        score_threshold, nms_iou_threshold, max_detections: see `PoseDecoder`.
        batch_size: images per forward pass.
        precision: "fp32", or "fp16" / "bf16" autocast (CUDA only).

    Calling it with a list of (H, W, 3) uint8 RGB images (sizes may differ) returns one
    `Poses` per image, boxes and 2D joints in that image's pixels (boxes clipped to it).
    """

    def __init__(
        self,
        checkpoint: PandaNetCheckpoint,
        device: str | torch.device = "auto",
        score_threshold: float = 0.3,
        nms_iou_threshold: float = 0.5,
        max_detections: int = 200,
        batch_size: int = 8,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {sorted(PRECISIONS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        if precision != "fp32" and self.device.type != "cuda":
            raise ValueError(f"precision {precision!r} needs a CUDA device; use fp32 on CPU")
        self.checkpoint = checkpoint
        self.model = checkpoint.model.eval().to(self.device)
        self.skeleton = checkpoint.skeleton
        self.input_size = checkpoint.input_size  # (H, W)
        self.fit = ResizeToFit(*self.input_size)
        self.decoder = PoseDecoder(
            score_threshold=score_threshold,
            nms_iou_threshold=nms_iou_threshold,
            max_detections=max_detections,
        )
        self.batch_size = batch_size
        self.precision = precision
        self.pose_frame = str(checkpoint.metadata.get("pose_frame", "camera"))
        if self.pose_frame not in POSE_FRAMES:
            raise ValueError(
                f"checkpoint {checkpoint.name} has pose_frame {self.pose_frame!r}; this "
                f"version knows {POSE_FRAMES}: upgrade crowdpose3d"
            )
        self._grids: dict[tuple[int, int], Tensor] = {}  # input (H, W) -> (h, w, A, 4)

    @classmethod
    def from_spec(
        cls, spec: str | Path, device: str | torch.device = "auto", **kwargs
    ) -> Predictor:
        """A predictor for ``builtin:NAME`` or a checkpoint path (`CheckpointError` if bad)."""
        resolved = resolve_device(device)
        return cls(load_checkpoint(spec, device=resolved), device=resolved, **kwargs)

    @property
    def name(self) -> str:
        return self.checkpoint.name

    def anchors(self, height: int, width: int) -> Tensor:
        """The anchor grid (h, w, A, 4) for an input of ``height x width``, built once."""
        key = (height, width)
        if key not in self._grids:
            cells = self.model.output_size(height, width)
            self._grids[key] = anchor_grid(
                self.checkpoint.anchors.to(self.device), *cells, self.model.output_stride
            )
        return self._grids[key]

    def __call__(
        self,
        images: Sequence[np.ndarray],
        intrinsics: Sequence[Intrinsics | None] | None = None,
    ) -> list[Poses]:
        """One `Poses` per image; ``intrinsics`` (one per image, of the image as given)
        matter only for a ray-frame model (see the module docstring)."""
        results: list[Poses] = []
        for start in range(0, len(images), self.batch_size):
            results.extend(self._predict_batch(images[start : start + self.batch_size]))
        if self.pose_frame == "ray":
            cameras = list(intrinsics) if intrinsics is not None else [None] * len(images)
            if len(cameras) != len(images):
                raise ValueError(f"{len(images)} images but {len(cameras)} intrinsics")
            results = [
                self._to_camera_axes(poses, camera, image.shape[:2])
                for poses, camera, image in zip(results, cameras, images, strict=True)
            ]
        return results

    def _to_camera_axes(
        self, poses: Poses, intrinsics: Intrinsics | None, image_size: tuple[int, int]
    ) -> Poses:
        """A ray-frame model's poses in camera axes; the ray-frame ones in data["kp3d_ray"]."""
        if intrinsics is None:
            intrinsics = Intrinsics.from_fov(image_size[1], image_size[0], DEFAULT_FOV_DEG)
        rel = pose_to_camera(poses.kp3d_rel, poses.kp2d, self.skeleton.root, intrinsics)
        return Poses(
            boxes=poses.boxes,
            scores=poses.scores,
            kp2d=poses.kp2d,
            kp3d_rel=rel,
            data={**poses.data, "kp3d_ray": poses.kp3d_rel},
        )

    def _predict_batch(self, images: Sequence[np.ndarray]) -> list[Poses]:
        placed, boxes = zip(*(letterbox_image(image, self.fit) for image in images), strict=True)
        batch = torch.from_numpy(np.stack(placed)).to(self.device)  # (B, H, W, 3) uint8
        batch = batch.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W) in [0, 1]
        dtype = PRECISIONS[self.precision]
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=dtype)
            if dtype is not None
            else nullcontext()
        )
        with torch.inference_mode(), autocast:
            outputs = self.model(batch)
            detections = self.decoder(outputs, self.anchors(*self.input_size))
        return [
            _to_original(poses, box, image.shape[:2])
            for poses, box, image in zip(detections, boxes, images, strict=True)
        ]


def _to_original(poses: Poses, box: Letterbox, image_size: tuple[int, int]) -> Poses:
    """Network-input pixels -> the original image's pixels; boxes clipped to the image."""
    height, width = image_size
    boxes = box.boxes_to_original(poses.boxes)  # (N, 4)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return Poses(
        boxes=boxes,
        scores=poses.scores,
        kp2d=box.points_to_original(poses.kp2d),  # (N, K, 2)
        kp3d_rel=poses.kp3d_rel,
        data=poses.data,
    )
