"""Crowd motion from JuPedSim (`crowdpose3d synth --motion jupedsim`): people who avoid each
other, walk in groups, queue and stand waiting.

`PedSimCrowd` is a `Crowd` whose positions come from a JuPedSim simulation with the
collision-free speed model (Tordeux et al. 2016) instead of the procedural steering: each
agent is a disc the size of the person's shoulders, and the model never lets two discs
overlap. Every person follows a journey of JuPedSim stages:

* waypoints in the view (one to three), then an exit just outside it;
* groups of two to four who spawn together and share one journey and one speed;
* a queue (a line of waiting points in the view, served one person every few seconds);
* standing still: a waiting set where the person (or the group, one point each) stands
  for 2-12 s from their arrival, released by the crowd's clock: people who start
  standing wait where they are, and some journeys stop on the way (`STOP_SHARE`).

Whoever reaches an exit is removed and replaced by a newcomer entering from outside the
view at a free spot, with the next id. The procedural gait (`motion.py`) is kept on top:
its speed is the simulated one, so feet do not slide when someone is held up, and the body
yaw follows the walking direction with a turn-rate limit (`MAX_YAW_RATE`), since JuPedSim's
orientation flips when an agent switches waypoints.

JuPedSim is an optional dependency (the ``crowd`` extra; install it with ``pip install
--no-deps jupedsim`` plus shapely and deprecated, as the Makefile does, because its
declared dependencies pull PySide6 and VTK it does not need). Without it,
`make_pedsim_crowd` says so in one line and returns the procedural `Crowd`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from crowdpose3d.data.synth.body import sample_body
from crowdpose3d.data.synth.camera_sampling import GroundView
from crowdpose3d.data.synth.crowd import OUTSIDE_MARGIN_M, Crowd, Person
from crowdpose3d.data.synth.motion import cycle_frequency
from crowdpose3d.data.synth.traffic import Road

MISSING_JUPEDSIM = (
    "--motion jupedsim needs JuPedSim: pip install --no-deps 'jupedsim>=1.4' shapely "
    "deprecated (make .venv/.dev installs it); using the procedural motion instead"
)
SIM_DT = 0.01  # JuPedSim's recommended iteration step (seconds)
AREA_MARGIN_M = OUTSIDE_MARGIN_M + 3.0  # the walkable area reaches this far past the view
MAX_YAW_RATE = 3.0  # rad/s: fastest turn of the body yaw (about half a turn per second)
MOVING_SPEED = 0.15  # m/s: slower than this, the body keeps its yaw (standing, shuffling)
MIN_GAP_M = 0.15  # free space between two discs when placing a person
GROUP_SHARE = 0.3  # share of newcomers who come in a group of 2-4
QUEUE_SHARE = 0.15  # share of journeys that go through the queue
QUEUE_POINTS = 8  # waiting points of the queue, 0.7 m apart
QUEUE_SERVICE_S = (2.0, 5.0)  # seconds between two people leaving the head of the queue
STAND_S = (2.0, 12.0)  # seconds a person stands at a waiting point
AT_POINT_M = 0.05  # an agent this near a waiting point stands there
STOP_SHARE = 0.5  # of the stand_fraction: journeys that stop to stand after a waypoint


def jupedsim_available() -> bool:
    """Whether JuPedSim (and what it imports) can be imported."""
    try:
        import jupedsim  # noqa: F401
    except ImportError:
        return False
    return True


def make_pedsim_crowd(
    view: GroundView,
    population: int,
    crowd_rng: np.random.Generator,
    sim_rng: np.random.Generator,
    config,
    road: Road | None = None,
) -> Crowd:
    """A `PedSimCrowd`, or the procedural `Crowd` (with one warning line) without JuPedSim."""
    if not jupedsim_available():
        warnings.warn(MISSING_JUPEDSIM, RuntimeWarning, stacklevel=2)
        return Crowd(view, population, crowd_rng, config.run_fraction, config.stand_fraction, road)
    return PedSimCrowd(
        view, population, crowd_rng, sim_rng, config.run_fraction, config.stand_fraction, road
    )


class PedSimCrowd(Crowd):
    """A population whose walking is simulated by JuPedSim (see the module docstring).

    Bodies, gait controls and points in and around the view are drawn from ``crowd_rng``
    as in `Crowd`; journeys, groups and waiting times from ``sim_rng``. The same streams
    give the same motion.
    """

    def __init__(
        self,
        view: GroundView,
        population: int,
        crowd_rng: np.random.Generator,
        sim_rng: np.random.Generator,
        run_fraction: float = 0.15,
        stand_fraction: float = 0.2,
        road: Road | None = None,
    ) -> None:
        import jupedsim as jps
        import shapely

        super().__init__(view, 0, crowd_rng, run_fraction, stand_fraction, road)
        self._jps = jps
        self.sim_rng = sim_rng
        self.population = population
        near = max(view.near_d - AREA_MARGIN_M, 0.5)
        far = view.far_d + AREA_MARGIN_M
        corners_sd = np.array(
            [
                [-(float(view.half_width(near)) + AREA_MARGIN_M), near],
                [float(view.half_width(near)) + AREA_MARGIN_M, near],
                [float(view.half_width(far)) + AREA_MARGIN_M, far],
                [-(float(view.half_width(far)) + AREA_MARGIN_M), far],
            ]
        )
        self.area = shapely.Polygon(view.to_world(corners_sd))  # world x, y
        self.sim = jps.Simulation(
            model=jps.CollisionFreeSpeedModel(), geometry=self.area, dt=SIM_DT
        )
        self.waypoints = [
            self.sim.add_waypoint_stage(tuple(self._inside_point()), 1.0) for _ in range(8)
        ]
        self.exits = [self._add_exit() for _ in range(4)]
        head = self._inside_point()
        direction = sim_rng.normal(size=2)
        direction /= np.linalg.norm(direction)
        queue_points = [tuple(head + 0.7 * i * direction) for i in range(QUEUE_POINTS)]
        queue_points = [p for p in queue_points if self.area.buffer(-1.0).contains(_point(p))]
        self.queue_id = self.sim.add_queue_stage(queue_points) if len(queue_points) >= 3 else None
        self.queue_capacity = len(queue_points)
        self.next_service = float(sim_rng.uniform(*QUEUE_SERVICE_S))
        self.clock = 0.0
        self.agent_of: dict[int, int] = {}  # person id -> agent id
        self.radius: dict[int, float] = {}  # person id -> disc radius (metres)
        # waiting set stage -> release time (None until somebody is waiting there)
        self.waits: dict[int, float | None] = {}
        self.wait_points: dict[int, np.ndarray] = {}  # waiting set stage -> (P, 2) points
        self.waiting: set[int] = set()  # agent ids standing at a waiting point now
        for _ in range(population):
            if len(self.people) >= population:
                break
            self._add_group(inside=True, limit=population - len(self.people))

    # ------------------------------------------------------------------ simulation
    def step(self, dt: float) -> None:
        """Advance by dt seconds: release standers, serve the queue, simulate, replace who left."""
        jps = self._jps
        self.clock += dt
        for stage_id, release in list(self.waits.items()):
            if release is None and self._arrived(stage_id):  # the clock starts on arrival
                self.waits[stage_id] = self.clock + float(self.sim_rng.uniform(*STAND_S))
            elif release is not None and self.clock >= release:
                self.sim.get_stage(stage_id).state = jps.WaitingSetState.INACTIVE
                del self.waits[stage_id]
        if self.queue_id is not None and self.clock >= self.next_service:
            queue = self.sim.get_stage(self.queue_id)
            if queue.count_enqueued() > 0:
                queue.pop(1)
            self.next_service = self.clock + float(self.sim_rng.uniform(*QUEUE_SERVICE_S))
        self.sim.iterate(max(1, round(dt / SIM_DT)))
        present = {agent.id: agent for agent in self.sim.agents()}
        self.waiting = {agent for stage in self.waits for agent in self._arrived(stage)}
        kept = []
        for person in self.people:
            agent = present.get(self.agent_of[person.person_id])
            if agent is None:  # reached an exit
                del self.agent_of[person.person_id]
                continue
            self._follow(person, np.array(agent.position, dtype=np.float64), dt)
            person.stand_time = 1.0 if agent.id in self.waiting else 0.0
            kept.append(person)
        self.people = kept
        if len(self.people) < self.population:
            self._add_group(inside=False, limit=self.population - len(self.people))

    def _follow(self, person: Person, position: np.ndarray, dt: float) -> None:
        """Move a person to the simulated position; yaw and gait follow (rate-limited)."""
        person.clock += dt
        velocity = (position - person.position) / dt
        speed = float(np.hypot(*velocity))
        if speed > MOVING_SPEED:
            desired = math.atan2(velocity[0], velocity[1])
            error = (desired - person.heading + math.pi) % (2 * math.pi) - math.pi
            limit = MAX_YAW_RATE * dt
            person.heading = _wrap(person.heading + float(np.clip(error, -limit, limit)))
        person.position = position
        person.speed = speed
        blend_target = 1.0 if person.running else 0.0
        person.run_blend += float(np.clip(blend_target - person.run_blend, -2 * dt, 2 * dt))
        frequency = float(cycle_frequency(np.array(speed), np.array(person.run_blend)))
        person.phase = (person.phase + frequency * dt) % 1.0

    # ------------------------------------------------------------------ people and journeys
    def _add_group(self, inside: bool, limit: int) -> None:
        """One person or a group of 2-4 at a free spot (in the view, or entering it)."""
        rng = self.sim_rng
        size = int(rng.integers(2, 5)) if rng.random() < GROUP_SHARE else 1
        size = max(1, min(size, limit))
        centre = self._free_spot(inside)
        if centre is None:
            return  # no room now: try again next frame
        running = bool(rng.random() < self.run_fraction) and size == 1
        speed = self._cruise_speed(running)
        standing = inside and size == 1 and rng.random() < self.stand_fraction
        journey, first = self._journey(standing, centre, size)
        for member in range(size):
            spot = centre if member == 0 else self._free_spot(inside, near=centre)
            if spot is None:
                break
            self._add_person(spot, journey, first, speed, running, standing, centre)

    def _add_person(self, spot, journey, first, speed, running, standing, centre) -> None:
        jps, rng = self._jps, self.rng
        shape, appearance = sample_body(rng)
        radius = max(0.18, shape.shoulder_half_width + 0.03)
        goal = np.array(centre, dtype=np.float64)
        to_view = self.view.to_world(np.array([0.0, 0.5 * (self.view.near_d + self.view.far_d)]))
        heading = (
            float(rng.uniform(-math.pi, math.pi)) if standing else math.atan2(*(to_view - spot))
        )
        person = Person(
            person_id=self.next_id,
            shape=shape,
            appearance=appearance,
            position=np.array(spot, dtype=np.float64),
            heading=heading,
            speed=0.0 if standing else speed,
            cruise_speed=speed,
            running=running,
            run_blend=1.0 if running else 0.0,
            phase=float(rng.random()),
            goal=goal,
            stand_time=1.0 if standing else 0.0,
            leaving=False,
            style=float(rng.random()),
            clock=float(rng.uniform(0, 100)),
        )
        self.next_id += 1
        parameters = jps.CollisionFreeSpeedModelAgentParameters(
            position=tuple(spot),
            desired_speed=speed,
            radius=radius,
            journey_id=journey,
            stage_id=first,
        )
        self.agent_of[person.person_id] = self.sim.add_agent(parameters)
        self.radius[person.person_id] = radius
        self.people.append(person)

    def _journey(self, standing: bool, spot: np.ndarray, size: int) -> tuple[int, int]:
        """A new journey for ``size`` people -> (journey id, first stage id)."""
        jps, rng = self._jps, self.sim_rng
        stages: list[int] = []
        if standing:  # stand where you are first
            stages.append(self._waiting_set(spot, 1))
        order = rng.permutation(len(self.waypoints))[: int(rng.integers(1, 4))]
        stages += [self.waypoints[i] for i in order]
        if not standing and rng.random() < STOP_SHARE * self.stand_fraction:
            stop = self._inside_point()  # somewhere on the way: stop and stand a while
            stages.insert(1, self._waiting_set(stop, size))
        queue = self.sim.get_stage(self.queue_id) if self.queue_id is not None else None
        if (
            queue is not None
            and rng.random() < QUEUE_SHARE
            and queue.count_targeting() < self.queue_capacity - 1
        ):
            stages.insert(len(stages) - 1, self.queue_id)
        stages.append(self.exits[int(rng.integers(len(self.exits)))])
        journey = jps.JourneyDescription(stages)
        for current, following in zip(stages[:-1], stages[1:], strict=True):
            journey.set_transition_for_stage(
                current, jps.Transition.create_fixed_transition(following)
            )
        return self.sim.add_journey(journey), stages[0]

    def _arrived(self, stage_id: int) -> list[int]:
        """Agents of a waiting set that stand on one of its points (within `AT_POINT_M`)."""
        points = self.wait_points[stage_id]
        arrived = []
        for agent_id in self.sim.get_stage(stage_id).waiting():
            position = np.array(self.sim.agent(agent_id).position)
            if np.hypot(*(points - position).T).min() < AT_POINT_M:
                arrived.append(agent_id)
        return arrived

    def _waiting_set(self, spot: np.ndarray, size: int) -> int:
        """A waiting set of ``size`` points 0.8 m apart from ``spot`` (stays in the area)."""
        shrunk = self.area.buffer(-1.0)
        points = [tuple(spot)]
        for index in range(1, size):
            point = spot + 0.8 * np.array([math.cos(index * 2.1), math.sin(index * 2.1)])
            points.append(tuple(point if shrunk.contains(_point(point)) else spot))
        stage = self.sim.add_waiting_set_stage(points)
        self.waits[stage] = None
        self.wait_points[stage] = np.array(points)
        return stage

    def _add_exit(self) -> int:
        """A 2 m square just outside the view (at a side, or beyond the far edge)."""
        view, rng = self.view, self.sim_rng
        if rng.random() < 0.8:
            d = rng.uniform(view.near_d, view.far_d)
            s = (float(view.half_width(d)) + OUTSIDE_MARGIN_M) * rng.choice([-1.0, 1.0])
        else:
            d = view.far_d + OUTSIDE_MARGIN_M
            s = rng.uniform(-0.8, 0.8) * float(view.half_width(d))
        centre = np.array([s, d])
        square = centre + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
        return self.sim.add_exit_stage([tuple(p) for p in view.to_world(square)])

    def _free_spot(self, inside: bool, near: np.ndarray | None = None) -> np.ndarray | None:
        """A world point at least two discs plus a gap from everyone, inside the area."""
        shrunk = self.area.buffer(-1.0)
        positions = np.array([p.position for p in self.people]).reshape(-1, 2)
        for _ in range(40):
            if near is not None:
                point = near + self.sim_rng.normal(0, 0.9, size=2)
            else:
                point = self._inside_point() if inside else self._outside_point()
            if not shrunk.contains(_point(point)):
                continue
            if len(positions) == 0 or np.hypot(*(positions - point).T).min() >= 0.56 + MIN_GAP_M:
                return point
        return None


def _point(xy):
    import shapely

    return shapely.Point(float(xy[0]), float(xy[1]))


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
