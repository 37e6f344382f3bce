"""What real cameras do to an image, as training transforms: white balance and exposure,
motion and defocus blur, low resolution, sensor noise, JPEG and H.264 compression.

Each effect is a transform ``effect(sample, rng) -> sample`` (see `transforms.py`) that
changes the image only: it keeps its size, so the labels and the intrinsics stay exactly
right (a blur or a resolution loss moves no pixel centre). `CameraEffects` applies each
effect with its own probability, in the order a camera applies them: light, optics
(defocus), motion, the sensor's resolution and noise, then the codec.

The synthetic renderers already add a per-sequence blur, noise and exposure drift, and
`crowdpose3d synth` writes H.264; these transforms add the variety of real cameras on top,
on any dataset (synthetic, composites, negative photographs).
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import cv2
import numpy as np

from crowdpose3d.data.sample import Sample

__all__ = [
    "CameraEffects",
    "DefocusBlur",
    "H264Compression",
    "JpegCompression",
    "LowResolution",
    "MotionBlur",
    "SensorNoise",
    "WhiteBalance",
]


NOISE_TILE = 1024  # side of the fixed noise tile of `SensorNoise` (pixels)
NOISE_SEED = 20261201  # the tile's seed: fixed, so a sample's noise depends on its rng only


def _with_image(sample: Sample, image: np.ndarray) -> Sample:
    return replace(sample, image=np.ascontiguousarray(image))


class WhiteBalance:
    """A camera's white balance and exposure: per-channel gains (red and blue against
    green, up to ``strength``), an exposure gain (2 ** [-ev, ev]) and a gamma in
    [1 - gamma, 1 + gamma], as one lookup table per channel."""

    def __init__(self, strength: float = 0.15, ev: float = 0.4, gamma: float = 0.2) -> None:
        self.strength, self.ev, self.gamma = strength, ev, gamma

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        gains = np.array(
            [1 + rng.uniform(-self.strength, self.strength), 1.0,
             1 + rng.uniform(-self.strength, self.strength)]
        ) * 2 ** rng.uniform(-self.ev, self.ev)  # fmt: skip
        gamma = rng.uniform(1 - self.gamma, 1 + self.gamma)
        levels = np.arange(256, dtype=np.float64) / 255
        tables = np.clip(255 * (levels[:, None] * gains[None]) ** gamma, 0, 255)  # (256, 3)
        table = np.rint(tables).astype(np.uint8)[None]  # (1, 256, 3): one table per channel
        return _with_image(sample, cv2.LUT(sample.image, table))

    def __repr__(self) -> str:
        return f"WhiteBalance(strength={self.strength}, ev={self.ev}, gamma={self.gamma})"


class MotionBlur:
    """Camera shake or a slow shutter: a line kernel of 3..``max_length`` pixels at a
    random angle (the kernel sums to 1, so the mean colour is kept)."""

    def __init__(self, max_length: int = 9) -> None:
        self.max_length = max_length

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        length = int(rng.integers(3, max(self.max_length, 3) + 1))
        angle = rng.uniform(0, math.pi)
        kernel = np.zeros((length, length), np.float32)
        centre = (length - 1) / 2
        dx, dy = math.cos(angle) * centre, math.sin(angle) * centre
        cv2.line(
            kernel,
            (round((centre - dx) * 16), round((centre - dy) * 16)),
            (round((centre + dx) * 16), round((centre + dy) * 16)),
            1.0, 1, cv2.LINE_AA, 4,
        )  # fmt: skip
        kernel /= kernel.sum()
        return _with_image(sample, cv2.filter2D(sample.image, -1, kernel))

    def __repr__(self) -> str:
        return f"MotionBlur(max_length={self.max_length})"


class DefocusBlur:
    """Out of focus: a disc kernel of radius 1..``max_radius`` pixels."""

    def __init__(self, max_radius: float = 3.0) -> None:
        self.max_radius = max_radius

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        radius = rng.uniform(1.0, max(self.max_radius, 1.0))
        size = 2 * math.ceil(radius) + 1
        kernel = np.zeros((size, size), np.float32)
        c = size // 2
        cv2.circle(kernel, (c * 16, c * 16), round(radius * 16), 1.0, -1, cv2.LINE_AA, 4)
        kernel /= kernel.sum()
        return _with_image(sample, cv2.filter2D(sample.image, -1, kernel))

    def __repr__(self) -> str:
        return f"DefocusBlur(max_radius={self.max_radius})"


class LowResolution:
    """A cheaper sensor or a digital zoom: shrink by a factor in [``min_factor``, 1) and
    enlarge back to the same size (same pixel grid, so the labels still hold)."""

    def __init__(self, min_factor: float = 0.4) -> None:
        self.min_factor = min_factor

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        height, width = sample.image.shape[:2]
        factor = rng.uniform(self.min_factor, 1.0)
        small = cv2.resize(
            sample.image,
            (max(1, round(width * factor)), max(1, round(height * factor))),
            interpolation=cv2.INTER_AREA,
        )
        return _with_image(sample, cv2.resize(small, (width, height), cv2.INTER_LINEAR))

    def __repr__(self) -> str:
        return f"LowResolution(min_factor={self.min_factor})"


class SensorNoise:
    """Shot and read noise: per pixel a Gaussian of variance ``read ** 2 + shot * value``
    (grey levels), ``read`` drawn in [0, max_read] and ``shot`` in [0, max_shot], with
    the noise of the three channels partly shared (a sensor's luminance noise).

    The unit Gaussian field is a fixed tile (`NOISE_TILE` pixels a side, drawn once from a
    fixed seed) read at a random offset and orientation: drawing fresh normals for every
    pixel cost more than the rest of a training sample.
    """

    def __init__(self, max_read: float = 6.0, max_shot: float = 0.6) -> None:
        self.max_read, self.max_shot = max_read, max_shot
        tile = np.random.default_rng(NOISE_SEED).standard_normal(
            (NOISE_TILE, NOISE_TILE, 4), dtype=np.float32
        )
        # Channels 0-2 own noise, 3 shared: unit variance in each output channel.
        self._tile = 0.8 * tile[..., :3] + 0.6 * tile[..., 3:]

    def _field(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """(height, width, 3) unit-variance noise, tiled where the image is larger."""
        tile = self._tile
        if rng.random() < 0.5:
            tile = tile[::-1]
        if rng.random() < 0.5:
            tile = tile[:, ::-1]
        dy, dx = (int(v) for v in rng.integers(0, NOISE_TILE, size=2))
        reps = (-(-(height + dy) // NOISE_TILE), -(-(width + dx) // NOISE_TILE), 1)
        big = np.tile(tile, reps) if reps[:2] != (1, 1) else tile
        return big[dy : dy + height, dx : dx + width]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        image = sample.image.astype(np.float32)
        read = rng.uniform(0, self.max_read)
        shot = rng.uniform(0, self.max_shot)
        sigma = np.sqrt(read**2 + shot * image)  # (H, W, 3)
        noise = sigma * self._field(*image.shape[:2], rng)
        return _with_image(sample, np.clip(image + noise, 0, 255).astype(np.uint8))

    def __repr__(self) -> str:
        return f"SensorNoise(max_read={self.max_read}, max_shot={self.max_shot})"


class JpegCompression:
    """A JPEG round trip at a quality in [``min_quality``, ``max_quality``] (cv2)."""

    def __init__(self, min_quality: int = 25, max_quality: int = 90) -> None:
        self.min_quality, self.max_quality = min_quality, max_quality

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        quality = int(rng.integers(self.min_quality, self.max_quality + 1))
        ok, data = cv2.imencode(
            ".jpg", sample.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
            return sample
        return _with_image(sample, cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])

    def __repr__(self) -> str:
        return f"JpegCompression(min_quality={self.min_quality}, max_quality={self.max_quality})"


class H264Compression:
    """An H.264 round trip (libx264 through PyAV, yuv420p, one intra frame) at a constant
    rate factor in [``min_crf``, ``max_crf``]: the blocking and chroma loss of video
    cameras and streams. Images of odd size are left as they are (yuv420p needs even)."""

    def __init__(self, min_crf: int = 23, max_crf: int = 40) -> None:
        self.min_crf, self.max_crf = min_crf, max_crf

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        import av

        height, width = sample.image.shape[:2]
        if height % 2 or width % 2:
            return sample
        crf = int(rng.integers(self.min_crf, self.max_crf + 1))
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = Fraction(1, 25)
        codec.options = {"crf": str(crf), "preset": "ultrafast", "tune": "zerolatency"}
        codec.thread_count = 1
        frame = av.VideoFrame.from_ndarray(sample.image, format="rgb24")
        packets = list(codec.encode(frame)) + list(codec.encode(None))
        decoder = av.CodecContext.create("h264", "r")
        decoded = []
        for packet in packets:
            decoded.extend(decoder.decode(packet))
        decoded.extend(decoder.decode(None))
        if not decoded:  # pragma: no cover - one frame in, one frame out
            return sample
        return _with_image(sample, decoded[0].to_ndarray(format="rgb24"))

    def __repr__(self) -> str:
        return f"H264Compression(min_crf={self.min_crf}, max_crf={self.max_crf})"


# Probabilities of each effect in `CameraEffects` (about half the images get blurred, most
# get some noise, a third are compressed once more).
DEFAULT_PROBABILITIES = {
    "white_balance": 0.5,
    "defocus": 0.15,
    "motion": 0.2,
    "low_resolution": 0.2,
    "noise": 0.5,
    "jpeg": 0.2,
    "h264": 0.15,
}


class CameraEffects:
    """The effects above, each applied with its probability (`DEFAULT_PROBABILITIES`), in
    a camera's order. ``probabilities`` overrides some of them (0 switches one off)."""

    def __init__(self, probabilities: dict[str, float] | None = None) -> None:
        chosen = {**DEFAULT_PROBABILITIES, **(probabilities or {})}
        unknown = set(chosen) - set(DEFAULT_PROBABILITIES)
        if unknown:
            raise ValueError(
                f"unknown camera effect(s) {sorted(unknown)}; "
                f"choose from {', '.join(DEFAULT_PROBABILITIES)}"
            )
        for name, p in chosen.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"camera effect {name}: probability must be in [0, 1], got {p}")
        self.probabilities = chosen
        self.effects = {
            "white_balance": WhiteBalance(),
            "defocus": DefocusBlur(),
            "motion": MotionBlur(),
            "low_resolution": LowResolution(),
            "noise": SensorNoise(),
            "jpeg": JpegCompression(),
            "h264": H264Compression(),
        }

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for name, effect in self.effects.items():
            if rng.random() < self.probabilities[name]:
                sample = effect(sample, rng)
        return sample

    def __repr__(self) -> str:
        return f"CameraEffects({self.probabilities})"
