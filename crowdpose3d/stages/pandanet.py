"""The model stage: batched PandaNet inference on the CPU or the GPU.

Each image is letterboxed to the model's input size (`crowdpose3d.engine.predictor`) and
the mapping is undone on the way out, so boxes and 2D joints are in the original image's
pixels and the camera intrinsics of the original image stay valid for the lift.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from crowdpose3d.engine.predictor import Predictor
from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams


class PandaNetParams(StageParams):
    model: str = DEFAULT_MODEL  # builtin:NAME, a checkpoint, or an exported .onnx/.xml
    device: str = "auto"  # auto (CUDA when available), cpu, cuda, cuda:N
    # auto: fp16 on CUDA, bf16 on a CPU with bf16 instructions, else fp32 (engine.backends)
    precision: Literal["auto", "fp32", "fp16", "bf16", "int8"] = "auto"
    # auto: the fastest installed (engine.backends.choose); the choice is logged
    backend: Literal["auto", "torch", "onnxruntime", "openvino"] = "auto"
    threads: int | None = Field(None, ge=1)  # the backend's CPU threads (None: all usable)
    # Frames per forward pass (live sources use 1). None: 4 on CUDA; 1 on a CPU, where a
    # bigger batch is no faster per frame and holds every image's dense head maps at once
    # (about 45 MB each at 512x320: the peak memory grows by that per image).
    batch_size: int | None = Field(None, ge=1)
    score_threshold: float = Field(0.1, ge=0, le=1)  # low: the tracker's second pass uses them
    nms_iou_threshold: float = Field(0.5, gt=0, le=1)
    max_detections: int = Field(200, ge=1)
    # Re-scores the detections inside this stage (crowdpose3d.engine.verifier): none,
    # builtin or an .npz path; its score replaces the network's and score_threshold applies
    # to it. The shipped pipelines use the `verify` stage instead (its own thread).
    verifier: str = "none"


class PandaNetStage(BaseStage):
    """Adds ``frame.poses`` (2D, bone-normalised 3D, scores) to every frame."""

    Params = PandaNetParams

    def __init__(self, params: PandaNetParams) -> None:
        super().__init__(params)
        self.params: PandaNetParams = params
        self.predictor: Predictor | None = None

    def open(self, context: StageContext) -> None:
        """Load the model now, so a wrong or corrupt model file fails before the run."""
        from crowdpose3d.core.checkpoint import CheckpointError
        from crowdpose3d.engine.backends import load_model
        from crowdpose3d.engine.predictor import resolve_device
        from crowdpose3d.engine.verifier import load_verifier

        super().open(context)
        try:
            device = resolve_device(self.params.device)
            checkpoint = load_model(self.params.model, device=device)
            verifier = load_verifier(self.params.verifier)
        except (CheckpointError, ValueError) as error:
            raise StageError(str(error)) from None
        except RuntimeError as error:  # e.g. cuda:3 on a one-GPU machine
            raise StageError(
                f"cannot use device {self.params.device!r}: {first_line(error)}"
            ) from None
        try:
            self.predictor = Predictor(
                checkpoint,
                device=device,
                score_threshold=self.params.score_threshold,
                nms_iou_threshold=self.params.nms_iou_threshold,
                max_detections=self.params.max_detections,
                batch_size=self.params.batch_size or (4 if device.type == "cuda" else 1),
                precision=self.params.precision,
                backend=self.params.backend,
                threads=self.params.threads,
                verifier=verifier,
            )
        except ValueError as error:  # CheckpointError too
            raise StageError(first_line(error)) from None
        facts = context.facts
        facts.model, facts.device = self.params.model, str(device)
        facts.backend, facts.precision = self.predictor.backend, self.predictor.precision
        facts.skeleton, facts.joint_names = (
            checkpoint.skeleton.name,
            list(checkpoint.skeleton.joints),
        )
        facts.model_input_size = list(checkpoint.input_size)

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        assert self.predictor is not None, "open() first"
        batch_size = 1 if self.context.facts.live else self.predictor.batch_size
        batch: list[Frame] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                yield from self._predict(batch)
                batch = []
        if batch:
            yield from self._predict(batch)

    def counters(self) -> dict[str, float]:
        """Wall ms per frame of the predictor's steps (letterbox, forward, decode), for the
        run report."""
        if self.predictor is None:
            return {}
        steps = self.predictor.step_ms_per_image()
        return {f"{step}_ms": round(ms, 2) for step, ms in steps.items()}

    def _predict(self, batch: list[Frame]) -> list[Frame]:
        assert self.predictor is not None, "open() first"
        for frame, poses in zip(batch, self.predictor([f.image for f in batch]), strict=True):
            frame.poses = poses
        return batch
