"""`generate_sequence`: one synthetic sequence as frames in memory, no files.

A sequence is fully determined by (config, seed): the seed is split into independent
random streams for the camera, the scene (light, ground, buildings, road), the crowd, the
traffic and the sensor noise, so adding people does not change the camera.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np

from crowdpose3d.data.synth.background import Lighting, render_background, sample_lighting
from crowdpose3d.data.synth.body import BodyShape
from crowdpose3d.data.synth.camera_sampling import GroundView, sample_camera
from crowdpose3d.data.synth.config import SynthConfig
from crowdpose3d.data.synth.crowd import Crowd
from crowdpose3d.data.synth.furniture import sample_furniture
from crowdpose3d.data.synth.mesh_people import MeshFrame, MeshPeople
from crowdpose3d.data.synth.mesh_render import MeshRenderer
from crowdpose3d.data.synth.occlusion import buffer_occlusion_flags, in_image, occlusion_flags
from crowdpose3d.data.synth.pedsim import make_pedsim_crowd
from crowdpose3d.data.synth.render import Renderer, sample_style
from crowdpose3d.data.synth.solids import (
    NUM_PARTS,
    PersonSolids,
    body_to_world,
    box_corners,
    person_solids,
    to_world,
)
from crowdpose3d.data.synth.traffic import Traffic, sample_road
from crowdpose3d.geometry.camera import Camera

PHOTO_TINT = 0.15  # at most this much of a photograph's colour cast is passed to the people


@dataclass(frozen=True)
class SynthFrame:
    """One rendered frame and the annotations of the N people who are in it.

    frame: frame number, from 1 as in JTA. image: (H, W, 3) uint8 RGB.
    person_ids: (N,) int64, persistent over the sequence, never reused.
    joints2d: (N, 22, 2) pixels; joints3d: (N, 22, 3) metres, camera frame (x right, y
    down, z forward); occluded / self_occluded: (N, 22) bool (see occlusion.py).
    A person is listed when at least one joint is in front of the camera and inside the image.
    population: people simulated around the view (in frame or not).
    solids / solid_ids: camera-frame body parts of all simulated people and their ids, and
    vehicle_corners: (V, 8, 3) camera-frame corners of vehicle and street-furniture boxes,
    for independent checks.
    mesh: with the mesh renderer, the drawn people's meshes (`MeshFrame`; `mesh.drawn`
    indexes the simulated people, whose ids are `solid_ids`), else None.
    """

    frame: int
    image: np.ndarray
    person_ids: np.ndarray
    joints2d: np.ndarray
    joints3d: np.ndarray
    occluded: np.ndarray
    self_occluded: np.ndarray
    population: int
    solids: PersonSolids
    solid_ids: np.ndarray
    vehicle_corners: np.ndarray
    mesh: MeshFrame | None = None


class SynthSequence:
    """An iterable of `SynthFrame`s; iterating again yields the same frames."""

    def __init__(self, config: SynthConfig, seed: int) -> None:
        self.config = config
        self.seed = int(seed)
        # Five streams, a sixth added later for street furniture, a seventh for photograph
        # backgrounds and an eighth for the JuPedSim crowd (spawning more keeps the first
        # ones, so older settings give the same frames).
        streams = np.random.SeedSequence(self.seed).spawn(8)
        self._streams = streams
        self.camera: Camera = sample_camera(config, np.random.default_rng(streams[0]))

    def __len__(self) -> int:
        return self.config.num_frames

    def __iter__(self) -> Iterator[SynthFrame]:
        config, camera = self.config, self.camera
        scene_rng, crowd_rng, traffic_rng, noise_rng, furniture_rng, photo_rng, sim_rng = (
            np.random.default_rng(s) for s in self._streams[1:]
        )
        view = GroundView.of(camera, config.distance_range_m)
        population = int(scene_rng.integers(config.min_people, config.max_people + 1))
        road = sample_road(view, scene_rng) if config.vehicles else None
        lighting = sample_lighting(scene_rng)
        background = render_background(view, lighting, scene_rng, road)
        if config.backgrounds is not None:
            background, lighting = photo_background(
                config.backgrounds, view, lighting, photo_rng, config.photo_zoom
            )
        style = sample_style(camera, lighting, scene_rng)
        if config.motion == "jupedsim":
            crowd = make_pedsim_crowd(view, population, crowd_rng, sim_rng, config, road)
        else:
            crowd = Crowd(
                view, population, crowd_rng, config.run_fraction, config.stand_fraction, road
            )
        traffic = Traffic(view, road, traffic_rng) if road is not None else None
        furniture = sample_furniture(view, furniture_rng) if config.street_furniture else []
        dt = 1.0 / config.fps
        if config.renderer == "mesh":
            renderer = MeshRenderer(camera, background, style, noise_rng)
            meshes = MeshPeople(self.seed)
        else:
            renderer, meshes = Renderer(camera, background, style, noise_rng), None
        try:
            for index in range(config.num_frames):
                if index > 0:
                    crowd.step(dt)
                    if traffic is not None:
                        traffic.step(dt)
                yield self._frame(index, crowd, traffic, renderer, meshes, furniture)
        finally:
            if meshes is not None:
                renderer.close()

    def _frame(
        self,
        index: int,
        crowd: Crowd,
        traffic: Traffic | None,
        renderer: Renderer | MeshRenderer,
        meshes: MeshPeople | None,
        furniture: list,
    ) -> SynthFrame:
        camera = self.camera
        k = camera.intrinsics
        people = crowd.people
        ids = np.array([p.person_id for p in people], dtype=np.int64)
        if people:
            pose, positions, headings = crowd.pose()
            shape = {
                f.name: np.array([getattr(p.shape, f.name) for p in people])
                for f in fields(BodyShape)
            }
            rotation = body_to_world(pose, positions, headings)
            body = person_solids(pose, shape, [p.appearance for p in people])
            world_centres = to_world(body.centres, rotation, positions)
            solids = PersonSolids(camera.world_to_camera(world_centres), body.radii, body.colours)
            joints3d = camera.world_to_camera(to_world(pose.joints, rotation, positions))
        else:
            positions = np.zeros((0, 2))
            solids = PersonSolids(
                np.zeros((0, NUM_PARTS, 4, 3)),
                np.zeros((0, NUM_PARTS, 4)),
                np.zeros((0, NUM_PARTS, 3)),
            )
            joints3d = np.zeros((0, 22, 3))

        boxes, corners_cam = [], []
        if traffic is not None:
            axes = traffic.box_axes()
            for centre, half, colour, glass in traffic.boxes():
                corners = box_corners(centre, half, axes)
                boxes.append((corners, glass, colour))
                corners_cam.append(camera.world_to_camera(corners))
        time_s = index / self.config.fps
        mesh = None
        boxes = boxes + furniture
        corners_cam += [camera.world_to_camera(corners) for corners, _, _ in furniture]
        if meshes is None:
            image, labels, table = renderer.render(solids, positions, boxes, time_s)
            joints2d, depth = _project(joints3d, k)
            occluded, self_occluded = occlusion_flags(
                labels, table, np.arange(len(people)), joints2d, depth
            )
            listed = in_image(joints2d, depth, k.width, k.height).any(axis=1)
        else:
            # Only people near the view are meshed and drawn; the labels are the rig's.
            drawn_mesh = (
                meshes.frame(people, pose, rotation, positions, camera)
                if people
                else meshes.empty()
            )
            drawn = drawn_mesh.drawn
            image, owner, part, surface = renderer.render(
                drawn_mesh.vertices, drawn_mesh.colours, drawn_mesh.parts, meshes.model.faces,
                drawn_mesh.vertices_world, boxes, time_s,
            )  # fmt: skip
            joints3d = np.zeros((len(people), 22, 3))
            joints3d[drawn] = drawn_mesh.joints3d
            mesh = drawn_mesh if people else None
            joints2d, depth = _project(joints3d, k)
            owner_index = np.full(len(people), -3)
            owner_index[drawn] = np.arange(len(drawn))
            occluded, self_occluded = buffer_occlusion_flags(
                owner, part, surface, owner_index, joints2d, depth
            )
            listed = np.zeros(len(people), bool)
            listed[drawn] = in_image(joints2d[drawn], depth[drawn], k.width, k.height).any(axis=1)
        return SynthFrame(
            frame=index + 1,
            image=image,
            person_ids=ids[listed],
            joints2d=joints2d[listed],
            joints3d=joints3d[listed],
            occluded=occluded[listed],
            self_occluded=self_occluded[listed],
            population=len(people),
            solids=solids,
            solid_ids=ids,
            vehicle_corners=np.array(corners_cam).reshape(-1, 8, 3),
            mesh=mesh,
        )


def photo_background(
    folder: str,
    view: GroundView,
    lighting: Lighting,
    rng: np.random.Generator,
    zoom: tuple[float, float] = (1.0, 1.4),
) -> tuple[np.ndarray, Lighting]:
    """A real photograph placed for this camera (`photos.place_photo`), and the lighting
    tinted towards the photograph's mean colour, so the people share its white balance.

    Draws only from its own stream: the camera, people, labels and sensor effects are
    those of the same seed without photographs.
    """
    from crowdpose3d.data.photos import place_photo

    photos = _photo_set(folder)
    photo = photos.image(int(rng.integers(len(photos))))
    k = view.camera.intrinsics
    horizon_v = k.cy - k.fy * math.tan(view.pitch)
    image = place_photo(photo, k, horizon_v, rng, zoom)
    mean = image.reshape(-1, 3).mean(axis=0) + 1.0  # (3,) RGB
    tint = np.clip(mean / mean.mean(), 1 - PHOTO_TINT, 1 + PHOTO_TINT)
    return image, replace(lighting, tint=lighting.tint * tint)


@functools.lru_cache(maxsize=4)
def _photo_set(folder: str):
    from crowdpose3d.data.photos import PhotoSet

    return PhotoSet(folder, "train")  # never the held-out photographs


def _project(joints3d: np.ndarray, k) -> tuple[np.ndarray, np.ndarray]:
    """(N, 22, 2) pixels and (N, 22) depths; points behind the camera land far away."""
    depth = joints3d[..., 2]
    safe = np.where(depth[..., None] > 1e-6, joints3d, np.array([0.0, 0.0, 1e-6]))
    return k.project(safe), depth


def generate_sequence(config: SynthConfig, seed: int) -> SynthSequence:
    """The frames of one synthetic sequence: `for frame in generate_sequence(cfg, 7): ...`.

    The returned object also carries the sequence's `camera` (known before the first frame).
    """
    return SynthSequence(config, seed)
