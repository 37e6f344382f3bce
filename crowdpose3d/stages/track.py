"""The track stage: identities over time (`crowdpose3d.tracking.PoseTracker`): Kalman
filters on each person's image box and 3D root, Hungarian association on box overlap with
OC-SORT's heading consistency, pose change, the person's colours (a descriptor the stage
computes from the frame's pixels, `crowdpose3d.tracking.appearance`) and the 3D root where
depth is reliable, ByteTrack's second pass for low-score detections, OC-SORT's recovery and
re-update after occlusion, and a longer lost-track buffer for people hidden behind a nearer
one. Each parameter is explained in `PoseTracker`'s docstring. Then a track's missed frames
between two of its detections up to ``fill_gaps_s`` apart are filled in by interpolation,
each detected row is averaged with its track's rows ``smooth_tracks_s`` around it, and
(``backfill_tracks``) a track's detections from before it was output (while it was being
confirmed) are added once it is (`crowdpose3d.tracking.gap_fill`; frames leave the stage
that much later)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from pydantic import Field, model_validator

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.frame import STAGE_STATE, Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.poses import Poses
from crowdpose3d.tracking import KalmanFilterBox, PoseTracker
from crowdpose3d.tracking.appearance import APPEARANCE, appearance_descriptors
from crowdpose3d.tracking.gap_fill import GAP_FILLED, GapFiller
from crowdpose3d.tracking.tracker import TrackedFrame

# Gaps filled for a file (`crowdpose3d.tracking.gap_fill`): on the tracking tune clips 1 s
# gave most of what 2 and 3 s gave (docs/pipeline.md, "Gap filling"); a live stream fills
# none unless asked, so its rows are not held back.
DEFAULT_FILL_GAPS_S = 1.0
# The window over which a track's rows are averaged for a file (`GapFiller`'s smooth_s),
# chosen on the tracking tune clips (docs/pipeline.md, "Track smoothing").
DEFAULT_SMOOTH_TRACKS_S = 0.4


class TrackParams(StageParams):
    # Defaults chosen by benchmarks/tracking_peers.py across 5, 10 and 30 fps (tuning seeds;
    # docs/pipeline.md). Times are seconds, so the same values serve every frame rate.
    high_score_threshold: float = Field(0.6, ge=0, le=1)  # matched first, with every cue
    low_score_threshold: float = Field(0.1, ge=0, le=1)  # may only continue confirmed tracks
    new_track_score: float = Field(0.7, ge=0, le=1)  # least score to start a track
    min_hits_to_confirm: int = Field(2, ge=1)  # matches in a row before a track is output
    lost_track_buffer_s: float = Field(1.5, ge=0)  # how long a lost track can come back
    occluded_track_buffer_s: float = Field(3.0, ge=0)  # ... while a nearer person covers it
    min_iou: float = Field(0.35, ge=0, le=1)  # least IoU, predicted (or last seen) box vs det
    min_iou_low_score: float = Field(0.5, ge=0, le=1)  # least IoU for low-score detections
    position_uncertainty_buffer: float = Field(1.0, ge=0)  # predicted box widened, in stds
    fuse_score: bool = False  # first-pass cost 1 - IoU * score, as BoT-SORT
    direction_weight: float = Field(0.5, ge=0)  # OC-SORT's heading consistency (angle / pi)
    direction_lag_s: float = Field(0.3, ge=0)  # heading from the observation this long ago
    min_heading_motion: float = Field(0.1, ge=0)  # box heights moved for a heading to count
    unseen_cost_per_s: float = Field(0.5, ge=0)  # cost per second a track went unseen
    keypoint_weight: float = Field(0.2, ge=0)  # change of the 2D joints inside the box
    pose_weight: float = Field(0.0, ge=0)  # change of the root-relative 3D pose
    root_weight: float = Field(0.3, ge=0)  # 3D root distance / max_distance_m, reliable depth
    max_distance_m: float = Field(1.0, gt=0)  # 3D gate, where the depth is reliable
    reliable_depth_std_m: float = Field(0.3, ge=0)  # depth noise up to which depth is trusted
    occlusion_coverage: float = Field(0.5, ge=0, le=1)  # share of a box hidden = occluded
    scale_smoothing: float = Field(0.8, ge=0, lt=1)  # weight of the past in the body scale
    edge_aware: bool = False  # a box side cut by the image border keeps its predicted place
    cut_box_cue_weight: float = Field(0.5, ge=0)  # cues beyond IoU of a border-cut box, scaled
    appearance_weight: float = Field(1.0, ge=0)  # change of the clothes' colours (the frame's)
    appearance_scale: float = Field(0.1, gt=0)  # colour distance of a full appearance cost
    appearance_smoothing: float = Field(0.95, ge=0, lt=1)  # weight of the past in track colours
    min_track_confidence: float = Field(0.7, ge=0, le=1)  # output while score average >= this
    confidence_time_s: float = Field(3.0, gt=0)  # time constant of that score average
    restart_drifted_boxes: bool = True  # box filter restarted when its prediction drifted off
    # The box's Kalman model (`crowdpose3d.tracking.KalmanFilterBox`), in box heights:
    box_acceleration: float = Field(0.25, gt=0)  # process noise, heights per s^2
    box_measurement_noise: float = Field(0.05, gt=0)  # std of a detected box side, heights
    # Fill a track's missed frames between detections up to this far apart (s; 0: none;
    # None: DEFAULT_FILL_GAPS_S for files, 0 for live streams).
    fill_gaps_s: float | None = Field(None, ge=0)
    # Average each detected row's box, joints, root and ground position with its track's
    # rows this long around it (s; 0: none; None: DEFAULT_SMOOTH_TRACKS_S for files, 0 live).
    smooth_tracks_s: float | None = Field(None, ge=0)
    # Once a track is output, add its detections from before (while it was tentative or not
    # yet confident) to the frames still held for filling or smoothing (none when neither).
    backfill_tracks: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> TrackParams:
        if self.low_score_threshold > self.high_score_threshold:
            raise ValueError("low_score_threshold must not exceed high_score_threshold")
        return self


class TrackStage(BaseStage):
    """Sets ``poses.track_id`` and keeps only the people of confirmed tracks; adds
    ``root_filtered``, ``velocity`` (m/s), ``scale_smoothed`` and (gap filling on)
    ``gap_filled`` to ``poses.data``, and the filled rows to the frames they fill; with
    smoothing on, the detected rows' geometry is their track's local mean."""

    Params = TrackParams

    def __init__(self, params: TrackParams) -> None:
        super().__init__(params)
        self.params: TrackParams = params
        box_model = KalmanFilterBox(
            acceleration_heights_per_s2=params.box_acceleration,
            measurement_noise_per_height=params.box_measurement_noise,
        )
        tracker_params = params.model_dump(
            exclude={
                "box_acceleration",
                "box_measurement_noise",
                "fill_gaps_s",
                "smooth_tracks_s",
                "backfill_tracks",
            }
        )
        self.tracker = PoseTracker(**tracker_params, box_model=box_model)
        self.dropped_non_finite = 0  # people dropped for NaN / infinite model outputs
        self.filled = 0  # rows filled into tracks' gaps
        self.backfilled = 0  # tracks' detections from before they were output, added
        self._filler_state: dict | None = None  # the gap filler's, from an earlier run

    def counters(self) -> dict[str, int]:
        """Counts for the run's stage report."""
        return {
            "non_finite_dropped": self.dropped_non_finite,
            "gap_rows_filled": self.filled,
            "rows_backfilled": self.backfilled,
        }

    def open(self, context: StageContext) -> None:
        """Start fresh, or after ``--resume`` continue from the tracker state the plan holds
        (saved with the last complete Parquet part: the same tracks, ids and filters), or,
        when none was saved, with new ids above the largest one already written."""
        super().open(context)
        self.tracker.reset()
        plan = context.plan
        state = plan.stage_state.get(self.run_name)
        self._filler_state = state or None
        if state:
            try:
                self.tracker.load_state_dict(state)
            except (ValueError, KeyError) as error:
                raise StageError(f"cannot resume the tracks: {first_line(error)}") from None
        elif plan.resuming:
            fresh = self.tracker.state_dict()
            fresh["next_id"] = max(plan.resume_point.after_track_id, 0) + 1
            self.tracker.load_state_dict(fresh)

    def fill_gaps_s(self) -> float:
        """The gaps this run fills, in seconds (the parameter, or its default for the
        source: files `DEFAULT_FILL_GAPS_S`, live streams 0)."""
        if self.params.fill_gaps_s is not None:
            return self.params.fill_gaps_s
        return 0.0 if self.context.facts.live else DEFAULT_FILL_GAPS_S

    def smooth_tracks_s(self) -> float:
        """The window this run averages tracks over, in seconds (the parameter, or its
        default for the source: files `DEFAULT_SMOOTH_TRACKS_S`, live streams 0)."""
        if self.params.smooth_tracks_s is not None:
            return self.params.smooth_tracks_s
        return 0.0 if self.context.facts.live else DEFAULT_SMOOTH_TRACKS_S

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        gap, smooth = self.fill_gaps_s(), self.smooth_tracks_s()
        if gap <= 0 and smooth <= 0:
            yield from (frame for frame, _ in self._tracked(frames, unnamed=False))
            return
        filler = GapFiller(gap, smooth, backfill=self.params.backfill_tracks)
        if self._filler_state is not None:
            try:
                filler.load_state(self._filler_state)
            except (ValueError, KeyError) as error:
                raise StageError(f"cannot resume the gap filler: {first_line(error)}") from None
        for frame, tracked in self._tracked(frames, unnamed=self.params.backfill_tracks):
            if tracked is None:
                done = filler.push(frame)
            else:
                done = filler.push(frame, tracked.unnamed, tracked.named)
            # The resume state after this frame: the tracker's and the filler's.
            states = frame.data[STAGE_STATE]
            states[self.run_name] = _joined(states[self.run_name], filler.state())
            yield from self._counted(done)
            self.backfilled = filler.backfilled
        yield from self._counted(filler.flush())

    def _counted(self, frames: list[Frame]) -> list[Frame]:
        for frame in frames:
            if frame.poses is not None:
                self.filled += int(frame.poses.data[GAP_FILLED].sum())
        return frames

    def _tracked(
        self, frames: Iterator[Frame], unnamed: bool
    ) -> Iterator[tuple[Frame, TrackedFrame | None]]:
        """Each frame tracked (its people those of output tracks), with, when ``unnamed``,
        the tracker's `TrackedFrame` (None for a frame without poses, or without
        ``unnamed``)."""
        state = None  # the latest state_dict(): copies, never changed afterwards
        for frame in frames:
            tracked = None
            if frame.poses is not None:
                poses, dropped = finite_people(frame.poses)
                self.dropped_non_finite += dropped
                if self.params.appearance_weight > 0 and APPEARANCE not in poses.data:
                    if frame.image is not None:  # a benchmark's cache may bring them
                        poses.data[APPEARANCE] = appearance_descriptors(frame.image, poses.boxes)
                size = frame.size if frame.image is not None else None
                if unnamed:
                    tracked = self.tracker.track(poses, frame.pts_s, image_size=size)
                    frame.poses = tracked.people
                else:
                    frame.poses = self.tracker.update(poses, frame.pts_s, image_size=size)
                state = None
            # The state after this frame, for a sink to save with the part it ends (a frame
            # without poses leaves the tracker as it was: the previous copy serves).
            if state is None:
                state = self.tracker.state_dict()
            frame.data.setdefault(STAGE_STATE, {})[self.run_name] = state
            yield frame, tracked


def _joined(tracker_state: dict, filler_state: Callable[[], dict]) -> Callable[[], dict]:
    """One resume state of both, made when a sink saves it."""
    return lambda: {**tracker_state, **filler_state()}


def finite_people(poses: Poses) -> tuple[Poses, int]:
    """The people whose box and score are finite and whose outputs hold no infinity (NaN
    3D joints or root only mean "not lifted") -> (them, how many were dropped)."""
    keep = np.isfinite(poses.boxes).all(1) & np.isfinite(poses.scores)  # (N,)
    for values in (poses.kp2d, poses.kp3d_rel, poses.kp3d, poses.root):
        keep &= ~np.isinf(values.reshape(len(poses), -1 if len(poses) else 0)).any(1)
    dropped = int(len(poses) - keep.sum())
    return (poses[keep] if dropped else poses), dropped
