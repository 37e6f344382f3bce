"""`RunFacts`: what the stages of a run learn and publish for the later ones.

The source knows the stream (its id, fps, size), the model stage the skeleton and the model,
the lift stage the camera. Later stages read these (the lift needs the skeleton, the overlay
the fps) and sinks copy them into their outputs' metadata (the tracks dataset's metadata
keys: `crowdpose3d.tracks.schema.METADATA_KEYS`). A field is None until a stage sets it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RunFacts:
    """Facts about one run, set by the stage that knows each.

    Attributes:
        source_id, source, live, fps, width, height, total_frames: the source's stream
            (``fps`` of the frames it yields; ``total_frames`` for files only).
        model, skeleton, joint_names, model_input_size, device, backend, precision: the
            model stage's (``backend`` and ``precision`` as chosen, `engine.backends`).
        intrinsics, ground_plane, camera_height_m, camera_pitch_deg: the lift stage's
            camera (``intrinsics`` as `Intrinsics.to_dict` gives it).
        camera_roll_deg, camera_source, self_calibration: the lift's roll, where its
            camera came from ("given" or "auto") and, for ``camera: auto``, the estimate
            with its uncertainty (`crowdpose3d.stages.auto_camera.AutoCamera.facts`).
    """

    source_id: str | None = None
    source: str | None = None
    live: bool | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    total_frames: int | None = None
    model: str | None = None
    skeleton: str | None = None
    joint_names: list[str] | None = None
    model_input_size: list[int] | None = None
    device: str | None = None
    backend: str | None = None
    precision: str | None = None
    intrinsics: dict[str, Any] | None = None
    ground_plane: bool | None = None
    camera_height_m: float | None = None
    camera_pitch_deg: float | None = None
    camera_roll_deg: float | None = None
    camera_source: str | None = None
    self_calibration: dict[str, Any] | None = None

    def known(self) -> dict[str, Any]:
        """The facts that were set, by name (what a sink writes as metadata)."""
        return {key: value for key, value in asdict(self).items() if value is not None}
