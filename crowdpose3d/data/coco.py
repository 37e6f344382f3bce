"""COCO person keypoints (Lin et al. ECCV 2014): 2D-only supervision.

Format (cocodataset.org "Data format", keypoint detection):

    <root>/annotations/person_keypoints_<split>2017.json
        images: {id, file_name, width, height}
        annotations: {id, image_id, category_id, iscrowd, num_keypoints, bbox (xywh),
                      keypoints: [x, y, v] * 17}   v: 0 unlabelled, 1 labelled but not
                                                   visible, 2 labelled and visible
    <root>/<split>2017/<file_name>

The 17 keypoints are COCO17 below (nose, eyes, ears, shoulders, elbows, wrists, hips,
knees, ankles). Samples carry no 3D: ``kp3d_valid`` is all False, so the 3D loss has weight
zero on them, as PandaNet does for the COCO half of its MuPoTS training batches (section
4.3). The intrinsics are unknown: guessed from a nominal horizontal field of view
(``fov_deg``, 60 degrees by default) with ``intrinsics_known=False``.

COCO keypoints reach other skeletons through their shared anatomical landmarks: onto
JTA22 and MUPOTS17 the shoulders, elbows, wrists, hips, knees and ankles; onto PANOPTIC19
also the nose, eyes and ears.

Kept: people with at least one labelled keypoint inside the image (v = 1 counts, its
position is labelled). Left out: ``iscrowd`` regions and people without labelled
keypoints; their boxes are in ``Sample.extra["ignore_boxes"]`` (M, 4) xyxy so that a
training target can avoid calling them background. Images with no kept person are not
listed unless ``keep_empty``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crowdpose3d.core.skeleton import JTA22, Skeleton
from crowdpose3d.data.common import build_sample, read_image
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.camera import Intrinsics

# The COCO keypoint order of ``categories[0]["keypoints"]``, named by the landmarks of
# crowdpose3d.core.skeleton so that joint_mapping matches them. It has no pelvis: the nose
# is the root of the kinematic tree (only needed for the Skeleton's validity checks; COCO
# carries no 3D to normalise).
_COCO_JOINTS = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)  # fmt: skip
COCO17 = Skeleton(
    name="coco17",
    joints=_COCO_JOINTS,
    bones=(
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),  # nose -> eyes -> ears
        (0, 5),
        (5, 7),
        (7, 9),
        (0, 6),
        (6, 8),
        (8, 10),  # nose -> shoulders -> elbows -> wrists
        (5, 11),
        (11, 13),
        (13, 15),
        (6, 12),
        (12, 14),
        (14, 16),  # shoulders -> hips -> ...
    ),  # fmt: skip
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    root=0,
    landmarks=_COCO_JOINTS,
)
COCO_SPLITS = ("train", "val")


@dataclass(frozen=True)
class _COCOImage:
    image_id: int
    file_name: str
    width: int
    height: int
    keypoints: np.ndarray  # (N, 17, 3) x, y, v
    person_ids: np.ndarray  # (N,) annotation ids
    ignore_boxes: np.ndarray  # (M, 4) xyxy


class COCODataset(Sequence[Sample]):
    """COCO 2017 person-keypoint images as 2D-only `Sample` on ``skeleton``.

    root: the folder holding ``annotations/`` and ``train2017/`` / ``val2017/``;
    split: "train" or "val"; fov_deg: the horizontal field of view assumed for intrinsics.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        skeleton: Skeleton = JTA22,
        fov_deg: float = 60.0,
        keep_empty: bool = False,
    ):
        if split not in COCO_SPLITS:
            raise ValueError(f"unknown COCO split {split!r}; use 'train' or 'val'")
        self.root = Path(root)
        self.split = split
        self.skeleton = skeleton
        self.fov_deg = float(fov_deg)
        path = self.root / "annotations" / f"person_keypoints_{split}2017.json"
        if not path.is_file():
            raise DatasetError(
                f"COCO annotations not found: {path}; unzip annotations_trainval2017.zip in root"
            )
        try:
            self._images = _read_annotations(json.loads(path.read_text()), keep_empty)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DatasetError(
                f"cannot read COCO annotations {path} ({error!r}); expected a COCO "
                "person_keypoints file"
            ) from None

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} is out of range ({len(self)} samples)")
        entry = self._images[index]
        n, k = len(entry.person_ids), COCO17.num_joints
        labelled = entry.keypoints[..., 2] > 0  # (N, 17)
        return build_sample(
            image=read_image(self.root / f"{self.split}2017" / entry.file_name),
            kp2d=entry.keypoints[..., :2],
            kp3d=np.zeros((n, k, 3), dtype=np.float32),
            kp2d_valid=labelled,
            kp3d_valid=np.zeros((n, k), dtype=bool),
            not_occluded=entry.keypoints[..., 2] == 2,
            person_ids=entry.person_ids,
            intrinsics=Intrinsics.from_fov(entry.width, entry.height, self.fov_deg),
            source=COCO17,
            target=self.skeleton,
            keep_if="valid",
            intrinsics_known=False,
            sequence=f"coco/{self.split}2017",
            frame=entry.image_id,
            extra={"ignore_boxes": entry.ignore_boxes, "file_name": entry.file_name},
        )


def _read_annotations(data: dict, keep_empty: bool) -> list[_COCOImage]:
    """Group the person annotations by image, separating people from ignored regions."""
    people: dict[int, list[dict]] = {}
    ignored: dict[int, list[list[float]]] = {}
    for annotation in data["annotations"]:
        if annotation.get("category_id", 1) != 1:
            continue
        image_id = annotation["image_id"]
        keypoints = np.reshape(annotation.get("keypoints", []), (-1, 3))
        if annotation.get("iscrowd", 0) or len(keypoints) != 17 or not (keypoints[:, 2] > 0).any():
            x, y, w, h = annotation["bbox"]
            ignored.setdefault(image_id, []).append([x, y, x + w, y + h])
        else:
            people.setdefault(image_id, []).append(annotation)
    images = []
    for image in data["images"]:
        image_id = image["id"]
        found = people.get(image_id, [])
        if not found and not keep_empty:
            continue
        keypoints = np.array([a["keypoints"] for a in found], dtype=np.float32).reshape(-1, 17, 3)
        images.append(
            _COCOImage(
                image_id=image_id,
                file_name=image["file_name"],
                width=int(image["width"]),
                height=int(image["height"]),
                keypoints=keypoints,
                person_ids=np.array([a["id"] for a in found], dtype=np.int64),
                ignore_boxes=np.array(ignored.get(image_id, []), dtype=np.float32).reshape(-1, 4),
            )
        )
    return images
