"""``camera: auto`` of the lift stage: the camera estimated from the stage's own detections.

The lift stage hands every frame's people to `AutoCamera.observe`; at ``auto_seconds`` the
first estimate is made (`crowdpose3d.geometry.self_calibration`), and again every
``auto_refine_seconds`` until ``auto_until_seconds`` (a static camera needs no more; the
calibrator keeps a bounded sample of the people seen so far). Each estimate replaces the
lift's camera, so later rows use the refined ground plane.

Observations are clustered for the uncertainty: by track id when the lift runs after the
track stage, else by ``GROUP_SECONDS`` of stream and a cell of ``GROUP_CELL_FRACTION`` of
the image width around the person's feet: an approximation of "one person" that splits a
walking person over a few cells and merges the people who pass one cell. On the tune clips
of `benchmarks/calibration.py`, before the model's own doubt was added to the sigma
(`crowdpose3d.geometry.self_calibration`), one-second groups gave errors of up to 12 sigma,
ten-second groups up to 7 sigma (`benchmarks/calibration_tuning.py groups` then; the rest
is the detector's bias, which no clustering shows and the added doubt now covers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from crowdpose3d.core.skeleton import Skeleton
from crowdpose3d.geometry.self_calibration import CameraEstimate, SelfCalibrator
from crowdpose3d.pipeline.frame import Frame

GROUP_CELL_FRACTION = 0.08  # feet within this share of the image width ...
GROUP_SECONDS = 10.0  # ... and within this much stream time: one group (untracked people)
FALLBACK_FPS = 30.0  # when the source does not know its frame rate


class AutoCamera:
    """Collects people and decides when to (re-)estimate the camera.

    size: (H, W) pixels; fps: the source's frame rate (None: `FALLBACK_FPS`); focal_px: a
    known focal length (the field of view is then not estimated); first_s, refine_s,
    until_s: the schedule above, in seconds of stream time from the first frame.
    """

    def __init__(
        self,
        skeleton: Skeleton,
        size: tuple[int, int],
        fps: float | None,
        focal_px: float | None,
        first_s: float,
        refine_s: float,
        until_s: float,
    ) -> None:
        height, width = size
        self.calibrator = SelfCalibrator(skeleton, width, height, focal_px=focal_px)
        self.fps = fps or FALLBACK_FPS
        self.first_s, self.refine_s, self.until_s = first_s, refine_s, until_s
        self.cell = max(GROUP_CELL_FRACTION * width, 1.0)
        self.start: float | None = None  # stream time of the first frame
        self.next_s = first_s  # seconds after the start of the next estimate
        self.estimate: CameraEstimate | None = None
        self.ready_frame: int | None = None  # the first frame lifted with an estimate
        self.attempts = 0

    @property
    def collecting(self) -> bool:
        return self.next_s <= self.until_s

    def observe(self, frame: Frame) -> None:
        """Add the frame's usable people (while the schedule still wants them)."""
        if self.start is None:
            self.start = frame.pts_s
        if frame.poses is None or not self.collecting:
            return
        poses = frame.poses
        tracked = np.asarray(poses.track_id) >= 0
        second = int(math.floor((frame.pts_s - self.start) / GROUP_SECONDS))
        feet = np.asarray(poses.kp2d, np.float64)[:, self.calibrator.feet].mean(axis=1)
        cells = np.nan_to_num(np.floor(feet / self.cell), nan=-1).astype(np.int64)  # (N, 2)
        # Untracked: (second, cell) packed into one negative int; tracked: the track id.
        packed = -(1 + second * 1_000_000 + (cells[:, 0] + 1) * 1000 + (cells[:, 1] + 1))
        groups = np.where(tracked, poses.track_id, packed)
        self.calibrator.add(poses, groups)

    def due(self, frame: Frame) -> bool:
        """True when the schedule asks for an estimate at this frame."""
        if self.start is None or not self.collecting:
            return False
        return frame.pts_s - self.start >= self.next_s - 0.5 / self.fps

    def update(self, frame_index: int, on_schedule: bool = True) -> CameraEstimate | None:
        """Estimate now; returns the new estimate (None when there are too few people yet)
        and, ``on_schedule``, moves the schedule on (an early estimate leaves it)."""
        self.attempts += 1
        if on_schedule:
            self.next_s += self.refine_s
        estimate = self.calibrator.estimate()
        if estimate is not None:
            self.estimate = estimate
            if self.ready_frame is None:
                self.ready_frame = frame_index
        return estimate

    def facts(self) -> dict:
        """The estimate, its uncertainty and when it was ready (the tracks' metadata)."""
        info: dict = {"ready": self.estimate is not None, "estimates": self.attempts}
        if self.estimate is not None:
            info.update(self.estimate.summary(), ready_frame=self.ready_frame)
        return info

    def state(self) -> Callable[[], dict[str, Any]]:
        """The schedule, the estimate and (while collecting) the calibrator's sample as they
        are now, for the resume state: a function that makes the arrays only when a sink
        saves them (`SelfCalibrator.state`)."""
        schedule = {
            "size": [self.calibrator.height, self.calibrator.width],
            "start": self.start,
            "next_s": self.next_s,
            "attempts": self.attempts,
            "ready_frame": self.ready_frame,
            "estimate": None if self.estimate is None else asdict(self.estimate),
        }
        sample = self.calibrator.state() if self.collecting else None

        def arrays() -> dict[str, Any]:
            return {"auto_camera": json.dumps(schedule), **(sample() if sample else {})}

        return arrays

    def load_state(self, state: dict[str, Any]) -> None:
        """Go on from a state that `state` made (ValueError when it is for another image
        size)."""
        schedule = json.loads(str(state["auto_camera"]))
        size = [self.calibrator.height, self.calibrator.width]
        if schedule["size"] != size:
            raise ValueError(f"the state is for {schedule['size']} images, these are {size}")
        self.start, self.next_s = schedule["start"], float(schedule["next_s"])
        self.attempts, self.ready_frame = int(schedule["attempts"]), schedule["ready_frame"]
        estimate = schedule["estimate"]
        self.estimate = None if estimate is None else CameraEstimate(**estimate)
        if "calibrator" in state:
            self.calibrator.load_state(state)
