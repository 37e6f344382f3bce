"""The regions stage on hand-made frames: state per source, closing events on the last frame,
the overlay's drawing of image and ground regions, and the region plots."""

from __future__ import annotations

import numpy as np
import pytest

from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import StageContext, build_stage
from crowdpose3d.poses import Poses
from crowdpose3d.stages.overlay_regions import LINE_COLOUR, ZONE_COLOUR, draw_regions, to_pixels
from crowdpose3d.stages.regions import RegionsView
from crowdpose3d.tracks.events import FRAME_EVENTS_KEY, FRAME_REGIONS_KEY
from crowdpose3d.tracks.regions import Line, Zone


def person_at(source: str, index: int, feet_x: float, track_id: int = 1) -> Frame:
    """A frame with one tracked person whose box's bottom centre is (feet_x, 100)."""
    box = np.array([[feet_x - 10, 40, feet_x + 10, 100]], float)
    poses = Poses(
        boxes=box,
        scores=np.ones(1),
        kp2d=np.zeros((1, 2, 2)),
        kp3d_rel=np.zeros((1, 2, 3)),
        track_id=np.array([track_id]),
    )
    return Frame(source, index, index / 10, None, poses=poses)


def test_each_source_has_its_own_regions_and_state():
    stage = build_stage(
        "regions",
        {
            "lines": [{"name": "mid", "a": [50, 0], "b": [50, 200]}],
            "per_source": {
                "b": {
                    "zones": [{"name": "left", "polygon": [[0, 0], [50, 0], [50, 200], [0, 200]]}]
                }
            },
        },
    )
    stage.open(StageContext())
    frames = []
    for k in range(6):  # interleaved: source a walks right, source b walks left (same id)
        frames += [person_at("a", k, 20 + 12 * k), person_at("b", k, 80 - 12 * k)]
    out = list(stage(iter(frames)))
    assert [f.source_id for f in out] == [f.source_id for f in frames]  # all, in order
    events = [e for f in out for e in f.data.get(FRAME_EVENTS_KEY, [])]
    crossings = sorted((e.source, e.direction) for e in events if e.kind == "line_crossing")
    # A line drawn downwards: the viewer's left is +x, so walking right is right_to_left.
    assert crossings == [("a", "right_to_left"), ("b", "left_to_right")]
    assert {e.region for e in events if e.source == "a"} == {"mid"}  # no zone for a
    zone_kinds = [(e.kind, e.reason) for e in events if e.region == "left"]
    assert ("zone_enter", None) in zone_kinds and ("zone_leave", "end") in zone_kinds
    last = out[-1]
    assert any(e.reason == "end" for e in last.data[FRAME_EVENTS_KEY])  # closing events
    view = last.data[FRAME_REGIONS_KEY]
    assert view.crossings["mid"] == {"left_to_right": 1, "right_to_left": 0}
    assert view.occupancy == {"left": 1}


def test_the_overlay_draws_image_regions_and_projects_ground_ones():
    intrinsics = Intrinsics.from_fov(320, 240, 60)
    camera = Camera.looking_at_ground(intrinsics, 3.0, 30.0)
    ground_zone = Zone("g", ((-1, 6), (1, 6), (1, 8), (-1, 8)), space="ground")
    pixels = to_pixels(ground_zone.vertices, "ground", camera)
    world = np.c_[ground_zone.vertices, np.zeros(4)]
    assert pixels == pytest.approx(camera.project_world(world))
    assert to_pixels(ground_zone.vertices, "ground", None) is None  # no camera: not drawn
    view = RegionsView((Line("l", (20, 0), (20, 239)),), (ground_zone,), {"l": {}}, {"g": 2})
    image = np.zeros((240, 320, 3), np.uint8)
    draw_regions(image, view, camera)
    assert (image[120, 20] == LINE_COLOUR).all()
    centre = np.round(pixels.mean(axis=0)).astype(int)
    assert image[centre[1], centre[0]].tolist() == pytest.approx(
        [0.15 * c for c in ZONE_COLOUR], abs=1
    )  # the zone's light fill


def test_region_plots_write_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    import pandas as pd

    from crowdpose3d.tracks import region_plots

    occupancy = pd.DataFrame(
        {
            "source": ["a", "a"],
            "region": ["z", "z"],
            "interval_start_s": [0.0, 1.0],
            "interval_end_s": [1.0, 2.0],
            "mean_people": [1.0, 2.5],
        }
    )
    dwell = pd.DataFrame(
        {
            "source": ["a"] * 3,
            "region": ["z"] * 3,
            "track_id": [1, 2, 3],
            "dwell_s": [1.0, 2.0, 4.0],
        }
    )
    tracks = pd.DataFrame(
        {
            "source": ["a"] * 3,
            "frame": [0, 1, 2],
            "track_id": [1, 1, 1],
            "box_x1": [0.0, 5, 10],
            "box_y1": [0.0] * 3,
            "box_x2": [10.0, 15, 20],
            "box_y2": [30.0] * 3,
        }
    )
    axes = [
        region_plots.plot_occupancy(occupancy),
        region_plots.plot_dwell_histogram(dwell),
        region_plots.plot_trajectories_on_image(
            tracks, np.zeros((40, 40, 3), np.uint8), [Line("l", (20, 0), (20, 40))]
        ),
    ]
    assert len(axes[2].lines) == 2  # one track, one line
    assert axes[1].patches  # histogram bars
    for k, ax in enumerate(axes):
        ax.figure.savefig(tmp_path / f"{k}.png")
        assert (tmp_path / f"{k}.png").stat().st_size > 1000
