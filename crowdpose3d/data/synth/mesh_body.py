"""Articulated body meshes for the mesh renderer: `anny` bodies posed by the procedural gait.

`anny` (NAVER, Apache-2.0) is a parametric body built on the MakeHuman mesh: 13,718
vertices, a 104-bone rig and six shape parameters (gender, age, muscle, weight, height,
proportions). Here each simulated person gets a random adult or teenage shape and its own
rest mesh; every frame, the gait of `motion.py` is turned into one rotation per body
segment (pelvis, spine, neck, head, upper arm, forearm, thigh, shin, foot), the rig is
posed by forward kinematics and the mesh is skinned (linear blend skinning, the four
largest weights of each vertex). The 22 JTA joints are read from the posed rig (bone heads
and two points fixed in the head bone), so the labels move with the pixels.

Frames: anny's rest mesh has z up, x to the body's left and -y forward; it is turned by
180 degrees about z into the body frame of `motion.py` (x right, y forward, z up) once.

Needs the optional extra: ``pip install 'crowdpose3d[mesh]'`` (anny, moderngl).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from crowdpose3d.data.synth.body import Appearance
from crowdpose3d.data.synth.motion import BodyPose

MISSING_EXTRA = (
    "the mesh renderer needs the optional 'mesh' extra: pip install 'crowdpose3d[mesh]' "
    "(and Mesa's EGL: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)"
)
SKIN_WEIGHTS = 4  # largest skinning weights kept per vertex
ANNY_TO_BODY = np.diag([-1.0, -1.0, 1.0])  # 180 degrees about z

# Body parts, numbered as solids.PART_NAMES so that occlusion.py's JOINT_PARTS apply.
HAIR, HEAD, NECK, CHEST, PELVIS = 0, 1, 2, 3, 4
# Segments with one rotation each; every bone follows one segment.
SEGMENTS = (
    "pelvis", "spine_low", "spine_mid", "thorax", "neck_low", "neck_high", "head",
    "r_upper_arm", "l_upper_arm", "r_forearm", "l_forearm",
    "r_thigh", "l_thigh", "r_shin", "l_shin", "r_foot", "l_foot",
)  # fmt: skip


def _bone_segment_and_part(name: str) -> tuple[str, int]:
    """Which segment moves a bone and which body part (solids numbering) its skin is."""
    side = "r" if name.endswith(".R") else "l"
    part_side = 0 if side == "r" else 1
    if name in ("root", "spine05") or name.startswith("pelvis"):
        return "pelvis", PELVIS
    if name == "spine04":
        return "spine_low", CHEST
    if name == "spine03":
        return "spine_mid", CHEST
    if name in ("spine02", "spine01") or name.startswith(("clavicle", "shoulder")):
        return "thorax", CHEST
    if name == "neck01":
        return "neck_low", NECK
    if name in ("neck02", "neck03"):
        return "neck_high", NECK
    if name == "head" or name.startswith("eye"):
        return "head", HEAD
    if name.startswith("upperarm"):
        return f"{side}_upper_arm", 5 + part_side
    if name.startswith("lowerarm"):
        return f"{side}_forearm", 7 + part_side
    if name.startswith(("wrist", "finger", "metacarpal")):
        return f"{side}_forearm", 9 + part_side
    if name.startswith("upperleg"):
        return f"{side}_thigh", 11 + part_side
    if name.startswith("lowerleg"):
        return f"{side}_shin", 13 + part_side
    if name.startswith(("foot", "toe")):
        return f"{side}_foot", 15 + part_side
    raise ValueError(f"anny bone {name!r} has no body segment")


def check_mesh_extra() -> None:
    """Raise RuntimeError (one line: what to install) unless anny and moderngl import."""
    import importlib.util

    for name in ("anny", "moderngl"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules
            found = False
        if not found:
            raise RuntimeError(MISSING_EXTRA)


@functools.lru_cache(maxsize=1)
def load_body_model() -> BodyModel:
    """The anny model and everything derived from its topology (loaded once per process)."""
    try:
        import anny
    except ImportError as error:
        raise RuntimeError(MISSING_EXTRA) from error
    return BodyModel(anny.Anny(skinning_method="lbs"))


# JTA joints 2..21 as the heads of these bones (0 and 1 are points of the head bone).
JOINT_BONES = (
    "neck01",
    "clavicle.R", "upperarm01.R", "lowerarm01.R", "wrist.R",
    "clavicle.L", "upperarm01.L", "lowerarm01.L", "wrist.L",
    "spine01", "spine02", "spine03", "spine04", "spine05",
    "upperleg01.R", "lowerleg01.R", "foot.R",
    "upperleg01.L", "lowerleg01.L", "foot.L",
)  # fmt: skip


@dataclass(frozen=True)
class RestBodies:
    """Rest meshes of N people in the body frame: vertices (N, V, 3), bone heads (N, B, 3),
    and head_points (N, 2, 3): the head top (2 cm under the crown) and the head centre."""

    vertices: np.ndarray
    bone_heads: np.ndarray
    head_points: np.ndarray


@dataclass(frozen=True)
class PosedBodies:
    """N posed people in their body frames.

    vertices: (N, V, 3) float32; joints: (N, 22, 3) JTA joints read from the posed rig.
    """

    vertices: np.ndarray
    joints: np.ndarray


class BodyModel:
    """anny's topology, rig and skinning with the lookups the renderer needs."""

    def __init__(self, model) -> None:
        self._model = model
        labels = list(model.bone_labels)
        self.parents = np.array([int(p) for p in model.bone_parents])
        self.faces = model.get_triangular_faces().cpu().numpy().astype(np.int32)  # (F, 3)
        weights = model.vertex_bone_weights.cpu().numpy()  # (V, 9)
        indices = model.vertex_bone_indices.cpu().numpy().astype(np.int64)
        top = np.argsort(-weights, axis=1)[:, :SKIN_WEIGHTS]
        kept = np.take_along_axis(weights, top, axis=1)
        self.skin_indices = np.take_along_axis(indices, top, axis=1)  # (V, 4)
        self.skin_weights = (kept / kept.sum(axis=1, keepdims=True)).astype(np.float32)
        self.num_vertices = len(weights)

        segment_of, part_of = zip(*(_bone_segment_and_part(n) for n in labels), strict=True)
        self.bone_segment = np.array([SEGMENTS.index(s) for s in segment_of])  # (B,)
        bone_part = np.array(part_of)
        dominant = indices[np.arange(len(weights)), weights.argmax(axis=1)]
        self.vertex_part = bone_part[dominant]  # (V,) no hair yet: set per person's colours
        self.order = _topological_order(self.parents)
        self.index = {name: labels.index(name) for name in labels}
        self.joint_bones = np.array([self.index[name] for name in JOINT_BONES])

    def bone(self, name: str) -> int:
        return self.index[name]

    def rest(self, phenotypes: np.ndarray) -> RestBodies:
        """Rest meshes for (N, 6) phenotypes (gender, age, muscle, weight, height, proportions)."""
        with torch.no_grad():
            out = self._model(phenotype_kwargs=torch.as_tensor(phenotypes, dtype=torch.float64))
        vertices = out["rest_vertices"].cpu().numpy() @ ANNY_TO_BODY.T
        heads = out["rest_bone_heads"].cpu().numpy() @ ANNY_TO_BODY.T
        head_vertices = vertices[:, self.vertex_part == HEAD]  # (N, H, 3)
        centre = 0.5 * (head_vertices.min(axis=1) + head_vertices.max(axis=1))
        top = centre.copy()
        top[:, 2] = head_vertices[..., 2].max(axis=1) - 0.02
        return RestBodies(vertices.astype(np.float32), heads, np.stack((top, centre), axis=1))

    def pose(self, rest: RestBodies, pose: BodyPose, foot_lift: np.ndarray) -> PosedBodies:
        """Pose N rest bodies like `pose` (motion.py's joints, body frame).

        The root goes over the procedural root; then each body is moved up or down so that
        its lowest foot vertex is `foot_lift` (N,) metres above the ground (0 when a foot
        is down, more in a running flight phase).
        """
        rotations = self._segment_rotations(rest, pose)  # (N, S, 3, 3)
        bone_rot = rotations[:, self.bone_segment]  # (N, B, 3, 3)
        heads = rest.bone_heads  # (N, B, 3)
        placed = np.empty_like(heads)  # posed bone heads
        root = self.order[0]
        placed[:, root] = pose.joints[:, 15]
        for b in self.order[1:]:
            p = self.parents[b]
            placed[:, b] = placed[:, p] + np.einsum(
                "nij,nj->ni", bone_rot[:, p], heads[:, b] - heads[:, p]
            )
        # Rigid transform of each bone: x -> R (x - head_rest) + head_posed, as (N, B, 3, 4).
        offset = placed - np.einsum("nbij,nbj->nbi", bone_rot, heads)
        transforms = np.concatenate((bone_rot, offset[..., None]), axis=-1).astype(np.float32)
        vertices = self._skin(rest.vertices, transforms)  # (N, V, 3)

        foot = (self.vertex_part == 15) | (self.vertex_part == 16)
        lowest = vertices[:, foot, 2].min(axis=1)  # (N,)
        shift = (foot_lift - lowest).astype(np.float32)
        vertices[..., 2] += shift[:, None]
        placed[..., 2] += shift[:, None]
        joints = self._joints(rest, placed, bone_rot)
        return PosedBodies(vertices, joints)

    # ------------------------------------------------------------------ internals
    def _segment_rotations(self, rest: RestBodies, pose: BodyPose) -> np.ndarray:
        """(N, S, 3, 3) body-frame rotation of each segment, from rest to the pose."""
        j, heads = pose.joints, rest.bone_heads
        n = len(j)
        hip_axis = j[:, 16] - j[:, 19]  # left hip -> right hip, body x at rest
        yaw = np.arctan2(hip_axis[:, 1], hip_axis[:, 0])
        pelvis = _rot_z(yaw)
        thorax, head = pose.thorax, pose.head
        out = np.empty((n, len(SEGMENTS), 3, 3))
        out[:, SEGMENTS.index("pelvis")] = pelvis
        out[:, SEGMENTS.index("spine_low")] = _blend(pelvis, thorax, 1 / 3)
        out[:, SEGMENTS.index("spine_mid")] = _blend(pelvis, thorax, 2 / 3)
        out[:, SEGMENTS.index("thorax")] = thorax
        out[:, SEGMENTS.index("neck_low")] = _blend(thorax, head, 1 / 3)
        out[:, SEGMENTS.index("neck_high")] = _blend(thorax, head, 2 / 3)
        out[:, SEGMENTS.index("head")] = head

        def bone_dir(a: str, b: str) -> np.ndarray:
            return heads[:, self.bone(b)] - heads[:, self.bone(a)]

        # (segment, parent segment, rest bone from, rest bone to, target joint from, to)
        chains = []
        for s, side in (("r", "R"), ("l", "L")):
            sh, el, wr = (4, 5, 6) if s == "r" else (8, 9, 10)
            hp, kn, an = (16, 17, 18) if s == "r" else (19, 20, 21)
            toe = pose.toes[:, 0 if s == "r" else 1]
            chains += [
                (f"{s}_upper_arm", "thorax", f"upperarm01.{side}", f"lowerarm01.{side}",
                 j[:, el] - j[:, sh]),
                (f"{s}_forearm", f"{s}_upper_arm", f"lowerarm01.{side}", f"wrist.{side}",
                 j[:, wr] - j[:, el]),
                (f"{s}_thigh", "pelvis", f"upperleg01.{side}", f"lowerleg01.{side}",
                 j[:, kn] - j[:, hp]),
                (f"{s}_shin", f"{s}_thigh", f"lowerleg01.{side}", f"foot.{side}",
                 j[:, an] - j[:, kn]),
                (f"{s}_foot", f"{s}_shin", f"foot.{side}", f"toe3-1.{side}", toe - j[:, an]),
            ]  # fmt: skip
        for segment, parent, bone_a, bone_b, target in chains:
            parent_rot = out[:, SEGMENTS.index(parent)]
            carried = np.einsum("nij,nj->ni", parent_rot, bone_dir(bone_a, bone_b))
            out[:, SEGMENTS.index(segment)] = _swing(carried, target) @ parent_rot
        return out

    def _skin(self, rest_vertices: np.ndarray, transforms: np.ndarray) -> np.ndarray:
        """Linear blend skinning: (N, V, 3) rest vertices, (N, B, 3, 4) -> (N, V, 3)."""
        t = torch.from_numpy(transforms)
        w = torch.from_numpy(self.skin_weights)  # (V, K)
        idx = torch.from_numpy(self.skin_indices)  # (V, K)
        blended = torch.einsum("vk,nvkij->nvij", w, t[:, idx])  # (N, V, 3, 4)
        v = torch.from_numpy(rest_vertices)
        posed = torch.einsum("nvij,nvj->nvi", blended[..., :3], v) + blended[..., 3]
        return posed.numpy()

    def _joints(self, rest: RestBodies, placed: np.ndarray, bone_rot: np.ndarray) -> np.ndarray:
        """(N, 22, 3) JTA joints from posed bone heads and two points of the head bone."""
        head = self.bone("head")
        joints = np.empty((len(placed), 22, 3))
        joints[:, :2] = placed[:, head, None] + np.einsum(
            "nij,nkj->nki", bone_rot[:, head], rest.head_points - rest.bone_heads[:, head, None]
        )
        joints[:, 2:] = placed[:, self.joint_bones]
        return joints


