"""The static background of a sequence: textured ground, road markings, buildings, sky.

Rendered once per sequence (the camera does not move). The ground is shaded per pixel
from its world coordinates, so its texture sits in perspective: a tileable noise texture
sampled at (x, y), paving joints or asphalt, lane markings, all anti-aliased by the
ground footprint of each pixel and faded into haze with distance. Above the horizon a sky
gradient, in front of it a band of buildings with windows (painted far to near).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from crowdpose3d.data.synth.camera_sampling import GroundView
from crowdpose3d.data.synth.solids import BOX_FACES, box_corners
from crowdpose3d.data.synth.traffic import LANE_WIDTH_M, Road

TEXTURE_SIZE = 256
TEXELS_PER_METRE = 48.0


@dataclass(frozen=True)
class Lighting:
    """Per-sequence light: sun direction (world, towards the sun), ambient share, tint."""

    sun: np.ndarray  # (3,) unit
    ambient: float  # 0..1 share of light that is not from the sun
    tint: np.ndarray  # (3,) RGB multipliers (warm / cold light)
    haze: np.ndarray  # (3,) RGB colour of the distance haze and the horizon


def sample_lighting(rng: np.random.Generator) -> Lighting:
    elevation = math.radians(rng.uniform(20, 70))
    azimuth = rng.uniform(-math.pi, math.pi)
    sun = np.array(
        [math.cos(elevation) * math.sin(azimuth), math.cos(elevation) * math.cos(azimuth),
         math.sin(elevation)]
    )  # fmt: skip
    overcast = rng.random() < 0.35
    warm = rng.uniform(-0.08, 0.1)
    tint = np.array([1 + warm, 1.0, 1 - warm]) * rng.uniform(0.85, 1.1)
    haze = np.array([200, 210, 220]) * rng.uniform(0.85, 1.05) * tint
    return Lighting(sun, rng.uniform(0.55, 0.8) if overcast else rng.uniform(0.3, 0.5),
                    tint, np.clip(haze, 0, 255))  # fmt: skip


def render_background(
    view: GroundView,
    lighting: Lighting,
    rng: np.random.Generator,
    road: Road | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB background seen by `view.camera`."""
    camera = view.camera
    k = camera.intrinsics
    height = camera.centre[2]
    u, v = np.meshgrid(np.arange(k.width, dtype=np.float64), np.arange(k.height, dtype=np.float64))
    rays_cam = np.stack(((u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)), axis=-1)
    rays = rays_cam @ camera.rotation  # (H, W, 3) world directions (camera -> world: R^T)
    down = -rays[..., 2]
    ground = down > 1e-4
    t = np.where(ground, height / np.maximum(down, 1e-4), 1e4)
    x = camera.centre[0] + t * rays[..., 0]
    y = camera.centre[1] + t * rays[..., 1]
    distance = np.hypot(x - camera.centre[0], y - camera.centre[1])
    # Ground footprint of one pixel (metres), for anti-aliasing and fading fine detail.
    footprint = np.maximum(
        np.hypot(np.gradient(x, axis=1), np.gradient(y, axis=1)),
        np.hypot(np.gradient(x, axis=0), np.gradient(y, axis=0)),
    )
    footprint = np.where(ground, np.minimum(footprint, 50.0), 50.0)

    image = _ground(x, y, footprint, view, road, rng)  # (H, W, 3) float
    light = lighting.ambient + (1 - lighting.ambient) * max(lighting.sun[2], 0.0)
    image *= light * lighting.tint
    fog = 1 - np.exp(-distance / rng.uniform(120, 400))
    image = image * (1 - fog[..., None]) + lighting.haze * fog[..., None]

    sky = _sky(rays[..., 2], lighting, rng)
    image = np.where(ground[..., None] & (distance < 2000)[..., None], image, sky)
    image = np.clip(image, 0, 255).astype(np.uint8)
    _buildings(image, view, lighting, rng)
    return image


