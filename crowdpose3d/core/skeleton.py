"""Joint sets (JTA-22, CMU Panoptic-19, MuPoTS-17), bones, cross-dataset mappings and the
bone-length normalisation of PandaNet (section 3.3.3): 3D poses are expressed relative to
the root (pelvis) joint and divided by the sum of the skeleton's bone lengths, so that every
person is predicted at the same scale.

Joint orders are the ones the datasets store on disk:

- JTA (Fabbri et al. 2018): `joint type` 0..21 of the annotation rows, README of
  fabbrimatteo/JTA-Dataset; the limbs follow that repository's `pose.py`. The JTA-Mods
  annotator (`DatasetAnnotator/scenario.cpp`) shows which GTA-V bone each joint is:
  spine0 = SKEL_Spine3 (just under the neck) ... spine4 = SKEL_Spine_Root (lowest, where the
  thighs attach); head_top is extrapolated as head + (head - neck).
- CMU Panoptic: `joints19` of `hdPose3d_stage1_coco19/body3DScene_*.json` (panoptic-toolbox
  README, "coco19"); body edges from the toolbox's python demo.
- MuPoTS-3D: the 17 "relevant" MPI-INF-3DHP joints of the official evaluation code
  (`mpii_get_joints('relevant')`, pelvis = 15th joint, 1-based), as used by 3DMPPE's
  `MuPoTS.py` (which names `neck` "Thorax").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "JTA22",
    "MUPOTS17",
    "PANOPTIC19",
    "SKELETONS",
    "Skeleton",
    "bone_lengths",
    "denormalize_pose",
    "get_skeleton",
    "joint_mapping",
    "map_joints",
    "normalize_pose",
]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Skeleton:
    """A named joint set with its kinematic tree.

    joints:     joint names in the dataset's storage order.
    bones:      (parent, child) joint indices forming a tree rooted at `root` that reaches
                every joint; listed parents-first (a walk in list order meets each bone's
                parent before its child), so forward kinematics can follow the list.
    flip_pairs: index pairs of mirrored joints (one left, one right), swapped by a
                horizontal flip; the order inside a pair does not matter.
    root:       index of the root joint (the pelvis) that 3D poses are relative to.
    groups:     (group name, joint indices) for per-group evaluation (e.g. paper Table 4).
    landmarks:  per joint, the anatomical point it stands for across datasets (or None for
                "no counterpart elsewhere"); `joint_mapping` matches joints on it. Empty
                means the skeleton maps only onto itself.
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    root: int
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()
    landmarks: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        # Normalise list / Mapping inputs to hashable tuples (the dataclass is frozen).
        groups = self.groups.items() if isinstance(self.groups, Mapping) else self.groups
        object.__setattr__(self, "joints", tuple(str(j) for j in self.joints))
        object.__setattr__(self, "bones", tuple((int(p), int(c)) for p, c in self.bones))
        object.__setattr__(self, "flip_pairs", tuple((int(a), int(b)) for a, b in self.flip_pairs))
        object.__setattr__(
            self, "groups", tuple((str(g), tuple(int(i) for i in idx)) for g, idx in groups)
        )
        object.__setattr__(self, "landmarks", tuple(self.landmarks))
        object.__setattr__(self, "root", int(self.root))
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        where = f"skeleton {self.name!r}"
        num_joints = len(self.joints)
        if not self.name:
            raise ValueError("skeleton name must be a non-empty string")
        if num_joints == 0:
            raise ValueError(f"{where}: needs at least one joint")
        if len(set(self.joints)) != num_joints:
            duplicates = sorted({j for j in self.joints if self.joints.count(j) > 1})
            raise ValueError(f"{where}: duplicate joint names {duplicates}")
        if not 0 <= self.root < num_joints:
            raise ValueError(f"{where}: root index {self.root} is outside 0..{num_joints - 1}")

        # Bones: indices in range, a tree of K-1 edges, parents-first order, reaching all.
        if len(self.bones) != num_joints - 1:
            raise ValueError(
                f"{where}: a tree over {num_joints} joints has {num_joints - 1} bones, "
                f"got {len(self.bones)}"
            )
        reached = {self.root}
        for parent, child in self.bones:
            for index in (parent, child):
                if not 0 <= index < num_joints:
                    raise ValueError(
                        f"{where}: bone ({parent}, {child}) has index {index} outside "
                        f"0..{num_joints - 1}"
                    )
            if parent not in reached:
                raise ValueError(
                    f"{where}: bone ({parent}, {child}) comes before any bone reaching its "
                    f"parent {self.joints[parent]!r}; list bones parents-first from the root"
                )
            if child in reached:
                raise ValueError(
                    f"{where}: bone ({parent}, {child}) reaches {self.joints[child]!r} a "
                    "second time (bones must form a tree rooted at the root)"
                )
            reached.add(child)
        # K-1 bones that each add one new joint reach all K joints; kept as a guard.
        missing = [self.joints[i] for i in range(num_joints) if i not in reached]
        if missing:
            raise ValueError(f"{where}: joints not reached from the root: {missing}")

        # Flip pairs: in range, distinct, disjoint, root not flipped, mirror maps bones to bones.
        seen: set[int] = set()
        for a, b in self.flip_pairs:
            if not (0 <= a < num_joints and 0 <= b < num_joints):
                raise ValueError(f"{where}: flip pair ({a}, {b}) is outside 0..{num_joints - 1}")
            if a == b:
                raise ValueError(f"{where}: flip pair ({a}, {b}) pairs a joint with itself")
            if a in seen or b in seen:
                raise ValueError(f"{where}: flip pair ({a}, {b}) reuses a joint of another pair")
            seen.update((a, b))
        if self.root in seen:
            raise ValueError(f"{where}: the root joint cannot be in a flip pair")
        perm = self.flip_permutation()
        bone_set = set(self.bones)
        if {(perm[p], perm[c]) for p, c in self.bones} != bone_set:
            raise ValueError(f"{where}: the flip pairs do not map the bones onto themselves")

        # Groups: unique names, non-empty, indices in range.
        names = [g for g, _ in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: duplicate group names in {names}")
        for group, indices in self.groups:
            if not indices or any(not 0 <= i < num_joints for i in indices):
                raise ValueError(
                    f"{where}: group {group!r} has indices {indices} outside "
                    f"0..{num_joints - 1} (or none)"
                )

        # Landmarks: one per joint (or none at all), unique where given.
        if self.landmarks:
            if len(self.landmarks) != num_joints:
                raise ValueError(
                    f"{where}: {len(self.landmarks)} landmarks for {num_joints} joints"
                )
            given = [lm for lm in self.landmarks if lm is not None]
            if len(set(given)) != len(given):
                raise ValueError(f"{where}: a landmark is used by two joints")

    # ------------------------------------------------------------------ queries
    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def num_bones(self) -> int:
        return len(self.bones)

    @property
    def parents(self) -> tuple[int, ...]:
        """Parent index of every joint, -1 for the root."""
        parents = [-1] * self.num_joints
        for parent, child in self.bones:
            parents[child] = parent
        return tuple(parents)

    def index(self, name: str) -> int:
        """Index of the joint called `name`."""
        try:
            return self.joints.index(name)
        except ValueError:
            raise ValueError(
                f"skeleton {self.name!r} has no joint {name!r}; joints: {', '.join(self.joints)}"
            ) from None

    def flip_permutation(self) -> tuple[int, ...]:
        """Joint order after a horizontal flip: `flipped = points[..., perm, :]`.

        Left and right joints swap, centre joints stay; the permutation is an involution.
        """
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)

    def group_indices(self, group: str) -> tuple[int, ...]:
        """Joint indices of an evaluation group (e.g. "shoulders")."""
        for name, indices in self.groups:
            if name == group:
                return indices
        known = ", ".join(name for name, _ in self.groups) or "none"
        raise ValueError(f"skeleton {self.name!r} has no group {group!r}; groups: {known}")


