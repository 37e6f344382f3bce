"""Self-calibration: the camera's field of view, pitch, roll and height from the people it sees.

Many people standing or walking on one flat ground are a calibration object of roughly
known size (Lv, Zhao & Nevatia 2006; Krahnstoever & Mendonca 2005; Brouwers et al. 2016):
the line from a person's feet to their head points at the vertical vanishing point, and
the head's height above the feet, measured against a stature prior, fixes the horizon and
the scale. This module fits the camera to those cues directly, rather than through the
vanishing point and the horizon one after the other:

- Unknowns: log focal length (square pixels, principal point at the image centre), pitch
  (optical axis below the horizon), roll (about the optical axis) and log camera height
  above the ground.
- Per person and frame (an *observation*): the mid-ankle pixel is cast onto the plane
  ``FOOT_HEIGHT_M`` above the ground, and each top joint's ray (head top, neck) is met by
  the vertical line through that foot point at the ray's horizontally closest point. Two
  residuals per top joint: ``log(height / prior) / sigma`` (the joint's height above the
  ground against its prior) and the lean: the image angle of the line from the top joint
  to the mid-ankle pixel against the angle the detector draws for the true vertical there
  (the line to the vertical vanishing point), over ``LEAN_SIGMA`` radians. What the
  detector draws is `DetectorTilt`: the shipped model's people lean less than the true
  vertical, small people most (a gain of 0.45 at 30 px, 0.61 at 50 px, 0.76 at 80 px),
  and it adds a tilt of its own by image column (-0.137 rad per image width off the
  centre), as if it shrank every camera towards a typical one; pooled over 20 tune clips
  under their true cameras (`benchmarks/calibration_tuning.py tilt`). Clip by clip that
  column term varies (robust std 0.046); where the camera looks nearly level (a first fit
  under `FIT_COLUMN_BELOW_PITCH_DEG`) it is a fifth unknown with the pooled value as its
  prior, since there it cannot be told from the lens and a pooled value that is off for the
  clip drags the lens (`benchmarks/calibration_tuning.py column`). Exact keypoints
  follow the true vertical (`EXACT_TILT`). Optionally (``up_sigma_deg``, off by default:
  on the tune clips it made the field of view worse,
  `benchmarks/calibration_tuning.py variants`) a third: the angle between the person's up
  direction in the network's 3D pose (camera axes) and the camera's up.
- A weak prior on the lens (`FOV_PRIOR`, 60 degrees, log focal length std 0.2), one
  residual weighted as if each group (person) counted once: it decides where the people
  do not, at a low pitch where the verticals hardly converge and the detector's own lean
  drowns their convergence.
- Robust: a coarse grid over field of view and pitch (the height in closed form, a median)
  picks the start, then `scipy.optimize.least_squares` with the ``soft_l1`` loss (a smooth
  Huber) refines all four; observations whose residuals stay beyond ``INLIER_SIGMAS`` are
  counted as outliers (people sitting, false detections, cut-off bodies).
- Uncertainty: the cluster-robust ("sandwich") covariance of the fit, clustering the
  observations by ``group`` (a track, or a block of frames), so that one person seen in a
  hundred frames counts as one person, not as a hundred independent measurements; plus
  the model's own doubt: how far the solution moves (to first order) when the tilt gain is
  off by ``gain_std``, the tilt's column term by ``position_std`` or the stature prior's
  scale by ``STATURE_SCALE_STD``; then combined with the lens prior as an independent
  measurement. Without the doubt the errors on the tune clips reached 7 sigma (the lean
  cue is biased clip by clip, and the sandwich sees only the scatter of the people).

Priors (`HEIGHT_PRIORS`, `FOOT_HEIGHT_M`, `LEAN_SIGMA`) were measured on the synthetic
generator's bodies (stature 1.72 +- 0.09 m, `crowdpose3d.data.synth.body`): 20-30 people
walking for 60 frames (seed 4242, `crowdpose3d.demo.make_sample_clip`), joints turned into
the world frame with the clip's camera: head top 1.722 +- 0.078 m above the ground, neck
1.483 +- 0.069 m, mid-ankle 0.143 +- 0.054 m; the head top's horizontal offset from the
mid-ankle point 0.21 m rms (0.15 m for the neck), i.e. about 13 % (10 %) of the height
above the mid-ankle point. On the tune clips of `benchmarks/calibration.py` (seeds 16001..,
the model's detections, the true cameras; `python benchmarks/calibration_tuning.py priors`)
the model's people fit those heights (median
1.731 m for the head top, 1.488 m for the neck, robust std 0.120 and 0.102 m); their
tilt from the true vertical, after the tilt gain, has a robust std of 0.058 and 0.059 rad
(hence `LEAN_SIGMA`, set when the lean was a horizontal miss: 0.086 and 0.074 m then).

Limits: at a low pitch (under about 15 degrees) the verticals hardly converge, the
detector's own lean (its per-clip residual slope by column: robust std 0.046 rad per image
width) is as large as their signal, and the field of view is left to the lens prior and
the heights; the reported sigma says so. Held-out figures: `docs/calibration.md`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from crowdpose3d.core.skeleton import Skeleton
from crowdpose3d.geometry.camera import Camera, Intrinsics
from crowdpose3d.poses import Poses

__all__ = [
    "FOOT_HEIGHT_M",
    "HEIGHT_PRIORS",
    "EXACT_TILT",
    "FIT_COLUMN_BELOW_PITCH_DEG",
    "SHIPPED_TILT",
    "CameraEstimate",
    "DetectorTilt",
    "SelfCalibrator",
    "fit_camera",
    "ground_camera",
]

# Height above the ground (mean, std in metres) of the joints measured above the feet.
HEIGHT_PRIORS: dict[str, tuple[float, float]] = {"head_top": (1.722, 0.078), "neck": (1.483, 0.069)}
FOOT_HEIGHT_M = (0.143, 0.054)  # mid-ankle point above the ground while walking (mean, std)
# Horizontal offset of the top joint from the foot point over its height above it, robust
# std of the model's detections on the tune clips (see the module docstring).
LEAN_SIGMA = {"head_top": 0.06, "neck": 0.05}
# The shipped model's people lean less than the true vertical at their feet, the small
# ones most (`DetectorTilt`): their image tilt (mid-ankle to head top) fitted as
# (TILT_GAIN + TILT_SIZE_SLOPE ln(h / TILT_SIZE_PX)) x the true vertical's tilt +
# TILT_POSITION x the column offset + a constant per clip, least squares over the 20 tune
# clips' 12 s under the true cameras (`benchmarks/calibration_tuning.py tilt`: 0.609,
# 0.313, -0.137; a gain alone, through the origin, 0.676, clip by clip -0.03 to 1.63).
TILT_GAIN = 0.61
TILT_SIZE_SLOPE = 0.31  # the gain grows by this per e-fold of the person's pixel height ...
TILT_SIZE_PX = 50.0  # ... from TILT_GAIN at this height (mid-ankle to head top, pixels)
TILT_POSITION = -0.137  # radians of tilt the detector adds per image width off the centre
# How well the column term is known, carried into the sigmas: the robust std over the
# tune clips of each clip's residual tilt slope by column under the fit (`... tilt`: 0.046).
TILT_POSITION_STD = 0.05
# How well that gain is known, carried into the reported sigmas (chosen with the old
# gain-only tilt on 5 tune clips: the smallest of 0.15, 0.25 and 0.35 with their errors
# within 2 sigma; with `DetectorTilt` and the lens prior the worst errors no longer come
# from the gain: the 20 tune clips' largest |error| / sigma is 3.8 for all three).
TILT_GAIN_STD = 0.25
# The stature prior's scale, relative std, carried likewise: the model's median head top
# over the prior is -1.7 % to +3.6 % clip by clip (`... tilt`).
STATURE_SCALE_STD = 0.02
# A weak prior on the lens (horizontal fov degrees, std of log focal length: 40-90 degrees
# within 2 std); it decides only where the people do not (a low pitch). On the 20 tune
# clips (`benchmarks/calibration_tuning.py prior`) none, 0.3, 0.2 and 0.15 put the fov
# within 10 % on 9, 9, 10 and 10 clips, the pitch within 2 degrees on 10, 12, 14 and 14.
FOV_PRIOR = (60.0, 0.2)
PIXEL_SIGMA = 2.0  # pixels: the detector's joint noise, added to every relative residual
UP_SIGMA_DEG = 12.0  # spread of the network's 3D up direction, when that cue is asked for
INLIER_SIGMAS = 3.0  # an observation is an inlier when all its residuals are within this
MIN_OBSERVATIONS = 30  # fewer usable observations: no estimate
MIN_GROUPS = 5  # fewer distinct people (groups): no estimate
MIN_PIXEL_HEIGHT = 24.0  # pixels from mid-ankle to the top joint; smaller people are skipped
# Taller people (mid-ankle to top joint over the image height) are skipped: on the tune
# clips the model's people 100-150 px tall in 384 px images stand 9 % too tall (1.871 m)
# (`benchmarks/calibration_tuning.py by-size`).
MAX_HEIGHT_FRACTION = 0.25
MIN_SCORE = 0.5  # detection confidence below this is not used
BORDER_FRACTION = 0.01  # joints or box edges this close to the image border: cut off, skipped
GRID_FOV_DEG = np.arange(20.0, 121.0, 2.5)  # coarse start: horizontal fields of view
GRID_PITCH_DEG = np.arange(-5.0, 76.0, 1.5)  # coarse start: pitches below the horizon
GRID_OBSERVATIONS = 400  # observations the coarse grid evaluates (a fixed subsample)
# Fit the tilt's column term clip by clip (a free unknown with the prior `TILT_POSITION`
# +- `TILT_POSITION_STD`, weighted as if each person counted once) rather than fix it and
# carry its doubt into the sigmas, when a first fit with it fixed finds the camera looking
# less than this far down: there the true verticals hardly converge, the column term and
# the lens cannot be told apart by the lean, and a fixed term that is off for this clip
# drags the lens (then the lens prior and the heights decide). Looking further down, a
# free term runs away with the lens (tune clips: -0.38 rad per width at 45 degrees;
# `benchmarks/calibration_tuning.py column`).
FIT_COLUMN_BELOW_PITCH_DEG = 16.0
BOUNDS = (  # (log f relative to the image width, pitch rad, roll rad, log height m, gain,
    # the tilt's column term rad per image width)
    (math.log(0.25), math.radians(-20.0), math.radians(-30.0), math.log(0.3), 0.3, -1.0),
    (math.log(8.0), math.radians(89.0), math.radians(30.0), math.log(200.0), 2.0, 1.0),
)


@dataclass(frozen=True)
class DetectorTilt:
    """How a detector draws people's image tilt (the angle of the line from a top joint
    to the mid-ankle pixel) against the true vertical's tilt at their feet:

        tilt = (gain + size_slope ln(h / TILT_SIZE_PX)) vertical + position (u - cx) / W

    h: the person's pixel height (mid-ankle to the first top joint), u: the mid-ankle
    column, W: the image width. The defaults are the shipped model's (`TILT_*`); `EXACT`
    is keypoints that follow the true vertical. ``gain_std``: how well the gain is known
    (carried into the reported sigmas)."""

    gain: float = TILT_GAIN
    size_slope: float = TILT_SIZE_SLOPE
    position: float = TILT_POSITION
    gain_std: float = TILT_GAIN_STD
    position_std: float = TILT_POSITION_STD

    def expected(
        self, vertical: np.ndarray, pixel_height: np.ndarray, column: np.ndarray, width: float
    ) -> np.ndarray:
        """The detector's tilt (radians) for the true ``vertical`` tilt, elementwise."""
        gain = self.gain + self.size_slope * np.log(np.maximum(pixel_height, 1.0) / TILT_SIZE_PX)
        return gain * vertical + self.position * (column - width / 2) / width


