"""The crowd as body meshes, frame by frame: each person's own anny shape and clothing, posed
by the procedural gait and placed in the world and the camera (for `MeshRenderer`).

A person's shape and clothing texture are drawn from a random stream of their own, seeded
by (sequence seed, person id), so they do not depend on who else is in the scene, and they
are computed once, when the person first appears.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from crowdpose3d.data.synth.crowd import Person
from crowdpose3d.data.synth.mesh_body import (
    BodyModel,
    RestBodies,
    load_body_model,
    sample_phenotype,
    vertex_colours,
)
from crowdpose3d.data.synth.motion import BodyPose
from crowdpose3d.data.synth.solids import to_world
from crowdpose3d.geometry.camera import Camera

NEAR_M = 0.3  # people whose joints are all nearer than this are not drawn


@dataclass(frozen=True)
class MeshFrame:
    """The people of one frame who may be seen, as meshes.

    drawn: (N,) indices into the frame's people of those drawn (the others are out of view);
    vertices: (N, V, 3) camera frame; vertices_world: (N, V, 3); colours: (N, V, 3) RGB in
    0..1; parts: (N, V) body part per vertex; joints3d: (N, 22, 3) camera frame, from the rig.
    """

    drawn: np.ndarray
    vertices: np.ndarray
    vertices_world: np.ndarray
    colours: np.ndarray
    parts: np.ndarray
    joints3d: np.ndarray


@dataclass(frozen=True)
class _Person:
    """One person's rest body (`RestBodies` fields without the leading N) and colours."""

    vertices: np.ndarray
    bone_heads: np.ndarray
    head_points: np.ndarray
    colours: np.ndarray
    parts: np.ndarray


class MeshPeople:
    """Keeps each person's rest mesh and colours while they are in the scene."""

    def __init__(self, seed: int, model: BodyModel | None = None) -> None:
        self.model = model or load_body_model()
        self.seed = int(seed)
        self._cache: dict[int, _Person] = {}

    def empty(self) -> MeshFrame:
        """A frame with nobody drawn."""
        v = self.model.num_vertices
        vertices = np.zeros((0, v, 3), np.float32)
        return MeshFrame(
            np.zeros(0, np.int64), vertices, vertices, vertices, np.zeros((0, v), int),
            np.zeros((0, 22, 3)),
        )  # fmt: skip

    def frame(
        self,
        people: list[Person],
        pose: BodyPose,
        rotation: np.ndarray,
        positions: np.ndarray,
        camera: Camera,
    ) -> MeshFrame:
        """Meshes of the people whose procedural skeleton is near the image.

        pose: the people's procedural pose (body frame); rotation: (N, 3, 3) body to world;
        positions: (N, 2) world ground positions.
        """
        ids = [p.person_id for p in people]
        self._cache = {i: self._cache[i] for i in ids if i in self._cache}
        drawn = _near_view(to_world(pose.joints, rotation, positions), camera)
        if not len(drawn):
            return self.empty()
        self._add([people[i] for i in drawn if people[i].person_id not in self._cache])

        entries = [self._cache[ids[i]] for i in drawn]
        rest = RestBodies(
            np.stack([e.vertices for e in entries]),
            np.stack([e.bone_heads for e in entries]),
            np.stack([e.head_points for e in entries]),
        )
        sub = BodyPose(**{f.name: getattr(pose, f.name)[drawn] for f in fields(BodyPose)})
        foot_radius = np.array([people[i].shape.foot_radius for i in drawn])
        lift = np.minimum(sub.heels[..., 2], sub.toes[..., 2]).min(axis=1) - foot_radius
        posed = self.model.pose(rest, sub, np.maximum(lift, 0.0))
        world = to_world(posed.vertices, rotation[drawn], positions[drawn])
        return MeshFrame(
            drawn=drawn,
            vertices=camera.world_to_camera(world).astype(np.float32),
            vertices_world=world,
            colours=np.stack([e.colours for e in entries]),
            parts=np.stack([e.parts for e in entries]),
            joints3d=camera.world_to_camera(
                to_world(posed.joints, rotation[drawn], positions[drawn])
            ),
        )

    def _add(self, people: list[Person]) -> None:
        if not people:
            return
        rngs = [np.random.default_rng([self.seed, p.person_id]) for p in people]
        rest = self.model.rest(np.stack([sample_phenotype(rng) for rng in rngs]))
        for k, (person, rng) in enumerate(zip(people, rngs, strict=True)):
            colours, parts = vertex_colours(self.model, rest.vertices[k], person.appearance, rng)
            self._cache[person.person_id] = _Person(
                rest.vertices[k], rest.bone_heads[k], rest.head_points[k], colours, parts
            )


def _near_view(joints_world: np.ndarray, camera: Camera) -> np.ndarray:
    """Indices of people whose skeleton, grown by half its size, may reach the image."""
    cam = camera.world_to_camera(joints_world)  # (N, 22, 3)
    k = camera.intrinsics
    keep = []
    for i, points in enumerate(cam):
        front = points[points[:, 2] > NEAR_M]
        if len(front) == 0:
            continue
        if len(front) < len(points):  # partly behind the camera: draw it, GL clips it
            keep.append(i)
            continue
        pix = k.project(front)
        low, high = pix.min(axis=0), pix.max(axis=0)
        grow = 0.5 * (high - low) + 20
        reaches = (high + grow >= 0).all()
        if reaches and low[0] - grow[0] <= k.width and low[1] - grow[1] <= k.height:
            keep.append(i)
    return np.array(keep, dtype=np.int64)