# ---------------------------------------------------------------------- JTA 22
# Root: JTA has no pelvis joint. spine4 (GTA-V SKEL_Spine_Root) is the lowest spine joint and
# the one the thighs (right_hip, left_hip) hang from in JTA's own limb list, so it is the
# natural pelvis and the root here. It is close to, but not exactly, the hip midpoint.
_JTA_JOINTS = (
    "head_top",  # 0  extrapolated: head_center + (head_center - neck)
    "head_center",  # 1  SKEL_Head
    "neck",  # 2  SKEL_Neck_1
    "right_clavicle",  # 3
    "right_shoulder",  # 4  SKEL_R_UpperArm
    "right_elbow",  # 5  SKEL_R_Forearm
    "right_wrist",  # 6  SKEL_R_Hand
    "left_clavicle",  # 7
    "left_shoulder",  # 8
    "left_elbow",  # 9
    "left_wrist",  # 10
    "spine0",  # 11 SKEL_Spine3 (highest, attached to the neck)
    "spine1",  # 12 SKEL_Spine2
    "spine2",  # 13 SKEL_Spine1
    "spine3",  # 14 SKEL_Spine0
    "spine4",  # 15 SKEL_Spine_Root (lowest: the pelvis / root)
    "right_hip",  # 16 SKEL_R_Thigh
    "right_knee",  # 17 SKEL_R_Calf
    "right_ankle",  # 18 SKEL_R_Foot
    "left_hip",  # 19
    "left_knee",  # 20
    "left_ankle",  # 21
)
_JTA_BONES = (
    (15, 14), (14, 13), (13, 12), (12, 11),  # spine4 -> spine3 -> ... -> spine0
    (11, 2), (2, 1), (1, 0),  # spine0 -> neck -> head_center -> head_top
    (2, 3), (3, 4), (4, 5), (5, 6),  # neck -> right clavicle, shoulder, elbow, wrist
    (2, 7), (7, 8), (8, 9), (9, 10),  # neck -> left clavicle, shoulder, elbow, wrist
    (15, 16), (16, 17), (17, 18),  # spine4 -> right hip, knee, ankle
    (15, 19), (19, 20), (20, 21),  # spine4 -> left hip, knee, ankle
)  # fmt: skip
_JTA_LANDMARKS = (
    "head_top",  # approximate: JTA extrapolates it from head and neck
    "head",  # approximate: GTA head bone ~ MPI-INF-3DHP 'head'
    "neck",  # approximate: GTA neck base vs Panoptic/3DHP neck
    None, "r_shoulder", "r_elbow", "r_wrist",
    None, "l_shoulder", "l_elbow", "l_wrist",
    None, None, None, None,
    "pelvis",  # approximate: lowest spine joint vs Panoptic body centre / 3DHP pelvis
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
)  # fmt: skip
JTA22 = Skeleton(
    name="jta22",
    joints=_JTA_JOINTS,
    bones=_JTA_BONES,
    flip_pairs=((3, 7), (4, 8), (5, 9), (6, 10), (16, 19), (17, 20), (18, 21)),
    root=15,
    # Joint groups of the paper's Table 4 (joint-wise 3DPCK on JTA).
    groups=(
        ("head", (0, 1)),
        ("neck", (2,)),
        ("clavicles", (3, 7)),
        ("shoulders", (4, 8)),
        ("elbows", (5, 9)),
        ("wrists", (6, 10)),
        ("spines", (11, 12, 13, 14, 15)),
        ("hips", (16, 19)),
        ("knees", (17, 20)),
        ("ankles", (18, 21)),
    ),
    landmarks=_JTA_LANDMARKS,
)