SHIPPED_TILT = DetectorTilt()  # the shipped model's people (the `TILT_*` constants)
EXACT_TILT = DetectorTilt(gain=1.0, size_slope=0.0, position=0.0, position_std=0.0)


def ground_camera(
    intrinsics: Intrinsics, height: float, pitch_deg: float, roll_deg: float = 0.0
) -> Camera:
    """A camera ``height`` m above the ground (world z = 0, z up) at the world origin,
    heading along world +y, tilted down by ``pitch_deg`` and rolled by ``roll_deg`` about
    its optical axis (positive: the camera's x axis turns towards its y axis, so the world
    appears turned anticlockwise in the image); `_rotations` is the same, batched."""
    return Camera.looking_at_ground(intrinsics, height, pitch_deg, roll_deg=roll_deg)


@dataclass(frozen=True)
class CameraEstimate:
    """A self-calibrated camera and its uncertainty (one standard deviation each).

    ``width`` x ``height_px`` is the image size the estimate is for; ``observations`` the
    person-frames used, ``inliers`` those that fit, ``groups`` the distinct people (or
    blocks of frames) they came from.
    """

    fov_deg: float
    pitch_deg: float
    roll_deg: float
    height_m: float
    fov_sigma_deg: float
    pitch_sigma_deg: float
    roll_sigma_deg: float
    height_sigma_m: float
    width: int
    height_px: int
    observations: int
    inliers: int
    groups: int
    cost: float = 0.0  # mean robust cost per residual at the solution
    # The detector's tilt by image column (rad per image width, `DetectorTilt.position`)
    # this clip was fitted with, and its sigma (0 when it was fixed).
    column_tilt: float | None = None
    column_tilt_sigma: float = 0.0
    # The field of view's sigma from the people alone, before the lens prior joins (0 when
    # the focal length was given): far above ``fov_sigma_deg``, the prior chose the lens.
    fov_people_sigma_deg: float = 0.0

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_fov(self.width, self.height_px, self.fov_deg)

    @property
    def camera(self) -> Camera:
        return ground_camera(self.intrinsics, self.height_m, self.pitch_deg, self.roll_deg)

    def summary(self) -> dict[str, Any]:
        """The estimate and its uncertainty as plain numbers (the tracks' metadata)."""
        return {
            "fov_deg": self.fov_deg,
            "pitch_deg": self.pitch_deg,
            "roll_deg": self.roll_deg,
            "height_m": self.height_m,
            "fov_sigma_deg": self.fov_sigma_deg,
            "fov_people_sigma_deg": self.fov_people_sigma_deg,
            "pitch_sigma_deg": self.pitch_sigma_deg,
            "roll_sigma_deg": self.roll_sigma_deg,
            "height_sigma_m": self.height_sigma_m,
            "observations": self.observations,
            "inliers": self.inliers,
            "groups": self.groups,
        }

    def to_dict(self) -> dict[str, Any]:
        """A camera file (`Camera.to_dict`, which the lift stage's ``camera_file`` reads)
        with the estimate and its uncertainty under ``self_calibration``."""
        return {**self.camera.to_dict(), "self_calibration": self.summary()}

    def describe(self) -> str:
        """One line: each quantity with its standard deviation (the field of view's also
        from the people alone, when it was estimated: far above the first, the lens came
        from the prior)."""
        people = (
            f" (people alone +- {self.fov_people_sigma_deg:.1f})"
            if self.fov_people_sigma_deg > 0
            else ""
        )
        return (
            f"fov {self.fov_deg:.1f} +- {self.fov_sigma_deg:.1f}{people} deg, pitch "
            f"{self.pitch_deg:.1f} +- {self.pitch_sigma_deg:.1f} deg, roll {self.roll_deg:.1f} "
            f"+- {self.roll_sigma_deg:.1f} deg, height {self.height_m:.2f} +- "
            f"{self.height_sigma_m:.2f} m ({self.inliers}/{self.observations} person-frames "
            f"fit, {self.groups} groups)"
        )


