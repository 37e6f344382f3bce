"""A cheap appearance descriptor of each detected person, from the frame's pixels.

A person's clothes keep their colours from frame to frame, while two neighbours who swap
boxes in a crowd usually wear different ones: the one cue of identity that motion and box
overlap do not give. The descriptor is the colour of a few horizontal bands of the box's
middle (chest, waist, legs), each the per-channel median of a small grid of pixels sampled
inside the band (the median ignores the pixels of a neighbour or of the background that
fall into the band, up to almost half of them), in RGB scaled to [0, 1].

One gather of ``N x BANDS x POINTS`` pixels a frame, no per-person Python loop: about as
cheap as reading the boxes. The tracker keeps an exponential moving average per track
(`PoseTracker`'s ``appearance_*`` parameters) and compares it with `appearance_distance`.
"""

from __future__ import annotations

import numpy as np

#: The bands, as (top, bottom) fractions of the box height from its top: chest, waist and
#: thighs, knees, shins (the head and feet are left out: hair and shoes vary less between people,
#: and the feet stand on the ground of every neighbour).
BANDS = ((0.18, 0.34), (0.36, 0.52), (0.56, 0.72), (0.74, 0.88))
#: The band's middle share of the box width that is sampled (arms and the background at
#: the box's sides are left out).
BAND_WIDTH = (0.32, 0.68)
#: Sample grid per band: columns x rows of pixels.
GRID = (4, 3)
#: Descriptor length: an RGB median per band.
DESCRIPTOR_SIZE = 3 * len(BANDS)
#: What the descriptor is made of, for caches of descriptors to tell when to remake them.
SIGNATURE = f"bands={BANDS} width={BAND_WIDTH} grid={GRID} median-rgb"
#: The ``Poses.data`` key of the (N, DESCRIPTOR_SIZE) descriptors (the track stage fills
#: it from the frame when absent; a benchmark's detection cache may hold it already).
APPEARANCE = "appearance"

_GRID_X = (np.arange(GRID[0]) + 0.5) / GRID[0]  # (C,) positions across the band, 0-1
_GRID_Y = (np.arange(GRID[1]) + 0.5) / GRID[1]  # (R,) positions down the band, 0-1


def appearance_descriptors(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB image and (N, 4) corner boxes in pixels -> (N, DESCRIPTOR_SIZE)
    float32 descriptors (band after band, R G B each in [0, 1]). Boxes beyond the image
    sample its nearest pixels."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
    height, width = image.shape[:2]
    x1, y1, x2, y2 = boxes.T  # (N,) each
    box_w, box_h = x2 - x1, y2 - y1
    left = x1 + BAND_WIDTH[0] * box_w
    span_x = (BAND_WIDTH[1] - BAND_WIDTH[0]) * box_w
    xs = left[:, None] + span_x[:, None] * _GRID_X[None, :]  # (N, C)
    bands = np.asarray(BANDS, np.float64)  # (B, 2)
    tops = y1[:, None] + box_h[:, None] * bands[None, :, 0]  # (N, B)
    spans = box_h[:, None] * (bands[None, :, 1] - bands[None, :, 0])  # (N, B)
    ys = tops[:, :, None] + spans[:, :, None] * _GRID_Y[None, None, :]  # (N, B, R)
    col = np.minimum(np.maximum(xs.astype(np.int64), 0), width - 1)  # (N, C)
    row = np.minimum(np.maximum(ys.astype(np.int64), 0), height - 1)  # (N, B, R)
    # (N, B, R, C) pixel indices into the flattened image, then one gather (``take``:
    # several times faster than fancy indexing here).
    flat = row[:, :, :, None] * width + col[:, None, None, :]
    pixels = image.reshape(-1, image.shape[2]).take(
        flat.reshape(len(boxes), len(BANDS), -1), axis=0
    )  # (N, B, R * C, 3)
    median = _median(pixels)  # (N, B, 3)
    return (median.reshape(len(boxes), DESCRIPTOR_SIZE) / 255.0).astype(np.float32)


def _median(pixels: np.ndarray) -> np.ndarray:
    """(N, B, P, 3) uint8 samples -> (N, B, 3) float64 medians over P, as ``np.median``
    gives them (the mean of the two middle values for an even P).

    One sort of every sample at once instead of a sort per group of P (a band's channel:
    N x B x 3 sorts of 12 values, where numpy's per-row overhead is most of the time): each
    sample's value is tagged with its group's number in the bits above its 8, so sorting
    the tagged numbers keeps the groups in order and apart and sorts each one inside
    (about five times as fast, the same numbers; the tags fit 32 bits up to 2^24 groups,
    1.4 million people)."""
    num, bands, count, channels = pixels.shape
    groups = np.ascontiguousarray(pixels.transpose(0, 1, 3, 2)).reshape(-1, count)  # (G, P)
    tags = (np.arange(len(groups), dtype=np.uint32) << 8)[:, None]  # (G, 1) group << 8
    tagged = (groups + tags).ravel()  # (G * P,) uint32: group, then value
    tagged.sort()
    ordered = tagged.reshape(-1, count)  # (G, P) each group's samples ascending, tagged
    high = (ordered[:, count // 2] & 0xFF).astype(np.float64)  # (G,) the upper middle
    if count % 2 == 0:
        high = ((ordered[:, count // 2 - 1] & 0xFF) + high) / 2.0
    return high.reshape(num, bands, channels)


def appearance_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, D) and (K, D) descriptors of K pairs -> (K,) RMS colour difference per band
    (0: the same colours; 1: black against white in every channel)."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)  # (K, D)
    return np.sqrt(np.einsum("kd,kd->k", diff, diff) / max(diff.shape[1] // 3, 1) / 3.0)