# ---------------------------------------------------------------------- CMU Panoptic 19
_PANOPTIC_JOINTS = (
    "neck",  # 0
    "nose",  # 1
    "body_center",  # 2  centre of the hips: the pelvis / root
    "l_shoulder",  # 3
    "l_elbow",  # 4
    "l_wrist",  # 5
    "l_hip",  # 6
    "l_knee",  # 7
    "l_ankle",  # 8
    "r_shoulder",  # 9
    "r_elbow",  # 10
    "r_wrist",  # 11
    "r_hip",  # 12
    "r_knee",  # 13
    "r_ankle",  # 14
    "l_eye",  # 15
    "l_ear",  # 16
    "r_eye",  # 17
    "r_ear",  # 18
)
_PANOPTIC_BONES = (
    (2, 0), (0, 1),  # body_center -> neck -> nose
    (1, 15), (15, 16), (1, 17), (17, 18),  # nose -> left eye -> ear, nose -> right eye -> ear
    (0, 3), (3, 4), (4, 5),  # neck -> left shoulder, elbow, wrist
    (0, 9), (9, 10), (10, 11),  # neck -> right shoulder, elbow, wrist
    (2, 6), (6, 7), (7, 8),  # body_center -> left hip, knee, ankle
    (2, 12), (12, 13), (13, 14),  # body_center -> right hip, knee, ankle
)  # fmt: skip
_PANOPTIC_LANDMARKS = (
    "neck",  # approximate: OpenPose-style neck (between the shoulders)
    "nose",
    "pelvis",  # approximate: midpoint of the hips vs JTA spine4 / 3DHP pelvis
    "l_shoulder", "l_elbow", "l_wrist", "l_hip", "l_knee", "l_ankle",
    "r_shoulder", "r_elbow", "r_wrist", "r_hip", "r_knee", "r_ankle",
    "l_eye", "l_ear", "r_eye", "r_ear",
)  # fmt: skip
PANOPTIC19 = Skeleton(
    name="panoptic19",
    joints=_PANOPTIC_JOINTS,
    bones=_PANOPTIC_BONES,
    flip_pairs=((3, 9), (4, 10), (5, 11), (6, 12), (7, 13), (8, 14), (15, 17), (16, 18)),
    root=2,
    landmarks=_PANOPTIC_LANDMARKS,
)

