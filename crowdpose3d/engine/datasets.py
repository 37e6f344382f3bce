"""The one dataset switch of training and evaluation: a kind and a folder -> samples.

Both spell a dataset the same way: a training config's ``{type: KIND, root: ROOT}`` and
``crowdpose3d eval --data KIND:ROOT`` (a bare ``ROOT`` is ``jta:ROOT``) name the same loader:

    jta       JTA's layout, which ``crowdpose3d synth`` writes too (split train|val|test)
    panoptic  CMU Panoptic, the monocular protocol (split ``test``: HD cameras 16, 30)
    mupots    MuPoTS-3D (the ``MultiPersonTestSet`` folder; one test set, no split)
    muco      MuCo-3DHP (``MuCo-3DHP.json``)
    coco      COCO keypoints (split train|val; 2D only)
    photos    real photographs with nobody in them (``crowdpose3d photos``): negative frames

``frame_step`` keeps every n-th frame (inside the loader where it can, after it otherwise);
``spread_evenly`` picks at most n samples spread over a data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from crowdpose3d.core.skeleton import Skeleton
from crowdpose3d.data.dataset import SampleSubset
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.sample import Sample

DatasetKind = Literal["jta", "panoptic", "mupots", "muco", "coco", "photos"]
DATASET_KINDS: tuple[str, ...] = get_args(DatasetKind)
DEFAULT_KIND = "jta"  # a bare folder: JTA's layout (and `crowdpose3d synth` output)


def parse_data(text: str | Path) -> tuple[str, Path]:
    """``"KIND:ROOT"`` or a bare ``ROOT`` (JTA) -> (kind, root folder)."""
    text = str(text)
    kind, sep, root = text.partition(":")
    if sep and kind in DATASET_KINDS:
        return kind, Path(root).expanduser()
    return DEFAULT_KIND, Path(text).expanduser()


def open_dataset(
    kind: str,
    root: str | Path,
    split: str = "train",
    skeleton: Skeleton | None = None,
    frame_step: int = 1,
    cache_dir: str | Path | None = None,
) -> Sequence[Sample]:
    """The samples of one data set (see the module docstring); ``skeleton`` None keeps the
    loader's own. `DatasetError` (one line) for a missing folder or an unknown kind."""
    if kind not in DATASET_KINDS:
        raise DatasetError(f"unknown data set type {kind!r}; use one of {', '.join(DATASET_KINDS)}")
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data directory not found: {root}")
    options = {} if skeleton is None else {"skeleton": skeleton}
    step_left = 1  # the step the loader cannot apply itself
    if kind == "jta":
        from crowdpose3d.data.jta import JTADataset

        samples: Sequence[Sample] = JTADataset(
            root, split=split, frame_step=frame_step, cache_dir=cache_dir, **options
        )
    elif kind == "panoptic":
        from crowdpose3d.data.panoptic import PanopticDataset

        samples = PanopticDataset(
            root, split=split, frame_step=frame_step, cache_dir=cache_dir, **options
        )
    elif kind == "mupots":
        from crowdpose3d.data.mupots import MuPoTSDataset

        samples, step_left = MuPoTSDataset(root, **options), frame_step  # one test set
    elif kind == "muco":
        from crowdpose3d.data.mupots import MuCoDataset

        samples, step_left = MuCoDataset(root, **options), frame_step
    elif kind == "photos":
        from crowdpose3d.data.photos import NegativePhotos

        samples, step_left = NegativePhotos(root, split=split, **options), frame_step
    else:
        from crowdpose3d.data.coco import COCODataset

        samples, step_left = COCODataset(root, split=split, **options), frame_step
    if step_left == 1:
        return samples
    return SampleSubset(samples, list(range(0, len(samples), step_left)))


def spread_evenly(samples: Sequence[Sample], count: int | None) -> Sequence[Sample]:
    """At most ``count`` of ``samples``, spread evenly from the first to the last (all of
    them when ``count`` is None or not smaller)."""
    if count is None or len(samples) <= count:
        return samples
    keep = np.unique(np.linspace(0, len(samples) - 1, count).round().astype(np.int64))
    return SampleSubset(samples, keep.tolist())
