"""The fast CPU renderer: shaded solids painted far to near over a static background.

Each body part and each visible vehicle face is one *item* with one depth (its centre's
camera z, plus a small per-part bias that settles ties inside a body, e.g. the neck goes
behind the head). Items are painted far to near (painter's algorithm) with cv2's
polygon filling: a darker full silhouette, then a lighter, smaller copy shifted towards the
light, which makes capsules read as round. Every item is also painted, with the same
polygon, into a label image (uint16, 0 = background), so that after painting each pixel
names the item that is visible there: `occlusion.py` reads the joints' flags from it.
Shadows are soft blobs blended on the ground first; blur, sensor noise and a slow
exposure drift are applied last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from crowdpose3d.data.synth.background import Lighting
from crowdpose3d.data.synth.solids import HULL_PARTS, NUM_PARTS, PersonSolids, box_faces
from crowdpose3d.geometry.camera import Camera

NEAR_M = 0.3  # solids closer than this to the camera plane are not drawn
SHIFT = 3  # cv2 sub-pixel bits: coordinates are multiplied by 8
ARC_POINTS = 6  # points per half circle of a capsule outline
PART_DEPTH_BIAS = np.zeros(NUM_PARTS)
PART_DEPTH_BIAS[2] = 0.06  # neck behind head and chest
PART_DEPTH_BIAS[4] = -0.03  # pelvis (trousers, skirt) over the tops of the thighs
OWNER_BACKGROUND, OWNER_VEHICLE = -1, -2


@dataclass(frozen=True)
class RenderStyle:
    """Per-sequence look: light, shadows, blur, noise, exposure drift."""

    lighting: Lighting
    light_2d: np.ndarray  # (2,) image direction towards the light (unit)
    shadow_2d: np.ndarray  # (2,) world ground direction in which shadows fall (unit)
    shadow_strength: float  # 0..1
    blur_sigma: float  # pixels, 0 = sharp
    noise_sigma: float  # grey levels
    exposure_drift: float  # relative amplitude of a slow gain oscillation


def sample_style(camera: Camera, lighting: Lighting, rng: np.random.Generator) -> RenderStyle:
    sun_cam = camera.rotation @ lighting.sun
    light_2d = sun_cam[:2] if np.hypot(*sun_cam[:2]) > 1e-3 else np.array([0.0, -1.0])
    light_2d = light_2d / np.hypot(*light_2d)
    shadow = -lighting.sun[:2] / max(np.hypot(*lighting.sun[:2]), 1e-6)
    return RenderStyle(
        lighting=lighting,
        light_2d=light_2d,
        shadow_2d=shadow,
        shadow_strength=float((1 - lighting.ambient) * rng.uniform(0.5, 0.8)),
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.4, 1.0)], p=[0.4, 0.6])),
        noise_sigma=float(rng.uniform(1.0, 6.0)),
        exposure_drift=float(rng.uniform(0.0, 0.04)),
    )


@dataclass(frozen=True)
class LabelTable:
    """What each label of the label image is: index 0 is the background.

    owner: (L,) index of the person in this frame's solids, -1 background, -2 vehicle;
    part: (L,) part index (see solids.PART_NAMES), -1 when not a body part;
    depth: (L,) camera z of the item's centre, metres (inf for the background).
    """

    owner: np.ndarray
    part: np.ndarray
    depth: np.ndarray


class Renderer:
    """Paints frames of one sequence over its pre-rendered background."""

    def __init__(
        self,
        camera: Camera,
        background: np.ndarray,
        style: RenderStyle,
        rng: np.random.Generator,
    ) -> None:
        self.camera, self.background, self.style = camera, background, style
        self.effects = SensorEffects(style, background.shape[:2], rng)

    def render(
        self,
        people: PersonSolids,
        feet_world: np.ndarray,
        boxes: list[tuple[np.ndarray, bool, tuple[float, float, float]]],
        time_s: float,
    ) -> tuple[np.ndarray, np.ndarray, LabelTable]:
        """One frame.

        people: camera-frame solids of N people; feet_world: (N, 2) ground points under them
        (for shadows); boxes: vehicle boxes as (world corners (8, 3), is glass, RGB colour).
        Returns image (H, W, 3) uint8 RGB, labels (H, W) uint16, and the label table.
        """
        image = self.background.copy()
        labels = np.zeros(image.shape[:2], np.uint16)
        self._shadows(image, feet_world, boxes)

        owners, parts, depths = [OWNER_BACKGROUND], [-1], [np.inf]
        items: list[tuple[float, int, int]] = []  # (sort depth, kind, index)
        person = self._prepare_people(people)
        if person is not None:
            for i in range(len(person["depth"])):
                items.append((person["sort"][i], 0, i))
        faces = self._prepare_faces(boxes)
        for i, face in enumerate(faces):
            items.append((face[0], 1, i))
        items.sort(key=lambda item: -item[0])

        lit_aa = cv2.LINE_AA
        for _, kind, i in items:
            label = len(owners)
            if kind == 0:
                outer, inner = person["outer"][i], person["inner"][i]
                aa = lit_aa if person["big"][i] else cv2.LINE_8
                cv2.fillConvexPoly(image, outer, person["dark"][i], aa, SHIFT)
                if inner is not None:
                    cv2.fillConvexPoly(image, inner, person["lit"][i], aa, SHIFT)
                cv2.fillConvexPoly(labels, outer, label, cv2.LINE_8, SHIFT)
                owners.append(int(person["owner"][i]))
                parts.append(int(person["part"][i]))
                depths.append(float(person["depth"][i]))
            else:
                depth, polygon, colour = faces[i]
                cv2.fillConvexPoly(image, polygon, colour, lit_aa, SHIFT)
                cv2.fillConvexPoly(labels, polygon, label, cv2.LINE_8, SHIFT)
                owners.append(OWNER_VEHICLE)
                parts.append(-1)
                depths.append(depth)
        table = LabelTable(np.array(owners), np.array(parts), np.array(depths))
        return self.effects.apply(image, time_s), labels, table

    # ------------------------------------------------------------------ people
    def _prepare_people(self, people: PersonSolids) -> dict | None:
        """Outlines, colours and sort keys of every drawable body part."""
        centres, radii = people.centres, people.radii  # (N, P, 4, 3), (N, P, 4)
        n = len(centres)
        if n == 0:
            return None
        k = self.camera.intrinsics
        z = centres[..., 2]
        valid = (z > NEAR_M).all(axis=-1)  # (N, P)
        zs = np.maximum(z, NEAR_M)
        pixels = np.stack(
            (k.fx * centres[..., 0] / zs + k.cx, k.fy * centres[..., 1] / zs + k.cy), -1
        )
        pix_r = np.maximum(k.fx * radii / zs, 0.5)  # (N, P, 4)
        # Drop parts entirely outside the image (or absurdly large after projection).
        lo = (pixels - pix_r[..., None]).min(axis=2)
        hi = (pixels + pix_r[..., None]).max(axis=2)
        valid &= (
            (hi[..., 0] >= 0) & (hi[..., 1] >= 0) & (lo[..., 0] < k.width) & (lo[..., 1] < k.height)
        )
        valid &= (np.abs(pixels) < 20000).all(axis=(2, 3))
        owner, part = np.nonzero(valid)
        if len(owner) == 0:
            return None
        depth = z[owner, part].mean(axis=1)
        style = self.style
        light = style.lighting
        sun_up = max(float(light.sun[2]), 0.25)
        base = people.colours[owner, part] * light.tint  # (M, 3)
        dark = np.clip(base * (light.ambient + (1 - light.ambient) * 0.25 * sun_up), 0, 255)
        lit = np.clip(base * (light.ambient + (1 - light.ambient) * 1.05 * sun_up), 0, 255)

        px, pr = pixels[owner, part], pix_r[owner, part]  # (M, 4, 2), (M, 4)
        offset = style.light_2d * 0.35  # highlight shift, in units of the radius
        outer = np.empty(len(owner), dtype=object)
        inner = np.empty(len(owner), dtype=object)
        is_hull = np.isin(part, HULL_PARTS)
        caps = np.nonzero(~is_hull)[0]
        if len(caps):
            a, b = px[caps, 0], px[caps, 2]
            ra, rb = pr[caps, 0], pr[caps, 2]
            outer_caps = _capsule_outline(a, b, ra, rb)
            inner_caps = _capsule_outline(
                a + offset * ra[:, None], b + offset * rb[:, None], 0.55 * ra, 0.55 * rb
            )
            for j, m in enumerate(caps):
                outer[m] = outer_caps[j]
                inner[m] = inner_caps[j] if max(ra[j], rb[j]) >= 1.5 else None
        for m in np.nonzero(is_hull)[0]:
            outer[m] = _hull_outline(px[m], pr[m])
            inner[m] = (
                _hull_outline(px[m] + offset * pr[m, :, None], 0.6 * pr[m])
                if pr[m].max() >= 1.5
                else None
            )
        return {
            "owner": owner,
            "part": part,
            "depth": depth,
            "sort": depth + PART_DEPTH_BIAS[part],
            "outer": outer,
            "inner": inner,
            "dark": [tuple(c) for c in dark.tolist()],
            "lit": [tuple(c) for c in lit.tolist()],
            "big": (pr.max(axis=1) >= 1.5).tolist(),
        }

    # ------------------------------------------------------------------ vehicles
    def _prepare_faces(self, boxes) -> list[tuple[float, np.ndarray, tuple]]:
        """Visible faces of the vehicle boxes, long faces cut in ~3 m slices for sorting."""
        camera, light = self.camera, self.style.lighting
        faces = []
        for corners, glass, colour in boxes:
            cam = camera.world_to_camera(corners)
            if (cam[:, 2] < NEAR_M).any():
                continue
            for quad, normal in box_faces(corners):
                if normal @ (camera.centre - quad.mean(axis=0)) <= 0:
                    continue
                sun = max(float(normal @ light.sun), 0.0)
                shade = light.ambient + (1 - light.ambient) * sun
                rgb = (
                    np.array([40.0, 55.0, 70.0]) if glass and normal[2] < 0.5 else np.array(colour)
                )
                rgb = np.clip(rgb * light.tint * shade * (1.15 if normal[2] > 0.5 else 1.0), 0, 255)
                for piece in _slices(quad, 3.0):
                    pcam = camera.world_to_camera(piece)
                    pix = camera.intrinsics.project(pcam)
                    if np.abs(pix).max() > 20000:
                        continue
                    polygon = np.round(pix * (1 << SHIFT)).astype(np.int32)
                    faces.append((float(pcam[:, 2].mean()), polygon, tuple(rgb.tolist())))
        return faces

    # ------------------------------------------------------------------ shadows, finish
    def _shadows(self, image: np.ndarray, feet_world: np.ndarray, boxes) -> None:
        strength = self.style.shadow_strength
        if strength <= 0.02:
            return
        shadow = self.style.shadow_2d
        side = np.array([-shadow[1], shadow[0]])
        angles = np.linspace(0, 2 * math.pi, 12, endpoint=False)
        blob = (np.cos(angles)[:, None] * 0.55 * shadow + 0.25 * shadow) + np.sin(angles)[
            :, None
        ] * 0.28 * side
        polygons = [np.concatenate((f + blob, np.zeros((12, 1))), axis=1) for f in feet_world]
        for corners, glass, _ in boxes:
            if not glass:
                bottom = corners[[0, 4, 6, 2]].copy()  # z = 0 corners, cyclic
                bottom[:, :2] += 0.4 * shadow
                polygons.append(bottom)
        for polygon in polygons:
            cam = self.camera.world_to_camera(polygon)
            if (cam[:, 2] < NEAR_M).any():
                continue
            pix = self.camera.intrinsics.project(cam)
            x0, y0 = np.floor(pix.min(axis=0)).astype(int) - 1
            x1, y1 = np.ceil(pix.max(axis=0)).astype(int) + 2
            h, w = image.shape[:2]
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            roi = image[y0:y1, x0:x1]
            dark = roi.copy()
            local = np.round((pix - [x0, y0]) * (1 << SHIFT)).astype(np.int32)
            cv2.fillConvexPoly(dark, local, (0, 0, 0), cv2.LINE_AA, SHIFT)
            # Mixing the whole box is fine: outside the blob `dark` equals `roi`.
            roi[:] = cv2.addWeighted(roi, 1 - strength, dark, strength, 0)


class SensorEffects:
    """What the camera adds to a rendered frame: blur, a slow exposure drift, sensor noise.

    The noise is one fixed field drawn per sequence and shifted randomly each frame (cheap
    and still different from frame to frame).
    """

    def __init__(
        self, style: RenderStyle, shape: tuple[int, int], rng: np.random.Generator
    ) -> None:
        height, width = shape
        pad = 16
        noise = rng.normal(0, style.noise_sigma, (height + pad, width + pad, 3))
        self._noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_down = np.clip(-noise, 0, 255).astype(np.uint8)
        self._pad = pad
        self._rng = rng
        self._style = style
        self._exposure_phase = rng.uniform(0, 2 * math.pi)
        self._exposure_period = rng.uniform(4.0, 12.0)  # seconds

    def apply(self, image: np.ndarray, time_s: float) -> np.ndarray:
        """(H, W, 3) uint8 -> the same image as the sensor delivers it at `time_s`."""
        style = self._style
        if style.blur_sigma > 0:
            image = cv2.GaussianBlur(image, (0, 0), style.blur_sigma)
        gain = 1 + style.exposure_drift * math.sin(
            2 * math.pi * time_s / self._exposure_period + self._exposure_phase
        )
        if abs(gain - 1) > 0.004:
            image = cv2.convertScaleAbs(image, alpha=gain)
        h, w = image.shape[:2]
        dy, dx = self._rng.integers(0, self._pad, size=2)
        image = cv2.add(image, self._noise_up[dy : dy + h, dx : dx + w])
        dy, dx = self._rng.integers(0, self._pad, size=2)
        return cv2.subtract(image, self._noise_down[dy : dy + h, dx : dx + w])


def _capsule_outline(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """(M, 2) ends, (M,) radii -> (M, 2 * ARC_POINTS, 2) int32 outlines (sub-pixel shifted).

    Half a circle around `a` away from `b`, then half a circle around `b`; a segment
    shorter than the radii difference becomes a disc around its bigger end.
    """
    delta = b - a
    length = np.hypot(delta[:, 0], delta[:, 1])
    short = length <= np.abs(ra - rb) + 1e-6
    direction = np.where(
        length[:, None] > 1e-9, delta / np.maximum(length, 1e-9)[:, None], [1.0, 0.0]
    )
    normal = np.stack((-direction[:, 1], direction[:, 0]), axis=1)
    theta = np.linspace(0, math.pi, ARC_POINTS)
    cos, sin = np.cos(theta)[None, :, None], np.sin(theta)[None, :, None]
    d, n = direction[:, None, :], normal[:, None, :]
    around_a = a[:, None] + ra[:, None, None] * (n * cos - d * sin)
    around_b = b[:, None] + rb[:, None, None] * (-n * cos + d * sin)
    # A disc for degenerate capsules: both arcs around the bigger end.
    big = np.where((ra >= rb)[:, None], a, b)
    r_big = np.maximum(ra, rb)[:, None, None]
    around_a = np.where(short[:, None, None], big[:, None] + r_big * (n * cos - d * sin), around_a)
    around_b = np.where(short[:, None, None], big[:, None] + r_big * (-n * cos + d * sin), around_b)
    outline = np.concatenate((around_a, around_b), axis=1)
    return np.round(outline * (1 << SHIFT)).astype(np.int32)


_HULL_ANGLES = np.linspace(0, 2 * math.pi, 10, endpoint=False)
_HULL_CIRCLE = np.stack((np.cos(_HULL_ANGLES), np.sin(_HULL_ANGLES)), axis=1)  # (10, 2)


def _hull_outline(centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(4, 2) pixel centres, (4,) radii -> int32 outline of the hull of the four discs."""
    points = (centres[:, None] + radii[:, None, None] * _HULL_CIRCLE).reshape(-1, 2)
    points = np.round(points * (1 << SHIFT)).astype(np.int32)
    return cv2.convexHull(points)


def _slices(quad: np.ndarray, max_len: float) -> list[np.ndarray]:
    """Cut a quad (4, 3), cyclic corners, into pieces no longer than max_len along its
    longer horizontal edge pair."""
    first = np.linalg.norm(quad[1] - quad[0])
    second = np.linalg.norm(quad[3] - quad[0])
    if max(first, second) <= max_len:
        return [quad]
    if first >= second:  # edges 0-1 and 3-2 are long
        a0, a1, b0, b1 = quad[0], quad[1], quad[3], quad[2]
    else:  # edges 0-3 and 1-2 are long
        a0, a1, b0, b1 = quad[0], quad[3], quad[1], quad[2]
    pieces = int(math.ceil(max(first, second) / max_len))
    t = np.linspace(0, 1, pieces + 1)
    out = []
    for t0, t1 in zip(t[:-1], t[1:], strict=True):
        p0, p1 = a0 + t0 * (a1 - a0), a0 + t1 * (a1 - a0)
        q0, q1 = b0 + t0 * (b1 - b0), b0 + t1 * (b1 - b0)
        out.append(np.stack((p0, p1, q1, q0)))
    return out
