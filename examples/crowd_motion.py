"""Crowd-motion analysis of a tracks dataset with pandas: trajectories, speeds, density,
line crossings and a flow field, as PNG plots and CSV tables.

    crowdpose3d demo                                   # once: writes out/demo/tracks/
    python examples/crowd_motion.py                    # -> out/examples/crowd_motion/
    python examples/crowd_motion.py --tracks tracks/ --out /tmp/motion --line 0 8 6 8

The counting line defaults to a horizontal line across the middle of where people walked
(ground metres when the camera is calibrated, camera x/z otherwise: the tables say which).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from crowdpose3d import analysis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", default="out/demo/tracks", help="tracks dataset folder")
    parser.add_argument("--out", default="out/examples/crowd_motion", help="output folder")
    parser.add_argument("--line", type=float, nargs=4, metavar=("AX", "AY", "BX", "BY"))
    parser.add_argument("--cell", type=float, default=1.0, help="grid cell for density/flow (m)")
    args = parser.parse_args()
    if not Path(args.tracks).exists():
        parser.exit(2, f"{args.tracks} not found: run `crowdpose3d demo` first\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tracks = analysis.read_tracks(args.tracks)
    frames = analysis.read_frame_index(args.tracks)
    trajectories = analysis.trajectories(tracks, smoothing_window_s=0.5)
    reference = trajectories["frame_of_reference"].iloc[0] if len(trajectories) else "camera"
    print(
        f"{len(tracks)} rows, {tracks['track_id'].nunique()} tracks, {len(frames)} frames; "
        f"positions in {reference} coordinates"
    )

    a, b = _counting_line(trajectories, args.line)
    events = analysis.line_crossings(tracks, a, b, smoothing_window_s=0.5)
    counts = analysis.crossing_counts(events)
    density = analysis.density(tracks, frame_index=frames)
    dwell = analysis.dwell_times(tracks)
    flow = analysis.flow_field(tracks, cell_m=args.cell)

    speeds = trajectories["speed_mps"].dropna()
    print(f"speed: median {speeds.median():.2f} m/s, 90th percentile {speeds.quantile(0.9):.2f}")
    print(f"people per frame: mean {density['people'].mean():.1f}, max {density['people'].max()}")
    print(f"dwell: median {dwell['duration_s'].median():.1f} s over {len(dwell)} tracks")
    print(f"line {tuple(a)} -> {tuple(b)}: " + counts.to_string(index=False).replace("\n", "; "))

    _save(analysis.plot_trajectories(trajectories), out / "trajectories.png", (a, b))
    _save(
        analysis.plot_density_heatmap(tracks, cell_m=args.cell, frame_index=frames),
        out / "density.png",
    )
    _save(analysis.plot_speed_histogram(trajectories), out / "speed_histogram.png")
    _save(analysis.plot_counts_over_time(density), out / "people_over_time.png")
    if len(events):
        binned = analysis.crossings_over_time(events, bin_s=1.0)
        _save(analysis.plot_counts_over_time(binned), out / "crossings_over_time.png")
    for name, table in {
        "trajectories": trajectories,
        "density": density,
        "dwell": dwell,
        "crossings": events,
        "flow": flow,
    }.items():
        table.to_csv(out / f"{name}.csv", index=False)
    print(f"wrote {out}/ (PNG plots and CSV tables)")


def _counting_line(trajectories, given):
    """The line given on the command line, or one across the middle of the walked area."""
    if given:
        return given[:2], given[2:]
    x = trajectories["x_smooth_m"].dropna()
    y = trajectories["y_smooth_m"].dropna()
    middle = float(y.median())
    return [float(x.min()), middle], [float(x.max()), middle]


def _save(ax, path: Path, line=None) -> None:
    if line is not None:
        (ax_x, ax_y), (bx, by) = line
        ax.plot([ax_x, bx], [ax_y, by], "k--", linewidth=1.5, label="counting line")
        ax.legend(loc="best", fontsize=7)
    figure: Figure = ax.figure
    figure.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
