"""Lines and zones (crowdpose3d.tracks.regions) on crafted tracks with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crowdpose3d.tracks import regions
from crowdpose3d.tracks.events import (
    EVENT_COLUMNS,
    LINE_CROSSING,
    ZONE_ENTER,
    ZONE_LEAVE,
    ZONE_OCCUPANCY,
    Event,
    events_table,
)
from crowdpose3d.tracks.regions import Line, RegionCounter, Zone


def run(
    counter: RegionCounter,
    samples: list[tuple[float, dict[int, tuple[float, float]]]],
    space: str = "ground",
) -> list[Event]:
    """Feed ``samples`` [(time_s, {track_id: (x, y)})] as frames 0, 1, ... then finish."""
    events = []
    for frame, (time_s, people) in enumerate(samples):
        ids = np.array(list(people), np.int64)
        xy = np.array(list(people.values()), float).reshape(-1, 2)
        events += counter.update(frame, time_s, ids, {space: xy})
    return events + counter.finish()


def test_a_person_hovering_on_a_line_is_counted_once_with_a_band():
    xs = [-2, -1, -0.1, 0.1, -0.1, 0.2, -0.2, 0.1, 1, 2]  # one sample per second
    samples = [(float(t), {7: (x, 0.0)}) for t, x in enumerate(xs)]
    line = Line("gate", (0, -5), (0, 5), space="ground", band=0.3)
    events = run(RegionCounter("cam", lines=[line]), samples)
    assert [(e.kind, e.track_id, e.direction) for e in events] == [
        (LINE_CROSSING, 7, "left_to_right")  # -x is the left of a line pointing +y
    ]
    # From the last sample clear of the band (x=-1, t=1) to the first (x=1, t=8): half way.
    assert events[0].time_s == pytest.approx(4.5)
    assert (events[0].x, events[0].y) == pytest.approx((0.0, 0.0))
    assert events[0].frame == 8
    without_band = run(
        RegionCounter("cam", lines=[Line("gate", (0, -5), (0, 5), "ground")]), samples
    )
    assert [e.direction for e in without_band] == [
        "left_to_right",
        "right_to_left",
        "left_to_right",
        "right_to_left",
        "left_to_right",
    ]


def test_image_lines_name_directions_as_the_viewer_sees_them():
    # A line drawn downwards on the screen: facing along it, the viewer's left is screen +x.
    line = Line("door", (100, 0), (100, 200), space="image")
    samples = [(0.1 * t, {1: (50 + 25 * t, 100.0), 2: (150 - 25 * t, 120.0)}) for t in range(5)]
    events = run(RegionCounter("cam", lines=[line]), samples, space="image")
    assert sorted((e.track_id, e.direction) for e in events) == [
        (1, "right_to_left"),
        (2, "left_to_right"),
    ]
    assert [e.time_s for e in events] == pytest.approx([0.2, 0.2])


def test_going_round_the_end_of_a_line_is_no_crossing():
    line = Line("short", (0, 0), (0, 1), space="ground")
    samples = [(float(t), {3: (x, 5.0)}) for t, x in enumerate([-1, 1])]
    assert run(RegionCounter("cam", lines=[line]), samples) == []


def test_zone_enter_leave_dwell_lost_tracks_and_occupancy():
    zone = Zone("square", ((0, 0), (4, 0), (4, 4), (0, 4)), space="ground")
    samples = []
    for k in range(17):  # 2 samples per second, t = 0 .. 8
        t = 0.5 * k
        people = {1: (-2.25 + t, 2.0)}  # walks through at 1 m/s
        if t <= 3.0:
            people[2] = (2.0, 1.0)  # stands inside, then is never seen again
        samples.append((t, people))
    counter = RegionCounter("cam", zones=[zone], interval_s=2.0, forget_after_s=2.0)
    events = run(counter, samples)
    moves = [
        (e.kind, e.track_id, e.time_s, e.dwell_s, e.reason)
        for e in events
        if e.kind != ZONE_OCCUPANCY
    ]
    assert moves == [
        (ZONE_ENTER, 2, 0.0, None, None),  # born inside: enters when first seen
        (ZONE_ENTER, 1, 2.5, None, None),  # first sample inside: x = 0.25
        (ZONE_LEAVE, 2, 3.0, 3.0, "lost"),  # unseen for > 2 s (noticed at t = 5.5)
        (ZONE_LEAVE, 1, 6.5, 4.0, "left"),  # first sample outside: x = 4.25
    ]
    occupancy = [
        (e.interval_start_s, e.time_s, e.frames, e.mean_people, e.max_people, e.people_per_m2)
        for e in events
        if e.kind == ZONE_OCCUPANCY
    ]
    np.testing.assert_allclose(
        occupancy,
        [
            (0.0, 2.0, 4, 1.0, 1, 1 / 16),  # B alone
            (2.0, 4.0, 4, 1.5, 2, 1.5 / 16),  # 1, 2, 2, 1
            (4.0, 6.0, 4, 1.0, 1, 1 / 16),  # A alone
            (6.0, 8.0, 4, 0.25, 1, 0.25 / 16),  # A inside at t = 6 only
            (8.0, 10.0, 1, 0.0, 0, 0.0),  # the last, partial interval, reported at the end
        ],
        atol=1e-12,
    )


def test_a_band_on_a_zone_edge_keeps_a_person_inside():
    zone = Zone("z", ((0, 0), (4, 0), (4, 4), (0, 4)), space="ground", band=0.5)
    xs = [2, 3.9, 4.2, 3.8, 4.3, 5]  # hovers about the right edge, then leaves
    events = run(
        RegionCounter("cam", zones=[zone]), [(float(t), {1: (x, 2)}) for t, x in enumerate(xs)]
    )
    kinds = [(e.kind, e.time_s) for e in events if e.kind != ZONE_OCCUPANCY]
    assert kinds == [(ZONE_ENTER, 0.0), (ZONE_LEAVE, 5.0)]
    assert [e.dwell_s for e in events if e.kind == ZONE_LEAVE] == [5.0]
    assert [e.reason for e in events if e.kind == ZONE_LEAVE] == ["left"]


def test_people_still_inside_at_the_end_leave_with_reason_end():
    zone = Zone("z", ((0, 0), (1, 0), (1, 1)), space="image")
    events = run(
        RegionCounter("cam", zones=[zone]),
        [(0.0, {5: (0.7, 0.2)}), (1.5, {5: (0.8, 0.1)})],
        space="image",
    )
    leave = [e for e in events if e.kind == ZONE_LEAVE]
    assert [(e.track_id, e.time_s, e.dwell_s, e.reason) for e in leave] == [(5, 1.5, 1.5, "end")]
    assert [e.people_per_m2 for e in events if e.kind == ZONE_OCCUPANCY] == [None]


def test_region_events_on_a_table_equal_the_live_counter():
    rng = np.random.default_rng(0)
    rows = []
    for frame in range(60):
        t = frame / 10
        for track in range(1, 4):
            x = -3 + track * 0.5 + 0.8 * t + rng.normal(0, 0.05)
            rows.append(
                dict(
                    source="cam",
                    frame=frame,
                    time_s=t,
                    track_id=track,
                    box_x1=0.0,
                    box_y1=0.0,
                    box_x2=0.0,
                    box_y2=0.0,
                    ground_x_m=x,
                    ground_y_m=float(track),
                )
            )
    tracks = pd.DataFrame(rows)
    line = Line("l", (0, 0), (0, 5), "ground", band=0.2)
    zone = Zone("z", ((-1, 0), (1, 0), (1, 5), (-1, 5)), "ground", band=0.1)
    offline = regions.region_events(tracks, [line], [zone], interval_s=1.0)
    counter = RegionCounter("cam", [line], [zone], interval_s=1.0)
    live = []
    for frame, table in tracks.groupby("frame"):
        xy = table[["ground_x_m", "ground_y_m"]].to_numpy()
        live += counter.update(
            frame, table["time_s"].iat[0], table["track_id"].to_numpy(), {"ground": xy}
        )
    live += counter.finish()
    expected = pd.DataFrame(events_table(live).to_pandas())
    assert list(offline.columns) == list(EVENT_COLUMNS)
    pd.testing.assert_frame_equal(offline.astype(expected.dtypes), expected)
    crossings = offline[offline["kind"] == LINE_CROSSING]
    assert crossings["direction"].tolist() == ["left_to_right"] * 3  # each walker once
    dwell = regions.dwell_per_person(offline)
    assert dwell["dwell_s"].tolist() == pytest.approx([2.5] * 3, abs=0.21)  # 2 m at 0.8 m/s


def test_bad_regions_are_refused_with_a_message():
    with pytest.raises(ValueError, match="two different points"):
        Line("l", (1, 1), (1, 1))
    with pytest.raises(ValueError, match="space must be one of"):
        Zone("z", ((0, 0), (1, 0), (1, 1)), space="world")
    with pytest.raises(ValueError, match="non-zero area"):
        Zone("z", ((0, 0), (1, 1), (2, 2)))
    with pytest.raises(ValueError, match="own name"):
        RegionCounter("cam", [Line("a", (0, 0), (1, 0))], [Zone("a", ((0, 0), (1, 0), (1, 1)))])