# ---------------------------------------------------------------------- MuPoTS-3D 17
_MUPOTS_JOINTS = (
    "head_top",  # 0
    "neck",  # 1  ('Thorax' in 3DMPPE)
    "r_shoulder",  # 2
    "r_elbow",  # 3
    "r_wrist",  # 4
    "l_shoulder",  # 5
    "l_elbow",  # 6
    "l_wrist",  # 7
    "r_hip",  # 8
    "r_knee",  # 9
    "r_ankle",  # 10
    "l_hip",  # 11
    "l_knee",  # 12
    "l_ankle",  # 13
    "pelvis",  # 14 the root (official evaluation centres on it)
    "spine",  # 15
    "head",  # 16
)
_MUPOTS_BONES = (
    (14, 15), (15, 1), (1, 16), (16, 0),  # pelvis -> spine -> neck -> head -> head_top
    (1, 2), (2, 3), (3, 4),  # neck -> right shoulder, elbow, wrist
    (1, 5), (5, 6), (6, 7),  # neck -> left shoulder, elbow, wrist
    (14, 8), (8, 9), (9, 10),  # pelvis -> right hip, knee, ankle
    (14, 11), (11, 12), (12, 13),  # pelvis -> left hip, knee, ankle
)  # fmt: skip
_MUPOTS_LANDMARKS = (
    "head_top", "neck",
    "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
    "pelvis",
    None,  # mid-back 'spine': no single JTA spine joint is the same point
    "head",
)  # fmt: skip
MUPOTS17 = Skeleton(
    name="mupots17",
    joints=_MUPOTS_JOINTS,
    bones=_MUPOTS_BONES,
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13)),
    root=14,
    # Joint groups of the official MPI-INF-3DHP / MuPoTS PCK tables.
    groups=(
        ("head", (0,)),
        ("neck", (1,)),
        ("shoulders", (2, 5)),
        ("elbows", (3, 6)),
        ("wrists", (4, 7)),
        ("hips", (8, 11)),
        ("knees", (9, 12)),
        ("ankles", (10, 13)),
    ),
    landmarks=_MUPOTS_LANDMARKS,
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (JTA22, PANOPTIC19, MUPOTS17)}


def get_skeleton(name: str) -> Skeleton:
    """The built-in skeleton called `name` ("jta22", "panoptic19", "mupots17")."""
    try:
        return SKELETONS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown skeleton {name!r}; known skeletons: {', '.join(sorted(SKELETONS))}"
        ) from None


