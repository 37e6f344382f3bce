"""Plots of the tracks dataset and of what `crowdpose3d.tracks.analysis` measures
(matplotlib, the ``plot`` extra): trajectories seen from above, a density heat map, a speed
histogram and counts over time. Every function draws on the given axes or on a new figure's
(Agg canvas, no display) and returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crowdpose3d.tracks.analysis import _require, planar_positions

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _axes(ax: Axes | None) -> Axes:
    """``ax``, or the axes of a new figure on the Agg canvas (no display, no pyplot)."""
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def _planar_labels(references: Sequence[str]) -> tuple[str, str]:
    kinds = set(references)
    if kinds == {"ground"}:
        return "ground x, right (m)", "ground y, forward (m)"
    if kinds == {"camera"}:
        return "camera x, right (m)", "camera z, depth (m)"
    return "x (m), ground or camera", "y (m), ground or camera depth"


def plot_trajectories(
    trajectories: pd.DataFrame, ax: Axes | None = None, smoothed: bool = True
) -> Axes:
    """Bird's-eye view of the tracks of `trajectories`, one colour per track; metres."""
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection

    ax = _axes(ax)
    x_column, y_column = ("x_smooth_m", "y_smooth_m") if smoothed else ("x_m", "y_m")
    xy = trajectories[[x_column, y_column]].to_numpy(np.float64)  # (n, 2)
    codes = trajectories.groupby(["source", "track_id"], sort=False, observed=True).ngroup()
    codes = codes.to_numpy()
    firsts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else []
    lines = np.split(xy, firsts[1:]) if len(codes) else []
    track_ids = trajectories["track_id"].to_numpy()[firsts]
    colours = [colormaps["tab20"](int(track) % 20) for track in track_ids]
    collection = LineCollection(lines, colors=colours, linewidths=1.2)
    ax.add_collection(collection)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    x_label, y_label = _planar_labels(trajectories["frame_of_reference"].astype(str).unique())
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(f"{len(lines)} tracks")
    return ax


def plot_density_heatmap(
    tracks: pd.DataFrame,
    cell_m: float = 0.5,
    frame_index: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Mean people per m^2 over frames on a grid of ``cell_m`` metres, seen from above.

    The mean runs over the frames of ``frame_index`` when given (so empty frames lower it),
    else over the frames where someone was seen.
    """
    if cell_m <= 0:
        raise ValueError("cell_m must be > 0 metres")
    ax = _axes(ax)
    positions = planar_positions(tracks)
    if frame_index is not None:
        frames = len(frame_index.drop_duplicates(["source", "frame"]))
    else:
        frames = len(tracks.drop_duplicates(["source", "frame"]))
    x, y = positions["x_m"].to_numpy(), positions["y_m"].to_numpy()
    if len(x):
        x_edges = np.arange(np.floor(x.min() / cell_m), np.floor(x.max() / cell_m) + 2) * cell_m
        y_edges = np.arange(np.floor(y.min() / cell_m), np.floor(y.max() / cell_m) + 2) * cell_m
    else:
        x_edges = y_edges = np.array([0.0, cell_m])
    counts, _, _ = np.histogram2d(x, y, bins=(x_edges, y_edges))  # (nx, ny)
    per_m2 = counts / max(frames, 1) / cell_m**2
    mesh = ax.pcolormesh(x_edges, y_edges, per_m2.T, cmap="viridis", shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label="people per m² (mean over frames)")
    ax.set_aspect("equal", adjustable="box")
    x_label, y_label = _planar_labels(positions["frame_of_reference"].astype(str).unique())
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    return ax


def plot_speed_histogram(
    trajectories: pd.DataFrame, bins: int = 50, ax: Axes | None = None
) -> Axes:
    """Histogram of ``speed_mps`` of `trajectories` (m/s), NaN speeds left out."""
    ax = _axes(ax)
    speed = trajectories["speed_mps"].to_numpy(np.float64)
    ax.hist(speed[np.isfinite(speed)], bins=bins, color="tab:blue")
    ax.set_xlabel("speed (m/s)")
    ax.set_ylabel("samples (person-frames)")
    return ax


def plot_counts_over_time(
    counts: pd.DataFrame,
    columns: Sequence[str] | None = None,
    ax: Axes | None = None,
    ylabel: str | None = None,
) -> Axes:
    """Counts against time (s): the output of `density` (people, people_in_region) or of
    `crossings_over_time` (left_to_right, right_to_left, drawn as bins); one line per source
    and column."""
    ax = _axes(ax)
    binned = "bin_start_s" in counts.columns and "time_s" not in counts.columns
    _require(counts, ["source", "bin_start_s" if binned else "time_s"], "plot_counts_over_time")
    if columns is None:
        known = ("people", "people_in_region", "left_to_right", "right_to_left")
        columns = [column for column in known if column in counts.columns]
    many_sources = counts["source"].nunique() > 1
    for source, table in counts.groupby("source", observed=True):  # few sources
        for column in columns:
            label = f"{source}: {column}" if many_sources else column
            if binned:  # contiguous bins: edges are the starts and the last end
                edges = np.r_[table["bin_start_s"].to_numpy(), table["bin_end_s"].iloc[-1]]
                ax.stairs(table[column].to_numpy(), edges, label=label, baseline=None)
            else:
                ax.plot(table["time_s"], table[column], label=label)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel or ("crossings per bin" if binned else "people"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax
