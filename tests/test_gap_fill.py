"""Gap filling (`crowdpose3d.tracking.gap_fill`, the track stage's ``fill_gaps_s``): the
frames a track missed between two of its detections get interpolated rows, marked in the
tracks dataset's ``interpolated`` column, and a resumed run fills as an uninterrupted one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from test_resume import run, sorted_rows, write_images

from crowdpose3d.pipeline.frame import STAGE_STATE, Frame
from crowdpose3d.pipeline.plan import RunPlan
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.poses import Poses
from crowdpose3d.stages.parquet import load_states, save_states
from crowdpose3d.stages.track import TrackParams, TrackStage
from crowdpose3d.tracking.gap_fill import GAP_FILLED, GapFiller
from crowdpose3d.tracks import schema

FPS = 10.0


@dataclass
class Held:
    index: int
    pts_s: float
    poses: Poses | None


def person(x: float, track_id: int, score: float = 0.9, joints: int = 3) -> Poses:
    return Poses(
        boxes=[[x, 10.0, x + 20.0, 60.0]],
        scores=[score],
        kp2d=np.full((1, joints, 2), x),
        kp3d_rel=np.zeros((1, joints, 3)),
        root=[[x / 10, 0.0, 5.0]],
        track_id=[track_id],
        data={"ground_xy": np.array([[x / 10, 2.0]])},
    )


def pushed(filler: GapFiller, items: list[Held]) -> list[Held]:
    out = [done for item in items for done in filler.push(item)]
    return out + filler.flush()


def test_a_gap_is_filled_by_linear_interpolation_and_frames_keep_their_order():
    """Track 7 seen at frames 0 and 4 (x 0 and 40, scores 0.9 and 0.6), missed at 1-3; track
    8 seen at 0 only; frame 2 has nobody else, frame 3 has track 8's twin (another id)."""
    items = [Held(0, 0.0, Poses.concatenate([person(0, 7), person(100, 8)]))]
    items += [Held(1, 0.1, Poses.empty(3)), Held(2, 0.2, None), Held(3, 0.3, person(200, 9))]
    items += [Held(4, 0.4, person(40, 7, score=0.6))]
    out = pushed(GapFiller(max_gap_s=1.0), items)
    assert [item.index for item in out] == [0, 1, 2, 3, 4]
    for item, x in zip(out[1:4], (10.0, 20.0, 30.0), strict=True):
        rows = item.poses[item.poses.track_id == 7]
        assert len(rows) == 1 and rows.data[GAP_FILLED].all()
        np.testing.assert_allclose(rows.boxes, [[x, 10, x + 20, 60]], atol=1e-4)
        np.testing.assert_allclose(rows.kp2d, x, atol=1e-4)
        np.testing.assert_allclose(rows.root, [[x / 10, 0, 5]], atol=1e-5)
        np.testing.assert_allclose(rows.scores, [0.6])
    assert not out[0].poses.data[GAP_FILLED].any() and not out[4].poses.data[GAP_FILLED].any()
    assert sorted(out[3].poses.track_id) == [7, 9]  # track 9's row kept, 7's added
    np.testing.assert_allclose(out[3].poses[out[3].poses.track_id == 7].data["ground_xy"], [[3, 2]])
    assert 8 not in np.concatenate([item.poses.track_id for item in out[1:]])  # never seen again


def test_a_gap_longer_than_the_limit_stays_empty_and_frames_wait_that_long():
    items = [Held(i, i / FPS, person(i, 1) if i in (0, 12) else Poses.empty(3)) for i in range(13)]
    filler = GapFiller(max_gap_s=1.0)
    passed = [[done.index for done in filler.push(item)] for item in items]
    assert passed[9] == [] and passed[10] == [0]  # a frame leaves 1 s of stream later
    out = [done for left in passed for done in left] + [done.index for done in filler.flush()]
    assert out == list(range(13))
    assert not any(len(item.poses) for item in items[1:12])  # 1.2 s apart: not filled


