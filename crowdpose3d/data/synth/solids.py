"""Body parts and vehicles as simple solids in camera coordinates.

A body part is the convex hull of spheres: two for a limb segment (a tapered capsule), four
for the chest and the pelvis (a rounded slab), one capsule each for head, hair and neck.
A vehicle is a set of boxes. The renderer paints these far to near, the occlusion test and
the tests reason about the same solids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowdpose3d.data.synth.body import Appearance
from crowdpose3d.data.synth.motion import BodyPose
from crowdpose3d.geometry.camera import Camera

PART_NAMES = (
    "hair", "head", "neck", "chest", "pelvis",
    "right_upper_arm", "left_upper_arm", "right_forearm", "left_forearm",
    "right_hand", "left_hand", "right_thigh", "left_thigh",
    "right_shin", "left_shin", "right_foot", "left_foot",
)  # fmt: skip
NUM_PARTS = len(PART_NAMES)
HULL_PARTS = (3, 4)  # chest and pelvis use four spheres, the others two

# For each JTA joint, the parts it lies in: seeing one of these at the joint's pixel does
# not hide the joint (see occlusion.py).
JOINT_PARTS = (
    (0, 1), (0, 1), (1, 2, 3),  # head_top, head_center, neck
    (2, 3), (3, 5), (5, 7), (7, 9),  # right clavicle, shoulder, elbow, wrist
    (2, 3), (3, 6), (6, 8), (8, 10),  # left
    (2, 3), (3,), (3, 4), (3, 4), (4,),  # spine0 .. spine4
    (4, 11), (11, 13), (13, 15),  # right hip, knee, ankle
    (4, 12), (12, 14), (14, 16),  # left
)  # fmt: skip


@dataclass(frozen=True)
class PersonSolids:
    """The parts of N people, camera frame.

    centres: (N, P, 4, 3) sphere centres (two-sphere parts repeat their ends);
    radii: (N, P, 4) metres; colours: (N, P, 3) RGB.
    """

    centres: np.ndarray
    radii: np.ndarray
    colours: np.ndarray


def body_to_world(pose: BodyPose, positions: np.ndarray, headings: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations taking body-frame vectors to world (yaw about z).

    World point = rotation @ body point + (x, y, 0).
    """
    c, s = np.cos(headings), np.sin(headings)
    o, i = np.zeros_like(c), np.ones_like(c)
    # body x (right) -> (cos, -sin, 0); body y (forward) -> (sin, cos, 0)
    return np.stack((c, s, o, -s, c, o, o, o, i), axis=-1).reshape(-1, 3, 3)


