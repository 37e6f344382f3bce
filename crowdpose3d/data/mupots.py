"""MuPoTS-3D (the multi-person test set of Mehta et al. 3DV 2018) and MuCo-3DHP (its
composited training set, in the COCO-style JSON that 3DMPPE distributes).

MuPoTS-3D, as read by the official evaluation code (``mpii_mupots_multiperson_eval.m``,
shipped in mks0601/3DMPPE_POSENET_RELEASE data/MuPoTS):

    <root>/TS<n>/annot.mat       ``annotations``: cell (frames x people) of structs with
                                 annot2 (2x17 px), annot3 (3x17 mm, camera frame),
                                 univ_annot3 (3x17 mm, rescaled to a universal skeleton, what
                                 the official 3DPCK compares against), isValidFrame
    <root>/TS<n>/occlusion.mat   ``occlusion_labels``: cell (frames x people) of 1x17, 1 =
                                 occluded
    <root>/TS<n>/img_XXXXXX.jpg  frame i (1-based in MATLAB) is img_{i-1:06d}.jpg

for n = 1..20 (TS1-TS5 indoor, TS6-TS20 outdoor), on the 17 "relevant" joints (MUPOTS17).
``root`` is the ``MultiPersonTestSet`` folder. ``extra["kp3d_univ"]`` (N, 17, 3) metres
carries univ_annot3 for evaluation (on MUPOTS17, whatever the sample's skeleton).

Intrinsics: the dataset ships none. 3DMPPE's ``MuPoTS-3D.json`` has an ``intrinsic``
[fx, fy, cx, cy] per image, which its author obtained by fitting the 3D poses to the 2D
poses (3DMPPE_POSENET_RELEASE issue #117). We do the same by default: per sequence, a
linear least-squares fit of u = fx X/Z + cx and v = fy Y/Z + cy over every valid joint of
annot2 / annot3 (`fit_intrinsics`); pass ``intrinsics_file=".../MuPoTS-3D.json"`` to use
3DMPPE's values instead.

MuCo-3DHP, as loaded by 3DMPPE's data/MuCo/MuCo.py:

    <root>/MuCo-3DHP.json   images: {id, file_name, width, height, f: [fx, fy], c: [cx, cy]}
                            annotations: {id, image_id, bbox (xywh), keypoints_img (21x2 px),
                            keypoints_cam (21x3 mm, camera frame)}
    <root>/augmented_set/..., <root>/unaugmented_set/...   images (file_name is relative
                                                           to root)

Its 21 joints are MUCO21_JOINTS (3DMPPE's ``joints_name``); the first 17 are the MuPoTS
joints in MuPoTS order (3DMPPE's MuPoTS.py lists the same 17 names as its first 17), so
``MUCO21_TO_MUPOTS17 = (0, 1, ..., 16)``; hands and toes are dropped. MuCo has no occlusion
labels: a joint counts as visible when it is inside the image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from crowdpose3d.core.skeleton import MUPOTS17, Skeleton
from crowdpose3d.data.common import build_sample, image_size, read_image
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.camera import Intrinsics

MM_PER_METRE = 1000.0
MUPOTS_SEQUENCES = tuple(range(1, 21))
MUCO21_JOINTS = (
    "Head_top", "Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow",
    "L_Wrist", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Spine",
    "Head", "R_Hand", "L_Hand", "R_Toe", "L_Toe",
)  # fmt: skip
MUCO21_TO_MUPOTS17 = tuple(range(17))


def fit_intrinsics(kp2d: np.ndarray, kp3d: np.ndarray, width: int, height: int) -> Intrinsics:
    """Least-squares pinhole intrinsics from matching (M, 2) pixels and (M, 3) camera points.

    Solves u = fx * X/Z + cx and v = fy * Y/Z + cy (no skew, no distortion).
    """
    kp2d = np.asarray(kp2d, dtype=np.float64).reshape(-1, 2)
    kp3d = np.asarray(kp3d, dtype=np.float64).reshape(-1, 3)
    usable = kp3d[:, 2] > 0
    if usable.sum() < 2:
        raise DatasetError("cannot fit intrinsics: fewer than 2 joints in front of the camera")
    kp2d, kp3d = kp2d[usable], kp3d[usable]
    solutions = []
    for axis in (0, 1):
        ratio = kp3d[:, axis] / kp3d[:, 2]
        design = np.stack((ratio, np.ones_like(ratio)), axis=1)  # (M, 2)
        (focal, centre), *_ = np.linalg.lstsq(design, kp2d[:, axis], rcond=None)
        solutions.append((focal, centre))
    (fx, cx), (fy, cy) = solutions
    return Intrinsics(float(fx), float(fy), float(cx), float(cy), int(width), int(height))


# ---------------------------------------------------------------------- MuPoTS-3D
@dataclass(frozen=True)
class _MuPoTSSequence:
    number: int
    folder: Path
    kp2d: np.ndarray  # (F, P, 17, 2) px
    kp3d: np.ndarray  # (F, P, 17, 3) m
    kp3d_univ: np.ndarray  # (F, P, 17, 3) m
    valid: np.ndarray  # (F, P) isValidFrame
    occluded: np.ndarray  # (F, P, 17)
    intrinsics: Intrinsics


def _struct(cell: object) -> object | None:
    """A MATLAB struct from a cell of ``loadmat(struct_as_record=False)`` (None if empty)."""
    while isinstance(cell, np.ndarray):
        if cell.size == 0:
            return None
        cell = cell.reshape(-1)[0]
    return cell


def read_mupots_sequence(folder: str | Path) -> dict[str, np.ndarray]:
    """A ``TS<n>`` folder's annot.mat and occlusion.mat as arrays (see `_MuPoTSSequence`)."""
    folder = Path(folder)
    annot_path, occlusion_path = folder / "annot.mat", folder / "occlusion.mat"
    for path in (annot_path, occlusion_path):
        if not path.is_file():
            raise DatasetError(
                f"MuPoTS-3D file not found: {path}; check the MultiPersonTestSet root"
            )
    try:
        cells = scipy.io.loadmat(annot_path, struct_as_record=False)["annotations"]
        occlusion = scipy.io.loadmat(occlusion_path)["occlusion_labels"]
    except (KeyError, ValueError, OSError, NotImplementedError) as error:
        raise DatasetError(
            f"cannot read MuPoTS-3D annotations in {folder} ({error!r}); expected the "
            "annot.mat and occlusion.mat of the official release"
        ) from None
    frames, people = cells.shape
    k = MUPOTS17.num_joints
    arrays = {
        "kp2d": np.zeros((frames, people, k, 2), np.float32),
        "kp3d": np.zeros((frames, people, k, 3), np.float32),
        "kp3d_univ": np.zeros((frames, people, k, 3), np.float32),
        "valid": np.zeros((frames, people), bool),
        "occluded": np.zeros((frames, people, k), bool),
    }
    for i in range(frames):
        for p in range(people):
            person = _struct(cells[i, p])
            if person is None:  # an empty cell: nobody in this column at this frame
                continue
            arrays["valid"][i, p] = bool(np.asarray(person.isValidFrame).ravel()[0])
            arrays["kp2d"][i, p] = np.asarray(person.annot2, dtype=np.float64).reshape(2, k).T
            arrays["kp3d"][i, p] = np.asarray(person.annot3).reshape(3, k).T / MM_PER_METRE
            univ = np.asarray(person.univ_annot3).reshape(3, k).T / MM_PER_METRE
            arrays["kp3d_univ"][i, p] = univ
            arrays["occluded"][i, p] = np.asarray(occlusion[i, p]).reshape(k) > 0
    return arrays