def test_the_track_stage_fills_gaps_for_files_and_not_for_live_streams():
    """A person missed for 0.3 s keeps id 1 and has rows in the missed frames (filled) for a
    file; a live stream's track stage passes the frames on at once, unfilled."""
    seen = [i for i in range(20) if not 8 <= i < 11]
    results = {}
    for live in (False, True):
        stage = TrackStage(TrackParams(min_hits_to_confirm=1))
        context = StageContext()
        context.facts.live = live
        stage.open(context)
        frames = [
            Frame("s", i, i / FPS, None, poses=person(5.0 * i, -1) if i in seen else Poses.empty(3))
            for i in range(20)
        ]
        results[live] = (list(stage(iter(frames))), stage.counters()["gap_rows_filled"])
    (file_frames, filled), (live_frames, live_filled) = results[False], results[True]
    assert [f.index for f in file_frames] == list(range(20)) and filled == 3
    for frame in file_frames:
        assert list(frame.poses.track_id) == [1]
        assert frame.poses.data[GAP_FILLED].tolist() == [frame.index not in seen]
    assert live_filled == 0 and [len(f.poses) for f in live_frames[8:11]] == [0, 0, 0]


@pytest.mark.parametrize("kept_parts", [1, 2, 4])
def test_a_resumed_run_fills_and_smooths_as_an_uninterrupted_run(tmp_path, kept_parts):
    """Three shaken people, each missed 3 frames in every 7 (at different frames), parts of
    7 rows: cut after 1, 2 or 4 parts and resumed, the rows (interpolated and averaged ones
    included) equal the uninterrupted run's. Without the filler's saved rows a gap across
    the resume point would not be filled, nor a mean there take the rows before it."""
    folder = write_images(tmp_path / "images", 40)

    def config(output):
        return {
            "source": {"type": "images", "path": str(folder)},
            "stages": [
                {"type": "pipeline_helpers:FakePeople", "people": 3, "gap_every": 7,
                 "gap_frames": 3, "jitter_px": 2.0},
                {"type": "track", "min_hits_to_confirm": 2},
            ],
            "sinks": [{"type": "parquet", "path": str(output), "rows_per_part": 7}],
        }  # fmt: skip

    clean, cut = tmp_path / "clean", tmp_path / "cut"
    run(config(clean))
    expected = sorted_rows(clean)
    assert expected[schema.INTERPOLATED].sum() > 20
    for _, rows in expected.groupby(schema.TRACK_ID):  # no frame missing inside a track
        assert rows[schema.FRAME].diff().dropna().eq(1).all()
    run(config(cut))
    for part in sorted(cut.glob("part-*.parquet"))[kept_parts:]:
        part.unlink()
    run(config(cut), resume=True)
    pd.testing.assert_frame_equal(sorted_rows(cut), expected)


def test_smoothing_averages_a_tracks_detected_rows_around_each_and_leaves_filled_ones():
    """Track 1 shaken +-2 px at 10 fps (x 10, 14, 10, 14, 10, 14), a 0.2 s window (each row
    and its two neighbours): inner rows become the mean of three, the ends stay (a one-sided
    mean would pull the track inwards); a NaN root stays NaN and is left out of its
    neighbours' means; a filled row (track 2, missed at frame 2) stays the interpolation;
    frames leave 0.1 s later (the future a mean needs)."""
    xs = [10.0, 14.0, 10.0, 14.0, 10.0, 14.0]
    items = []
    for i, x in enumerate(xs):
        one = person(x, 1)
        if i == 1:
            one.root[:] = np.nan
        items.append(Held(i, i / FPS, one if i == 2 else Poses.concatenate([one, person(50, 2)])))
    filler = GapFiller(max_gap_s=1.0, smooth_s=0.2)
    out = pushed(filler, items)
    first = [item.poses[item.poses.track_id == 1] for item in out]
    expected = [10.0, 34 / 3, 38 / 3, 34 / 3, 38 / 3, 14.0]
    np.testing.assert_allclose([rows.boxes[0, 0] for rows in first], expected, atol=1e-5)
    np.testing.assert_allclose(first[2].root[0, 0], 1.2, atol=1e-6)  # frame 1's NaN left out
    assert np.isnan(first[1].root).all()  # its own NaN is not invented
    filled = out[2].poses[out[2].poses.track_id == 2]
    assert filled.data[GAP_FILLED].all() and filled.boxes[0, 0] == 50.0
    only_smoothing = GapFiller(max_gap_s=0.0, smooth_s=0.2)
    passed = [[done.index for done in only_smoothing.push(item)] for item in items]
    assert passed[:3] == [[], [0], [1]]  # each frame waits for the next one


