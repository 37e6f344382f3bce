"""Street furniture for the mesh renderer: lamp posts, sign posts, tripods, bollards, bins,
benches, tree trunks and people-sized boards, placed on the visible ground once per
sequence.

They are hard negatives: thin upright things of a person's size and colour that are not
people (the shipped model's false alarms on real footage were a lamp post, a camera tripod
and window frames). Each item is a few boxes (`solids.box_corners` corners, drawn like the
vehicles); they cast shadows and hide the people behind them, who get `occluded` flags.
"""

from __future__ import annotations

import math

import numpy as np

from crowdpose3d.data.synth.camera_sampling import GroundView
from crowdpose3d.data.synth.solids import box_corners

Box = tuple[np.ndarray, bool, tuple[float, float, float]]  # world corners (8, 3), glass, RGB

KINDS = ("lamp", "sign", "tripod", "bollard", "bin", "bench", "trunk", "board")
WEIGHTS = (0.2, 0.15, 0.1, 0.15, 0.1, 0.1, 0.1, 0.1)


def sample_furniture(view: GroundView, rng: np.random.Generator) -> list[Box]:
    """3 to 25 items at random places of the visible ground (world boxes)."""
    count = int(rng.integers(3, 26))
    boxes: list[Box] = []
    for _ in range(count):
        d = rng.uniform(min(max(view.near_d, 4.0), view.far_d), view.far_d)  # not on the lens
        s = rng.uniform(-1.1, 1.1) * float(view.half_width(d))
        xy = view.to_world(np.array([s, d]))
        yaw = rng.uniform(-math.pi, math.pi)
        kind = KINDS[int(rng.choice(len(KINDS), p=WEIGHTS))]
        boxes.extend(_item(kind, np.array([xy[0], xy[1], 0.0]), yaw, rng))
    return boxes


def _item(kind: str, base: np.ndarray, yaw: float, rng: np.random.Generator) -> list[Box]:
    grey = float(rng.uniform(30, 200))
    metal = (grey, grey, grey * rng.uniform(0.9, 1.1))
    paint = tuple(float(c) for c in rng.uniform(20, 230, 3))
    if kind == "lamp":
        height, r = rng.uniform(3.5, 7.0), rng.uniform(0.05, 0.1)
        arm = rng.uniform(0.4, 1.2)
        return [
            _upright(base, yaw, r, r, height, metal),
            _part(base, yaw, (arm / 2, 0, height), (arm / 2, 0.04, 0.04), metal),
            _part(base, yaw, (arm, 0, height - 0.1), (0.25, 0.12, 0.08), (230.0, 230.0, 210.0)),
        ]
    if kind == "sign":
        height = rng.uniform(2.0, 3.2)
        plate = (rng.uniform(0.2, 0.45), 0.02, rng.uniform(0.2, 0.45))
        return [
            _upright(base, yaw, 0.035, 0.035, height, metal),
            _part(base, yaw, (0, 0.05, height - plate[2]), plate, paint),
        ]
    if kind == "tripod":
        height, spread = rng.uniform(1.3, 1.8), rng.uniform(0.3, 0.5)
        top = base + np.array([0, 0, height])
        legs = [_strut(base + spread * np.array([math.cos(a), math.sin(a), 0]), top, 0.015, metal)
                for a in yaw + np.array([0, 2 * math.pi / 3, 4 * math.pi / 3])]  # fmt: skip
        head = _part(base, yaw, (0, 0, height + 0.08), (0.12, 0.07, 0.08), (25.0, 25.0, 25.0))
        return [*legs, head]
    if kind == "bollard":
        r = rng.uniform(0.06, 0.15)
        return [_upright(base, yaw, r, r, rng.uniform(0.6, 1.1), paint)]
    if kind == "bin":
        r = rng.uniform(0.2, 0.35)
        return [_upright(base, yaw, r, r, rng.uniform(0.8, 1.2), paint)]
    if kind == "bench":
        length, seat = rng.uniform(1.2, 2.0), rng.uniform(0.42, 0.5)
        return [
            _part(base, yaw, (0, 0, seat), (length / 2, 0.22, 0.03), paint),
            _part(base, yaw, (0, -0.2, seat + 0.3), (length / 2, 0.03, 0.2), paint),
            _part(base, yaw, (-length / 2 + 0.1, 0, seat / 2), (0.03, 0.2, seat / 2), metal),
            _part(base, yaw, (length / 2 - 0.1, 0, seat / 2), (0.03, 0.2, seat / 2), metal),
        ]
    if kind == "trunk":
        r = rng.uniform(0.1, 0.25)
        bark = tuple(float(c) for c in rng.uniform(40, 90) * np.array([1.0, 0.8, 0.6]))
        return [_upright(base, yaw, r, r, rng.uniform(2.5, 5.0), bark)]
    # board: a people-sized panel or cut-out (advertising stand, door-sized sign)
    width, height = rng.uniform(0.4, 0.9), rng.uniform(1.2, 2.0)
    return [_upright(base, yaw, width / 2, 0.03, height, paint)]


def _axes(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _upright(base, yaw, half_x, half_y, height, colour) -> Box:
    return _part(base, yaw, (0, 0, height / 2), (half_x, half_y, height / 2), colour)


def _part(base, yaw, offset, half, colour) -> Box:
    """A box at `offset` (item frame: x along yaw, z up) from `base`, with half sizes."""
    axes = _axes(yaw)
    centre = base + np.asarray(offset, float) @ axes
    return box_corners(centre, np.asarray(half, float), axes), False, _rgb(colour)


def _strut(a: np.ndarray, b: np.ndarray, half: float, colour) -> Box:
    """A thin box from point a to point b."""
    up = (b - a) / np.linalg.norm(b - a)
    side = np.cross(up, [0.0, 0.0, 1.0])
    side = side / np.linalg.norm(side) if np.linalg.norm(side) > 1e-6 else np.array([1.0, 0, 0])
    third = np.cross(up, side)
    axes = np.stack((side, third, up))
    half_sizes = np.array([half, half, np.linalg.norm(b - a) / 2])
    return box_corners((a + b) / 2, half_sizes, axes), False, _rgb(colour)


def _rgb(colour) -> tuple[float, float, float]:
    r, g, b = (float(np.clip(c, 0, 255)) for c in colour)
    return (r, g, b)
