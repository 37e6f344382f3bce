"""Drawing lines and zones with their live counts on an overlay image.

The overlay sink calls `draw_regions` with the `RegionsView` the regions stage attached to a
frame. Image regions are drawn as given; ground regions (metres) are projected through the
lift stage's ground-plane camera (its intrinsics, height and pitch in the run's facts), and
skipped when the run has none.
"""

from __future__ import annotations

import cv2
import numpy as np

from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.pipeline.facts import RunFacts
from crowdpose3d.stages.regions import RegionsView

LINE_COLOUR = (255, 210, 0)  # RGB: counting lines, amber
ZONE_COLOUR = (0, 200, 255)  # RGB: zone outlines, sky blue
ZONE_FILL_ALPHA = 0.15  # opacity of a zone's fill
MIN_DEPTH_M = 0.1  # ground points closer to (or behind) the camera plane are not drawn


def ground_camera(facts: RunFacts) -> Camera | None:
    """The lift stage's ground-plane camera (ground z = 0, origin below it), or None."""
    if not facts.ground_plane or facts.intrinsics is None:
        return None
    intrinsics = Intrinsics.from_dict(facts.intrinsics)
    return Camera.looking_at_ground(intrinsics, facts.camera_height_m, facts.camera_pitch_deg)


def to_pixels(points: np.ndarray, space: str, camera: Camera | None) -> np.ndarray | None:
    """(M, 2) region points -> (M, 2) pixels; None when they cannot be drawn."""
    points = np.asarray(points, np.float64)
    if space == "image":
        return points
    if camera is None:
        return None
    world = np.concatenate([points, np.zeros((len(points), 1))], axis=1)  # (M, 3) on z = 0
    if (camera.world_to_camera(world)[:, 2] < MIN_DEPTH_M).any():
        return None
    return camera.project_world(world)


def draw_regions(image: np.ndarray, view: RegionsView, camera: Camera | None) -> None:
    """Draw ``view``'s zones (outline, light fill, name and people inside) and lines (name
    and crossings each way) on ``image`` (H, W, 3) RGB, in place."""
    thickness = max(1, round(image.shape[0] / 300))
    scale = 0.45 * thickness
    for zone in view.zones:
        pixels = to_pixels(zone.vertices, zone.space, camera)
        if pixels is None:
            continue
        polygon = np.round(pixels).astype(np.int32)
        filled = image.copy()
        cv2.fillPoly(filled, [polygon], ZONE_COLOUR)
        cv2.addWeighted(filled, ZONE_FILL_ALPHA, image, 1 - ZONE_FILL_ALPHA, 0, dst=image)
        cv2.polylines(image, [polygon], True, ZONE_COLOUR, thickness, cv2.LINE_AA)
        label = f"{zone.name}: {view.occupancy.get(zone.name, 0)}"
        _label(image, label, polygon.min(axis=0), ZONE_COLOUR, scale, thickness)
    for line in view.lines:
        pixels = to_pixels(np.array([line.a, line.b]), line.space, camera)
        if pixels is None:
            continue
        a, b = (tuple(int(v) for v in np.round(p)) for p in pixels)
        cv2.line(image, a, b, LINE_COLOUR, thickness + 1, cv2.LINE_AA)
        counts = view.crossings.get(line.name, {})
        label = (
            f"{line.name}: {counts.get('left_to_right', 0)} L>R "
            f"{counts.get('right_to_left', 0)} R>L"
        )
        _label(image, label, np.array(a), LINE_COLOUR, scale, thickness)


def _label(image, text, corner, colour, scale, thickness) -> None:
    x = int(np.clip(corner[0], 0, image.shape[1] - 1))
    y = int(np.clip(corner[1] - 4, 12, image.shape[0] - 1))
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA
    )
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA
    )