@dataclass
class Observations:
    """Per person-frame cues, N rows.

    foot: (N, 2) mid-ankle pixel; top: (N, J, 2) top-joint pixels (NaN when missing);
    up: (N, 3) unit up direction of the 3D pose in camera axes (NaN when unknown);
    group: (N,) int cluster of each row (a track or a block of frames).
    """

    foot: np.ndarray
    top: np.ndarray
    up: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return len(self.foot)

    def take(self, rows: np.ndarray) -> Observations:
        return Observations(self.foot[rows], self.top[rows], self.up[rows], self.group[rows])

    @classmethod
    def concatenate(cls, parts: Sequence[Observations], num_top: int) -> Observations:
        if not parts:
            return cls(np.zeros((0, 2)), np.zeros((0, num_top, 2)), np.zeros((0, 3)),
                       np.zeros(0, np.int64))  # fmt: skip
        return cls(
            np.concatenate([p.foot for p in parts]),
            np.concatenate([p.top for p in parts]),
            np.concatenate([p.up for p in parts]),
            np.concatenate([p.group for p in parts]),
        )


@dataclass
class SelfCalibrator:
    """Collects people frame by frame and estimates the camera (refine by calling
    `estimate` again as more arrive; it starts from the previous estimate).

    skeleton: names the joints (``*ankle`` and at least one of `HEIGHT_PRIORS`' joints).
    width, height: the image size in pixels. focal_px: a known focal length (fixes the
    field of view). up_sigma_deg: weight of the 3D poses' up direction (None: not used).
    tilt: how the detector draws people's tilt against the true vertical (`DetectorTilt`,
    the shipped model's by default; `EXACT_TILT` for exact keypoints). fov_prior: the lens
    prior (`FOV_PRIOR`; None: none). fit_column: fit the tilt's column term per clip
    (True), never (False), or when the camera looks nearly level (None: `fit_camera`).
    max_observations: a reservoir of this many person-frames is kept (uniform sample).
    """

    skeleton: Skeleton
    width: int
    height: int
    focal_px: float | None = None
    up_sigma_deg: float | None = None
    tilt: DetectorTilt = field(default_factory=DetectorTilt)
    fov_prior: tuple[float, float] | None = FOV_PRIOR
    fit_column: bool | None = None
    min_score: float = MIN_SCORE
    max_observations: int = 20000
    seed: int = 0
    last: CameraEstimate | None = None
    _parts: list[Observations] = field(default_factory=list)
    _seen: int = 0

    def __post_init__(self) -> None:
        joints = list(self.skeleton.joints)
        self.feet = [i for i, name in enumerate(joints) if name.endswith("ankle")]
        self.top_names = [name for name in HEIGHT_PRIORS if name in joints]
        self.tops = [joints.index(name) for name in self.top_names]
        if len(self.feet) != 2 or not self.tops:
            raise ValueError(
                f"self-calibration needs two '*ankle' joints and one of "
                f"{', '.join(HEIGHT_PRIORS)}; skeleton {self.skeleton.name!r} has neither"
            )
        self._rng = np.random.default_rng(self.seed)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def add(self, poses: Poses, groups: np.ndarray | int) -> int:
        """Add the usable people of one frame; ``groups`` is one int for all or (N,).
        Returns how many were usable."""
        obs = observations(
            poses, self.feet, self.tops, self.width, self.height, self.min_score, groups
        )
        if len(obs):
            self._parts.append(obs)
            self._seen += len(obs)
            if len(self) > self.max_observations:
                merged = Observations.concatenate(self._parts, len(self.tops))
                keep = np.sort(self._rng.choice(len(merged), self.max_observations, False))
                self._parts = [merged.take(keep)]
        return len(obs)

    def state(self) -> Callable[[], dict[str, Any]]:
        """What `load_state` needs to go on exactly from here (the sample, the random
        state, the last estimate), as a function that makes the arrays only when called:
        it keeps the parts of now, not copies (a part never changes once added)."""
        parts, num_top = list(self._parts), len(self.tops)
        scalars = {
            "seen": self._seen,
            "rng": self._rng.bit_generator.state,
            "last": None if self.last is None else asdict(self.last),
        }

        def arrays() -> dict[str, Any]:
            sample = Observations.concatenate(parts, num_top)
            return {
                "foot": sample.foot,  # (N, 2)
                "top": sample.top,  # (N, J, 2)
                "up": sample.up,  # (N, 3)
                "group": sample.group,  # (N,)
                "calibrator": json.dumps(scalars),
            }

        return arrays

    def load_state(self, state: dict[str, Any]) -> None:
        """Go on from a state that `state` made (its arrays may come back from an npz)."""
        scalars = json.loads(str(state["calibrator"]))
        sample = Observations(
            np.asarray(state["foot"], np.float64).reshape(-1, 2),
            np.asarray(state["top"], np.float64).reshape(-1, len(self.tops), 2),
            np.asarray(state["up"], np.float64).reshape(-1, 3),
            np.asarray(state["group"], np.int64).reshape(-1),
        )
        self._parts = [sample] if len(sample) else []
        self._seen = int(scalars["seen"])
        self._rng.bit_generator.state = scalars["rng"]
        last = scalars["last"]
        self.last = None if last is None else CameraEstimate(**last)

    def estimate(self) -> CameraEstimate | None:
        """The camera from the people so far, or None while too few (see `MIN_*`)."""
        obs = Observations.concatenate(self._parts, len(self.tops))
        estimate = fit_camera(
            obs,
            self.top_names,
            self.width,
            self.height,
            focal_px=self.focal_px,
            up_sigma_deg=self.up_sigma_deg,
            tilt=self.tilt,
            fov_prior=self.fov_prior,
            fit_column=self.fit_column,
            start=self.last,
        )
        if estimate is not None:
            self.last = estimate
        return estimate


