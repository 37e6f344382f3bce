"""A road across the view with vehicle-sized boxes (cars, vans, trucks, buses) driving on it.

The road is a straight strip on the ground, described in the camera's ground frame
(s right, d forward). Vehicles drive along its lanes at a steady per-lane speed, enter at
one end outside the view and are removed past the other end. They matter as occluders:
they are drawn depth-ordered with the people and count in the occlusion flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crowdpose3d.data.synth.camera_sampling import GroundView

LANE_WIDTH_M = 3.3
# kind: (length, width, height, cabin or None); cabin = (length, height, offset back) of a
# smaller glass box on top, which is what makes a box read as a car.
VEHICLE_KINDS = {
    "car": ((4.0, 4.8), (1.7, 1.9), (0.75, 0.85), (0.5, 0.62, 0.05)),
    "van": ((4.8, 5.6), (1.9, 2.1), (1.9, 2.2), None),
    "truck": ((7.0, 9.0), (2.4, 2.5), (3.0, 3.5), None),
    "bus": ((10.5, 12.5), (2.5, 2.55), (2.9, 3.2), None),
}
KIND_WEIGHTS = {"car": 0.62, "van": 0.18, "truck": 0.08, "bus": 0.12}


@dataclass(frozen=True)
class Road:
    """A straight road: centre point and direction in the ground frame, lane count."""

    centre: np.ndarray  # (2,) s, d
    direction: np.ndarray  # (2,) unit vector along the road
    lanes: int

    @property
    def half_width(self) -> float:
        return self.lanes * LANE_WIDTH_M / 2

    def local(self, sd: np.ndarray) -> np.ndarray:
        """(..., 2) ground-frame points -> (..., 2) (along, across) road coordinates."""
        rel = np.asarray(sd, dtype=np.float64) - self.centre
        normal = np.array([-self.direction[1], self.direction[0]])
        return np.stack((rel @ self.direction, rel @ normal), axis=-1)

    def contains(self, sd: np.ndarray, margin: float = 0.0) -> bool | np.ndarray:
        return np.abs(self.local(sd)[..., 1]) <= self.half_width + margin


def sample_road(view: GroundView, rng: np.random.Generator) -> Road:
    """A road crossing the view, roughly across the line of sight, in the nearer half."""
    d = rng.uniform(view.near_d + 4.0, max(view.near_d + 6.0, 0.55 * view.far_d))
    angle = math.radians(rng.uniform(-30, 30))  # 0 = straight across the view
    return Road(
        centre=np.array([0.0, d]),
        direction=np.array([math.cos(angle), math.sin(angle)]),
        lanes=int(rng.integers(2, 5)),
    )


@dataclass
class Vehicle:
    """A box (plus an optional cabin) on a lane; position is along the road, metres."""

    kind: str
    lane: int
    along: float
    length: float
    width: float
    height: float
    cabin: tuple[float, float, float] | None  # (length, height, offset back), metres
    colour: tuple[float, float, float]


class Traffic:
    """Vehicles driving along `road`; lanes left of the centre line drive the other way."""

    def __init__(self, view: GroundView, road: Road, rng: np.random.Generator) -> None:
        self.view, self.road, self.rng = view, road, rng
        # The road is long enough to run from outside the view on one side to the other.
        self.extent = float(view.half_width(road.centre[1])) / max(abs(road.direction[0]), 0.5) + 20
        self.lane_speed = rng.uniform(5.0, 13.0, size=road.lanes)
        self.vehicles: list[Vehicle] = []
        for lane in range(road.lanes):  # start with the road already busy
            along = -self.extent
            while True:
                along += rng.uniform(8.0, 40.0)
                if along > self.extent:
                    break
                self.vehicles.append(self._new_vehicle(lane, along * self._sense(lane)))

    def step(self, dt: float) -> None:
        """Drive everybody forward; remove who has left, maybe add newcomers at lane starts."""
        for vehicle in self.vehicles:
            vehicle.along += self._sense(vehicle.lane) * self.lane_speed[vehicle.lane] * dt
        self.vehicles = [v for v in self.vehicles if abs(v.along) <= self.extent + 1]
        for lane in range(self.road.lanes):
            if self.rng.random() < 0.35 * dt:
                start = -self.extent * self._sense(lane)
                clear = all(
                    abs(v.along - start) > v.length + 12 for v in self.vehicles if v.lane == lane
                )
                if clear:
                    self.vehicles.append(self._new_vehicle(lane, start))

    def boxes(self) -> list[tuple[np.ndarray, np.ndarray, tuple[float, float, float], bool]]:
        """World boxes to draw: (centre (3,), half sizes (3,) along/across/up, colour, glass).

        Each box's yaw is the road's; see `box_corners`.
        """
        out = []
        for v in self.vehicles:
            across = (v.lane + 0.5) * LANE_WIDTH_M - self.road.half_width
            body_h = v.height
            centre = self._world(v.along, across, body_h / 2)
            out.append((centre, np.array([v.length / 2, v.width / 2, body_h / 2]), v.colour, False))
            if v.cabin is not None:
                cabin_len, cabin_h, back = v.cabin
                shift = -self._sense(v.lane) * back * v.length
                centre = self._world(v.along + shift, across, body_h + cabin_h / 2)
                half = np.array([cabin_len * v.length / 2, v.width * 0.45, cabin_h / 2])
                out.append((centre, half, v.colour, True))
        return out

    def box_axes(self) -> np.ndarray:
        """(3, 3) world unit vectors of the boxes' along, across and up axes (rows)."""
        along = self.view.to_world(self.road.direction) - self.view.to_world(np.zeros(2))
        across = np.array([-along[1], along[0]])
        return np.array([[*along, 0.0], [*across, 0.0], [0.0, 0.0, 1.0]])

    # ------------------------------------------------------------------ helpers
    def _sense(self, lane: int) -> float:
        return 1.0 if lane >= self.road.lanes / 2 else -1.0

    def _world(self, along: float, across: float, up: float) -> np.ndarray:
        normal = np.array([-self.road.direction[1], self.road.direction[0]])
        sd = self.road.centre + along * self.road.direction + across * normal
        return np.array([*self.view.to_world(sd), up])

    def _new_vehicle(self, lane: int, along: float) -> Vehicle:
        rng = self.rng
        kinds = list(KIND_WEIGHTS)
        kind = kinds[rng.choice(len(kinds), p=np.array(list(KIND_WEIGHTS.values())))]
        length, width, height, cabin = VEHICLE_KINDS[kind]
        body_h = rng.uniform(*height)
        if rng.random() < 0.35:  # white, silver, black, grey: the common car colours
            grey = rng.choice([235.0, 190.0, 30.0, 120.0])
            colour = (grey, grey, grey)
        else:
            colour = tuple(float(c) for c in rng.uniform(30, 220, size=3))
        return Vehicle(
            kind=kind,
            lane=lane,
            along=along,
            length=rng.uniform(*length),
            width=rng.uniform(*width),
            height=body_h,
            cabin=cabin,
            colour=colour,  # type: ignore[arg-type]
        )
