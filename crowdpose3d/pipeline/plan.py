"""The run plan: what a run does about the outputs of an earlier one, decided once.

The runner builds every stage, then asks the plan (`plan_run`) before any stage opens:
with ``--resume``, each stage that can tell where an earlier run stopped (a stage with a
``resume_point()`` method, e.g. the Parquet sink reading its complete parts) answers, and
the plan takes the earliest frame all of them hold and the largest track id any of them
wrote. Every stage then opens with the same `RunPlan` (``context.plan``):

- the source skips the frames up to ``resume_point.after_frame`` (a file) or numbers its
  frames after it (a live stream, which cannot be replayed);
- the track stage continues from the tracker state saved at that frame (same ids, same
  Kalman states: a resumed file run equals an uninterrupted one row for row), or, where no
  state was saved, numbers new tracks above ``resume_point.after_track_id``;
- each sink keeps or names its output from the same point.

So no stage decides for another and the order of the sinks in a pipeline file does not
matter. ``stage_state`` is the place for stages' own resume state (e.g. a tracker's
tracks), keyed by the stage's name in the run (``stages[2]:track``). Stages publish it on
each frame (``frame.data[STAGE_STATE]``, `crowdpose3d.pipeline.frame`), a sink that keeps
it (the Parquet sink, beside each complete part) answers ``saved_states(up_to_frame)``, and
the plan moves the resume point back to the newest frame whose state was saved, if the
earliest point of the sinks lies after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResumePoint:
    """Where an earlier run stopped.

    Attributes:
        after_frame: the last frame index it completed; the run goes on with the next one.
            -1: nothing was completed (a fresh run).
        after_track_id: the largest track id it wrote; new ids go above it. -1: none.
    """

    after_frame: int = -1
    after_track_id: int = -1

    @property
    def first_frame(self) -> int:
        """The first frame index the run processes."""
        return self.after_frame + 1


FRESH = ResumePoint()  # a run that starts at the beginning


@dataclass
class RunPlan:
    """What every stage of one run is told before it opens (see the module docstring).

    Attributes:
        resume_point: where the run starts; `FRESH` unless ``--resume`` found earlier
            results.
        stage_state: per-stage resume state by stage name (``"stages[2]:track"``); empty
            for a fresh run. Stages that can restore more than the resume point keep it here.
    """

    resume_point: ResumePoint = FRESH
    stage_state: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def resuming(self) -> bool:
        """True when the run continues after earlier results."""
        return self.resume_point != FRESH

    def state_of(self, stage_name: str) -> dict[str, Any]:
        """The resume state of one stage (an empty dict, kept, when it has none yet)."""
        return self.stage_state.setdefault(stage_name, {})


def plan_run(stages: Sequence[Any], resume: bool) -> RunPlan:
    """The plan for built (not yet opened) ``stages``: a fresh run, or with ``resume`` the
    earliest point that every stage holding results reports (`ResumePoint`), moved back to
    the newest frame at or before it whose stage states a sink saved (the first sink with
    a ``saved_states`` that finds some), with those states. A live source (``stages[0]``)
    cannot replay what it sent: its plan keeps everything and numbers after the latest
    frame any stage holds, with no saved state (the tracks of the earlier run are stale)."""
    if not resume:
        return RunPlan()
    points = []
    for stage in stages:
        report = getattr(stage, "resume_point", None)
        point = report() if callable(report) else None
        if point is not None:  # FRESH too: a stage whose earlier run kept nothing yet
            points.append(point)
    if not points or all(point == FRESH for point in points):
        return RunPlan()
    after_track_id = max(point.after_track_id for point in points)
    if stages and getattr(stages[0], "live", False):  # a live stream cannot be replayed:
        after_frame = max(point.after_frame for point in points)  # keep all, number after
        return RunPlan(ResumePoint(after_frame, after_track_id))
    after_frame = min(point.after_frame for point in points)
    if after_frame < 0:  # a stage holds nothing of the earlier run: start over, fresh
        return RunPlan()
    states: dict[str, dict[str, Any]] = {}
    for stage in stages:
        saved = getattr(stage, "saved_states", None)
        found = saved(after_frame) if callable(saved) else None
        if found is not None:  # (the frame they were saved after, {stage name: state})
            after_frame, states = found
            break
    return RunPlan(ResumePoint(after_frame, after_track_id), stage_state=states)