def _topological_order(parents: np.ndarray) -> list[int]:
    """Bones ordered so that each comes after its parent (the root, parent < 0, first)."""
    order, placed = [], set()
    pending = list(range(len(parents)))
    while pending:
        rest = []
        for b in pending:
            if parents[b] < 0 or parents[b] in placed:
                order.append(b)
                placed.add(b)
            else:
                rest.append(b)
        if len(rest) == len(pending):
            raise ValueError("the rig's parent links form a cycle")
        pending = rest
    return order


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(c), np.ones_like(c)
    return np.stack((c, -s, o, s, c, o, o, o, i), axis=-1).reshape(-1, 3, 3)


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Rotations between (N, 3, 3) `a` and `b`: the nearest rotation to their weighted mean."""
    u, _, vt = np.linalg.svd((1 - t) * a + t * b)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[:, None]
    return u @ vt


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) the smallest rotations taking directions a (N, 3) to b (N, 3)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=1)
    cos = np.einsum("ni,ni->n", a, b)
    # Opposite directions: any axis perpendicular to a.
    fallback = np.cross(a, np.array([1.0, 0.0, 0.0]))
    fallback[np.linalg.norm(fallback, axis=1) < 1e-6] = [0.0, 1.0, 0.0]
    axis = np.where((sin < 1e-9)[:, None], fallback, axis)
    axis = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.arctan2(sin, cos)
    k = np.zeros((len(a), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(0, 2, 1)
    eye = np.eye(3)[None]
    return eye + np.sin(angle)[:, None, None] * k + (1 - np.cos(angle))[:, None, None] * (k @ k)


def sample_phenotype(rng: np.random.Generator) -> np.ndarray:
    """(6,) anny shape: gender, age (80 % adults, 20 % teenagers), muscle, weight, height,
    proportions."""
    adult = rng.random() < 0.8
    age = rng.uniform(0.45, 0.95) if adult else rng.uniform(0.34, 0.45)
    return np.array(
        [
            rng.uniform(0, 1),
            age,
            rng.uniform(0.2, 0.8),
            rng.uniform(0.15, 0.85),
            rng.uniform(0.3, 0.75),
            rng.uniform(0.3, 0.7),
        ]
    )


def vertex_colours(
    model: BodyModel,
    rest_vertices: np.ndarray,
    appearance: Appearance,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Clothing-like colours of one person: (V, 3) float32 RGB in 0..1 and (V,) part ids.

    Regions: hair (above the brow and behind the face, unless bald), skin (face, neck,
    hands, forearms with short sleeves, shins with shorts or a skirt), top (chest, upper
    arms), trousers or skirt (pelvis, thighs), shoes. Garments get a pattern (plain,
    stripes, two-tone, checks) and a fixed fabric noise.
    """
    part = model.vertex_part.copy()
    v = rest_vertices  # (V, 3) body frame
    head = part == HEAD
    head_v = v[head]
    crown = head_v[:, 2].max()
    head_height = crown - head_v[:, 2].min()
    front = head_v[:, 1].max()
    hairline = crown - rng.uniform(0.3, 0.55) * head_height
    hair = head & (v[:, 2] > hairline) & (v[:, 1] < front - rng.uniform(0.02, 0.05))
    hair |= head & (v[:, 2] > crown - 0.25 * head_height)
    part[hair] = HAIR

    skin = np.array(appearance.skin) / 255
    colour = np.tile(skin, (len(v), 1))
    if not appearance.bald:
        colour[hair] = np.array(appearance.hair) / 255
    top = np.array(appearance.top) / 255
    bottom = np.array(appearance.bottom) / 255
    shoes = np.array(appearance.shoes) / 255
    top_parts = [CHEST, 5, 6] + ([] if appearance.short_sleeves else [7, 8])
    bottom_parts = [PELVIS, 11, 12] + ([] if appearance.bare_shins else [13, 14])
    is_top = np.isin(part, top_parts)
    is_bottom = np.isin(part, bottom_parts)
    colour[is_top] = top * _pattern(v[is_top], rng)[:, None]
    colour[is_bottom] = bottom * _pattern(v[is_bottom], rng)[:, None]
    colour[np.isin(part, [15, 16])] = shoes
    fabric = np.random.default_rng(0).uniform(0.92, 1.0, len(v))  # same weave for everyone
    colour = colour * fabric[:, None]
    return np.clip(colour, 0, 1).astype(np.float32), part


def _pattern(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(M,) brightness factors of a garment over its rest vertices (M, 3)."""
    kind = rng.choice(["plain", "stripes", "two_tone", "checks"], p=[0.5, 0.2, 0.15, 0.15])
    if kind == "plain":
        return np.ones(len(v))
    if kind == "stripes":
        period = rng.uniform(0.04, 0.12)
        return np.where(np.sin(2 * np.pi * v[:, 2] / period) > 0, 1.0, rng.uniform(0.45, 0.8))
    if kind == "two_tone":
        cut = np.median(v[:, 2])
        return np.where(v[:, 2] > cut, 1.0, rng.uniform(0.4, 0.75))
    period = rng.uniform(0.05, 0.1)
    cells = np.floor(v[:, 0] / period) + np.floor(v[:, 2] / period)
    return np.where(cells % 2 == 0, 1.0, rng.uniform(0.55, 0.85))
