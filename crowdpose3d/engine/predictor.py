"""`Predictor`: RGB images of any size -> one `Poses` per image, in the images' own pixels.

Each image is letterboxed to the checkpoint's input size (the `ResizeToFit` convention:
resize keeping the aspect ratio, centre, pad with the ImageNet mean colour) straight into
one uint8 batch, the batch runs through a backend (`crowdpose3d.engine.backends`: torch,
ONNX Runtime or OpenVINO, fp32 / bf16 / int8), which returns the best anchors of each image,
`PoseDecoder.decode_candidates` turns them into people, and boxes and 2D joints are mapped
back with `Letterbox`. The 3D output stays root-relative and bone-normalised
(``Poses.kp3d_rel``, camera axes); metric ``kp3d`` / ``root`` are left NaN for the lift
stage.

A checkpoint trained in the viewing-ray frame (metadata ``pose_frame: ray``,
`crowdpose3d.geometry.rays`) outputs each pose in the frame of the ray through its root
joint; the predictor turns it into camera axes with the intrinsics given for each image, or,
without them, those of a `DEFAULT_FOV_DEG` horizontal field of view (the lift stage's
default), and keeps the ray-frame pose in ``Poses.data["kp3d_ray"]`` so that the lift
stage can turn it again with the camera it knows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.checkpoint import PandaNetCheckpoint
from crowdpose3d.core.decode import PoseDecoder
from crowdpose3d.data.transforms import DEFAULT_FILL, Letterbox, ResizeToFit
from crowdpose3d.engine.backends import ExportedModel, choose, load_model, make_runner
from crowdpose3d.engine.verifier import VERIFIER_INPUT_SCORE, DetectionVerifier, load_verifier
from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.rays import POSE_FRAMES, pose_to_camera
from crowdpose3d.poses import Poses

__all__ = ["Predictor", "letterbox_image", "resolve_device"]

log = logging.getLogger("crowdpose3d.predict")
# Horizontal field of view assumed for a ray-frame model when no intrinsics are given (the
# lift stage's default, crowdpose3d/stages/lift.py).
DEFAULT_FOV_DEG = 60.0
# The steps of one batch, timed by the `Predictor`: letterbox into the uint8 batch, the
# backend's forward pass (with its top-k gather), decode of the candidates (+ NMS, mapping
# back to the image's pixels), the detection verifier's re-scoring (0 without one).
PREDICT_STEPS = ("letterbox", "forward", "decode", "verify")


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
    image: np.ndarray,
    fit: ResizeToFit,
    fill: tuple[int, int, int] = DEFAULT_FILL,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 RGB -> ((fit.height, fit.width, 3) uint8, its `Letterbox`).

    The placement comes from `ResizeToFit.letterbox`; the resampling is that of
    `crowdpose3d.data.transforms.resize` (INTER_AREA when shrinking, else INTER_LINEAR), so
    an image placed here matches a `ResizeToFit` evaluation sample pixel for pixel. With
    ``out`` ((fit.height, fit.width, 3) uint8, e.g. one slot of a batch) the image is
    resized straight into it and only the borders are filled: one write per pixel.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    box = fit.letterbox(height, width)
    new_width, new_height = round(width * box.scale_x), round(height * box.scale_y)
    if out is None:
        out = np.empty((fit.height, fit.width, 3), dtype=np.uint8)
    top, left = box.pad_top, box.pad_left
    colour = np.asarray(fill, dtype=np.uint8)
    out[:top] = colour  # the borders only; the image's area is written once below
    out[top + new_height :] = colour
    out[top : top + new_height, :left] = colour
    out[top : top + new_height, left + new_width :] = colour
    inside = out[top : top + new_height, left : left + new_width]  # (h, w, 3) view
    if (new_width, new_height) != (width, height):
        shrinking = box.scale_x * box.scale_y < 1.0
        cv2.resize(
            image,
            (new_width, new_height),
            dst=inside,
            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
        )
    else:
        inside[...] = image
    return out, box


class Predictor:
    """Runs a loaded PandaNet checkpoint on lists of images.

    Args:
        checkpoint: from `load_checkpoint` (its model is moved to ``device``).
        device: "auto", "cpu", "cuda" or a torch device.
        score_threshold, nms_iou_threshold, max_detections: see `PoseDecoder`.
        batch_size: images per forward pass.
        precision: "auto", "fp32", "bf16", "int8" or "fp16" (CUDA only).
        backend: "auto", "torch", "onnxruntime" or "openvino" (`engine.backends.choose`
            resolves "auto" and logs the choice).
        threads: the backend's CPU threads (default: every usable CPU).
        verifier: the detection verifier (`crowdpose3d.engine.verifier`) that re-scores
            every image's detections after decoding: ``"builtin"``, ``"none"`` / None, an
            ``.npz`` path or a loaded `DetectionVerifier`. Its score replaces the network's
            (kept in ``data["network_score"]``) and ``score_threshold`` applies to it too.

    ``checkpoint`` may also be an exported model (`engine.backends.load_model` of an
    ``.onnx`` / ``.xml`` file).

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
        backend: str = "torch",
        threads: int | None = None,
        verifier: DetectionVerifier | str | Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        exported = isinstance(checkpoint, ExportedModel)
        file_precision = checkpoint.precision if exported else None
        file_kind = checkpoint.kind if exported else None
        choice = choose(backend, precision, self.device, exported, file_precision, file_kind)
        if "auto" in (backend, precision):
            log.info(
                "pandanet: %s %s on %s (%s)",
                choice.backend,
                choice.precision,
                self.device,
                choice.reason,
            )
        self.checkpoint = checkpoint
        self.model = None if exported else checkpoint.model.eval().to(self.device)
        self.runner = make_runner(
            checkpoint, choice.backend, choice.precision, self.device, threads=threads
        )
        self.backend, self.precision = self.runner.backend, self.runner.precision
        self.skeleton = checkpoint.skeleton
        self.input_size = checkpoint.input_size  # (H, W)
        self.fit = ResizeToFit(*self.input_size)
        self.verifier = (
            verifier if isinstance(verifier, DetectionVerifier) else load_verifier(verifier)
        )
        self.score_threshold = score_threshold
        # With a verifier the network's detections are decoded down to the verifier's input
        # score, and score_threshold applies to the verifier's score.
        decode_threshold = (
            score_threshold if self.verifier is None else min(score_threshold, VERIFIER_INPUT_SCORE)
        )
        self.decoder = PoseDecoder(
            score_threshold=decode_threshold,
            nms_iou_threshold=nms_iou_threshold,
            max_detections=max_detections,
        )
        self.batch_size = batch_size
        self.pose_frame = str(checkpoint.metadata.get("pose_frame", "camera"))
        if self.pose_frame not in POSE_FRAMES:
            raise ValueError(
                f"checkpoint {checkpoint.name} has pose_frame {self.pose_frame!r}; this "
                f"version knows {POSE_FRAMES}: upgrade crowdpose3d"
            )
        self._grids: dict[tuple[int, int], Tensor] = {}  # input (H, W) -> (h, w, A, 4)
        # Wall seconds spent in each step of `_predict_batch`, and the images seen
        # (`step_ms_per_image`: the pandanet stage's per-step profile).
        self.step_seconds = dict.fromkeys(PREDICT_STEPS, 0.0)
        self.images_seen = 0

    @classmethod
    def from_spec(
        cls, spec: str | Path, device: str | torch.device = "auto", **kwargs
    ) -> Predictor:
        """A predictor for ``builtin:NAME``, a checkpoint path or an exported ``.onnx`` /
        ``.xml`` file (`CheckpointError` if bad)."""
        resolved = resolve_device(device)
        return cls(load_model(spec, device=resolved), device=resolved, **kwargs)

    @property
    def name(self) -> str:
        return self.checkpoint.name

    def anchors(self, height: int, width: int) -> Tensor:
        """The anchor grid (h, w, A, 4) for an input of ``height x width``, built once."""
        key = (height, width)
        if key not in self._grids:
            geometry = self.checkpoint if self.model is None else self.model  # exported or not
            cells = geometry.output_size(height, width)
            self._grids[key] = anchor_grid(
                self.checkpoint.anchors.to(self.device), *cells, geometry.output_stride
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

    def step_ms_per_image(self) -> dict[str, float]:
        """Mean wall milliseconds per image of each step (`PREDICT_STEPS`) so far."""
        count = max(self.images_seen, 1)
        return {step: 1000 * seconds / count for step, seconds in self.step_seconds.items()}

    def _predict_batch(self, images: Sequence[np.ndarray]) -> list[Poses]:
        height, width = self.input_size
        started = time.perf_counter()
        batch = np.empty((len(images), height, width, 3), dtype=np.uint8)  # (B, H, W, 3)
        pairs = zip(images, batch, strict=True)  # each image and its slot of the batch
        boxes = [letterbox_image(image, self.fit, out=slot)[1] for image, slot in pairs]
        letterboxed = time.perf_counter()
        candidates = self.runner(batch)  # the best anchors of each image (B, N, ...)
        forwarded = time.perf_counter()
        detections = self.decoder.decode_candidates(candidates, self.anchors(height, width))
        results = [
            _to_original(poses, box, image.shape[:2])
            for poses, box, image in zip(detections, boxes, images, strict=True)
        ]
        decoded = time.perf_counter()
        if self.verifier is not None:
            results = [
                self.verifier(image, poses, self.score_threshold)
                for image, poses in zip(images, results, strict=True)
            ]
        ended = time.perf_counter()
        spent = (
            letterboxed - started,
            forwarded - letterboxed,
            decoded - forwarded,
            ended - decoded,
        )
        for step, seconds in zip(PREDICT_STEPS, spent, strict=True):
            self.step_seconds[step] += seconds
        self.images_seen += len(images)
        return results


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