def observations(
    poses: Poses,
    feet: Sequence[int],
    tops: Sequence[int],
    width: int,
    height: int,
    min_score: float = MIN_SCORE,
    groups: np.ndarray | int = 0,
) -> Observations:
    """The usable people of one frame: confident, whole (no joint or box edge at the
    border), tall enough in pixels, the top joints above the feet."""
    kp2d = np.asarray(poses.kp2d, np.float64)  # (N, K, 2)
    n = len(kp2d)
    group = np.broadcast_to(np.asarray(groups, np.int64), (n,))
    foot = kp2d[:, feet].mean(axis=1)  # (N, 2)
    top = kp2d[:, tops]  # (N, J, 2)
    margin_x, margin_y = BORDER_FRACTION * width, BORDER_FRACTION * height
    joints = np.concatenate((kp2d[:, feet], top), axis=1)  # (N, 2 + J, 2)
    inside = (
        (joints[..., 0] > margin_x)
        & (joints[..., 0] < width - 1 - margin_x)
        & (joints[..., 1] > margin_y)
        & (joints[..., 1] < height - 1 - margin_y)
    ).all(axis=1)
    box = np.asarray(poses.boxes, np.float64)
    whole = (
        (box[:, 0] > margin_x)
        & (box[:, 1] > margin_y)
        & (box[:, 2] < width - 1 - margin_x)
        & (box[:, 3] < height - 1 - margin_y)
    )
    span = foot[:, None, 1] - top[..., 1]  # (N, J) pixels
    tall = (span >= MIN_PIXEL_HEIGHT).all(axis=1) & (span <= MAX_HEIGHT_FRACTION * height).all(1)
    finite = np.isfinite(joints).all(axis=(1, 2))
    keep = finite & inside & whole & tall & (np.asarray(poses.scores) >= min_score)
    rel = np.asarray(poses.kp3d_rel, np.float64)
    up = rel[:, tops].mean(axis=1) - rel[:, feet].mean(axis=1)  # (N, 3) camera axes
    norm = np.linalg.norm(up, axis=1, keepdims=True)
    up = np.where(norm > 1e-6, up / np.maximum(norm, 1e-6), np.nan)
    return Observations(foot[keep], top[keep], up[keep], group[keep].copy())


