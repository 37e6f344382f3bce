"""Lines and zones on a generated clip, live and offline, as pictures: counts over time, a
density heat map on the ground plane, a dwell histogram, trajectories over the first frame
and a frame of the overlay with the regions' live counts (the pictures of docs/analytics.md).

    python examples/analytics_pictures.py                       # -> out/examples/analytics/
    python examples/analytics_pictures.py --images docs/images  # also the docs' small PNGs

It generates a synthetic clip with a known camera (`crowdpose3d.demo.make_sample_clip`),
runs the default pipeline with the shipped model plus a ``regions`` stage and an ``events``
sink (the stage entries are in pipelines/regions_events.yaml), reads the tracks and events
back with pandas, and checks that the offline analysis of the tracks gives the live events.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from crowdpose3d import analysis
from crowdpose3d.demo import make_sample_clip
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.defaults import default_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.tracks import region_plots

FRAMES, FPS = 100, 10.0  # the clip: 10 s
INTERVAL_S = 1.0  # occupancy interval
# The regions: one image line across the middle of the 512 x 320 frame, two ground lines and
# a ground zone (metres, the lift's ground frame: x right, y forward from below the camera).
REGIONS = {
    "lines": [
        {"name": "middle", "a": [256, 0], "b": [256, 320], "space": "image", "band": 4},
        {"name": "x0", "a": [0, 0], "b": [0, 50], "space": "ground", "band": 0.3},
        {"name": "y20", "a": [-30, 20], "b": [30, 20], "space": "ground", "band": 0.3},
    ],
    "zones": [
        {
            "name": "plaza",
            "polygon": [[-6, 8], [6, 8], [6, 28], [-6, 28]],
            "space": "ground",
            "band": 0.2,
        },
    ],
}
DPI = 80  # small PNGs for the docs
OVERLAY_FRAME = 80  # the overlay frame shown (8 s in: most crossings have happened)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/examples/analytics", help="output folder")
    parser.add_argument("--images", help="also write the docs' PNGs into this folder")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    out = Path(args.out)
    clip = make_sample_clip(out / "clip", frames=FRAMES, fps=FPS, people=(10, 16))
    config = default_pipeline(
        str(clip.video),
        str(out / "tracks"),
        device=args.device,
        camera={"camera_file": str(clip.camera)},
        overlay=str(out / "overlay.mp4"),
    )
    config["stages"].append({"type": "regions", "interval_s": INTERVAL_S, **REGIONS})
    config["sinks"].insert(0, {"type": "events", "path": str(out / "events")})
    runner = PipelineRunner(validate_pipeline(config), StageContext(overwrite=True))
    runner.open()
    runner.run()

    tracks = analysis.read_tracks(out / "tracks")
    frames = analysis.read_frame_index(out / "tracks")
    events = analysis.read_events(out / "events")
    lines = [
        analysis.Line(e["name"], tuple(e["a"]), tuple(e["b"]), e["space"], e["band"])
        for e in REGIONS["lines"]
    ]
    zones = [
        analysis.Zone(e["name"], tuple(map(tuple, e["polygon"])), e["space"], e["band"])
        for e in REGIONS["zones"]
    ]
    offline = analysis.region_events(tracks, lines, zones, INTERVAL_S, frame_index=frames)
    same = len(offline) == len(events) and (
        offline.sort_values(["time_s", "kind", "region", "track_id"])["kind"].tolist()
        == events.sort_values(["time_s", "kind", "region", "track_id"])["kind"].tolist()
    )
    print(
        f"{len(tracks)} rows, {tracks['track_id'].nunique()} tracks, {len(events)} events; "
        f"offline analysis gives the same events: {same}"
    )
    crossings = events[events["kind"] == "line_crossing"]
    for name, table in crossings.groupby("region"):
        counts = table["direction"].value_counts().to_dict()
        print(
            f"line {name}: {counts.get('left_to_right', 0)} left_to_right, "
            f"{counts.get('right_to_left', 0)} right_to_left"
        )
    occupancy = analysis.occupancy(events)
    dwell = analysis.dwell_per_person(events)
    print(
        f"zone plaza: mean {occupancy['mean_people'].mean():.2f} people, "
        f"{occupancy['people_per_m2'].mean():.4f} people/m^2, "
        f"median dwell {dwell['dwell_s'].median():.1f} s over {len(dwell)} people"
    )

    pictures = {
        "analytics_counts_over_time.png": counts_picture(crossings, occupancy),
        "analytics_density_heatmap.png": density_picture(tracks, frames, lines, zones),
        "analytics_dwell_histogram.png": dwell_picture(dwell),
        "analytics_trajectories.png": trajectories_picture(clip.video, tracks, lines, zones),
        "analytics_overlay.png": overlay_picture(out / "overlay.mp4"),
    }
    for folder in filter(None, [out, args.images and Path(args.images)]):
        folder.mkdir(parents=True, exist_ok=True)
        for name, figure in pictures.items():
            figure.savefig(folder / name, dpi=DPI)
            print(f"wrote {folder / name}")


def figure(width: float = 6.4, height: float = 3.6) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def counts_picture(crossings, occupancy) -> Figure:
    fig = figure()
    left, right = fig.subplots(1, 2)
    bins = analysis.crossings_over_time(crossings, bin_s=2.0, time_range_s=(0, FRAMES / FPS))
    analysis.plot_counts_over_time(bins, ax=left)
    left.set_title("line crossings (all lines), per 2 s")
    region_plots.plot_occupancy(occupancy, ax=right)
    right.set_title(f"zone occupancy, per {INTERVAL_S:g} s")
    return fig


def density_picture(tracks, frames, lines, zones) -> Figure:
    fig = figure(5.6, 4.8)
    ax = analysis.plot_density_heatmap(tracks, cell_m=1.0, frame_index=frames, ax=fig.subplots())
    region_plots.plot_regions(ax, lines, zones, space="ground")
    ax.set_title("people per m² on the ground plane, lines and zone")
    return fig


def dwell_picture(dwell) -> Figure:
    fig = figure(5.0, 3.4)
    ax = region_plots.plot_dwell_histogram(dwell, bins=10, ax=fig.subplots())
    ax.set_title("time spent in the zone per person")
    return fig


def trajectories_picture(video: Path, tracks, lines, zones) -> Figure:
    with av.open(str(video)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    fig = figure(6.4, 4.2)
    ax = region_plots.plot_trajectories_on_image(
        tracks, np.asarray(first), lines, zones, ax=fig.subplots()
    )
    ax.set_title("trajectories (feet) over the first frame")
    return fig


def overlay_picture(video: Path, index: int = OVERLAY_FRAME) -> Figure:
    """Frame ``index`` of the overlay sink's video: lines and zones with their live counts."""
    with av.open(str(video)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == index:
                image = frame.to_ndarray(format="rgb24")
                break
    fig = figure(6.4, 4.2)
    ax = fig.subplots()
    ax.imshow(image)
    ax.set_axis_off()
    ax.set_title(f"the overlay sink, frame {index}: counts so far")
    return fig


if __name__ == "__main__":
    main()
