"""Training and evaluation transforms on `Sample`: image and labels change together.

PandaNet trains on random scales and random crops (paper, "Training Procedure"); a flip and
a colour jitter are the usual extras. Every transform is a small class with explicit keyword
parameters, called as ``transform(sample, rng)`` with a ``numpy.random.Generator`` (no global
random state), returning a new `Sample` (the input is never modified), and `Compose` chains
them.

Geometric transforms keep 2D and 3D in agreement: the image, the 2D joints, the boxes and the
intrinsics move together, and the 3D joints (metres, camera frame) change only under a flip
(x -> -x), so ``sample.intrinsics.project(sample.kp3d) == sample.kp2d`` holds after any of
them for joints where it held before.

Pixel convention (OpenCV's, as in `crowdpose3d.geometry.camera`): pixel centres are at
integer coordinates, pixel ``i`` covers ``[i - 0.5, i + 0.5)``; a resize by ``s`` maps
``u -> (u + 0.5) s - 0.5``, a crop at ``left`` maps ``u -> u - left`` and a mirror maps
``u -> W - 1 - u``. Boxes (xyxy) follow the same maps as the joints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from crowdpose3d.data.sample import Sample

__all__ = [
    "ColorJitter",
    "Compose",
    "Letterbox",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomScale",
    "ResizeToFit",
    "Transform",
    "crop",
    "flip_horizontally",
    "resize",
]

# ImageNet mean colour (RGB, uint8): padding with it is close to zero after normalisation.
DEFAULT_FILL = (124, 116, 104)


class Transform(Protocol):
    """A sample -> sample map drawing its randomness from ``rng``."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample: ...


class Compose:
    """Applies ``transforms`` in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for transform in self.transforms:
            sample = transform(sample, rng)
        return sample

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


# ---------------------------------------------------------------------- deterministic ops
def _moved_labels(
    sample: Sample, scale_x: float, scale_y: float, shift_x: float, shift_y: float
) -> tuple[np.ndarray, np.ndarray]:
    """2D joints and boxes under ``u -> scale_x u + shift_x``, ``v -> scale_y v + shift_y``.

    Returns kp2d (N, K, 2) and boxes (N, 4), computed in float64; boxes stay x1 <= x2 when
    a scale is negative (a mirror).
    """
    scale = np.array([scale_x, scale_y])
    shift = np.array([shift_x, shift_y])
    kp2d = sample.kp2d.astype(np.float64) * scale + shift  # (N, K, 2)
    corners = sample.boxes.astype(np.float64).reshape(-1, 2, 2) * scale + shift  # (N, 2, 2)
    boxes = np.concatenate((corners.min(axis=1), corners.max(axis=1)), axis=1)  # (N, 4)
    return kp2d, boxes


def resize(sample: Sample, width: int, height: int) -> Sample:
    """The sample with its image resized to ``width x height`` (aspect ratio may change).

    INTER_AREA when shrinking (no aliasing), INTER_LINEAR otherwise; 2D joints and boxes
    follow ``u -> (u + 0.5) s - 0.5``, the focal lengths scale and the principal point moves
    (`Intrinsics.scaled`); 3D joints are unchanged.
    """
    old_height, old_width = sample.image.shape[:2]
    if (width, height) == (old_width, old_height):
        return sample
    scale_x, scale_y = width / old_width, height / old_height
    shrinking = scale_x * scale_y < 1.0
    image = cv2.resize(
        sample.image,
        (width, height),
        interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
    )
    intrinsics = replace(sample.intrinsics.scaled(scale_x, scale_y), width=width, height=height)
    kp2d, boxes = _moved_labels(sample, scale_x, scale_y, 0.5 * scale_x - 0.5, 0.5 * scale_y - 0.5)
    return replace(sample, image=image, intrinsics=intrinsics, kp2d=kp2d, boxes=boxes)


def _box_area(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N,) area, 0 for empty boxes."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _clip_boxes(boxes: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(N, 4) xyxy boxes intersected with the rectangle [x0, x1] x [y0, y1]."""
    return np.stack(
        (
            np.clip(boxes[:, 0], x0, x1),
            np.clip(boxes[:, 1], y0, y1),
            np.clip(boxes[:, 2], x0, x1),
            np.clip(boxes[:, 3], y0, y1),
        ),
        axis=1,
    )


