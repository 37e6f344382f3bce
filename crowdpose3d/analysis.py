"""The tracks API in one namespace, for ``from crowdpose3d import analysis``.

Reading (`crowdpose3d.tracks.io`), crowd-motion measures (`crowdpose3d.tracks.analysis`),
lines and zones (`crowdpose3d.tracks.regions`, the live regions stage's code), the events
dataset (`crowdpose3d.tracks.events`), PedPy trajectories (`crowdpose3d.tracks.pedpy_export`)
and plots (`crowdpose3d.tracks.plots`) under one name; the code lives in those modules.
"""

from __future__ import annotations

from crowdpose3d.tracks.analysis import (
    DIRECTIONS,
    KEY_COLUMNS,
    LONG_VALUES,
    REFERENCES,
    crossing_counts,
    crossings_over_time,
    density,
    dwell_times,
    flow_field,
    inside_region,
    joint_names,
    line_crossings,
    planar_positions,
    region_area_m2,
    region_polygon,
    to_long,
    to_wide,
    trajectories,
)
from crowdpose3d.tracks.events import read_events
from crowdpose3d.tracks.io import SOURCE_DTYPE, read_frame_index, read_tracks
from crowdpose3d.tracks.pedpy_export import to_pedpy
from crowdpose3d.tracks.plots import (
    plot_counts_over_time,
    plot_density_heatmap,
    plot_speed_histogram,
    plot_trajectories,
)
from crowdpose3d.tracks.regions import Line, Zone, dwell_per_person, occupancy, region_events

__all__ = [
    "DIRECTIONS",
    "Line",
    "Zone",
    "KEY_COLUMNS",
    "LONG_VALUES",
    "REFERENCES",
    "SOURCE_DTYPE",
    "crossing_counts",
    "crossings_over_time",
    "density",
    "dwell_per_person",
    "dwell_times",
    "flow_field",
    "inside_region",
    "joint_names",
    "line_crossings",
    "occupancy",
    "planar_positions",
    "plot_counts_over_time",
    "plot_density_heatmap",
    "plot_speed_histogram",
    "plot_trajectories",
    "read_events",
    "read_frame_index",
    "read_tracks",
    "region_area_m2",
    "region_events",
    "region_polygon",
    "to_long",
    "to_pedpy",
    "to_wide",
    "trajectories",
]