# ---------------------------------------------------------------------------- the fit
def fit_camera(
    obs: Observations,
    top_names: Sequence[str],
    width: int,
    height: int,
    *,
    focal_px: float | None = None,
    up_sigma_deg: float | None = None,
    start: CameraEstimate | None = None,
    tilt: DetectorTilt | None = None,
    fov_prior: tuple[float, float] | None = FOV_PRIOR,
    fit_column: bool | None = None,
) -> CameraEstimate | None:
    """Fit the camera to the observations (None with fewer than `MIN_OBSERVATIONS` rows or
    `MIN_GROUPS` groups). ``start``: a previous estimate to refine (skips the grid);
    ``tilt``: how the detector draws people's tilt (`DetectorTilt`, the shipped model's by
    default; `EXACT_TILT` for exact keypoints), whose doubt and `STATURE_SCALE_STD` widen
    the reported sigmas; ``fov_prior``: (degrees, std of log focal length) or None;
    ``fit_column``: the tilt's column term a free unknown with the prior ``tilt.position``
    +- ``tilt.position_std`` (True), fixed (False), or free only when the camera, fitted with
    it fixed, looks down by less than `FIT_COLUMN_BELOW_PITCH_DEG` (None, the default); a
    zero ``tilt.position_std`` always fixes it."""
    groups = len(np.unique(obs.group)) if len(obs) else 0
    if len(obs) < MIN_OBSERVATIONS or groups < MIN_GROUPS:
        return None
    tilt = tilt or DetectorTilt()
    model = _Model(obs, top_names, width, height, up_sigma_deg, tilt)
    fixed_f = None if focal_px is None else math.log(focal_px / width)
    if start is not None and start.width == width:
        x0 = _start_vector(start, tilt, fixed_f)
    else:
        x0 = model.grid_start(fixed_f, tilt)
    can_free = tilt.position_std > 0
    if fit_column is True and can_free:
        return _fit(model, x0, fixed_f, tilt, fov_prior, True)
    estimate = _fit(model, x0, fixed_f, tilt, fov_prior, False)
    if fit_column is None and can_free and estimate.pitch_deg < FIT_COLUMN_BELOW_PITCH_DEG:
        return _fit(model, _start_vector(estimate, tilt, fixed_f), fixed_f, tilt, fov_prior, True)
    return estimate


def _start_vector(
    estimate: CameraEstimate, tilt: DetectorTilt, fixed_f: float | None
) -> np.ndarray:
    """(6,) unknowns of `_Model` from an estimate, the tilt's gain and pooled column term."""
    log_f = math.log(estimate.intrinsics.fx / estimate.width) if fixed_f is None else fixed_f
    return np.array([
        log_f, math.radians(estimate.pitch_deg), math.radians(estimate.roll_deg),
        math.log(estimate.height_m), tilt.gain, tilt.position,
    ])  # fmt: skip


