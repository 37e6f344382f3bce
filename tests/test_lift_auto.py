"""The lift stage's ``camera: auto`` as the default pipeline runs it: a resumed run goes on
with the same camera (and refines it as an uninterrupted run would), and the frames held for
the first estimate take bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from test_self_calibration import HEIGHT, WIDTH, crafted_people

from crowdpose3d.geometry.camera import Intrinsics
from crowdpose3d.geometry.self_calibration import ground_camera
from crowdpose3d.pipeline.frame import STAGE_STATE, Frame
from crowdpose3d.pipeline.plan import RunPlan
from crowdpose3d.pipeline.stage import StageContext, StageError
from crowdpose3d.stages.lift import LiftParams, LiftStage
from crowdpose3d.stages.parquet import load_states, save_states

FPS = 10.0
NAME = "stages[1]:lift"


@pytest.fixture(scope="module")
def people():
    """4 s of 60 crafted people at 10 fps under a camera 7 m up, 25 degrees down."""
    camera = ground_camera(Intrinsics.from_fov(WIDTH, HEIGHT, 65), 7.0, 25.0)
    return [p for p, _ in crafted_people(camera, np.random.default_rng(5), 60, frames=40)]


def frames_of(people, first: int = 0, image_bytes: int = 3) -> list[Frame]:
    """Frames from ``first`` on; each image's memory is ``image_bytes`` x W x H (a view of
    one small array, so the test itself takes little)."""
    image = np.broadcast_to(np.zeros((1, 1, image_bytes), np.uint8), (HEIGHT, WIDTH, image_bytes))
    return [
        Frame("crafted", i, i / FPS, image, poses=people[i].take(np.arange(len(people[i]))))
        for i in range(first, len(people))
    ]


def lift_stage(state: dict | None = None, **params) -> LiftStage:
    context = StageContext(plan=RunPlan(stage_state={NAME: state} if state else {}))
    context.facts.fps, context.facts.skeleton, context.facts.live = FPS, "jta22", False
    settings = dict(auto_seconds=1.0, auto_refine_seconds=1.0, auto_until_seconds=3.0)
    stage = LiftStage(LiftParams(camera="auto", **{**settings, **params}))
    stage.run_name = NAME
    stage.open(context)
    return stage


@pytest.mark.parametrize("after_frame", [4, 15, 35])  # held, refining, refined for good
def test_a_resumed_auto_camera_lifts_every_later_row_as_an_uninterrupted_run(
    people, tmp_path, after_frame
):
    """The state saved with the part that ends at ``after_frame`` (through the Parquet
    sink's npz) restarts the stage; the rows after it equal the uninterrupted run's, up to
    the last digit, and so does the final estimate (old code: a resumed run estimated the
    camera afresh from the frames after the resume point)."""
    clean = list(lift_stage()(iter(frames_of(people))))
    saved = tmp_path / "state.npz"
    save_states(saved, {NAME: clean[after_frame].data[STAGE_STATE][NAME]})
    stage = lift_stage(load_states(saved)[NAME])
    resumed = list(stage(iter(frames_of(people, after_frame + 1))))
    assert [f.index for f in resumed] == list(range(after_frame + 1, len(people)))
    for back, whole in zip(resumed, clean[after_frame + 1 :], strict=True):
        np.testing.assert_array_equal(back.poses.kp3d, whole.poses.kp3d)
        np.testing.assert_array_equal(back.poses.data["ground_xy"], whole.poses.data["ground_xy"])
    assert np.isfinite(resumed[0].poses.data["ground_xy"]).all()
    fresh = lift_stage()
    list(fresh(iter(frames_of(people, after_frame + 1))))
    assert stage.estimate == lift_stage_estimate(people)
    assert fresh.estimate != stage.estimate  # what resuming without the state gave


def lift_stage_estimate(people):
    stage = lift_stage()
    list(stage(iter(frames_of(people))))
    return stage.estimate


def test_a_state_for_another_image_size_is_refused_in_one_line(people):
    clean = list(lift_stage()(iter(frames_of(people[:12]))))
    state = clean[-1].data[STAGE_STATE][NAME]()
    stage = lift_stage(state)
    small = [Frame("crafted", 12, 1.2, np.zeros((HEIGHT // 2, WIDTH // 2, 3), np.uint8))]
    with pytest.raises(StageError, match="cannot resume camera: auto.*--overwrite"):
        list(stage(iter(small)))


def test_held_frames_beyond_the_memory_bound_bring_the_first_estimate_early(people):
    """Images of 30 bytes a pixel (about 15.6 MB each) and a 100 MB bound: the first estimate
    comes when the 7th frame would pass it (not at 1 s = frame 10), every row has the
    ground plane, and the schedule's refinements stay at 1, 2 and 3 s."""
    stage = lift_stage(auto_hold_mb=100.0)
    out = list(stage(iter(frames_of(people, image_bytes=30))))
    assert all(np.isfinite(f.poses.data["ground_xy"]).all() for f in out)
    facts = stage.context.facts.self_calibration
    assert facts["ready_frame"] == 0
    assert facts["estimates"] == 4  # early at frame 6, then at 1, 2 and 3 s
    unbounded = lift_stage()
    list(unbounded(iter(frames_of(people, image_bytes=30))))
    assert unbounded.context.facts.self_calibration["estimates"] == 3


def test_too_few_people_for_an_estimate_is_said_once_and_rows_keep_no_ground_plane(people, caplog):
    """One person standing still (one group, where the estimate needs five) over 4 s: every
    estimate fails, the log says so once with what to do, and the rows have no ground
    plane."""
    few = [people[0].take(np.arange(1)) for _ in people]
    with caplog.at_level("INFO", logger="crowdpose3d.stages.lift"):
        out = list(lift_stage()(iter(frames_of(few))))
    assert len(out) == len(few) and all(np.isnan(f.poses.data["ground_xy"]).all() for f in out)
    told = [r for r in caplog.records if "too few people" in r.getMessage()]
    assert len(told) == 1 and "--camera-height" in told[0].getMessage()