def to_world(points: np.ndarray, rotation: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(N, ..., 3) body-frame points -> world, with (N, 3, 3) rotations, (N, 2) positions."""
    n = len(points)
    flat = points.reshape(n, -1, 3)
    world = np.einsum("nij,nkj->nki", rotation, flat)
    world[..., :2] += positions[:, None, :]
    return world.reshape(points.shape)


def person_solids(
    pose: BodyPose,
    shape: dict[str, np.ndarray],
    appearance: list[Appearance],
) -> PersonSolids:
    """Parts of N posed bodies in their body frames (place them with `to_world`)."""
    j = pose.joints
    n = len(j)
    centres = np.empty((n, NUM_PARTS, 4, 3))
    radii = np.empty((n, NUM_PARTS, 4))

    def capsule(part: int, a: np.ndarray, b: np.ndarray, ra, rb) -> None:
        centres[:, part] = np.stack((a, a, b, b), axis=1)
        ra, rb = np.broadcast_to(ra, (n,)), np.broadcast_to(rb, (n,))
        radii[:, part] = np.stack((ra, ra, rb, rb), axis=1)

    head_up = pose.head[:, :, 2]  # (N, 3) the head's up axis
    head_fwd = pose.head[:, :, 1]
    r_head = shape["head_radius"]
    centre = j[:, 1] + 0.15 * r_head[:, None] * head_up
    capsule(
        1,
        centre - 0.35 * r_head[:, None] * head_up + 0.15 * r_head[:, None] * head_fwd,
        centre + 0.3 * r_head[:, None] * head_up,
        0.82 * r_head,
        r_head,
    )
    hair_centre = centre + 0.12 * r_head[:, None] * head_up - 0.22 * r_head[:, None] * head_fwd
    capsule(
        0,
        hair_centre - 0.15 * r_head[:, None] * head_up,
        hair_centre + 0.25 * r_head[:, None] * head_up,
        1.0 * r_head,
        1.02 * r_head,
    )
    capsule(
        2, j[:, 2] - 0.5 * (j[:, 2] - j[:, 11]), j[:, 1], shape["neck_radius"], shape["neck_radius"]
    )

    # Chest: spheres below the shoulders and at the waist; pelvis: waist to hips.
    right, fwd = pose.thorax[:, :, 0], pose.thorax[:, :, 1]
    r_torso = shape["torso_radius"]
    shoulder_w = shape["shoulder_half_width"][:, None]
    hip_w = shape["hip_half_width"][:, None]
    top = j[:, 11] + 0.02 * fwd  # spine0
    waist = j[:, 13] + 0.01 * fwd  # spine2
    inset = np.maximum(shoulder_w - 0.75 * r_torso[:, None], 0.3 * shoulder_w)
    waist_w = np.maximum(hip_w + 0.2 * shoulder_w - 0.8 * r_torso[:, None], 0.25 * shoulder_w)
    centres[:, 3] = np.stack(
        (
            top + inset * right,
            top - inset * right,
            waist + waist_w * right,
            waist - waist_w * right,
        ),
        axis=1,
    )
    radii[:, 3] = np.stack((r_torso, r_torso, 0.95 * r_torso, 0.95 * r_torso), axis=1)
    skirt = np.array([a.skirt for a in appearance])[:, None]
    hip_mid = 0.5 * (j[:, 16] + j[:, 19])
    knees_mid = 0.5 * (j[:, 17] + j[:, 20])
    hem = hip_mid + np.where(skirt, 0.55, 0.0) * (knees_mid - hip_mid)
    hem_w = np.where(skirt, 1.6, 1.0) * hip_w
    pelvis_right = j[:, 16] - j[:, 19]
    pelvis_right /= np.linalg.norm(pelvis_right, axis=1, keepdims=True)
    centres[:, 4] = np.stack(
        (j[:, 14] + waist_w * right, j[:, 14] - waist_w * right,
         hem + hem_w * pelvis_right, hem - hem_w * pelvis_right), axis=1,
    )  # fmt: skip
    radii[:, 4] = np.stack(
        (0.92 * r_torso, 0.92 * r_torso, shape["thigh_radius"] * 1.1, shape["thigh_radius"] * 1.1),
        axis=1,
    )

    for side, (shoulder, elbow, wrist, hip, knee, ankle) in enumerate(
        ((4, 5, 6, 16, 17, 18), (8, 9, 10, 19, 20, 21))
    ):
        capsule(
            5 + side,
            j[:, shoulder],
            j[:, elbow],
            shape["upper_arm_radius"],
            0.85 * shape["upper_arm_radius"],
        )
        capsule(
            7 + side,
            j[:, elbow],
            j[:, wrist],
            shape["forearm_radius"],
            0.8 * shape["forearm_radius"],
        )
        tip = pose.hand_tips[:, side]
        capsule(
            9 + side,
            j[:, wrist] + 0.3 * (tip - j[:, wrist]),
            tip,
            0.75 * shape["forearm_radius"],
            0.6 * shape["forearm_radius"],
        )
        capsule(
            11 + side, j[:, hip], j[:, knee], shape["thigh_radius"], 0.8 * shape["thigh_radius"]
        )
        capsule(
            13 + side, j[:, knee], j[:, ankle], shape["shin_radius"], 0.75 * shape["shin_radius"]
        )
        capsule(
            15 + side,
            pose.heels[:, side],
            pose.toes[:, side],
            shape["foot_radius"],
            0.85 * shape["foot_radius"],
        )

    return PersonSolids(centres=centres, radii=radii, colours=_part_colours(appearance))


def transform_solids(solids: PersonSolids, rotation, positions, camera: Camera) -> PersonSolids:
    """Body-frame solids -> camera frame."""
    world = to_world(solids.centres, rotation, positions)
    return PersonSolids(camera.world_to_camera(world), solids.radii, solids.colours)


def _part_colours(appearance: list[Appearance]) -> np.ndarray:
    """(N, P, 3) RGB colour of every part."""
    colours = np.empty((len(appearance), NUM_PARTS, 3))
    for i, a in enumerate(appearance):
        sleeve = a.skin if a.short_sleeves else a.top
        shin = a.skin if a.bare_shins else a.bottom
        thigh = a.bottom if not a.skirt else a.skin
        hair = a.skin if a.bald else a.hair
        colours[i] = (
            hair, a.skin, a.skin, a.top, a.bottom,
            a.top, a.top, sleeve, sleeve, a.skin, a.skin,
            thigh, thigh, shin, shin, a.shoes, a.shoes,
        )  # fmt: skip
    return colours


def box_corners(centre: np.ndarray, half: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(8, 3) world corners of a box: centre (3,), half sizes (3,), axes (3, 3) rows."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    return centre + (signs * half) @ axes


# Box faces as corner indices (counter-clockwise seen from outside) and outward normal sign.
BOX_FACES = (
    ((0, 1, 3, 2), (-1, 0, 0)),
    ((4, 6, 7, 5), (1, 0, 0)),
    ((0, 4, 5, 1), (0, -1, 0)),
    ((2, 3, 7, 6), (0, 1, 0)),
    ((1, 5, 7, 3), (0, 0, 1)),
)  # fmt: skip  (the bottom face is never seen from above the ground)


def box_faces(corners: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The faces of a box but its bottom: (quad (4, 3) corners, outward unit normal (3,))."""
    centre = corners.mean(axis=0)
    faces = []
    for face, _ in BOX_FACES:
        quad = corners[list(face)]
        normal = np.cross(quad[1] - quad[0], quad[3] - quad[0])
        if normal @ (quad.mean(axis=0) - centre) < 0:
            normal = -normal
        faces.append((quad, normal / np.linalg.norm(normal)))
    return faces
