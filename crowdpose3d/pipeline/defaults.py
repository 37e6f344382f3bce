"""The default pipeline (video or stream -> PandaNet -> lift -> track -> Parquet) and the
default model's name, each written once.

The pipeline is the file ``pipelines/video_to_parquet.yaml`` (shipped inside the wheel as
``crowdpose3d/pipelines/``): `crowdpose3d track`, `crowdpose3d demo`, `crowdpose3d batch` and
`crowdpose3d.track` read it and add their options (camera, overlay, MOT) to what it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_MODEL = "builtin:crowd-small"  # the shipped model (crowdpose3d/weights/)
DEFAULT_DEVICE = "auto"  # CUDA when available, else the CPU
# The detection verifier that re-scores the model's detections (crowdpose3d.engine.verifier):
# "builtin" (crowdpose3d/weights/detection-verifier.npz), "none" or an .npz path.
DEFAULT_VERIFIER = "builtin"
# What ``${model}`` and ``${device}`` stand for in a pipeline file unless --set gives them.
DEFAULT_VARIABLES = {"model": DEFAULT_MODEL, "device": DEFAULT_DEVICE}
DEFAULT_PIPELINE_FILE = "video_to_parquet.yaml"
# Lift options that place the camera over the ground: given, the default pipeline's
# ``camera: auto`` gives way to them.
GIVEN_CAMERA_OPTIONS = {"camera_file", "height_m", "pitch_deg"}

_PACKAGE = Path(__file__).resolve().parent.parent
# An installed wheel holds the pipelines inside the package; a checkout at the top level.
_PIPELINE_FOLDERS = (_PACKAGE / "pipelines", _PACKAGE.parent / "pipelines")


def default_pipeline_path() -> Path:
    """The default pipeline file (FileNotFoundError if the installation lacks it)."""
    for folder in _PIPELINE_FOLDERS:
        if (folder / DEFAULT_PIPELINE_FILE).is_file():
            return folder / DEFAULT_PIPELINE_FILE
    raise FileNotFoundError(f"{DEFAULT_PIPELINE_FILE} is missing; reinstall crowdpose3d")


def default_pipeline(
    source: str,
    output: str,
    model: str = DEFAULT_MODEL,
    device: str = DEFAULT_DEVICE,
    camera: dict[str, Any] | None = None,
    overlay: str | None = None,
    mot: str | None = None,
    backend: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    verifier: str | None = None,
) -> dict[str, Any]:
    """The default pipeline for one source, as the mapping a pipeline file holds.

    ``camera`` holds the lift's camera options (``fov_deg``, or ``fx``/``fy``/``cx``/``cy``,
    or ``camera_file``; optional ``height_m`` and ``pitch_deg``; ``camera``: ``auto``, the
    file's default, or ``none``); ``backend``, ``precision``,
    ``threads`` go to the pandanet stage, ``verifier`` (None: the stage's
    `DEFAULT_VERIFIER`) to the verify stage; ``overlay`` and ``mot`` add those sinks after
    the Parquet one.
    """
    from crowdpose3d.pipeline.config import read_pipeline

    variables = {"input": source, "output": output, "model": model, "device": device}
    data = read_pipeline(default_pipeline_path(), variables)
    camera = camera or {}
    # The file's lift estimates the camera (camera: auto); a camera given in full (a file,
    # or height and pitch) replaces the estimate, a lens alone (fov_deg, fx) is kept by it.
    given = "camera" not in camera and bool(set(camera) & GIVEN_CAMERA_OPTIONS)
    for stage in data["stages"]:
        if stage["type"] == "lift":
            if given:
                stage.pop("camera", None)
            stage.update(camera)
        if stage["type"] == "pandanet":
            stage.update(backend=backend, precision=precision)
            if threads is not None:
                stage["threads"] = threads
        if stage["type"] == "verify" and verifier is not None:
            stage["verifier"] = verifier
    if overlay:
        data["sinks"].append({"type": "overlay", "path": overlay})
    if mot:
        data["sinks"].append({"type": "mot", "path": mot})
    return data


# Bounded disk for live runs (the Parquet sink applies these when a live source gives no
# retention of its own): a camera left running for weeks keeps its newest parts only.
LIVE_RETAIN_BYTES = 20 * 2**30  # at most 20 GiB of parts per output folder
LIVE_RETAIN_AGE_S = 30 * 24 * 3600.0  # and none older than 30 days
# The free-space guard of the Parquet sink: below this many free bytes on the output's disk
# no new part is written (the rows wait in memory, one warning line) until space returns.
MIN_FREE_BYTES = 256 * 2**20
# A live run's overlay is written as playable MP4 segments of this many seconds of video.
LIVE_OVERLAY_SEGMENT_S = 300.0
# A live run's MOT file is written as MOTChallenge segments of this many seconds of stream.
LIVE_MOT_SEGMENT_S = 300.0
