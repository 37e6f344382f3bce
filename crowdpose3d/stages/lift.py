"""The lift stage: metric 3D poses in camera coordinates by reprojection fitting (paper
3.3.2), for all people of a frame at once (`crowdpose3d.geometry.lift.Lifter`).

The camera: a camera file (``Camera.to_dict`` JSON, as `crowdpose3d synth` writes in
``cameras/``: intrinsics plus pose, from which the height and pitch above the ground
follow), or ``fx, fy, cx, cy`` in the source's pixels, or a horizontal field of view when
the intrinsics are unknown. With ``height_m`` and ``pitch_deg`` (or a camera file) the ground
plane fixes each person's scale and adds ground-plane coordinates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from crowdpose3d.core.skeleton import get_skeleton
from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.geometry.lift import Lifter
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams

DEFAULT_SKELETON = "jta22"  # when no stage before names one (a model stage always does)


class LiftParams(StageParams):
    camera_file: str | None = None  # Camera JSON (intrinsics + rotation + translation)
    fov_deg: float = Field(60.0, gt=0, lt=180)  # used when no intrinsics are given
    fx: float | None = Field(None, gt=0)  # intrinsics in the source image's pixels
    fy: float | None = Field(None, gt=0)
    cx: float | None = None
    cy: float | None = None
    height_m: float | None = Field(None, gt=0)  # camera height above a flat ground
    pitch_deg: float | None = Field(None, ge=-90, le=90)  # optical axis below the horizon
    size_prior_m: float | None = Field(None, gt=0)  # typical bone-length sum (see lift.py)

    @model_validator(mode="after")
    def _consistent(self) -> LiftParams:
        if (self.height_m is None) != (self.pitch_deg is None):
            raise ValueError("give both height_m and pitch_deg for a ground plane, or neither")
        if self.fx is not None and self.fy is None:
            self.fy = self.fx
        return self


class LiftStage(BaseStage):
    """Fills ``poses.kp3d`` and ``poses.root``; adds ``scale``, ``reprojection_error_px`` and
    ``ground_xy`` to ``poses.data``."""

    Params = LiftParams

    def __init__(self, params: LiftParams) -> None:
        super().__init__(params)
        self.params: LiftParams = params
        self._camera: Camera | None = None
        self._lifter: Lifter | None = None
        self._size: tuple[int, int] | None = None

    def open(self, context: StageContext) -> None:
        super().open(context)
        if self.params.camera_file:
            path = Path(self.params.camera_file)
            try:
                self._camera = Camera.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise StageError(f"cannot read the camera file {path}: {error}") from None

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.poses is not None:
                frame.poses = self._lifter_for(frame.size)(frame.poses)
            yield frame

    def _lifter_for(self, size: tuple[int, int]) -> Lifter:
        """The lifter for images of ``size`` (H, W), built at the first frame."""
        if self._lifter is None or size != self._size:
            self._size = size
            intrinsics, height, pitch = self._camera_for(size)
            skeleton = get_skeleton(self.context.facts.skeleton or DEFAULT_SKELETON)
            try:
                self._lifter = Lifter(
                    intrinsics,
                    skeleton,
                    size_prior=self.params.size_prior_m,
                    camera_height=height,
                    pitch_deg=pitch,
                )
            except ValueError as error:
                raise StageError(f"lift: {error}") from None
            facts = self.context.facts
            facts.intrinsics, facts.ground_plane = intrinsics.to_dict(), height is not None
            facts.camera_height_m, facts.camera_pitch_deg = height, pitch
        return self._lifter

    def _camera_for(self, size: tuple[int, int]) -> tuple[Intrinsics, float | None, float | None]:
        height_px, width_px = size
        p = self.params
        if self._camera is not None:
            known = self._camera.intrinsics
            intrinsics = known.scaled(width_px / known.width, height_px / known.height)
            forward = self._camera.rotation[2]  # optical axis in world coordinates
            pitch = math.degrees(math.asin(float(np.clip(-forward[2], -1, 1))))
            return intrinsics, float(self._camera.centre[2]), pitch
        if p.fx is not None:
            intrinsics = Intrinsics(
                p.fx,
                p.fy or p.fx,
                width_px / 2 if p.cx is None else p.cx,
                height_px / 2 if p.cy is None else p.cy,
                width_px,
                height_px,
            )
        else:
            intrinsics = Intrinsics.from_fov(width_px, height_px, p.fov_deg)
        return intrinsics, p.height_m, p.pitch_deg