def _ground(x, y, footprint, view: GroundView, road: Road | None, rng) -> np.ndarray:
    """Ground colour (H, W, 3) float RGB before lighting."""
    texture = _noise_texture(rng)
    map_x = (x * TEXELS_PER_METRE % TEXTURE_SIZE).astype(np.float32)
    map_y = (y * TEXELS_PER_METRE % TEXTURE_SIZE).astype(np.float32)
    noise = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    detail = np.clip(1.5 - footprint * TEXELS_PER_METRE / 4, 0, 1)  # fade sub-pixel noise
    noise = noise * (0.35 + 0.65 * detail)

    kind = rng.choice(["paving", "concrete", "asphalt"], p=[0.5, 0.3, 0.2])
    base = {
        "paving": rng.uniform([120, 110, 95], [185, 170, 150]),
        "concrete": rng.uniform([130, 130, 125], [180, 178, 170]),
        "asphalt": rng.uniform(70, 100) * np.array([1.0, 1.0, 1.04]),
    }[kind]
    shade = 1 + 0.22 * noise
    if kind != "asphalt":
        tile = rng.uniform(0.3, 1.2) if kind == "paving" else rng.uniform(1.5, 3.0)
        angle = rng.uniform(0, math.pi / 2)
        a = x * math.cos(angle) + y * math.sin(angle)
        b = -x * math.sin(angle) + y * math.cos(angle)
        offset = (np.floor(b / tile) % 2) * 0.5 * tile if kind == "paving" else 0.0
        joints = np.maximum(
            _line_coverage((a + offset) % tile, 0.02, footprint),
            _line_coverage(b % tile, 0.02, footprint),
        )
        shade = shade * (1 - 0.35 * joints)
    colour = base * shade[..., None]

    if road is not None:
        sd = view.to_ground(np.stack((x, y), axis=-1))
        local = road.local(sd)  # (H, W, 2) along, across
        along, across = local[..., 0], local[..., 1]
        asphalt = rng.uniform(55, 95) * np.array([1.0, 1.0, 1.04]) * (1 + 0.15 * noise)[..., None]
        on_road = np.clip(0.5 + (road.half_width - np.abs(across)) / footprint, 0, 1)
        kerb = _line_coverage(np.abs(across) - road.half_width - 0.1, 0.2, footprint)
        colour = colour * (1 - on_road[..., None]) + asphalt * on_road[..., None]
        colour = colour * (1 - kerb[..., None]) + np.array([170, 168, 160]) * kerb[..., None]
        marks = np.zeros_like(along)
        for lane in range(1, road.lanes):
            line = -road.half_width + lane * LANE_WIDTH_M
            dashed = (along % 6.0) < 3.0 if lane != road.lanes // 2 else True
            marks = np.maximum(marks, _line_coverage(across - line, 0.14, footprint) * dashed)
        for edge in (-road.half_width + 0.3, road.half_width - 0.3):
            marks = np.maximum(marks, _line_coverage(across - edge, 0.12, footprint))
        paint = np.array([225, 225, 215]) if rng.random() < 0.7 else np.array([220, 190, 60])
        colour = colour * (1 - 0.85 * marks[..., None]) + paint * 0.85 * marks[..., None]
    return colour


