"""`crowdpose3d calibrate`: the camera of a video from the people in its first seconds.

The source, model and lift stages of the default pipeline run on the first ``seconds`` of
the video with ``camera: auto`` (`crowdpose3d.stages.lift`); the estimate, with its
uncertainty, is a camera file that ``crowdpose3d track --camera`` and the lift stage's
``camera_file`` read (`crowdpose3d.geometry.self_calibration.CameraEstimate.to_dict`).
"""

from __future__ import annotations

import itertools
from typing import Any

from crowdpose3d.geometry.self_calibration import MIN_GROUPS, MIN_OBSERVATIONS, CameraEstimate
from crowdpose3d.pipeline.defaults import DEFAULT_DEVICE, DEFAULT_MODEL
from crowdpose3d.pipeline.stage import StageContext, StageError

DEFAULT_SECONDS = 10.0  # of video to calibrate on


class CalibrationError(ValueError):
    """No estimate (too few usable people, an unreadable video); one line for the user."""


def calibrate_video(
    source: str,
    seconds: float = DEFAULT_SECONDS,
    model: str = DEFAULT_MODEL,
    device: str = DEFAULT_DEVICE,
    fov_deg: float | None = None,
    backend: str = "auto",
    precision: str = "auto",
) -> tuple[CameraEstimate, dict[str, Any]]:
    """The camera estimate from the first ``seconds`` of ``source`` and the run's facts
    (fps, size, model). ``fov_deg``: a known horizontal field of view (kept fixed).
    Raises `CalibrationError` or `StageError` with a one-line message."""
    from crowdpose3d.stages.lift import LiftParams, LiftStage
    from crowdpose3d.stages.pandanet import PandaNetParams, PandaNetStage
    from crowdpose3d.stages.source import VideoSource, VideoSourceParams

    if not seconds > 0:
        raise CalibrationError(f"--seconds must be > 0, got {seconds}")
    if fov_deg is not None and not 0 < fov_deg < 180:
        raise CalibrationError(f"--fov must be in (0, 180) degrees, got {fov_deg}")
    context = StageContext()
    video = VideoSource(VideoSourceParams(uri=source))
    pandanet = PandaNetStage(
        PandaNetParams(model=model, device=device, backend=backend, precision=precision)
    )
    lift_options: dict[str, Any] = {
        "camera": "auto",
        "auto_seconds": seconds,
        "auto_until_seconds": seconds,
        "auto_hold": False,
    }
    if fov_deg is not None:
        lift_options["fov_deg"] = fov_deg
    lift = LiftStage(LiftParams(**lift_options))
    try:
        for stage in (video, pandanet, lift):
            stage.open(context)
        fps = context.facts.fps or 30.0
        frames = itertools.islice(video.frames(), max(1, int(round(seconds * fps))))
        for _ in lift(pandanet(frames)):
            pass
    finally:
        video.close()
    estimate = lift.estimate
    if estimate is None:
        auto = lift.auto_camera
        found = len(auto.calibrator) if auto is not None else 0
        raise CalibrationError(
            f"too few whole, upright people in the first {seconds:g} s of {source} "
            f"({found} usable person-frames; need {MIN_OBSERVATIONS} from {MIN_GROUPS} "
            "people or more): try a longer --seconds or a busier part of the video"
        )
    return estimate, context.facts.known()


__all__ = ["DEFAULT_SECONDS", "CalibrationError", "StageError", "calibrate_video"]