def _inside(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(..., 2) points -> (...,) bool, inside [x0, x1) x [y0, y1)."""
    u, v = points[..., 0], points[..., 1]
    return (u >= x0) & (u < x1) & (v >= y0) & (v < y1)


def crop(
    sample: Sample,
    left: int,
    top: int,
    width: int,
    height: int,
    *,
    fill: tuple[int, int, int] = DEFAULT_FILL,
    min_box_fraction: float = 0.3,
    min_joints_inside: int = 2,
) -> Sample:
    """The ``width x height`` window whose top-left pixel is ``(left, top)`` of the image.

    The window may reach past the image (negative ``left``, or larger than the image): those
    pixels are ``fill``. 2D joints and boxes shift by ``(-left, -top)`` and the principal
    point with them (`Intrinsics.cropped`); 3D joints are unchanged.

    Labels:
      * joints keep their 2D position (possibly outside the window) and their 3D label, but
        ``visible`` becomes False for joints outside the part of the window that shows the
        image;
      * boxes are clipped to the window (pixel extent ``[-0.5, width - 0.5]``);
      * a person is dropped when less than ``min_box_fraction`` of its box's area inside the
        image lies in the window, or when fewer than ``min_joints_inside`` of its labelled
        joints that were in the image are in the window (fewer are needed when the person had
        fewer to begin with; a box wholly outside the image is judged by its joints). A
        window covering the whole image therefore drops nobody.
    """
    image = sample.image
    old_height, old_width = image.shape[:2]
    # The part of the image the window shows, in source pixels: rows [y0, y1), cols [x0, x1).
    x0, x1 = max(left, 0), min(left + width, old_width)
    y0, y1 = max(top, 0), min(top + height, old_height)
    if x1 > x0 and y1 > y0:
        # The shown part, with the padding around it (copyMakeBorder copies the part too).
        out = cv2.copyMakeBorder(
            image[y0:y1, x0:x1],
            y0 - top,
            top + height - y1,
            x0 - left,
            left + width - x1,
            cv2.BORDER_CONSTANT,
            value=tuple(int(c) for c in fill),
        )
    else:  # the window misses the image
        out = np.empty((height, width, 3), dtype=np.uint8)
        out[...] = np.asarray(fill, dtype=np.uint8)

    # Who stays: compare each person before (in the image) and after (in the shown part).
    image_rect = (-0.5, -0.5, old_width - 0.5, old_height - 0.5)
    shown_rect = (x0 - 0.5, y0 - 0.5, x1 - 0.5, y1 - 0.5)  # source pixels
    area_in_image = _box_area(_clip_boxes(sample.boxes.astype(np.float64), *image_rect))
    area_shown = _box_area(_clip_boxes(sample.boxes.astype(np.float64), *shown_rect))
    box_fraction = np.where(area_in_image > 0, area_shown / np.maximum(area_in_image, 1e-12), 1.0)
    joints_in_image = (_inside(sample.kp2d, *image_rect) & sample.kp2d_valid).sum(axis=1)
    shown = _inside(sample.kp2d, *shown_rect)  # (N, K)
    joints_shown = (shown & sample.kp2d_valid).sum(axis=1)
    keep = (box_fraction >= min_box_fraction) & (
        joints_shown >= np.minimum(joints_in_image, min_joints_inside)
    )

    kp2d, boxes = _moved_labels(sample, 1.0, 1.0, -left, -top)
    boxes = _clip_boxes(boxes, -0.5, -0.5, width - 0.5, height - 0.5)
    cropped = replace(
        sample,
        image=out,
        intrinsics=sample.intrinsics.cropped(left, top, width, height),
        kp2d=kp2d,
        boxes=boxes,
        visible=sample.visible & shown,
    )
    return cropped if keep.all() else cropped.select(keep)


def flip_horizontally(sample: Sample) -> Sample:
    """The mirrored sample: ``u -> W - 1 - u``, 3D ``x -> -x``, left and right joints swap.

    The joint swap (``skeleton.flip_permutation()``) applies to 2D, 3D and every mask, so a
    left wrist stays labelled "left wrist" on the mirrored person (whose left is where the
    right used to be). The principal point mirrors too (`Intrinsics.flipped_horizontally`).
    """
    width = sample.image.shape[1]
    perm = list(sample.skeleton.flip_permutation())
    kp2d, boxes = _moved_labels(sample, -1.0, 1.0, width - 1.0, 0.0)
    kp3d = sample.kp3d * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    return replace(
        sample,
        image=cv2.flip(sample.image, 1),
        intrinsics=sample.intrinsics.flipped_horizontally(),
        kp2d=kp2d[:, perm],
        kp3d=kp3d[:, perm],
        kp2d_valid=sample.kp2d_valid[:, perm],
        kp3d_valid=sample.kp3d_valid[:, perm],
        visible=sample.visible[:, perm],
        boxes=boxes,
    )


# ---------------------------------------------------------------------- random transforms
class RandomScale:
    """Resizes the image by a random factor in ``[min_scale, max_scale]``.

    The factor is drawn log-uniformly (zooming in and out by the same ratio are equally
    likely). With ``fit_size=(H, W)`` the factor is relative to the scale that fits the image
    into ``H x W`` (so datasets of different resolutions land at comparable sizes); without
    it, relative to the image itself. Labels follow `resize`.
    """

    def __init__(
        self,
        min_scale: float,
        max_scale: float,
        *,
        fit_size: tuple[int, int] | None = None,
    ) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(
                f"RandomScale needs 0 < min_scale <= max_scale, got {min_scale}, {max_scale}"
            )
        self.min_scale = min_scale
        self.max_scale = max_scale
        self.fit_size = fit_size

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        height, width = sample.image.shape[:2]
        factor = math.exp(rng.uniform(math.log(self.min_scale), math.log(self.max_scale)))
        if self.fit_size is not None:
            factor *= min(self.fit_size[0] / height, self.fit_size[1] / width)
        new_width = max(1, round(width * factor))
        new_height = max(1, round(height * factor))
        return resize(sample, new_width, new_height)

    def __repr__(self) -> str:
        return (
            f"RandomScale(min_scale={self.min_scale}, max_scale={self.max_scale}, "
            f"fit_size={self.fit_size})"
        )


class RandomCrop:
    """A random ``height x width`` window (the network's input size), padded if needed.

    Along an axis where the image is larger than the window, the window's offset is uniform
    over the positions that stay inside the image; where it is smaller, the image lands at a
    uniform random position inside the window and the rest is ``fill``. With probability
    ``person_bias`` the window is instead chosen among the positions that contain the centre
    of a randomly picked person (when there is anyone), so crowded frames do not yield empty
    crops. Dropping and visibility rules: see `crop`.
    """

    def __init__(
        self,
        height: int,
        width: int,
        *,
        fill: tuple[int, int, int] = DEFAULT_FILL,
        person_bias: float = 0.5,
        min_box_fraction: float = 0.3,
        min_joints_inside: int = 2,
    ) -> None:
        if height <= 0 or width <= 0:
            raise ValueError(f"RandomCrop size must be positive, got {height}x{width}")
        if not 0.0 <= person_bias <= 1.0:
            raise ValueError(f"person_bias is a probability in [0, 1], got {person_bias}")
        self.height = height
        self.width = width
        self.fill = fill
        self.person_bias = person_bias
        self.min_box_fraction = min_box_fraction
        self.min_joints_inside = min_joints_inside

    @staticmethod
    def _offset(
        rng: np.random.Generator, image_size: int, crop_size: int, target: float | None
    ) -> int:
        """A window offset along one axis, containing ``target`` (a pixel) when possible."""
        low, high = sorted((0, image_size - crop_size))  # every offset in [low, high] is fine
        if target is not None:
            # Offsets whose window [offset, offset + crop_size) contains the target pixel.
            target_low = max(low, math.floor(target) - crop_size + 1)
            target_high = min(high, math.floor(target))
            if target_low <= target_high:
                low, high = target_low, target_high
        return int(rng.integers(low, high + 1))

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        height, width = sample.image.shape[:2]
        target_x = target_y = None
        if len(sample) > 0 and rng.random() < self.person_bias:
            box = sample.boxes[rng.integers(len(sample))]
            target_x, target_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        left = self._offset(rng, width, self.width, target_x)
        top = self._offset(rng, height, self.height, target_y)
        return crop(
            sample,
            left,
            top,
            self.width,
            self.height,
            fill=self.fill,
            min_box_fraction=self.min_box_fraction,
            min_joints_inside=self.min_joints_inside,
        )

    def __repr__(self) -> str:
        return (
            f"RandomCrop(height={self.height}, width={self.width}, "
            f"person_bias={self.person_bias}, min_box_fraction={self.min_box_fraction}, "
            f"min_joints_inside={self.min_joints_inside})"
        )


class RandomHorizontalFlip:
    """Mirrors the sample (`flip_horizontally`) with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"flip probability must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return flip_horizontally(sample) if rng.random() < self.p else sample

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class ColorJitter:
    """Random brightness, contrast, saturation and hue; the image only, uint8 in and out.

    Factors are drawn uniformly in ``[1 - brightness, 1 + brightness]``, ``[1 - contrast,
    1 + contrast]`` and ``[1 - saturation, 1 + saturation]``, and a hue shift in
    ``[-hue, hue]`` turns of the colour wheel (``hue <= 0.5``), as in torchvision.
    Brightness and contrast are one lookup table on the RGB values (contrast pulls towards
    the mean grey level); saturation and hue are lookup tables on the S and H channels of
    one HSV round trip, skipped when both are zero.
    """

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
    ) -> None:
        for name, value in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ColorJitter {name} must be in [0, 1], got {value}")
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"ColorJitter hue must be in [0, 0.5], got {hue}")
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        brightness = rng.uniform(1 - self.brightness, 1 + self.brightness)
        contrast = rng.uniform(1 - self.contrast, 1 + self.contrast)
        saturation = rng.uniform(1 - self.saturation, 1 + self.saturation)
        hue_shift = rng.uniform(-self.hue, self.hue)
        image = sample.image
        levels = np.arange(256, dtype=np.float32)

        if self.brightness or self.contrast:
            # out = contrast * (brightness * x - mean) + mean, mean = grey level after brightness
            red, green, blue = cv2.mean(image)[:3]
            mean = brightness * (0.299 * red + 0.587 * green + 0.114 * blue)  # mean grey level
            table = contrast * (brightness * levels - mean) + mean
            image = cv2.LUT(image, np.clip(np.rint(table), 0, 255).astype(np.uint8))

        if self.saturation or self.hue:
            hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)  # uint8: H in [0, 180), S, V in [0, 255]
            hue_table = np.rint(levels + hue_shift * 180.0) % 180.0
            sat_table = np.clip(np.rint(levels * saturation), 0, 255)
            value_table = levels
            table = np.stack((hue_table, sat_table, value_table), axis=1).astype(np.uint8)
            hsv = cv2.LUT(hsv, table[None])  # (1, 256, 3): one table per channel
            image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

        return sample if image is sample.image else replace(sample, image=image)

    def __repr__(self) -> str:
        return (
            f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue})"
        )