def _fit(
    model: _Model,
    x0: np.ndarray,
    fixed_f: float | None,
    tilt: DetectorTilt,
    fov_prior: tuple[float, float] | None,
    column_free: bool,
) -> CameraEstimate:
    """One robust fit from ``x0`` (6,), the column term free or fixed at ``x0[5]``."""
    from scipy.optimize import least_squares

    obs = model.obs
    width, height = int(model.width), int(model.height)
    groups = len(np.unique(obs.group))
    # The tilt gain is fixed; the column term free or fixed.
    free = np.array([fixed_f is None, True, True, True, False, column_free])
    low, high = np.array(BOUNDS[0])[free], np.array(BOUNDS[1])[free]

    def full(x: np.ndarray) -> np.ndarray:
        out = x0.copy()
        out[free] = x
        return out

    # Priors (unknown's index, mean, std): the lens, the column term. Each one residual
    # weighted as sqrt(person-frames per group): the data's residuals count every frame of
    # a person, a prior must not drown under them.
    priors: list[tuple[int, float, float]] = []
    if fixed_f is None and fov_prior is not None:
        priors.append((0, math.log(0.5 / math.tan(math.radians(fov_prior[0]) / 2)), fov_prior[1]))
    if column_free:
        priors.append((5, tilt.position, tilt.position_std))
    per_group = math.sqrt(len(obs) / groups)
    index = np.array([i for i, _, _ in priors], np.int64)
    mean = np.array([m for _, m, _ in priors])
    weight = np.array([per_group / std for _, _, std in priors])

    def objective(x: np.ndarray) -> np.ndarray:
        out = full(x)
        data = model.residuals(out[None])[0]
        return np.append(data, weight * (out[index] - mean))

    result = least_squares(
        objective,
        np.clip(x0[free], low + 1e-9, high - 1e-9),
        bounds=(low, high),
        loss="soft_l1",
        f_scale=1.0,
        x_scale="jac",
        max_nfev=200,
    )
    x = full(result.x)
    residual = model.residuals(x[None])[0]  # (R,)
    sigmas = model.sigmas(
        x, model.jacobian(x, free), residual, free,
        model.systematic(x, tilt, column=not column_free), priors,
    )  # fmt: skip
    rows = model.rows_per_observation
    per_obs = np.abs(residual).reshape(rows, len(obs)).max(axis=0)  # (N,)
    fov = math.degrees(2 * math.atan(0.5 / math.exp(x[0])))
    return CameraEstimate(
        fov_deg=fov,
        pitch_deg=math.degrees(x[1]),
        roll_deg=math.degrees(x[2]),
        height_m=math.exp(x[3]),
        fov_sigma_deg=sigmas[0],
        pitch_sigma_deg=sigmas[1],
        roll_sigma_deg=sigmas[2],
        height_sigma_m=sigmas[3],
        width=int(width),
        height_px=int(height),
        observations=len(obs),
        inliers=int((per_obs <= INLIER_SIGMAS).sum()),
        groups=groups,
        cost=float(2 * result.cost / max(len(residual), 1)),
        column_tilt=float(x[5]),
        column_tilt_sigma=sigmas[4] if column_free else 0.0,
        fov_people_sigma_deg=sigmas[5],
    )


