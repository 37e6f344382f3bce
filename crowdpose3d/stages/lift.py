"""The lift stage: metric 3D poses in camera coordinates by reprojection fitting (paper
3.3.2), for all people of a frame at once (`crowdpose3d.geometry.lift.Lifter`).

The camera: a camera file (``Camera.to_dict`` JSON, as `crowdpose3d synth` writes in
``cameras/``: intrinsics plus pose, from which the height and pitch above the ground
follow), or ``fx, fy, cx, cy`` in the source's pixels, or a horizontal field of view when
the intrinsics are unknown. With ``height_m`` and ``pitch_deg`` (or a camera file) the ground
plane fixes each person's scale and adds ground-plane coordinates.

``camera: auto`` estimates the field of view, pitch, roll and height from the people the
stage sees (`crowdpose3d.stages.auto_camera`, `crowdpose3d.geometry.self_calibration`): the
first estimate after ``auto_seconds`` of stream, refined every ``auto_refine_seconds`` until
``auto_until_seconds``; given ``fx`` or ``fov_deg`` the field of view is kept. What the rows
before the first estimate carry depends on ``auto_hold`` (default: hold for files, not for
live streams): held, the frames wait in the stage (their images too: about
``auto_seconds x fps x H x W x 3`` bytes, at most ``auto_hold_mb``: reached, the first
estimate is made then) and are lifted with the first estimate, so every row has the ground
plane; not held, they are lifted at once with the fallback camera
(``fov_deg`` or ``fx``, no ground plane: ``ground_x_m`` / ``ground_y_m`` NaN, the scale from
the size prior), and the metadata's ``self_calibration.ready_frame`` says from which frame
on the rows use an estimate. Too few people by the end of the hold: the held frames are
lifted with the fallback and the stage keeps trying at each refinement. ``camera: none`` (or
no ``camera``) lifts with the options given.

Resume: with ``camera: auto`` the stage publishes its state on each frame (the schedule, the
estimate and, while still collecting, the calibrator's sample; `STAGE_STATE`), so a resumed
run lifts with the same camera and refines it as an uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from crowdpose3d.core.skeleton import get_skeleton
from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.geometry.lift import Lifter
from crowdpose3d.geometry.self_calibration import CameraEstimate
from crowdpose3d.pipeline.frame import STAGE_STATE, Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.poses import Poses
from crowdpose3d.stages.auto_camera import AutoCamera

log = logging.getLogger(__name__)

DEFAULT_SKELETON = "jta22"  # when no stage before names one (a model stage always does)
# People's size over the size prior that the gate keeps (`LiftParams.size_gate`). On the
# tracking tune clips (true cameras) the model's people are at 0.73-1.39 between the 0.1
# and 99.9 % percentiles (`benchmarks/size_gate.py`); the range leaves room for a camera
# known or estimated 10 % off, children and tall people (docs/pipeline.md, "The size gate").
DEFAULT_SIZE_GATE = (0.5, 1.6)
# camera: auto holds a file's frames until the first estimate (5 s by default): their images
# take about 5 x 30 x 1920 x 1080 x 3 = 0.9 GB for 1080p at 30 fps; beyond this the first
# estimate comes early (a 4K clip at 30 fps: after 1.4 s) rather than memory running out.
DEFAULT_AUTO_HOLD_MB = 1024.0


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
    roll_deg: float = Field(0.0, ge=-45, le=45)  # turn about the optical axis (with height_m)
    # auto: estimate the camera from the people seen; none (or absent): the options above
    camera: Literal["auto", "none"] | None = None
    auto_seconds: float = Field(5.0, gt=0)  # the first estimate after this much stream
    auto_refine_seconds: float = Field(5.0, gt=0)  # then again this often ...
    auto_until_seconds: float = Field(60.0, gt=0)  # ... until this much stream has passed
    auto_hold: bool | None = None  # hold frames until the first estimate (None: files only)
    auto_hold_mb: float = Field(DEFAULT_AUTO_HOLD_MB, gt=0)  # held images' memory at most
    # With a ground plane (given or auto), a detection whose size is outside this range
    # times the size prior (`Lifter`'s ``size_ratio``: what its joints and feet on the
    # ground ask for) is dropped: nobody is a lamp post, a window or a van. None keeps all.
    size_gate: tuple[float, float] | None = DEFAULT_SIZE_GATE

    @model_validator(mode="after")
    def _consistent(self) -> LiftParams:
        if (self.height_m is None) != (self.pitch_deg is None):
            raise ValueError("give both height_m and pitch_deg for a ground plane, or neither")
        if self.camera == "auto" and (self.camera_file or self.height_m is not None):
            raise ValueError(
                "camera: auto estimates the camera; drop camera_file, height_m and pitch_deg "
                "(or drop camera: auto to use them)"
            )
        if self.fx is not None and self.fy is None:
            self.fy = self.fx
        if self.size_gate is not None and not 0 <= self.size_gate[0] < 1 < self.size_gate[1]:
            low, high = self.size_gate
            raise ValueError(f"size_gate needs 0 <= low < 1 < high, got [{low}, {high}]")
        return self


class LiftStage(BaseStage):
    """Fills ``poses.kp3d`` and ``poses.root``; adds ``scale``, ``reprojection_error_px``,
    ``ground_xy`` and ``size_ratio`` to ``poses.data``; with a ground plane, drops the
    detections outside ``size_gate``."""

    Params = LiftParams

    def __init__(self, params: LiftParams) -> None:
        super().__init__(params)
        self.params: LiftParams = params
        self._camera: Camera | None = None
        self._lifter: Lifter | None = None
        self._size: tuple[int, int] | None = None
        self._auto: AutoCamera | None = None
        self._auto_size: tuple[int, int] | None = None
        self._estimate: CameraEstimate | None = None  # camera: auto's current estimate
        self._resume_state: dict | None = None  # camera: auto's state from an earlier run
        self._told_no_estimate = False  # the log line for "too few people" was written
        self.size_gate_dropped = 0  # detections the size gate dropped so far

    def open(self, context: StageContext) -> None:
        super().open(context)
        if self.params.camera_file:
            path = Path(self.params.camera_file)
            try:
                self._camera = Camera.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise StageError(f"cannot read the camera file {path}: {error}") from None
        if self.params.camera == "auto":
            self._resume_state = context.plan.stage_state.get(self.run_name) or None

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        if self.params.camera == "auto":
            yield from self._auto_frames(frames)
            return
        for frame in frames:
            yield self._lift(frame)

    def _lift(self, frame: Frame) -> Frame:
        if frame.poses is not None:
            frame.poses = self._gate(self._lifter_for(frame.size)(frame.poses))
        return frame

    def _gate(self, poses: Poses) -> Poses:
        kept = drop_by_size(poses, self.params.size_gate)
        self.size_gate_dropped += len(poses) - len(kept)
        return kept

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report."""
        return {"size_gate_dropped": self.size_gate_dropped}

    def close(self) -> None:
        if self.size_gate_dropped and self.params.size_gate is not None:
            low, high = self.params.size_gate
            log.info(
                "lift: size gate: dropped %d detections not %g-%g times a person's size on "
                "the ground", self.size_gate_dropped, low, high,
            )  # fmt: skip

    def _auto_frames(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """camera: auto (see the module docstring): observe, estimate on schedule, hold."""
        hold = self.params.auto_hold
        if hold is None:
            hold = not self.context.facts.live
        held: list[Frame] = []
        held_bytes, hold_bytes = 0, self.params.auto_hold_mb * 2**20
        after = 0  # the index after the last frame seen
        for frame in frames:
            after = frame.index + 1
            auto = self._auto_for(frame.size)
            hold = hold and auto.attempts == 0  # a resumed run may have estimated already
            auto.observe(frame)
            due, image_bytes = auto.due(frame), _image_bytes(frame)
            if due or (hold and held_bytes + image_bytes > hold_bytes):
                first = held[0].index if held else frame.index
                self._use(auto.update(first, on_schedule=due))
                hold = False  # held frames wait for the first estimate only
            # The state after this frame, for a sink to save with the part it ends.
            frame.data.setdefault(STAGE_STATE, {})[self.run_name] = auto.state()
            if hold:
                held.append(frame)
                held_bytes += image_bytes
                continue
            for waiting in held:
                yield self._lift(waiting)
            held = []
            yield self._lift(frame)
        if held or (self._auto is not None and self._auto.attempts == 0):
            # The stream ended before the first estimate was due: estimate from what there is
            # (no frame was lifted with it unless frames were held).
            assert self._auto is not None
            self._use(self._auto.update(held[0].index if held else after))
            for waiting in held:
                yield self._lift(waiting)

    @property
    def estimate(self) -> CameraEstimate | None:
        """camera: auto's current estimate (None before the first, or without auto)."""
        return self._estimate

    @property
    def auto_camera(self) -> AutoCamera | None:
        """camera: auto's collector (None before the first frame, or without auto)."""
        return self._auto

    def _auto_for(self, size: tuple[int, int]) -> AutoCamera:
        """The auto camera for images of ``size`` (H, W), made at the first frame."""
        if self._auto is None or size != self._auto_size:
            self._auto_size = size
            p = self.params
            focal = None
            if p.fx is not None:
                focal = p.fx
            elif "fov_deg" in p.model_fields_set:
                focal = Intrinsics.from_fov(size[1], size[0], p.fov_deg).fx
            self._auto = AutoCamera(
                get_skeleton(self.context.facts.skeleton or DEFAULT_SKELETON),
                size,
                self.context.facts.fps,
                focal,
                p.auto_seconds,
                p.auto_refine_seconds,
                p.auto_until_seconds,
            )
            self._estimate, self._lifter = None, None
            if self._resume_state is not None:
                try:
                    self._auto.load_state(self._resume_state)
                except (ValueError, KeyError, TypeError) as error:
                    raise StageError(
                        f"cannot resume camera: auto: {error}; rerun with --overwrite"
                    ) from None
                self._resume_state, self._estimate = None, self._auto.estimate
            self._publish_auto()
        return self._auto

    def _use(self, estimate: CameraEstimate | None) -> None:
        """Lift with ``estimate`` from now on (None: keep the current camera)."""
        if estimate is not None:
            self._estimate, self._lifter = estimate, None  # rebuilt at the next frame
            log.info("lift: camera: auto: %s", estimate.describe())
        elif self._estimate is None and not self._told_no_estimate:
            assert self._auto is not None
            self._told_no_estimate = True
            log.info(
                "lift: camera: auto: too few people for an estimate yet (%d usable "
                "person-frames): rows without a ground plane until there is one; for a scene "
                "with few people give the camera (--camera FILE, or --camera-height and "
                "--camera-pitch)", len(self._auto.calibrator),
            )  # fmt: skip
        self._publish_auto()

    def _publish_auto(self) -> None:
        assert self._auto is not None
        self.context.facts.camera_source = "auto"
        self.context.facts.self_calibration = self._auto.facts()

    def _lifter_for(self, size: tuple[int, int]) -> Lifter:
        """The lifter for images of ``size`` (H, W), built at the first frame."""
        if self._lifter is None or size != self._size:
            self._size = size
            intrinsics, height, pitch, roll = self._camera_for(size)
            skeleton = get_skeleton(self.context.facts.skeleton or DEFAULT_SKELETON)
            try:
                self._lifter = Lifter(
                    intrinsics,
                    skeleton,
                    size_prior=self.params.size_prior_m,
                    camera_height=height,
                    pitch_deg=pitch,
                    roll_deg=roll,
                )
            except ValueError as error:
                raise StageError(f"lift: {error}") from None
            facts = self.context.facts
            facts.intrinsics, facts.ground_plane = intrinsics.to_dict(), height is not None
            facts.camera_height_m, facts.camera_pitch_deg = height, pitch
            facts.camera_roll_deg = roll if height is not None else None
            if facts.camera_source is None:
                facts.camera_source = "given" if height is not None else None
            if height is None and self.params.camera != "auto":
                log.info(
                    "lift: no ground plane (no camera height and pitch): rows in camera "
                    "coordinates, no size gate; camera: auto (--camera auto) or a camera file "
                    "gives both"
                )
        return self._lifter

    def _camera_for(
        self, size: tuple[int, int]
    ) -> tuple[Intrinsics, float | None, float | None, float]:
        """Intrinsics, height (m), pitch and roll (deg) for images of ``size`` (H, W)."""
        height_px, width_px = size
        p = self.params
        camera = self._estimate.camera if self._estimate is not None else self._camera
        if camera is not None:
            known = camera.intrinsics
            intrinsics = known.scaled(width_px / known.width, height_px / known.height)
            return intrinsics, float(camera.centre[2]), camera.pitch_deg, camera.roll_deg
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
        return intrinsics, p.height_m, p.pitch_deg, p.roll_deg


def _image_bytes(frame: Frame) -> int:
    return 0 if frame.image is None else frame.image.nbytes


def drop_by_size(poses: Poses, size_gate: tuple[float, float] | None) -> Poses:
    """``poses`` without the people whose ``data["size_ratio"]`` (`Lifter`) is outside
    ``size_gate`` (low, high); a NaN ratio (no ground plane, not lifted) and a None gate
    drop nobody."""
    if size_gate is None or not len(poses) or "size_ratio" not in poses.data:
        return poses
    low, high = size_gate
    ratio = poses.data["size_ratio"]
    dropped = (ratio < low) | (ratio > high)  # False where NaN
    return poses.take(np.flatnonzero(~dropped)) if dropped.any() else poses
