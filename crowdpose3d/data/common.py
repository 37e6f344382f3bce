"""What every dataset loader does the same way: read an image, decide which joints can be
seen, draw each person's box around their joints, drop people who are not in the picture,
and put the result on the requested skeleton.

Box rule (all loaders): the tight box around the person's labelled 2D joints (including
occluded ones and ones outside the image), widened on every side by ``BOX_MARGIN`` (10 %)
of its larger side, plus ``HEAD_MARGIN`` (10 %) of its height on top when the skeleton has
no head-top joint (Panoptic, COCO: their highest joints are the eyes and ears), then clipped
to the image ``[0, width] x [0, height]``.

Who is kept: a person needs at least one joint that counts (by default a visible one, i.e.
labelled, not occluded and inside the image) to appear in a sample.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from crowdpose3d.core.skeleton import Skeleton
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.camera import Intrinsics

BOX_MARGIN = 0.1
HEAD_MARGIN = 0.1


def read_image(path: str | Path) -> np.ndarray:
    """The image file at ``path`` as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"image not found: {path}; check the dataset root and its layout")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot decode image {path}; the file is corrupt, re-extract it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the image file at ``path``."""
    height, width = read_image(path).shape[:2]
    return width, height


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``seq_2`` before ``seq_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def inside_image(kp2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, K, 2) pixels -> (N, K) bool: the joint lies on the image."""
    x, y = kp2d[..., 0], kp2d[..., 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def boxes_from_joints(
    kp2d: np.ndarray,
    valid: np.ndarray,
    width: int,
    height: int,
    head_margin: float = 0.0,
    margin: float = BOX_MARGIN,
) -> np.ndarray:
    """(N, K, 2) joints and (N, K) validity -> (N, 4) xyxy boxes (see the module docstring).

    A person without any valid joint gets the empty box (0, 0, 0, 0).
    """
    boxes = np.zeros((len(kp2d), 4), dtype=np.float32)
    for n, (points, ok) in enumerate(zip(kp2d, valid, strict=True)):
        if not ok.any():
            continue
        (x1, y1), (x2, y2) = points[ok].min(axis=0), points[ok].max(axis=0)
        pad = margin * max(x2 - x1, y2 - y1)
        boxes[n] = (x1 - pad, y1 - pad - head_margin * (y2 - y1), x2 + pad, y2 + pad)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return boxes


def build_sample(
    *,
    image: np.ndarray,
    kp2d: np.ndarray,
    kp3d: np.ndarray,
    kp2d_valid: np.ndarray,
    kp3d_valid: np.ndarray,
    not_occluded: np.ndarray,
    person_ids: np.ndarray,
    intrinsics: Intrinsics,
    source: Skeleton,
    target: Skeleton,
    keep_if: str = "visible",
    person_extra: dict[str, np.ndarray] | None = None,
    **fields: Any,
) -> Sample:
    """A `Sample` on ``target`` from one image's labels on the ``source`` skeleton.

    kp2d (N, K, 2) px, kp3d (N, K, 3) m, kp2d_valid / kp3d_valid / not_occluded (N, K) bool.
    visible = kp2d_valid & not_occluded & inside the image. A person is kept when one of
    their joints is visible (``keep_if="visible"``) or valid and inside the image
    (``keep_if="valid"``, for COCO where "labelled but not visible" still places the joint).
    person_extra: per-person arrays (first axis N) filtered like the people and put in
    ``Sample.extra`` unchanged (they stay on the source skeleton). Other keyword arguments
    (sequence, frame, extra, intrinsics_known) go to `Sample`.
    """
    n, k = len(person_ids), source.num_joints
    kp2d_valid = np.asarray(kp2d_valid, dtype=bool).reshape(n, k)
    kp3d_valid = np.asarray(kp3d_valid, dtype=bool).reshape(n, k)
    # Unlabelled joints are 0, whatever placeholder the dataset stores there.
    kp2d = np.where(kp2d_valid[..., None], np.asarray(kp2d, dtype=np.float32).reshape(n, k, 2), 0)
    kp3d = np.where(kp3d_valid[..., None], np.asarray(kp3d, dtype=np.float32).reshape(n, k, 3), 0)
    inside = inside_image(kp2d, intrinsics.width, intrinsics.height) & kp2d_valid
    visible = inside & np.asarray(not_occluded, dtype=bool).reshape(n, k)
    counted = visible if keep_if == "visible" else inside
    keep = counted.any(axis=1)
    head_margin = 0.0 if "head_top" in source.landmarks else HEAD_MARGIN
    boxes = boxes_from_joints(
        kp2d, kp2d_valid, intrinsics.width, intrinsics.height, head_margin=head_margin
    )
    extra = dict(fields.pop("extra", {}))
    for name, values in (person_extra or {}).items():
        extra[name] = np.asarray(values)[keep]
    sample = Sample(
        image=image,
        boxes=boxes[keep],
        kp2d=kp2d[keep],
        kp3d=kp3d[keep],
        kp2d_valid=kp2d_valid[keep],
        kp3d_valid=kp3d_valid[keep],
        visible=visible[keep],
        person_ids=np.asarray(person_ids, dtype=np.int64).reshape(n)[keep],
        intrinsics=intrinsics,
        skeleton=source,
        extra=extra,
        **fields,
    )
    return sample.mapped_to(target)
