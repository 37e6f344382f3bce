"""People walking through the view: spawning, paths, standing, leaving, persistent ids.

A `Crowd` keeps a fixed number of people in the area around the camera's view. Each person
walks from waypoint to waypoint (turning at a limited rate, speeding up and slowing down),
sometimes stops and stands for a while, sometimes runs, and sometimes heads out of the
area; whoever leaves is replaced by a newcomer who starts outside the view and walks in.
Every newcomer gets the next id of this crowd's counter: ids are never reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from crowdpose3d.data.synth.body import Appearance, BodyShape, sample_body
from crowdpose3d.data.synth.camera_sampling import GroundView
from crowdpose3d.data.synth.motion import BodyPose, GaitInput, cycle_frequency, pose_bodies
from crowdpose3d.data.synth.traffic import Road

OUTSIDE_MARGIN_M = 3.0  # newcomers start this far outside the visible ground
LEAVE_MARGIN_M = 4.0  # people who left the area by this much are removed


@dataclass
class Person:
    """One walker's identity, body and motion state (world ground coordinates)."""

    person_id: int
    shape: BodyShape
    appearance: Appearance
    position: np.ndarray  # (2,) world x, y
    heading: float  # world yaw: 0 faces +y, positive turns towards +x
    speed: float  # m/s
    cruise_speed: float  # m/s when walking (or running)
    running: bool
    run_blend: float  # 0 walking .. 1 running, eased over time
    phase: float  # gait cycle phase in [0, 1)
    goal: np.ndarray  # (2,) world x, y of the current waypoint
    stand_time: float  # seconds left standing (0 when moving)
    leaving: bool  # heading out of the area
    style: float  # in [0, 1): small personal differences in posture and swing
    clock: float = 0.0  # seconds since spawn