# ---------------------------------------------------------------------- joint mapping
def joint_mapping(source: Skeleton, target: Skeleton) -> np.ndarray:
    """For each target joint, the index of the same anatomical point in `source`, else -1.

    Joints are matched on `Skeleton.landmarks`; approximate matches (pelvis vs JTA spine4,
    the three datasets' necks, JTA head_center vs 3DHP head) are commented there.
    Returns an int64 array of shape (target.num_joints,).
    """
    if source == target:
        return np.arange(target.num_joints, dtype=np.int64)
    by_landmark = {lm: i for i, lm in enumerate(source.landmarks) if lm is not None}
    mapping = np.full(target.num_joints, -1, dtype=np.int64)
    for j, landmark in enumerate(target.landmarks):
        if landmark is not None and landmark in by_landmark:
            mapping[j] = by_landmark[landmark]
    return mapping


def map_joints(
    points: ArrayT,
    source: Skeleton,
    target: Skeleton,
    valid: ArrayT | np.ndarray | None = None,
) -> tuple[ArrayT, ArrayT]:
    """Reorder `points` (..., K_src, D) from `source` joints to `target` joints.

    Returns (points (..., K_tgt, D), valid (..., K_tgt) bool) of the input's type. Target
    joints without a source counterpart are 0 and invalid; mapped joints keep their
    coordinates and take their validity from `valid` (all valid when None).
    """
    _check_joints(points, source, "points")
    mapping = joint_mapping(source, target)
    present = mapping >= 0
    gather = np.where(present, mapping, 0)
    if isinstance(points, torch.Tensor):
        valid_t = _valid_like(valid, points)
        index = torch.as_tensor(gather, device=points.device)
        present_t = torch.as_tensor(present, device=points.device)
        mapped = points.index_select(-2, index)  # (..., K_tgt, D)
        mapped = torch.where(present_t[:, None], mapped, torch.zeros_like(mapped))
        return mapped, valid_t.index_select(-1, index) & present_t
    points = np.asarray(points)
    valid_n = _valid_like(valid, points)
    mapped = np.where(present[:, None], points[..., gather, :], 0).astype(points.dtype)
    return mapped, valid_n[..., gather] & present


# ---------------------------------------------------------------------- normalisation
def bone_lengths(pose3d: ArrayT, skeleton: Skeleton) -> ArrayT:
    """Euclidean length of every bone: (..., K, D) -> (..., n_bones), in skeleton.bones order."""
    _check_joints(pose3d, skeleton, "pose3d")
    parents, children = _bone_index(skeleton)
    if isinstance(pose3d, torch.Tensor):
        parents_t = torch.as_tensor(parents, device=pose3d.device)
        children_t = torch.as_tensor(children, device=pose3d.device)
        delta = pose3d.index_select(-2, children_t) - pose3d.index_select(-2, parents_t)
        return torch.linalg.vector_norm(delta, dim=-1)  # gradient is 0 (not NaN) at length 0
    pose3d = np.asarray(pose3d)
    return np.linalg.norm(pose3d[..., children, :] - pose3d[..., parents, :], axis=-1)