# ---------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Letterbox:
    """How `ResizeToFit` placed an image: resized by ``(scale_x, scale_y)``, then shifted
    right and down by ``(pad_left, pad_top)`` pixels. Maps network-input pixels back."""

    scale_x: float
    scale_y: float
    pad_left: int
    pad_top: int

    def points_to_original(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) input-image pixels -> (..., 2) original-image pixels."""
        points = np.asarray(points, dtype=np.float64)
        u = (points[..., 0] - self.pad_left + 0.5) / self.scale_x - 0.5
        v = (points[..., 1] - self.pad_top + 0.5) / self.scale_y - 0.5
        return np.stack((u, v), axis=-1)

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """(..., 4) xyxy input-image boxes -> (..., 4) original-image boxes."""
        boxes = np.asarray(boxes, dtype=np.float64)
        corners = self.points_to_original(boxes.reshape(*boxes.shape[:-1], 2, 2))
        return corners.reshape(boxes.shape)


class ResizeToFit:
    """Evaluation letterbox: resize keeping the aspect ratio to fit ``height x width`` (both
    multiples of 32, the model's stride), then pad with ``fill`` to exactly that size.

    The image is centred; labels and intrinsics follow `resize` and `crop` (nobody is
    dropped; joints outside the image are not ``visible``). The `Letterbox` that maps
    predictions back to the original pixels is stored in ``sample.extra["letterbox"]`` and
    is also returned by `letterbox`.
    """

    def __init__(
        self, height: int, width: int, *, fill: tuple[int, int, int] = DEFAULT_FILL
    ) -> None:
        if height <= 0 or width <= 0 or height % 32 or width % 32:
            raise ValueError(
                f"ResizeToFit size must be positive multiples of 32, got {height}x{width}"
            )
        self.height = height
        self.width = width
        self.fill = fill

    def letterbox(self, image_height: int, image_width: int) -> Letterbox:
        """Where an ``image_width x image_height`` image lands in the input."""
        factor = min(self.height / image_height, self.width / image_width)
        new_width = min(self.width, max(1, round(image_width * factor)))
        new_height = min(self.height, max(1, round(image_height * factor)))
        return Letterbox(
            scale_x=new_width / image_width,
            scale_y=new_height / image_height,
            pad_left=(self.width - new_width) // 2,
            pad_top=(self.height - new_height) // 2,
        )

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        height, width = sample.image.shape[:2]
        box = self.letterbox(height, width)
        resized = resize(sample, round(width * box.scale_x), round(height * box.scale_y))
        placed = crop(
            resized,
            -box.pad_left,
            -box.pad_top,
            self.width,
            self.height,
            fill=self.fill,
            min_box_fraction=0.0,
            min_joints_inside=0,
        )
        return replace(placed, extra={**sample.extra, "letterbox": box})

    def __repr__(self) -> str:
        return f"ResizeToFit(height={self.height}, width={self.width})"