class Crowd:
    """A fixed-size population walking in and around `view` (ids from 0 upwards)."""

    def __init__(
        self,
        view: GroundView,
        population: int,
        rng: np.random.Generator,
        run_fraction: float = 0.15,
        stand_fraction: float = 0.2,
        road: Road | None = None,
    ) -> None:
        self.view = view
        self.rng = rng
        self.run_fraction = run_fraction
        self.stand_fraction = stand_fraction
        self.road = road
        self.next_id = 0
        self.people: list[Person] = [self._spawn(inside=True) for _ in range(population)]

    # ------------------------------------------------------------------ simulation
    def step(self, dt: float) -> None:
        """Advance everybody by dt seconds; replace whoever left the area."""
        kept = []
        for person in self.people:
            self._move(person, dt)
            sd = self.view.to_ground(person.position)
            if not self.view.contains(sd, margin=LEAVE_MARGIN_M + 4.0) or (
                person.leaving and not self.view.contains(sd, margin=LEAVE_MARGIN_M)
            ):
                kept.append(self._spawn(inside=False))
            else:
                kept.append(person)
        self.people = kept

    def pose(self) -> tuple[BodyPose, np.ndarray, np.ndarray]:
        """Posed bodies in their body frames, with world (N, 2) positions and (N,) headings."""
        people = self.people
        shape = {
            f.name: np.array([getattr(p.shape, f.name) for p in people], dtype=np.float64)
            for f in fields(BodyShape)
        }
        speed = np.array([p.speed for p in people])
        run = np.array([p.run_blend for p in people])
        frequency = cycle_frequency(speed, run)
        clock = np.array([p.clock for p in people])
        style = np.array([p.style for p in people])
        standing = 1 - np.clip(speed / 0.8, 0, 1)
        gait = GaitInput(
            phase=np.array([p.phase for p in people]),
            stride=speed / frequency,
            walk=np.clip(speed / 0.8, 0, 1),
            run=run,
            time=clock,
            head_yaw=(0.12 + 0.35 * standing) * np.sin(0.5 * clock + 11 * style),
            style=style,
        )
        positions = np.array([p.position for p in people]).reshape(-1, 2)
        headings = np.array([p.heading for p in people])
        return pose_bodies(shape, gait), positions, headings

    # ------------------------------------------------------------------ one person
    def _move(self, person: Person, dt: float) -> None:
        person.clock += dt
        to_goal = person.goal - person.position
        distance = float(np.hypot(*to_goal))
        if person.stand_time > 0:
            person.stand_time -= dt
            target_speed = 0.0
        else:
            target_speed = person.cruise_speed
            desired = math.atan2(to_goal[0], to_goal[1])
            error = (desired - person.heading + math.pi) % (2 * math.pi) - math.pi
            max_turn = (2.2 if person.speed < 0.5 else 1.6) * dt  # rad per frame
            person.heading += float(np.clip(error, -max_turn, max_turn))
            if abs(error) > 1.2:
                target_speed *= 0.5  # slow down for a sharp turn
            if distance < 1.0 and not person.leaving:
                self._next_waypoint(person)
        step = float(np.clip(target_speed - person.speed, -2.5 * dt, 1.5 * dt))
        person.speed = max(0.0, person.speed + step)
        person.position = person.position + person.speed * dt * np.array(
            [math.sin(person.heading), math.cos(person.heading)]
        )
        blend_target = 1.0 if person.running else 0.0
        person.run_blend += float(np.clip(blend_target - person.run_blend, -2 * dt, 2 * dt))
        frequency = float(cycle_frequency(np.array(person.speed), np.array(person.run_blend)))
        person.phase = (person.phase + frequency * dt) % 1.0

    def _next_waypoint(self, person: Person) -> None:
        rng = self.rng
        if rng.random() < self.stand_fraction:
            person.stand_time = float(rng.uniform(1.0, 8.0))
        if rng.random() < 0.35:
            person.leaving = True
            person.goal = self._outside_point()
        else:
            person.goal = self._inside_point()
        person.running = bool(rng.random() < self.run_fraction)
        person.cruise_speed = self._cruise_speed(person.running)

    def _spawn(self, inside: bool) -> Person:
        """A new person: anywhere in the view (at the start) or just outside it."""
        rng = self.rng
        shape, appearance = sample_body(rng)
        running = bool(rng.random() < self.run_fraction)
        position = self._inside_point() if inside else self._outside_point()
        goal = self._inside_point()
        heading = math.atan2(*(goal - position)) if not inside else rng.uniform(-math.pi, math.pi)
        standing = inside and rng.random() < self.stand_fraction
        cruise = self._cruise_speed(running)
        person = Person(
            person_id=self.next_id,
            shape=shape,
            appearance=appearance,
            position=position,
            heading=float(heading),
            speed=0.0 if standing else cruise,
            cruise_speed=cruise,
            running=running,
            run_blend=1.0 if running else 0.0,
            phase=float(rng.random()),
            goal=goal,
            stand_time=float(rng.uniform(1.0, 10.0)) if standing else 0.0,
            leaving=False,
            style=float(rng.random()),
            clock=float(rng.uniform(0, 100)),
        )
        self.next_id += 1
        return person

    def _cruise_speed(self, running: bool) -> float:
        if running:
            return float(self.rng.uniform(2.5, 4.5))
        return float(np.clip(self.rng.normal(1.3, 0.2), 0.7, 1.9))

    def _inside_point(self) -> np.ndarray:
        """A random ground point in the view (off the road when there is one)."""
        view, rng = self.view, self.rng
        for _ in range(20):
            d = rng.uniform(view.near_d, view.far_d)
            s = rng.uniform(-1, 1) * 0.95 * float(view.half_width(d))
            sd = np.array([s, d])
            if self.road is None or not self.road.contains(sd, margin=0.8):
                break
        return view.to_world(sd)

    def _outside_point(self) -> np.ndarray:
        """A ground point just outside the view: mostly at the sides, sometimes far or near."""
        view, rng = self.view, self.rng
        side = rng.random()
        if side < 0.75 or view.near_d - OUTSIDE_MARGIN_M < 1.0:
            if side >= 0.75:
                side = 0.0
            if side < 0.65:
                d = rng.uniform(view.near_d, view.far_d)
                s = (float(view.half_width(d)) + OUTSIDE_MARGIN_M) * rng.choice([-1.0, 1.0])
            else:
                d = view.far_d + OUTSIDE_MARGIN_M
                s = rng.uniform(-1, 1) * float(view.half_width(d))
        else:
            d = view.near_d - OUTSIDE_MARGIN_M
            s = rng.uniform(-1, 1) * float(view.half_width(max(d, 0.0)))
        return view.to_world(np.array([s, d]))
