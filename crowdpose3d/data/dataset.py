"""Torch datasets over `Sample`s: transforms with reproducible randomness, batching, and
mini-batches mixed from several sources.

`PoseDataset` turns a sequence of samples (a list, or a dataset loader that reads them
lazily) into network inputs: it maps each sample to the model's skeleton, applies the
transform with a generator seeded by ``(seed, epoch, index)``, so an item is the same
whatever the worker that builds it and changes from one epoch to the next, and returns
``(image (3, H, W) float in [0, 1], GroundTruth, ItemMeta)`` (or uint8 images, which
are 4x cheaper to pass between DataLoader workers and to a GPU: convert them there with
``images.float() / 255``). `collate` stacks a batch.

`MixedDataset` and `MixedBatchSampler` give batches drawn in fixed proportions from several
datasets (the paper's "each mini-batch consists of half MuCo-3DHP and half COCO images").

`projected_sample` and `random_sample` build samples from arrays, for tests and benchmarks.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from crowdpose3d.core.skeleton import Skeleton
from crowdpose3d.core.targets import GroundTruth
from crowdpose3d.data.sample import Sample
from crowdpose3d.data.transforms import Letterbox, Transform
from crowdpose3d.geometry.camera import Intrinsics

__all__ = [
    "ItemMeta",
    "MixedBatchSampler",
    "MixedDataset",
    "PoseDataset",
    "SampleSubset",
    "collate",
    "projected_sample",
    "random_sample",
    "split_batch",
]


@dataclass
class ItemMeta:
    """What a training or evaluation step may need beyond the targets, for one item.

    Attributes:
        index: the item's index in its dataset; sequence, frame: where the sample came from.
        intrinsics: the camera of the network input (after the transforms).
        intrinsics_known: False when the dataset guessed the camera.
        person_ids: (N,) identities of the people kept.
        visible: (N, K) bool, joints seen in the input image.
        kp3d: (N, K, 3) float32 joints in metres in the camera frame (for absolute errors).
        letterbox: how `ResizeToFit` placed the image, to map predictions back (or None).
    """

    index: int
    sequence: str
    frame: int
    intrinsics: Intrinsics
    intrinsics_known: bool
    person_ids: np.ndarray
    visible: np.ndarray
    kp3d: np.ndarray
    letterbox: Letterbox | None = None


Item = tuple[torch.Tensor, GroundTruth, ItemMeta]


class PoseDataset(Dataset):
    """Samples -> (image (3, H, W), GroundTruth, ItemMeta) for PandaNet.

    Args:
        samples: anything indexable with a length that yields `Sample`s.
        transform: sample -> sample (e.g. `Compose` of random scale, crop, flip, jitter for
            training, `ResizeToFit` for evaluation); it must produce ``input_size`` images.
        skeleton: the model's skeleton; samples are mapped onto it before the transform.
        input_size: (H, W) of the network input, multiples of 32.
        seed: with the epoch (`set_epoch`) and the index, seeds each item's generator.
        image_dtype: ``torch.float32`` for values in [0, 1] (what the model takes), or
            ``torch.uint8`` for the raw 0-255 values, to convert after the transfer.
        pose_frame: the frame of the 3D targets, ``camera`` or ``ray``
            (`Sample.to_ground_truth`).

    With DataLoader workers, call `set_epoch` before creating the epoch's iterator and do
    not use ``persistent_workers=True`` (persistent workers keep the epoch they started
    with).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Transform | None,
        skeleton: Skeleton,
        *,
        input_size: tuple[int, int],
        seed: int = 0,
        image_dtype: torch.dtype = torch.float32,
        pose_frame: str = "camera",
    ) -> None:
        height, width = input_size
        if height <= 0 or width <= 0 or height % 32 or width % 32:
            raise ValueError(f"input_size must be positive multiples of 32, got {input_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if image_dtype not in (torch.float32, torch.uint8):
            raise ValueError(f"image_dtype must be torch.float32 or torch.uint8, got {image_dtype}")
        self.samples = samples
        self.transform = transform
        self.skeleton = skeleton
        self.input_size = (int(height), int(width))
        self.seed = seed
        self.image_dtype = image_dtype
        self.pose_frame = pose_frame
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw a new set of random transforms: items depend on (seed, epoch, index)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng((self.seed, self.epoch, index))

    def transformed(self, index: int) -> Sample:
        """Item ``index`` as a `Sample` on the model's skeleton, after the transform."""
        sample = self.samples[index].mapped_to(self.skeleton)
        if self.transform is not None:
            sample = self.transform(sample, self.rng(index))
        if sample.image.shape[:2] != self.input_size:
            raise ValueError(
                f"item {index}: the transform produced a {sample.image.shape[1]}x"
                f"{sample.image.shape[0]} image but input_size is {self.input_size[1]}x"
                f"{self.input_size[0]}; end the transform with RandomCrop or ResizeToFit "
                "of that size"
            )
        return sample

    def __getitem__(self, index: int) -> Item:
        sample = self.transformed(index)
        image = torch.from_numpy(sample.image).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
        if self.image_dtype == torch.float32:
            image = image.float().div_(255.0)  # uint8 -> float in [0, 1]
        else:
            image = image.contiguous()
        meta = ItemMeta(
            index=index,
            sequence=sample.sequence,
            frame=sample.frame,
            intrinsics=sample.intrinsics,
            intrinsics_known=sample.intrinsics_known,
            person_ids=sample.person_ids,
            visible=sample.visible,
            kp3d=sample.kp3d,
            letterbox=sample.extra.get("letterbox"),
        )
        return image, sample.to_ground_truth(self.pose_frame), meta


class SampleSubset(Sequence[Sample]):
    """The samples of ``dataset`` at ``indices`` (in that order), read when asked for."""

    def __init__(self, dataset: Sequence[Sample], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.dataset[self.indices[index]]


def collate(items: Sequence[Item]) -> tuple[torch.Tensor, list[GroundTruth], list[ItemMeta]]:
    """A batch of items -> (images (B, 3, H, W), B GroundTruth, B ItemMeta)."""
    images, targets, metas = zip(*items, strict=True)
    return torch.stack(images), list(targets), list(metas)


# ---------------------------------------------------------------------- mixed batches
class MixedDataset(Dataset):
    """Several datasets end to end: index ``offsets[s] + i`` is item ``i`` of source ``s``.

    Pair it with `MixedBatchSampler` (see `batch_sampler`) for batches in fixed proportions.
    """

    def __init__(self, sources: Sequence[Dataset]) -> None:
        if not sources:
            raise ValueError("MixedDataset needs at least one source dataset")
        self.sources = list(sources)
        self.sizes = [len(source) for source in self.sources]
        self.offsets = np.concatenate(([0], np.cumsum(self.sizes))).tolist()  # (S + 1,)

    def __len__(self) -> int:
        return self.offsets[-1]

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to every source that has ``set_epoch``."""
        for source in self.sources:
            if hasattr(source, "set_epoch"):
                source.set_epoch(epoch)

    def locate(self, index: int) -> tuple[int, int]:
        """Global index -> (source, index inside the source)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        source = bisect.bisect_right(self.offsets, index) - 1
        return source, index - self.offsets[source]

    def __getitem__(self, index: int):
        source, local = self.locate(index)
        return self.sources[source][local]

    def batch_sampler(
        self,
        batch_size: int,
        fractions: Sequence[float],
        *,
        num_batches: int | None = None,
        seed: int = 0,
    ) -> MixedBatchSampler:
        """A `MixedBatchSampler` over this dataset's sources."""
        return MixedBatchSampler(
            self.sizes, batch_size, fractions, num_batches=num_batches, seed=seed
        )


def split_batch(batch_size: int, fractions: Sequence[float]) -> list[int]:
    """Items per source in a batch: ``batch_size * fraction`` rounded so they sum up
    (largest remainder), e.g. 24, (0.5, 0.5) -> [12, 12]; 5, (2, 1) -> [3, 2]."""
    weights = np.asarray(fractions, dtype=np.float64)
    if batch_size <= 0 or weights.ndim != 1 or len(weights) == 0 or (weights < 0).any():
        raise ValueError(f"need batch_size > 0 and fractions >= 0, got {batch_size}, {fractions}")
    if weights.sum() <= 0:
        raise ValueError(f"fractions must not all be zero, got {fractions}")
    exact = batch_size * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: batch_size - counts.sum()]] += 1
    return counts.tolist()


class MixedBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size`` indices into a `MixedDataset`, a fixed share per source.

    Each batch holds ``split_batch(batch_size, fractions)[s]`` items of source ``s`` (listed
    source by source). Each source is read in a random order, reshuffled when it runs out;
    orders depend on ``(seed, epoch, source)`` only. An epoch is ``num_batches`` batches,
    by default as many as the scarcest source fills without repeating an item.
    """

    def __init__(
        self,
        source_sizes: Sequence[int],
        batch_size: int,
        fractions: Sequence[float],
        *,
        num_batches: int | None = None,
        seed: int = 0,
    ) -> None:
        if len(source_sizes) != len(fractions):
            raise ValueError(
                f"{len(source_sizes)} sources but {len(fractions)} fractions; give one each"
            )
        self.source_sizes = [int(size) for size in source_sizes]
        self.counts = split_batch(batch_size, fractions)
        self.offsets = np.concatenate(([0], np.cumsum(self.source_sizes))).tolist()
        for size, count in zip(self.source_sizes, self.counts, strict=True):
            if count > 0 and size == 0:
                raise ValueError("a source with a share of the batch has no items")
        if num_batches is None:
            num_batches = min(
                size // count
                for size, count in zip(self.source_sizes, self.counts, strict=True)
                if count > 0
            )
            if num_batches == 0:
                raise ValueError(
                    f"a source has fewer items than its share of a batch ({self.counts} of "
                    f"{self.source_sizes}); pass num_batches to repeat items"
                )
        self.num_batches = num_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def _stream(self, source: int) -> Iterator[int]:
        """Global indices of one source, in reshuffled passes."""
        rng = np.random.default_rng((self.seed, self.epoch, source))
        offset, size = self.offsets[source], self.source_sizes[source]
        while True:
            yield from (offset + rng.permutation(size)).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        streams = [self._stream(source) for source in range(len(self.source_sizes))]
        for _ in range(self.num_batches):
            batch: list[int] = []
            for stream, count in zip(streams, self.counts, strict=True):
                batch.extend(next(stream) for _ in range(count))
            yield batch


# ---------------------------------------------------------------------- samples from arrays
def projected_sample(
    image: np.ndarray,
    kp3d: np.ndarray,
    intrinsics: Intrinsics,
    skeleton: Skeleton,
    *,
    kp3d_valid: np.ndarray | None = None,
    person_ids: np.ndarray | None = None,
    box_margin: float = 0.1,
    sequence: str = "",
    frame: int = 0,
) -> Sample:
    """A `Sample` whose 2D labels are the projections of ``kp3d`` (N, K, 3) metres.

    Boxes are the extents of the labelled joints grown by ``box_margin`` of their size on
    each side; joints are ``visible`` when labelled and inside the image (no occlusion).
    """
    kp3d = np.asarray(kp3d, dtype=np.float64)
    n, k = kp3d.shape[:2]
    valid = np.ones((n, k), bool) if kp3d_valid is None else np.asarray(kp3d_valid, bool)
    kp2d = intrinsics.project(kp3d)  # (N, K, 2)
    low = np.where(valid[..., None], kp2d, np.inf).min(axis=1)  # (N, 2)
    high = np.where(valid[..., None], kp2d, -np.inf).max(axis=1)
    margin = box_margin * (high - low)
    boxes = np.concatenate((low - margin, high + margin), axis=1)  # (N, 4)
    inside = (
        (kp2d[..., 0] >= -0.5)
        & (kp2d[..., 0] < intrinsics.width - 0.5)
        & (kp2d[..., 1] >= -0.5)
        & (kp2d[..., 1] < intrinsics.height - 0.5)
    )
    return Sample(
        image=image,
        boxes=boxes,
        kp2d=kp2d,
        kp3d=kp3d,
        kp2d_valid=valid,
        kp3d_valid=valid,
        visible=valid & inside,
        person_ids=np.arange(n) if person_ids is None else person_ids,
        intrinsics=intrinsics,
        skeleton=skeleton,
        sequence=sequence,
        frame=frame,
    )


def random_sample(
    rng: np.random.Generator,
    *,
    height: int,
    width: int,
    num_people: int,
    skeleton: Skeleton,
    horizontal_fov_deg: float = 60.0,
    depth_range: tuple[float, float] = (4.0, 30.0),
) -> Sample:
    """A synthetic sample: a noise image and ``num_people`` random 3D people in view.

    Each person grows from its root along the skeleton's bones in random directions (bones
    0.1-0.4 m), with the root at a depth in ``depth_range`` inside the field of view; the
    2D labels are exact projections (`projected_sample`). Geometry only, not anatomy.
    """
    intrinsics = Intrinsics.from_fov(width, height, horizontal_fov_deg)
    depth = rng.uniform(*depth_range, size=num_people)  # (N,)
    u = rng.uniform(0, width - 1, size=num_people)
    v = rng.uniform(0.2 * height, 0.9 * height, size=num_people)
    roots = intrinsics.back_project(np.stack((u, v), axis=1), depth)  # (N, 3)
    kp3d = np.zeros((num_people, skeleton.num_joints, 3))
    kp3d[:, skeleton.root] = roots
    for parent, child in skeleton.bones:
        direction = rng.normal(size=(num_people, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        length = rng.uniform(0.1, 0.4, size=(num_people, 1))
        kp3d[:, child] = kp3d[:, parent] + length * direction
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return projected_sample(image, kp3d, intrinsics, skeleton)
