"""`track`: the default pipeline from Python, as `crowdpose3d track` runs it.

import crowdpose3d
report = crowdpose3d.track("street.mp4", "tracks/", camera={"fov_deg": 70})
tracks = crowdpose3d.read_tracks("tracks/")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from crowdpose3d.pipeline.config import PipelineConfig, validate_pipeline
from crowdpose3d.pipeline.defaults import DEFAULT_DEVICE, DEFAULT_MODEL, default_pipeline
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.runner import PipelineRunner, RunReport
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.stages.retention import RETENTION_KEYS


def track_pipeline(
    source: str | Path,
    output: str | Path,
    model: str = DEFAULT_MODEL,
    device: str = DEFAULT_DEVICE,
    camera: dict[str, Any] | None = None,
    overlay: str | Path | None = None,
    mot: str | Path | None = None,
    backend: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    parquet: dict[str, Any] | None = None,
    verifier: str | None = None,
) -> PipelineConfig:
    """The validated default pipeline for one source (`ConfigError`, one line, if an
    option is wrong).

    Args:
        model: ``builtin:NAME``, a checkpoint path, or an exported ``.onnx`` / ``.xml``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        camera: the lift stage's camera options: ``fov_deg``, or ``fx``/``fy``/``cx``/``cy``
            (pixels), or ``camera_file``; ``height_m`` and ``pitch_deg`` add a ground plane.
        overlay: also draw the tracks on this MP4; mot: also write MOTChallenge text here.
        backend, precision, threads: the pandanet stage's (`crowdpose3d.engine.backends`).
        parquet: options of the Parquet sink (``rows_per_part``, ``retain_bytes`` ...); its
            ``retain_*`` options bound the overlay's and the MOT sink's segments too.
        verifier: the verify stage's detection verifier (builtin, none or an .npz path;
            None: `crowdpose3d.pipeline.defaults.DEFAULT_VERIFIER`).
    """
    data = default_pipeline(
        str(source),
        str(output),
        model=model,
        device=device,
        camera=camera,
        overlay=None if overlay is None else str(overlay),
        mot=None if mot is None else str(mot),
        backend=backend,
        precision=precision,
        threads=threads,
        verifier=verifier,
    )
    data["sinks"][0].update(parquet or {})
    retention = {key: value for key, value in (parquet or {}).items() if key in RETENTION_KEYS}
    for sink in data["sinks"][1:]:
        if sink["type"] in ("overlay", "mot"):  # their segments keep the parts' retention
            sink.update(retention)
    return validate_pipeline(data, "crowdpose3d track")


def track(
    source: str | Path,
    output: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    on_frame: Callable[[Frame], None] | None = None,
    **options: Any,
) -> RunReport:
    """Detect, lift and track every person of ``source`` (a video file or a stream URL) and
    write the tracks dataset to the folder ``output`` -> the run's `RunReport`.

    Args:
        overwrite / resume: replace, or continue after, results already in ``output``.
        on_frame: called with every frame that reached the end of the pipeline.
        options: ``model``, ``device``, ``camera``, ``overlay``, ``mot`` (`track_pipeline`).

    Raises `ConfigError` or `StageError` (one line) before anything runs for a wrong
    option, a missing file or an existing output, and `PipelineError` when a stage fails.
    """
    if overwrite and resume:
        raise ValueError("overwrite and resume exclude each other; pick one")
    config = track_pipeline(source, output, **options)
    runner = PipelineRunner(config, StageContext(overwrite=overwrite, resume=resume))
    runner.open()
    return runner.run(on_frame=on_frame)
