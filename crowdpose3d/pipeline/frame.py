"""`Frame`: the one record that travels through a pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crowdpose3d.poses import Poses

# ``frame.data[STAGE_STATE]``: {stage name in the run: its resume state after this frame}
# (e.g. the track stage's `PoseTracker.state_dict`), or a function that makes it when called
# (a state costly to copy on every frame); the Parquet sink saves the state of the last
# frame of each part beside it, so ``--resume`` continues exactly (`pipeline.plan`).
STAGE_STATE = "stage_state"
# ``frame.data[STREAM_EVENTS]``: the stream's events just before this frame (a reconnection, a
# forward timestamp jump, a resolution change: `crowdpose3d.stages.source`), a list of dicts.
STREAM_EVENTS = "stream_events"


@dataclass
class Frame:
    """One decoded image and what the stages found in it.

    Attributes:
        source_id: names the video or camera the frame came from.
        index: 0-based frame number within the source (counts decoded frames; a live source
            keeps counting across reconnections).
        pts_s: presentation time in seconds from the stream's start (its own clock).
        image: (H, W, 3) uint8 RGB; sinks that do not draw may receive it already dropped.
        wall_time: UNIX time when a live source received the frame; None for files.
        poses: the people found, filled by the model stage; None before it.
        data: free per-frame extras (e.g. ``gap_before_s`` after a reconnection, the
            stages' resume state under `STAGE_STATE`).
    """

    source_id: str
    index: int
    pts_s: float
    image: np.ndarray | None
    wall_time: float | None = None
    poses: Poses | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the image in pixels."""
        if self.image is None:
            raise ValueError("this frame no longer holds its image")
        return self.image.shape[0], self.image.shape[1]
