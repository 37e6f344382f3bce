"""Body proportions and clothing of one synthetic person.

Lengths are fractions of the stature (anthropometric tables: hip joint at ~0.5 H,
shoulders at ~0.82 H, thigh ~0.245 H, shin ~0.246 H, upper arm ~0.17 H, forearm ~0.15 H),
each jittered per person so limb ratios vary; girths scale with a per-person build factor.
Colours are RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 158], [224, 172, 125], [198, 134, 94], [160, 102, 68],
     [120, 74, 48], [90, 56, 38]], dtype=np.float64
)  # fmt: skip
HAIR_COLOURS = np.array(
    [[20, 16, 14], [45, 30, 22], [85, 55, 35], [140, 100, 60], [200, 170, 110],
     [150, 150, 150], [120, 50, 25]], dtype=np.float64
)  # fmt: skip
TROUSER_COLOURS = np.array(
    [[40, 60, 100], [30, 40, 70], [25, 25, 28], [70, 70, 75], [150, 135, 100],
     [90, 75, 60], [110, 120, 140]], dtype=np.float64
)  # fmt: skip
SHOE_COLOURS = np.array(
    [[20, 20, 20], [60, 40, 30], [230, 230, 230], [90, 90, 100], [150, 40, 40]], dtype=np.float64
)


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths and radii in metres (an average adult when all jitters are 1)."""

    stature: float  # standing height, head top to ground
    hip_height: float  # hip joint above ground when standing straight
    thigh: float
    shin: float
    ankle_height: float
    foot: float
    hip_half_width: float
    spine: float  # root (spine4) to neck
    neck_to_head: float  # neck joint to head centre
    shoulder_half_width: float
    upper_arm: float
    forearm: float
    hand: float
    head_radius: float
    neck_radius: float
    torso_radius: float  # half the chest depth
    upper_arm_radius: float
    forearm_radius: float
    thigh_radius: float
    shin_radius: float
    foot_radius: float


@dataclass(frozen=True)
class Appearance:
    """Clothing and skin colours (RGB 0-255) and garment choices."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    top: tuple[float, float, float]
    bottom: tuple[float, float, float]
    shoes: tuple[float, float, float]
    short_sleeves: bool
    bare_shins: bool  # shorts or a skirt
    skirt: bool
    bald: bool


def sample_body(rng: np.random.Generator) -> tuple[BodyShape, Appearance]:
    """A random adult: stature 1.5-1.95 m, per-segment jitter, build and clothing."""
    stature = float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.95))
    broad = rng.uniform(0.9, 1.12)  # shoulder width relative to hips
    build = rng.uniform(0.85, 1.25)  # girth

    def part(fraction: float, spread: float = 0.04) -> float:
        return stature * fraction * float(rng.uniform(1 - spread, 1 + spread))

    thigh, shin, ankle = part(0.245), part(0.246), part(0.039, 0.1)
    hip_height = thigh + shin + ankle
    neck_height = stature * 0.865
    head_radius = part(0.062, 0.06)
    shape = BodyShape(
        stature=stature,
        hip_height=hip_height,
        thigh=thigh,
        shin=shin,
        ankle_height=ankle,
        foot=part(0.15, 0.06),
        hip_half_width=part(0.05, 0.1) * build**0.5,
        spine=neck_height - hip_height - stature * 0.02,
        neck_to_head=part(0.07, 0.06),
        shoulder_half_width=part(0.11, 0.05) * broad,
        upper_arm=part(0.172),
        forearm=part(0.15),
        hand=part(0.06, 0.1),
        head_radius=head_radius,
        neck_radius=part(0.03, 0.1) * build**0.5,
        torso_radius=part(0.062, 0.08) * build,
        upper_arm_radius=part(0.028, 0.08) * build,
        forearm_radius=part(0.022, 0.08) * build,
        thigh_radius=part(0.044, 0.08) * build,
        shin_radius=part(0.031, 0.08) * build,
        foot_radius=part(0.024, 0.08),
    )
    skirt = bool(rng.random() < 0.12)
    top = _random_garment_colour(rng)
    appearance = Appearance(
        skin=_jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 10),
        hair=_jitter(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 8),
        top=top,
        bottom=_jitter(rng, TROUSER_COLOURS[rng.integers(len(TROUSER_COLOURS))], 14)
        if not skirt and rng.random() < 0.8
        else _random_garment_colour(rng),
        shoes=_jitter(rng, SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))], 10),
        short_sleeves=bool(rng.random() < 0.35),
        bare_shins=skirt or bool(rng.random() < 0.1),
        skirt=skirt,
        bald=bool(rng.random() < 0.06),
    )
    return shape, appearance


def _random_garment_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A clothing colour: mostly muted, sometimes saturated, sometimes near white/black."""
    kind = rng.random()
    if kind < 0.2:
        grey = rng.uniform(20, 235)
        return _jitter(rng, np.array([grey, grey, grey]), 6)
    hue = rng.uniform(0, 1)
    saturation = rng.uniform(0.15, 0.5) if kind < 0.75 else rng.uniform(0.5, 0.9)
    value = rng.uniform(0.3, 0.95)
    return _hsv_to_rgb(hue, saturation, value)


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    i = int(hue * 6) % 6
    f = hue * 6 - int(hue * 6)
    p, q, t = (
        value * (1 - saturation),
        value * (1 - f * saturation),
        value * (1 - (1 - f) * saturation),
    )
    r, g, b = [
        (value, t, p),
        (q, value, p),
        (p, value, t),
        (p, q, value),
        (t, p, value),
        (value, p, q),
    ][i]
    return (255 * r, 255 * g, 255 * b)


def _jitter(
    rng: np.random.Generator, colour: np.ndarray, amount: float
) -> tuple[float, float, float]:
    c = np.clip(colour + rng.normal(0, amount, 3), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))
