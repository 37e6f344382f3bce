"""`SynthConfig`: every setting of the synthetic crowd generator in one validated record.

The config says *what* to generate (size, length, how many people, how far away, which
cameras); the seed passed next to it says *which* random scene. The same config and seed
always give the same frames, annotations and video.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RENDERERS = ("solids", "mesh")
MOTIONS = ("procedural", "jupedsim")
PHOTO_ZOOM_DEFAULT = (1.0, 1.4)  # `SynthConfig.photo_zoom`'s default
MAX_PEOPLE = 200  # a hard cap to keep a typo (--max-people 6000) from hanging the renderer


@dataclass(frozen=True)
class SynthConfig:
    """Settings of one generated sequence (a dataset uses the same settings for all).

    Ranges are (low, high) and are sampled once per sequence unless said otherwise.
    """

    num_frames: int = 900  # JTA sequences: 30 s at 30 fps
    fps: float = 30.0
    width: int = 928
    height: int = 576
    min_people: int = 5  # people simulated in the scene: drawn per sequence in [min, max]
    max_people: int = 30
    distance_range_m: tuple[float, float] = (2.0, 60.0)  # ground distance of people
    camera_height_m: tuple[float, float] = (1.5, 15.0)
    camera_pitch_deg: tuple[float, float] = (5.0, 45.0)  # below the horizon
    horizontal_fov_deg: tuple[float, float] = (40.0, 90.0)
    vehicles: bool = False  # a road with cars, vans and buses crossing the view
    run_fraction: float = 0.15  # share of moving people who run
    stand_fraction: float = 0.2  # chance to stop for a while at each waypoint
    crf: int = 23  # H.264 constant rate factor (lower: larger, cleaner files)
    preset: str = "veryfast"  # x264 speed preset
    street_furniture: bool = False  # mesh renderer: lamp posts, signs, tripods, bins ...
    renderer: str = "solids"  # "solids" (fast, painter's algorithm) or "mesh" (anny bodies, OpenGL)
    motion: str = "procedural"  # "procedural" steering or "jupedsim" (collision-free crowds)
    backgrounds: str | None = None  # folder of `crowdpose3d photos`: real photographs behind
    # How much closer than "just covering the frame" a background photograph is seen,
    # drawn per sequence (1: the whole photo fits; 3: a third of its width, as the 3x tiles
    # the detection verifier's photo negatives are cut from).
    photo_zoom: tuple[float, float] = PHOTO_ZOOM_DEFAULT

    def __post_init__(self) -> None:
        def check(condition: bool, message: str) -> None:
            if not condition:
                raise ValueError(message)

        check(self.num_frames >= 1, f"frames must be >= 1, got {self.num_frames}")
        check(self.fps > 0, f"fps must be > 0, got {self.fps}")
        check(
            16 <= self.width <= 8192 and 16 <= self.height <= 8192,
            f"image size must be within 16..8192 pixels, got {self.width}x{self.height}",
        )
        check(
            self.width % 2 == 0 and self.height % 2 == 0,
            f"width and height must be even for yuv420p video, got {self.width}x{self.height}",
        )
        check(
            0 <= self.min_people <= self.max_people <= MAX_PEOPLE,
            f"need 0 <= min-people <= max-people <= {MAX_PEOPLE}, "
            f"got {self.min_people} and {self.max_people}",
        )
        for name, (low, high), lo, hi in (
            ("distance_range_m", self.distance_range_m, 0.5, 500.0),
            ("camera_height_m", self.camera_height_m, 0.5, 100.0),
            ("camera_pitch_deg", self.camera_pitch_deg, 0.0, 89.0),
            ("horizontal_fov_deg", self.horizontal_fov_deg, 10.0, 150.0),
            ("photo_zoom", self.photo_zoom, 1.0, 10.0),
        ):
            check(
                lo <= low <= high <= hi,
                f"{name} must be an increasing range within [{lo}, {hi}], got ({low}, {high})",
            )
        check(0 <= self.run_fraction <= 1, "run_fraction must be in [0, 1]")
        check(0 <= self.stand_fraction <= 1, "stand_fraction must be in [0, 1]")
        check(
            self.renderer in RENDERERS,
            f"renderer must be one of {', '.join(RENDERERS)}, got {self.renderer!r}",
        )
        check(
            not self.street_furniture or self.renderer == "mesh",
            "street furniture needs the mesh renderer (--renderer mesh)",
        )
        check(
            self.motion in MOTIONS,
            f"motion must be one of {', '.join(MOTIONS)}, got {self.motion!r}",
        )
        check(0 <= self.crf <= 51, f"crf must be in 0..51, got {self.crf}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (tuples become lists). ``photo_zoom`` is left out at its
        default, so datasets written before it existed still ``--resume``."""
        settings = asdict(self)
        if self.photo_zoom == PHOTO_ZOOM_DEFAULT:
            del settings["photo_zoom"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