def walkers(count: int, enter_at: dict[int, int], jitter: float = 0.0) -> list[Frame]:
    """``count`` frames at 10 fps of people walking right 5 px a frame, person ``p``
    (x from 200 p) in view from frame ``enter_at[p]``, shaken +-``jitter`` px."""
    frames = []
    for i in range(count):
        here = [
            person(200.0 * p + 5.0 * i + jitter * (-1) ** (i + p), -1)
            for p, start in enter_at.items()
            if i >= start
        ]
        poses = Poses.concatenate(here) if here else Poses.empty(3)
        frames.append(Frame("s", i, i / FPS, None, poses=poses))
    return frames


def track_stage(state: dict | None = None, live: bool = False, **params) -> TrackStage:
    stage = TrackStage(TrackParams(**params))
    stage.run_name = "stages[1]:track"
    context = StageContext(plan=RunPlan(stage_state={stage.run_name: state} if state else {}))
    context.facts.live = live
    stage.open(context)
    return stage


def test_a_tracks_first_detections_are_added_once_it_is_output():
    """Confirmed after 3 detections in a row, each person's first two have no row unless
    backfilled: with backfill (the default for files) every detection has one, with its
    track's id, as a detected row; without, or live, the first two are missing."""
    enter = {0: 0, 1: 10}
    stage = track_stage(min_hits_to_confirm=3)
    out = list(stage(iter(walkers(30, enter))))
    assert [len(f.poses) for f in out] == [1] * 10 + [2] * 20
    for frame in out:
        assert not frame.poses.data[GAP_FILLED].any()
        np.testing.assert_array_equal(frame.poses.boxes[:, 0] // 200, np.arange(len(frame.poses)))
        assert frame.poses.track_id.tolist() == [1, 2][: len(frame.poses)]
    assert stage.counters()["rows_backfilled"] == 4
    for stage in (track_stage(min_hits_to_confirm=3, backfill_tracks=False),
                  track_stage(min_hits_to_confirm=3, live=True)):  # fmt: skip
        out = list(stage(iter(walkers(30, enter))))
        assert [len(f.poses) for f in out][:14] == [0, 0] + [1] * 10 + [2, 2]
        assert stage.counters()["rows_backfilled"] == 0


@pytest.mark.parametrize("after_frame", [10, 11])  # person 1 tentative; just output
def test_a_resumed_run_backfills_and_smooths_as_an_uninterrupted_run(tmp_path, after_frame):
    """Person 1 enters at frame 10 and is output from frame 12 (3 hits); the run is cut
    after frame 10 or 11, its state through the Parquet sink's npz: every later row equals
    the uninterrupted run's, the means near the cut included (they take the backfilled
    rows before it). Without the waiting detections in the state they would differ."""
    enter = {0: 0, 1: 10}
    params = dict(min_hits_to_confirm=3, smooth_tracks_s=0.4)
    clean = list(track_stage(**params)(iter(walkers(30, enter, jitter=2.0))))
    saved = tmp_path / "state.npz"
    name = "stages[1]:track"
    save_states(saved, {name: clean[after_frame].data[STAGE_STATE][name]})
    state = load_states(saved)[name]
    assert any(key.startswith("fill_pending_") for key in state)

    def resumed(state):
        later = walkers(30, enter, jitter=2.0)[after_frame + 1 :]
        return list(track_stage(state, **params)(iter(later)))

    back = resumed(state)
    assert [f.index for f in back] == list(range(after_frame + 1, 30))
    for mine, whole in zip(back, clean[after_frame + 1 :], strict=True):
        np.testing.assert_array_equal(mine.poses.track_id, whole.poses.track_id)
        np.testing.assert_array_equal(mine.poses.boxes, whole.poses.boxes)
    forgetful = resumed({k: v for k, v in state.items() if "pending" not in k})
    assert any(
        not np.array_equal(mine.poses.boxes, whole.poses.boxes)
        for mine, whole in zip(forgetful, clean[after_frame + 1 :], strict=True)
    )