class _Model:
    """Residuals of the observations under batches of cameras.

    A camera is x = (log f / width, pitch rad, roll rad, log height m, the detector's base
    tilt gain, its column term rad per image width); principal point at the image centre,
    the camera at (0, 0, height) heading along world +y. ``tilt``'s size term is fixed per
    observation.
    """

    def __init__(
        self,
        obs: Observations,
        top_names: Sequence[str],
        width: int,
        height: int,
        up_sigma_deg: float | None,
        tilt: DetectorTilt | None = None,
    ) -> None:
        tilt = tilt or DetectorTilt()
        self.obs = obs
        self.width, self.height = float(width), float(height)
        self.cx, self.cy = width / 2, height / 2
        self.prior = np.array([HEIGHT_PRIORS[n][0] for n in top_names])  # (J,)
        spread = np.array([HEIGHT_PRIORS[n][1] for n in top_names])
        pixel_height = np.maximum(obs.foot[:, None, 1] - obs.top[..., 1], 1.0)  # (N, J)
        pixel = PIXEL_SIGMA * math.sqrt(2) / pixel_height  # relative pixel noise (N, J)
        span = self.prior - FOOT_HEIGHT_M[0]  # (J,) height of the top above the foot point
        self.height_sigma = np.sqrt(  # (N, J) relative
            (spread / self.prior) ** 2 + (FOOT_HEIGHT_M[1] / span) ** 2 + pixel**2
        )
        lean = np.array([LEAN_SIGMA[n] for n in top_names])
        self.lean_sigma = np.sqrt(lean**2 + pixel**2)  # (N, J) radians
        along = obs.foot[:, None] - obs.top  # (N, J, 2) top joint to the feet
        self.tilt = np.arctan2(along[..., 0], along[..., 1])  # (N, J) radians from the image's down
        # The detector's tilt model beyond the gain (`DetectorTilt`): (N,) gain offset by
        # the person's size and (N,) tilt added by the image column.
        self.gain_offset = tilt.size_slope * np.log(pixel_height[:, 0] / TILT_SIZE_PX)
        self.column = (obs.foot[:, 0] - self.cx) / self.width  # (N,) column offset
        self.centre = np.array([self.cx, self.cy])
        self.use_up = up_sigma_deg is not None and bool(np.isfinite(obs.up).all())
        self.up_sigma = math.radians(up_sigma_deg or UP_SIGMA_DEG)
        self.rows_per_observation = 2 * len(self.prior) + (1 if self.use_up else 0)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """x (M, 6) -> (M, R) residuals in units of their sigma, R = rows x N (row-major)."""
        obs = self.obs
        focal = np.exp(x[:, 0]) * self.width  # (M,)
        pitch, roll, cam_h, gain = x[:, 1], x[:, 2], np.exp(x[:, 3]), x[:, 4]
        column_tilt = x[:, 5, None] * self.column[None]  # (M, N) radians
        rot = _rotations(pitch, roll)  # (M, 3, 3) world -> camera

        def rays(pixels: np.ndarray) -> np.ndarray:  # (N, 2) -> (M, N, 3) world directions
            cam = np.stack(
                (
                    (pixels[None, :, 0] - self.cx) / focal[:, None],
                    (pixels[None, :, 1] - self.cy) / focal[:, None],
                    np.ones((len(focal), len(pixels))),
                ),
                axis=-1,
            )  # (M, N, 3)
            return np.einsum("mji,mnj->mni", rot, cam)  # R^T d

        foot = rays(obs.foot)  # (M, N, 3)
        down = np.minimum(foot[..., 2], -1e-3)  # rays at or above the horizon: far away
        reach = (FOOT_HEIGHT_M[0] - cam_h[:, None]) / down  # (M, N) > 0
        ground = foot[..., :2] * reach[..., None]  # (M, N, 2) foot point, camera at origin
        # The image direction of the world's vertical at each foot pixel, towards the
        # vertical vanishing point f d_xy / d_z + c (homogeneous, so d_z = 0 is fine).
        below = -rot[:, :, 2]  # (M, 3) world down in camera axes
        toward = (
            focal[:, None, None] * below[:, None, :2]
            - (obs.foot[None] - self.centre) * below[:, None, 2:3]
        )  # (M, N, 2)
        vertical = np.arctan2(toward[..., 0], toward[..., 1])  # (M, N) radians
        out = []
        for j in range(len(self.prior)):
            ray = rays(obs.top[:, j])  # (M, N, 3)
            horizontal = ray[..., :2]
            s = (ground * horizontal).sum(-1) / np.maximum((horizontal**2).sum(-1), 1e-12)
            s = np.maximum(s, 0.0)  # (M, N) along the ray to the foot point's vertical
            z = cam_h[:, None] + s * ray[..., 2]  # (M, N) height above the ground there
            ratio = np.log(np.maximum(z, 1e-3) / self.prior[j])
            out.append(ratio / self.height_sigma[None, :, j])
            expected = (gain[:, None] + self.gain_offset[None]) * vertical + column_tilt
            lean = self.tilt[None, :, j] - expected  # (M, N) radians
            out.append(lean / self.lean_sigma[None, :, j])
        if self.use_up:
            up = rot[:, :, 2]  # (M, 3) world up in camera axes
            cos = np.clip(obs.up @ up.T, -1.0, 1.0).T  # (M, N)
            out.append(np.arccos(cos) / self.up_sigma)
        return np.concatenate(out, axis=1)

    def grid_start(self, fixed_f: float | None, tilt: DetectorTilt) -> np.ndarray:
        """The best camera of a coarse grid (roll 0, height by a median) on a subsample."""
        obs = self.obs
        if len(obs) > GRID_OBSERVATIONS:
            rows = np.random.default_rng(0).choice(len(obs), GRID_OBSERVATIONS, replace=False)
            sub = _Model.__new__(_Model)
            sub.__dict__.update(self.__dict__)
            sub.obs = obs.take(rows)
            sub.height_sigma, sub.lean_sigma = self.height_sigma[rows], self.lean_sigma[rows]
            sub.tilt = self.tilt[rows]
            sub.gain_offset, sub.column = self.gain_offset[rows], self.column[rows]
        else:
            sub = self
        if fixed_f is None:
            log_f = np.log(0.5 / np.tan(np.radians(GRID_FOV_DEG) / 2))
        else:
            log_f = np.array([fixed_f])
        f_grid, p_grid = np.meshgrid(log_f, np.radians(GRID_PITCH_DEG), indexing="ij")
        zero = np.zeros(f_grid.size)
        x = np.stack(
            (f_grid.ravel(), p_grid.ravel(), zero, zero, zero + tilt.gain, zero + tilt.position),
            axis=1,
        )  # (M, 6), height 1 m
        # Height scales every length: log height = median of log(prior / implied height).
        x[:, 3] = self._median_log_height(sub, x)
        best, best_cost = x[0], np.inf
        for chunk in np.array_split(np.arange(len(x)), max(1, len(x) // 256)):
            residual = sub.residuals(x[chunk])  # (m, R)
            cost = (2 * (np.sqrt(1 + residual**2) - 1)).sum(axis=1)  # soft_l1
            i = int(np.argmin(cost))
            if cost[i] < best_cost:
                best, best_cost = x[chunk][i], float(cost[i])
        return best.copy()

    @staticmethod
    def _median_log_height(sub: _Model, x: np.ndarray) -> np.ndarray:
        """(M,) log camera height whose people have the prior's heights (median)."""
        n, j = len(sub.obs), len(sub.prior)
        out = np.zeros(len(x))
        for chunk in np.array_split(np.arange(len(x)), max(1, len(x) // 256)):
            residual = sub.residuals(x[chunk])  # (m, R) at height 1 m
            ratio = residual[:, : 2 * j * n].reshape(len(chunk), j, 2, n)[:, :, 0]  # (m, J, N)
            log_ratio = ratio * sub.height_sigma.T[None]  # log(z / prior) at 1 m
            out[chunk] = np.clip(-np.median(log_ratio.reshape(len(chunk), -1), axis=1), -3, 6)
        return out

    def systematic(
        self, x: np.ndarray, tilt: DetectorTilt, column: bool = True
    ) -> list[tuple[np.ndarray, float]]:
        """The model's uncertain constants as (d residuals / d constant (R,), std): the
        tilt gain, the tilt's column term (unless it is fitted: ``column`` False) and the
        stature prior's scale (log)."""
        gain = self.jacobian(x, np.array([False, False, False, False, True, False]))[:, 0]
        out = [(gain, tilt.gain_std)]
        if column:
            slope = np.zeros((self.rows_per_observation, len(self.obs)))  # d / d position
            for j in range(len(self.prior)):
                slope[2 * j + 1] = -self.column / self.lean_sigma[:, j]
            out.append((slope.ravel(), tilt.position_std))
        stature = np.zeros((self.rows_per_observation, len(self.obs)))  # d / d log prior
        for j in range(len(self.prior)):
            stature[2 * j] = -1.0 / self.height_sigma[:, j]
        out.append((stature.ravel(), STATURE_SCALE_STD))
        return out

    def jacobian(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """(R, P) central-difference Jacobian of the raw residuals in the free unknowns."""
        step = 1e-5
        index = np.flatnonzero(free)
        batch = np.repeat(x[None], 2 * len(index), axis=0)  # (2P, 6)
        for k, i in enumerate(index):
            batch[2 * k, i] += step
            batch[2 * k + 1, i] -= step
        residual = self.residuals(batch)  # (2P, R)
        return ((residual[0::2] - residual[1::2]) / (2 * step)).T

    def sigmas(
        self,
        x: np.ndarray,
        jac: np.ndarray,
        residual: np.ndarray,
        free: np.ndarray,
        systematic: Sequence[tuple[np.ndarray, float]] = (),
        priors: Sequence[tuple[int, float, float]] = (),
    ) -> list[float]:
        """Standard deviations of (fov deg, pitch deg, roll deg, height m, the column term
        rad per width): the sandwich covariance of the robust fit, with observations
        clustered by group, plus each ``systematic`` (d residuals / d constant (R,), the
        constant's std): how far the solution moves when a constant of the model is off by
        its std; then each prior (unknown's index, mean, std) joins as an independent
        measurement. A sixth value: the fov's std (deg) from the people alone, before the
        priors join (0 when the focal length is fixed)."""
        weight = 1.0 / np.sqrt(1.0 + residual**2)  # soft_l1: rho'(r^2)
        bread = jac.T @ (jac * weight[:, None])  # (P, P)
        score = jac * (weight * residual)[:, None]  # (R, P) per-residual gradient
        rows = self.rows_per_observation
        groups = np.tile(self.obs.group, rows)  # residual rows are (row type, observation)
        _, cluster = np.unique(groups, return_inverse=True)
        per_group = np.zeros((cluster.max() + 1, jac.shape[1]))
        np.add.at(per_group, cluster, score)
        g = len(per_group)
        meat = per_group.T @ per_group * (g / max(g - 1, 1))
        try:
            inverse = np.linalg.inv(bread)
        except np.linalg.LinAlgError:
            return [math.inf] * 6
        cov = np.zeros((6, 6))
        shift = np.zeros((len(systematic), jac.shape[1]))  # (S, P)
        for k, (column, std) in enumerate(systematic):
            shift[k] = -inverse @ (jac * weight[:, None]).T @ column * std
        data = inverse @ meat @ inverse + shift.T @ shift  # (P, P) from the people alone
        f = math.exp(x[0])
        dfov = -math.degrees(2 * (0.5 / f) / (1 + (0.5 / f) ** 2))  # d fov / d log f
        people_fov = abs(dfov) * math.sqrt(max(data[0, 0], 0.0)) if free[0] else 0.0
        if priors:
            # Combined with the priors as independent measurements.
            position = np.cumsum(free) - 1  # unknown's index -> its place among the free
            try:
                info = np.linalg.inv(data)
                for i, _, std in priors:
                    info[position[i], position[i]] += 1.0 / std**2
                data = np.linalg.inv(info)
            except np.linalg.LinAlgError:
                pass
        cov[np.ix_(free, free)] = data
        # Delta method to the reported quantities.
        gradient = np.diag([dfov, math.degrees(1), math.degrees(1), math.exp(x[3]), 1.0, 1.0])
        variance = np.diag(gradient @ cov @ gradient.T)[[0, 1, 2, 3, 5]]
        return [float(math.sqrt(max(v, 0.0))) for v in variance] + [float(people_fov)]


def _rotations(pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(M,) pitch, roll radians -> (M, 3, 3) world-to-camera rotations (rows: the camera's
    x, y, z axes in world coordinates), heading along world +y."""
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    zero = np.zeros_like(pitch)
    forward = np.stack((zero, cp, -sp), axis=-1)  # (M, 3)
    right = np.stack((np.ones_like(pitch), zero, zero), axis=-1)
    down = np.cross(forward, right)  # (M, 3)
    x_axis = cr[:, None] * right + sr[:, None] * down
    y_axis = -sr[:, None] * right + cr[:, None] * down
    return np.stack((x_axis, y_axis, forward), axis=1)
