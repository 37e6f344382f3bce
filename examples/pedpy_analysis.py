"""Crowd science on our tracks with PedPy: Voronoi density and speed in a measurement area and
the fundamental diagram (speed against density), from a tracks dataset with a ground plane.

    python examples/analytics_pictures.py         # once: writes out/examples/analytics/tracks
    python examples/pedpy_analysis.py             # -> out/examples/pedpy/
    python examples/pedpy_analysis.py --tracks T --area -6 6 8 28 --out /tmp/pedpy

Needs the pedpy extra (``pip install 'crowdpose3d[pedpy]'``) and tracks with ground-plane
positions (the lift stage given a camera file, or height_m and pitch_deg).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pedpy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from crowdpose3d import analysis

FRAME_STEP = 3  # speed from positions this many frames before and after
MARGIN_M = 5.0  # the walkable area: the people's bounding box plus this margin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", default="out/examples/analytics/tracks")
    parser.add_argument(
        "--area",
        type=float,
        nargs=4,
        default=(-6, 6, 8, 28),
        metavar=("X0", "X1", "Y0", "Y1"),
        help="measurement area (m)",
    )
    parser.add_argument("--source", help="the source, when the tracks hold several")
    parser.add_argument("--out", default="out/examples/pedpy")
    args = parser.parse_args()
    if not Path(args.tracks).exists():
        parser.exit(2, f"{args.tracks} not found: run examples/analytics_pictures.py first\n")
    traj = analysis.to_pedpy(args.tracks, source=args.source)  # metres, fps of the metadata
    x0, x1, y0, y1 = args.area
    area = pedpy.MeasurementArea([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    xy = traj.data[["x", "y"]]
    low, high = xy.min() - MARGIN_M, xy.max() + MARGIN_M
    walkable = pedpy.WalkableArea(
        [(low.x, low.y), (high.x, low.y), (high.x, high.y), (low.x, high.y)]
    )
    cells = pedpy.compute_individual_voronoi_polygons(traj_data=traj, walkable_area=walkable)
    density, intersection = pedpy.compute_voronoi_density(
        individual_voronoi_data=cells, measurement_area=area
    )
    speed = pedpy.compute_individual_speed(
        traj_data=traj,
        frame_step=FRAME_STEP,
        speed_calculation=pedpy.SpeedCalculation.BORDER_ADAPTIVE,
    )
    intersection = intersection.merge(speed[["id", "frame"]], on=["id", "frame"])
    voronoi_speed = pedpy.compute_voronoi_speed(
        traj_data=traj,
        individual_speed=speed,
        individual_voronoi_intersection=intersection,
        measurement_area=area,
    )
    diagram = density.merge(voronoi_speed, on="frame")
    print(
        f"{traj.frame_rate:g} fps, {traj.data['id'].nunique()} tracks, {len(diagram)} frames: "
        f"Voronoi density mean {diagram['density'].mean():.3f} / m^2, "
        f"Voronoi speed mean {diagram['speed'].mean():.2f} m/s"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diagram.to_csv(out / "fundamental_diagram.csv", index=False)
    figure = Figure(figsize=(4.8, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    ax.scatter(diagram["density"], diagram["speed"], s=8)
    ax.set_xlabel("Voronoi density (1/m²)")
    ax.set_ylabel("Voronoi speed (m/s)")
    ax.set_title("fundamental diagram, one point per frame")
    figure.savefig(out / "fundamental_diagram.png", dpi=80)
    print(f"wrote {out / 'fundamental_diagram.csv'} and {out / 'fundamental_diagram.png'}")


if __name__ == "__main__":
    main()