def normalize_pose(
    pose3d: ArrayT,
    skeleton: Skeleton,
    valid: ArrayT | np.ndarray | None = None,
    eps: float = 1e-8,
) -> tuple[ArrayT, ArrayT]:
    """Root-relative, bone-length-normalised pose (PandaNet section 3.3.3).

    pose3d: (..., K, 3) numpy array or torch tensor; the result has the same type (and is
    differentiable for torch). valid: optional (..., K) bool, broadcastable.

    normalized = (pose3d - pose3d[..., root, :]) / scale, where scale (...,) is the sum of
    the lengths of the bones whose two ends are valid, so the valid bones of the output sum
    to 1 and the root sits at the origin. Invalid joints are 0 in the output.
    When the root is invalid, or scale <= eps (no valid bone, a collapsed pose), the pose
    cannot be normalised: its output is all zeros and its scale is 0, so callers mask with
    `scale > 0`. Nothing returns NaN.
    """
    _check_joints(pose3d, skeleton, "pose3d")
    root = skeleton.root
    parents, children = _bone_index(skeleton)
    is_torch = isinstance(pose3d, torch.Tensor)
    if not is_torch:
        pose3d = np.asarray(pose3d)
        if not np.issubdtype(pose3d.dtype, np.floating):
            pose3d = pose3d.astype(np.float64)
    where = torch.where if is_torch else np.where
    valid_b = _valid_like(valid, pose3d)  # (..., K)

    # Zero the invalid joints first: their coordinates (possibly NaN) never reach a value
    # or a gradient below.
    pose3d = where(valid_b[..., None], pose3d, 0.0)  # (..., K, 3)
    relative = pose3d - pose3d[..., root : root + 1, :]  # (..., K, 3)
    lengths = bone_lengths(pose3d, skeleton)  # (..., B)
    bone_valid = valid_b[..., parents] & valid_b[..., children]  # (..., B)
    scale = where(bone_valid, lengths, 0.0).sum(-1)  # (...,)
    ok = valid_b[..., root] & (scale > eps)  # (...,)

    # Divide by 1 where the pose is unusable so neither the value nor its gradient is NaN.
    safe_scale = where(ok, scale, 1.0)
    normalized = relative / safe_scale[..., None, None]
    keep = valid_b & ok[..., None]  # (..., K)
    normalized = where(keep[..., None], normalized, 0.0)
    return normalized, where(ok, scale, 0.0)


def denormalize_pose(normalized: ArrayT, scale: ArrayT | float, root_position: ArrayT) -> ArrayT:
    """Inverse of `normalize_pose`: normalized (..., K, 3) * scale (...,) + root (..., 3).

    A pose with scale 0 (one `normalize_pose` could not normalise) collapses onto its root.
    """
    if isinstance(normalized, torch.Tensor):
        scale_t = torch.as_tensor(scale, dtype=normalized.dtype, device=normalized.device)
        root_t = torch.as_tensor(root_position, dtype=normalized.dtype, device=normalized.device)
        return normalized * scale_t[..., None, None] + root_t[..., None, :]
    normalized = np.asarray(normalized)
    scale_n = np.asarray(scale)
    return normalized * scale_n[..., None, None] + np.asarray(root_position)[..., None, :]


# ---------------------------------------------------------------------- helpers
def _bone_index(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    bones = np.asarray(skeleton.bones, dtype=np.int64).reshape(-1, 2)
    return bones[:, 0], bones[:, 1]


def _check_joints(points: object, skeleton: Skeleton, what: str) -> None:
    shape = tuple(points.shape) if hasattr(points, "shape") else np.shape(points)
    if len(shape) < 2 or shape[-2] != skeleton.num_joints:
        raise ValueError(
            f"{what} must have shape (..., {skeleton.num_joints}, D) for skeleton "
            f"{skeleton.name!r}, got {shape}"
        )


def _valid_like(valid: object, points: ArrayT) -> ArrayT:
    """`valid` as a bool array/tensor of shape points.shape[:-1] (all True when None)."""
    shape = tuple(points.shape[:-1])
    if isinstance(points, torch.Tensor):
        if valid is None:
            return torch.ones(shape, dtype=torch.bool, device=points.device)
        if isinstance(valid, torch.Tensor):
            valid_t = valid.to(device=points.device, dtype=torch.bool)
        else:
            valid_t = torch.as_tensor(np.asarray(valid, dtype=bool), device=points.device)
        try:
            return torch.broadcast_to(valid_t, shape)
        except RuntimeError:
            raise ValueError(
                f"valid of shape {tuple(valid_t.shape)} does not fit points {tuple(points.shape)}"
            ) from None
    if valid is None:
        return np.ones(shape, dtype=bool)
    if isinstance(valid, torch.Tensor):
        valid = valid.detach().cpu().numpy()
    valid_n = np.asarray(valid, dtype=bool)
    try:
        return np.broadcast_to(valid_n, shape)
    except ValueError:
        raise ValueError(
            f"valid of shape {valid_n.shape} does not fit points {tuple(points.shape)}"
        ) from None