def read_mupots_intrinsics(path: str | Path) -> dict[int, Intrinsics]:
    """Per-sequence intrinsics from 3DMPPE's ``MuPoTS-3D.json`` (first image of each TS<n>)."""
    path = Path(path)
    try:
        images = json.loads(path.read_text())["images"]
        by_sequence: dict[int, Intrinsics] = {}
        for image in images:
            number = int(image["file_name"].split("/")[0].removeprefix("TS"))
            if number not in by_sequence:
                fx, fy, cx, cy = image["intrinsic"]
                by_sequence[number] = Intrinsics(fx, fy, cx, cy, image["width"], image["height"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(
            f"cannot read MuPoTS-3D intrinsics from {path} ({error!r}); expected 3DMPPE's "
            "MuPoTS-3D.json"
        ) from None
    return by_sequence


class MuPoTSDataset(Sequence[Sample]):
    """MuPoTS-3D frames as `Sample` on ``skeleton`` (one sample per frame, all 20 sequences
    by default; people whose isValidFrame is 0 are left out of that frame).

    root: the ``MultiPersonTestSet`` folder; sequences: the TS numbers to load;
    intrinsics_file: 3DMPPE's MuPoTS-3D.json, else intrinsics are fitted (module docstring).
    """

    def __init__(
        self,
        root: str | Path,
        skeleton: Skeleton = MUPOTS17,
        sequences: Sequence[int] = MUPOTS_SEQUENCES,
        intrinsics_file: str | Path | None = None,
    ):
        self.root = Path(root)
        self.skeleton = skeleton
        given = None if intrinsics_file is None else read_mupots_intrinsics(intrinsics_file)
        self._sequences: list[_MuPoTSSequence] = []
        self._items: list[tuple[int, int]] = []
        for number in sequences:
            folder = self.root / f"TS{number}"
            arrays = read_mupots_sequence(folder)
            if given is not None:
                if number not in given:
                    raise DatasetError(f"{intrinsics_file} has no image of TS{number}")
                intrinsics = given[number]
            else:
                width, height = image_size(folder / "img_000000.jpg")
                fit = arrays["valid"][..., None] & (arrays["kp3d"][..., 2] > 0)
                intrinsics = fit_intrinsics(arrays["kp2d"][fit], arrays["kp3d"][fit], width, height)
            index = len(self._sequences)
            self._sequences.append(_MuPoTSSequence(number, folder, intrinsics=intrinsics, **arrays))
            self._items.extend((index, frame) for frame in range(len(arrays["valid"])))

    def intrinsics(self, sequence: int) -> Intrinsics:
        """The intrinsics used for sequence TS<sequence>."""
        for loaded in self._sequences:
            if loaded.number == sequence:
                return loaded.intrinsics
        raise ValueError(f"sequence TS{sequence} is not loaded")

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} is out of range ({len(self)} samples)")
        seq_index, frame = self._items[index]
        seq = self._sequences[seq_index]
        people = np.flatnonzero(seq.valid[frame])  # (N,) columns of the annotation cell
        valid = np.ones((len(people), MUPOTS17.num_joints), dtype=bool)
        return build_sample(
            image=read_image(seq.folder / f"img_{frame:06d}.jpg"),
            kp2d=seq.kp2d[frame, people],
            kp3d=seq.kp3d[frame, people],
            kp2d_valid=valid,
            kp3d_valid=valid,
            not_occluded=~seq.occluded[frame, people],
            person_ids=people,
            intrinsics=seq.intrinsics,
            source=MUPOTS17,
            target=self.skeleton,
            person_extra={"kp3d_univ": seq.kp3d_univ[frame, people]},
            sequence=f"mupots/TS{seq.number}",
            frame=frame,
        )


# ---------------------------------------------------------------------- MuCo-3DHP
@dataclass(frozen=True)
class _MuCoImage:
    file_name: str
    intrinsics: Intrinsics
    first: int  # annotation rows [first, end)
    end: int


class MuCoDataset(Sequence[Sample]):
    """MuCo-3DHP composited images as `Sample` on ``skeleton`` (17 MuPoTS joints kept).

    root: the folder holding ``MuCo-3DHP.json``, ``augmented_set/`` and ``unaugmented_set/``.
    subset: "augmented_set" or "unaugmented_set" to keep one of them; both when None.
    The joint boxes are recomputed from the joints (the JSON's ``bbox`` is not used), as in
    every loader.
    """

    def __init__(
        self,
        root: str | Path,
        skeleton: Skeleton = MUPOTS17,
        subset: str | None = None,
        annotation_file: str = "MuCo-3DHP.json",
    ):
        self.root = Path(root)
        self.skeleton = skeleton
        path = self.root / annotation_file
        if not path.is_file():
            raise DatasetError(
                f"MuCo-3DHP annotations not found: {path}; root must hold MuCo-3DHP.json and "
                "the augmented_set/ and unaugmented_set/ folders"
            )
        try:
            data = json.loads(path.read_text())
            by_image: dict[int, list[dict]] = {}
            for annotation in data["annotations"]:
                by_image.setdefault(annotation["image_id"], []).append(annotation)
            images: list[_MuCoImage] = []
            kp2d, kp3d, ids = [], [], []
            for image in data["images"]:
                if subset is not None and not image["file_name"].startswith(subset):
                    continue
                fx, fy = image["f"]
                cx, cy = image["c"]
                intrinsics = Intrinsics(fx, fy, cx, cy, image["width"], image["height"])
                first = len(ids)
                for annotation in by_image.get(image["id"], []):
                    kp2d.append(np.reshape(annotation["keypoints_img"], (21, 2)))
                    kp3d.append(np.reshape(annotation["keypoints_cam"], (21, 3)))
                    ids.append(annotation["id"])
                images.append(_MuCoImage(image["file_name"], intrinsics, first, len(ids)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DatasetError(
                f"cannot read MuCo-3DHP annotations {path} ({error!r}); expected 3DMPPE's "
                "MuCo-3DHP.json"
            ) from None
        joints = list(MUCO21_TO_MUPOTS17)
        self._images = images
        self._kp2d = np.asarray(kp2d, dtype=np.float32).reshape(-1, 21, 2)[:, joints]
        self._kp3d = (np.asarray(kp3d, dtype=np.float32).reshape(-1, 21, 3) / MM_PER_METRE)[
            :, joints
        ]
        self._ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} is out of range ({len(self)} samples)")
        image = self._images[index]
        rows = slice(image.first, image.end)
        valid = np.ones((image.end - image.first, MUPOTS17.num_joints), dtype=bool)
        return build_sample(
            image=read_image(self.root / image.file_name),
            kp2d=self._kp2d[rows],
            kp3d=self._kp3d[rows],
            kp2d_valid=valid,
            kp3d_valid=valid,
            not_occluded=valid,  # no occlusion labels: inside the image counts as visible
            person_ids=self._ids[rows],
            intrinsics=image.intrinsics,
            source=MUPOTS17,
            target=self.skeleton,
            sequence="muco",
            frame=index,
            extra={"file_name": image.file_name},
        )
