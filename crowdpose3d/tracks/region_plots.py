"""Plots of what lines and zones measure (`crowdpose3d.tracks.regions`), matplotlib (``plot``
extra): occupancy over time, a dwell histogram, trajectories over a video frame and the
regions drawn on any planar plot. Each draws on the given axes or a new figure's (Agg) and
returns them, like `crowdpose3d.tracks.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crowdpose3d.tracks.plots import _axes
from crowdpose3d.tracks.regions import Line, Zone, track_points
from crowdpose3d.tracks.schema import FRAME, SOURCE, TRACK_ID

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LINE_COLOUR = "#ffb000"  # counting lines (amber, as the overlay draws them)
ZONE_COLOUR = "#00c8ff"  # zones (sky blue, as the overlay)


def plot_regions(
    ax: Axes, lines: Sequence[Line] = (), zones: Sequence[Zone] = (), space: str = "ground"
) -> Axes:
    """Draw the ``space`` lines and zones, named, on ``ax`` (same units as the plot)."""
    for zone in (z for z in zones if z.space == space):
        vertices = np.vstack([zone.vertices, zone.vertices[:1]])  # closed (M + 1, 2)
        ax.plot(vertices[:, 0], vertices[:, 1], color=ZONE_COLOUR, linewidth=1.5)
        ax.annotate(zone.name, vertices[0], color=ZONE_COLOUR, fontsize=8)
    for line in (ln for ln in lines if ln.space == space):
        ab = np.array([line.a, line.b])
        ax.plot(ab[:, 0], ab[:, 1], color=LINE_COLOUR, linewidth=2)
        ax.annotate(line.name, ab[0], color=LINE_COLOUR, fontsize=8)
    return ax


def plot_occupancy(occupancy: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Mean people inside each zone per interval (`crowdpose3d.tracks.regions.occupancy`)."""
    ax = _axes(ax)
    for (source, zone), table in occupancy.groupby([SOURCE, "region"], observed=True):
        edges = np.r_[table["interval_start_s"].to_numpy(), table["interval_end_s"].iloc[-1]]
        ax.stairs(table["mean_people"].to_numpy(), edges, label=f"{zone} ({source})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("people inside (mean per interval)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax


def plot_dwell_histogram(dwell: pd.DataFrame, bins: int = 20, ax: Axes | None = None) -> Axes:
    """Histogram of the time people spent in each zone (`dwell_per_person`), seconds."""
    ax = _axes(ax)
    for zone, table in dwell.groupby("region", observed=True):
        ax.hist(table["dwell_s"].to_numpy(np.float64), bins=bins, alpha=0.7, label=str(zone))
    ax.set_xlabel("dwell in the zone (s)")
    ax.set_ylabel("people")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax


def plot_trajectories_on_image(
    tracks: pd.DataFrame,
    image: np.ndarray,
    lines: Sequence[Line] = (),
    zones: Sequence[Zone] = (),
    ax: Axes | None = None,
) -> Axes:
    """Each track's feet (its boxes' bottom centres) over ``image`` (H, W, 3), with the
    image-space lines and zones."""
    from matplotlib import colormaps

    ax = _axes(ax)
    ax.imshow(image)
    ordered = tracks.sort_values([SOURCE, TRACK_ID, FRAME], ignore_index=True)
    feet = track_points(ordered)["image"]  # (n, 2) pixels
    for track_id, rows in ordered.groupby(TRACK_ID, sort=False).indices.items():
        colour = colormaps["tab20"](int(track_id) % 20)
        ax.plot(feet[rows, 0], feet[rows, 1], color=colour, linewidth=1.2)
    plot_regions(ax, lines, zones, space="image")
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.set_axis_off()
    return ax