def _line_coverage(offset: np.ndarray, width: float, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a line of `width` metres at signed `offset` metres."""
    return np.clip((width / 2 + footprint / 2 - np.abs(offset)) / footprint, 0, 1) * np.clip(
        width / footprint, 0, 1
    )


def _noise_texture(rng: np.random.Generator) -> np.ndarray:
    """A tileable (TEXTURE_SIZE, TEXTURE_SIZE) float32 noise in about [-1, 1]: octaves."""
    texture = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE), np.float32)
    for sigma, weight in ((0.6, 0.5), (2.0, 0.5), (8.0, 0.6), (24.0, 0.8)):
        layer = rng.standard_normal((TEXTURE_SIZE, TEXTURE_SIZE)).astype(np.float32)
        pad = int(3 * sigma) + 1  # wrap-pad so the blurred texture still tiles
        padded = np.pad(layer, pad, mode="wrap")
        layer = cv2.GaussianBlur(padded, (0, 0), sigma)[pad:-pad, pad:-pad]
        texture += weight * layer / (layer.std() + 1e-6)
    return texture / (texture.std() * 2.5)


def _sky(up: np.ndarray, lighting: Lighting, rng) -> np.ndarray:
    """(H, W, 3) sky colour from the rays' upward component."""
    zenith = np.array([70, 120, 200]) * rng.uniform(0.8, 1.15)
    if lighting.ambient > 0.55:  # overcast
        zenith = np.array([170, 175, 185]) * rng.uniform(0.8, 1.1)
    blend = np.clip(up * 3.0, 0, 1)[..., None] ** 0.7
    return lighting.haze * (1 - blend) + zenith * blend


def _buildings(image: np.ndarray, view: GroundView, lighting: Lighting, rng) -> None:
    """Paint a row of buildings beyond the people's area, far to near (in place)."""
    camera = view.camera
    k = camera.intrinsics
    # Nothing to do when the horizon is above the top of the image.
    horizon_v = k.cy - k.fy * math.tan(view.pitch)
    if horizon_v < 0:
        return
    distance = view.far_d + rng.uniform(8, 40)
    extent = float(view.half_width(distance)) * 1.3 + 30
    facade_angle = rng.uniform(-0.3, 0.3)
    along = np.array([math.cos(facade_angle), math.sin(facade_angle)])
    boxes = []
    s = -extent
    while s < extent:
        width = rng.uniform(8, 30)
        depth = rng.uniform(8, 20)
        height = rng.uniform(6, 45)
        back = rng.uniform(0, 15)
        normal = np.array([-along[1], along[0]])
        centre_sd = (
            np.array([0.0, distance]) + (s + width / 2) * along + (back + depth / 2) * normal
        )
        boxes.append((centre_sd, width, depth, height))
        s += width + (rng.uniform(0, 6) if rng.random() < 0.3 else 0)
    ground_axes = np.array([[*view.to_world(along) - view.to_world(np.zeros(2)), 0.0]])
    axis_along = ground_axes[0]
    axis_across = np.array([-axis_along[1], axis_along[0], 0.0])
    axes = np.stack((axis_along, axis_across, [0.0, 0.0, 1.0]))
    order = sorted(boxes, key=lambda b: -np.hypot(*b[0]))  # far to near
    for centre_sd, width, depth, height in order:
        centre = np.array([*view.to_world(centre_sd), height / 2])
        corners = box_corners(centre, np.array([width / 2, depth / 2, height / 2]), axes)
        cam = camera.world_to_camera(corners)
        if (cam[:, 2] < 1.0).any():
            continue
        colour = _building_colour(rng) * lighting.tint
        pixels = camera.intrinsics.project(cam)
        window = rng.uniform([20, 30, 40], [90, 110, 130])
        for face, normal in BOX_FACES:
            normal_w = np.asarray(normal, float) @ axes
            face_centre = corners[list(face)].mean(axis=0)
            if normal_w @ (camera.centre - face_centre) <= 0:
                continue  # back face
            sun = max(float(normal_w @ lighting.sun), 0.0)
            shade = lighting.ambient + (1 - lighting.ambient) * sun
            pts = np.round(pixels[list(face)] * 8).astype(np.int32)
            cv2.fillConvexPoly(image, pts, _bgr(colour * shade), cv2.LINE_AA, shift=3)
            if normal[2] == 0:
                _windows(image, camera, corners[list(face)], window * shade)


def _windows(image, camera, quad: np.ndarray, colour) -> None:
    """A grid of windows (one per ~3 m) on a vertical facade quad, corners in cyclic order."""
    p0, p1, p2, p3 = quad
    first_vertical = abs(p1[2] - p0[2]) > abs(p3[2] - p0[2])
    vertical_len = abs(p1[2] - p0[2]) if first_vertical else abs(p3[2] - p0[2])
    horizontal_len = np.linalg.norm((p3 - p0) if first_vertical else (p1 - p0))
    rows, cols = int(vertical_len / 3.2), int(horizontal_len / 3.0)
    if rows == 0 or cols == 0:
        return
    c, r = np.meshgrid(np.arange(cols), np.arange(rows))
    h0, h1 = (c.ravel() + 0.25) / cols, (c.ravel() + 0.75) / cols
    v0, v1 = (r.ravel() + 0.3) / rows, (r.ravel() + 0.75) / rows
    horizontal = np.stack((h0, h1, h1, h0), axis=1)[..., None]  # (C, 4, 1)
    vertical = np.stack((v0, v0, v1, v1), axis=1)[..., None]
    a, b = (vertical, horizontal) if first_vertical else (horizontal, vertical)
    # Bilinear interpolation between the quad's corners.
    points = (1 - a) * (1 - b) * p0 + a * (1 - b) * p1 + a * b * p2 + (1 - a) * b * p3
    cam = camera.world_to_camera(points)
    pixels = np.round(camera.intrinsics.project(cam) * 8).astype(np.int32)
    for poly in pixels:
        cv2.fillConvexPoly(image, poly, _bgr(colour), cv2.LINE_8, shift=3)


def _building_colour(rng) -> np.ndarray:
    palette = np.array(
        [[180, 170, 150], [150, 90, 70], [200, 195, 185], [120, 125, 130], [210, 190, 160],
         [90, 100, 115], [170, 120, 90]], dtype=np.float64
    )  # fmt: skip
    return np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 12, 3), 0, 255)


def _bgr(colour) -> tuple[float, float, float]:
    """A colour tuple for cv2 drawing (our images are RGB; cv2 does not care)."""
    c = np.clip(colour, 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))
