"""The mesh renderer: skinned body meshes and vehicle boxes rasterised off-screen with OpenGL.

OpenGL 3.3 through `moderngl` on an EGL context, which Mesa's llvmpipe provides on a plain
CPU (no display, no GPU). One frame is two passes:
1. shadows: every body and vehicle flattened onto the ground along the sun's direction
   (planar projected shadows) into a mask that darkens the static background;
2. scene: triangles with a depth buffer, Lambert sun light plus a sky/ground hemisphere
   ambient and distance haze, written to two targets: RGBA colour, and (label, camera z)
   as floats. The label names the person and body part (or a vehicle) seen at each pixel;
   with the per-pixel depth it gives the joints' occlusion flags (`occlusion.py`).
The colour is laid over the background, then blur, sensor noise and exposure drift are
applied as in the fast renderer (`render.SensorEffects`).

Camera model: the pinhole of `geometry.camera` with pixel centres at integer coordinates,
so a camera-frame point lands exactly where `Intrinsics.project` puts it.
"""

from __future__ import annotations

import numpy as np
import torch

from crowdpose3d.data.synth.mesh_body import MISSING_EXTRA
from crowdpose3d.data.synth.render import (
    OWNER_BACKGROUND,
    OWNER_VEHICLE,
    RenderStyle,
    SensorEffects,
)
from crowdpose3d.data.synth.solids import box_faces
from crowdpose3d.geometry.camera import Camera

NEAR_M, FAR_M = 0.1, 1000.0
PART_SLOTS = 32  # label = 1 + person * PART_SLOTS + part; 0 background
VEHICLE_LABEL = 1.0e7
GLASS_RGB = np.array([40.0, 55.0, 70.0]) / 255

_VERTEX_SHADER = """
#version 330
uniform vec4 focal_centre;   // fx, fy, cx + 0.5, cy + 0.5 (pixel centres at integers)
uniform vec2 size;           // width, height
uniform vec2 depth_range;    // near, far
in vec3 in_position;         // camera frame: x right, y down, z forward (metres)
in vec3 in_normal;
in vec3 in_colour;
in float in_label;
out vec3 v_position;
out vec3 v_normal;
out vec3 v_colour;
flat out float v_label;
void main() {
    float z = in_position.z;
    float n = depth_range.x, f = depth_range.y;
    gl_Position = vec4(
        2.0 * (focal_centre.x * in_position.x + focal_centre.z * z) / size.x - z,
        2.0 * (focal_centre.y * in_position.y + focal_centre.w * z) / size.y - z,
        ((f + n) * z - 2.0 * f * n) / (f - n),
        z);
    v_position = in_position;
    v_normal = in_normal;
    v_colour = in_colour;
    v_label = in_label;
}
"""

_SCENE_FRAGMENT = """
#version 330
uniform vec3 sun;        // camera frame, towards the sun
uniform vec3 up;         // camera frame, world up
uniform float ambient;   // share of light that is not from the sun
uniform vec3 tint;
uniform vec3 haze;
uniform float haze_distance;
in vec3 v_position;
in vec3 v_normal;
in vec3 v_colour;
flat in float v_label;
layout(location = 0) out vec4 colour;
layout(location = 1) out vec2 label_depth;
void main() {
    vec3 n = normalize(v_normal);
    if (dot(n, v_position) > 0.0) n = -n;  // light the side that faces the camera
    float direct = max(dot(n, sun), 0.0);
    float sky = 0.75 + 0.25 * dot(n, up);
    vec3 lit = v_colour * tint * (ambient * sky + (1.0 - ambient) * 1.15 * direct);
    float fog = 1.0 - exp(-length(v_position) / haze_distance);
    colour = vec4(mix(lit, haze, fog), 1.0);
    label_depth = vec2(v_label, v_position.z);
}
"""

_SHADOW_FRAGMENT = """
#version 330
out vec4 colour;
void main() { colour = vec4(1.0); }
"""


class MeshRenderer:
    """Renders the frames of one sequence; call `close()` (or use `with`) when done."""

    def __init__(
        self,
        camera: Camera,
        background: np.ndarray,
        style: RenderStyle,
        rng: np.random.Generator,
    ) -> None:
        try:
            import moderngl
        except ImportError as error:
            raise RuntimeError(MISSING_EXTRA) from error
        self.camera, self.background, self.style = camera, background, style
        self.effects = SensorEffects(style, background.shape[:2], rng)
        height, width = background.shape[:2]
        self.size = (width, height)
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as error:  # no EGL / Mesa: say what to install
            raise RuntimeError(
                f"cannot open an off-screen OpenGL context ({error}); " + MISSING_EXTRA
            ) from error
        ctx = self.ctx
        k = camera.intrinsics
        self._scene = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_SCENE_FRAGMENT)
        self._shadow = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_SHADOW_FRAGMENT)
        lighting = style.lighting
        up_cam = camera.rotation @ np.array([0.0, 0.0, 1.0])
        for program in (self._scene, self._shadow):
            program["focal_centre"].value = (k.fx, k.fy, k.cx + 0.5, k.cy + 0.5)
            program["size"].value = (float(width), float(height))
            program["depth_range"].value = (NEAR_M, FAR_M)
        self._scene["sun"].value = tuple(camera.rotation @ lighting.sun)
        self._scene["up"].value = tuple(up_cam)
        self._scene["ambient"].value = float(lighting.ambient)
        self._scene["tint"].value = tuple(np.asarray(lighting.tint, dtype=float))
        self._scene["haze"].value = tuple(np.asarray(lighting.haze, dtype=float) / 255)
        self._scene["haze_distance"].value = 400.0
        self._fbo = ctx.framebuffer(
            color_attachments=[
                ctx.renderbuffer(self.size, components=4),
                ctx.renderbuffer(self.size, components=2, dtype="f4"),
            ],
            depth_attachment=ctx.depth_renderbuffer(self.size),
        )
        self._shadow_fbo = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer(self.size, components=1)]
        )

    def close(self) -> None:
        self.ctx.release()

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(
        self,
        vertices: np.ndarray,
        colours: np.ndarray,
        parts: np.ndarray,
        faces: np.ndarray,
        vertices_world: np.ndarray,
        boxes: list[tuple[np.ndarray, bool, tuple[float, float, float]]],
        time_s: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One frame.

        vertices: (N, V, 3) camera-frame mesh vertices; colours: (N, V, 3) RGB in 0..1;
        parts: (N, V) body part of each vertex (solids numbering); faces: (F, 3) the
        shared triangle list; vertices_world: (N, V, 3) the same vertices in world
        coordinates (for shadows); boxes: vehicle boxes as (world corners (8, 3), is glass,
        RGB 0-255).
        Returns image (H, W, 3) uint8 RGB; owner (H, W) int: person index, -1 background,
        -2 vehicle; part (H, W) int, -1 where no body; depth (H, W) float32 camera z of the
        visible surface (inf on the background).
        """
        n = len(vertices)
        normals = vertex_normals(vertices, faces)
        labels = 1.0 + np.arange(n)[:, None] * PART_SLOTS + parts  # (N, V)
        box_data, box_world = _box_triangles(boxes, self.camera)
        scene = _interleave(vertices, normals, colours, labels)
        scene = np.concatenate((scene, box_data)) if len(box_data) else scene
        indices = (faces[None] + (np.arange(n) * vertices.shape[1])[:, None, None]).reshape(-1)
        box_indices = np.arange(len(box_data), dtype=np.int64) + n * vertices.shape[1]
        indices = np.concatenate((indices, box_indices)).astype(np.int32)

        shadow = self._shadow_mask(vertices_world, box_world, indices)
        image = self.background.astype(np.float32)
        strength = self.style.shadow_strength
        if shadow is not None:
            image *= 1.0 - strength * shadow[..., None]

        colour, label_depth = self._draw(scene, indices)
        drawn = colour[..., 3:] > 0
        image = np.where(drawn, colour[..., :3].astype(np.float32), image)
        image = self.effects.apply(np.clip(image, 0, 255).astype(np.uint8), time_s)

        label = np.rint(label_depth[..., 0]).astype(np.int64)
        depth = np.where(label > 0, label_depth[..., 1], np.inf).astype(np.float32)
        owner = np.where(label > 0, (label - 1) // PART_SLOTS, OWNER_BACKGROUND)
        part = np.where(label > 0, (label - 1) % PART_SLOTS, -1)
        vehicle = label_depth[..., 0] >= VEHICLE_LABEL - 0.5
        owner[vehicle], part[vehicle] = OWNER_VEHICLE, -1
        return image, owner, part, depth

    # ------------------------------------------------------------------ passes
    def _draw(self, data: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx, (width, height) = self.ctx, self.size
        self._fbo.use()
        self._fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        if len(indices):
            ctx.enable(ctx.DEPTH_TEST)
            self._render_triangles(self._scene, data, indices, with_attributes=True)
            ctx.disable(ctx.DEPTH_TEST)
        colour = np.frombuffer(self._fbo.read(components=4, attachment=0), np.uint8)
        label_depth = np.frombuffer(
            self._fbo.read(components=2, attachment=1, dtype="f4"), np.float32
        )
        return colour.reshape(height, width, 4), label_depth.reshape(height, width, 2)

    def _shadow_mask(
        self, vertices_world: np.ndarray, box_world: np.ndarray, indices: np.ndarray
    ) -> np.ndarray | None:
        sun = self.style.lighting.sun
        if self.style.shadow_strength <= 0.02 or sun[2] <= 0.05 or not len(indices):
            return None
        points = np.concatenate((vertices_world.reshape(-1, 3), box_world))
        ground = points - (points[:, 2:3] / sun[2]) * sun[None]  # along the sun onto z = 0
        ground[:, 2] = 0.0
        cam = self.camera.world_to_camera(ground).astype(np.float32)
        data = np.zeros((len(cam), 10), np.float32)
        data[:, :3] = cam
        self._shadow_fbo.use()
        self._shadow_fbo.clear(0.0)
        self._render_triangles(self._shadow, data, indices, with_attributes=False)
        width, height = self.size
        mask = np.frombuffer(self._shadow_fbo.read(components=1), np.uint8)
        return mask.reshape(height, width).astype(np.float32) / 255

    def _render_triangles(
        self, program, data: np.ndarray, indices: np.ndarray, with_attributes: bool
    ) -> None:
        """Draw indexed triangles from (M, 10) rows into the bound framebuffer."""
        ctx = self.ctx
        vbo = ctx.buffer(np.ascontiguousarray(data, dtype=np.float32).tobytes())
        ibo = ctx.buffer(np.ascontiguousarray(indices, dtype=np.int32).tobytes())
        if with_attributes:
            layout = [(vbo, "3f 3f 3f 1f", "in_position", "in_normal", "in_colour", "in_label")]
        else:
            layout = [(vbo, "3f 28x", "in_position")]
        vao = ctx.vertex_array(program, layout, index_buffer=ibo, index_element_size=4)
        vao.render()
        for item in (vao, vbo, ibo):
            item.release()


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N, V, 3) unit vertex normals: the area-weighted sum of the adjacent faces' normals."""
    v = torch.from_numpy(np.ascontiguousarray(vertices, dtype=np.float32))
    f = torch.from_numpy(faces.astype(np.int64))
    a, b, c = v[:, f[:, 0]], v[:, f[:, 1]], v[:, f[:, 2]]
    face_normal = torch.cross(b - a, c - a, dim=-1)  # (N, F, 3), length = 2 x area
    normals = torch.zeros_like(v)
    for corner in range(3):
        normals.index_add_(1, f[:, corner], face_normal)
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return normals.numpy()


def _interleave(
    vertices: np.ndarray, normals: np.ndarray, colours: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """(N * V, 10) float32 rows: position, normal, colour, label."""
    n, v = vertices.shape[:2]
    data = np.empty((n, v, 10), np.float32)
    data[..., :3], data[..., 3:6], data[..., 6:9], data[..., 9] = (
        vertices,
        normals,
        colours,
        labels,
    )
    return data.reshape(-1, 10)


def _box_triangles(boxes, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Vehicle and furniture boxes as flat-shaded triangles: (T * 3, 10) rows and their
    (T * 3, 3) world positions (for shadows)."""
    triangles, normals, colours = [], [], []
    for corners, glass, colour in boxes:
        for quad, normal in box_faces(corners):
            rgb = GLASS_RGB if glass and normal[2] < 0.5 else np.asarray(colour) / 255
            triangles += [quad[[0, 1, 2]], quad[[0, 2, 3]]]
            normals += [normal, normal]
            colours += [rgb, rgb]
    if not triangles:
        return np.zeros((0, 10), np.float32), np.zeros((0, 3))
    world = np.concatenate(triangles)  # (T * 3, 3)
    rows = np.empty((len(world), 10), np.float32)
    rows[:, :3] = camera.world_to_camera(world)
    rows[:, 3:6] = np.repeat(np.array(normals) @ camera.rotation.T, 3, axis=0)
    rows[:, 6:9] = np.repeat(np.array(colours), 3, axis=0)
    rows[:, 9] = VEHICLE_LABEL
    return rows, world
