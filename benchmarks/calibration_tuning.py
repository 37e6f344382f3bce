"""How the self-calibration's priors and defaults were chosen, on the tune clips only.

    python benchmarks/calibration.py --split tune --prepare-only    # the clips
    python benchmarks/calibration.py --split tune2 --prepare-only   # ... and 10 more
    python benchmarks/calibration_tuning.py priors     # the model's people under true cameras
    python benchmarks/calibration_tuning.py by-size    # ... by their height in pixels
    python benchmarks/calibration_tuning.py variants   # the 3D up cue, lean sigma, size cut
    python benchmarks/calibration_tuning.py groups     # error over sigma for two groupings
    python benchmarks/calibration_tuning.py tilt       # the model's tilt: gain per clip, the
                                                       # pooled DetectorTilt fit, stature
    python benchmarks/calibration_tuning.py tilt-model # errors: old gain-only vs DetectorTilt
    python benchmarks/calibration_tuning.py prior      # errors under a few lens priors
    python benchmarks/calibration_tuning.py gain       # errors under a few tilt gains
    python benchmarks/calibration_tuning.py doubt      # error over sigma for the gain's std
    python benchmarks/calibration_tuning.py column     # the tilt's column term fitted per clip
    python benchmarks/calibration_tuning.py horizon    # horizon from heights against foot rows
    python benchmarks/calibration_tuning.py track-speed  # does speed constancy pick the lens?
    python benchmarks/calibration_tuning.py profile    # which cue puts the lens where, per clip
    python benchmarks/calibration_tuning.py stature-size  # far people's heights: a size bias?
    python benchmarks/calibration_tuning.py motion     # do walks along the view pick the lens?

Each reads the cached detections of `benchmarks/calibration.py`'s tune clips (splits tune
and tune2, seeds 16001.. and 16101..), never the held-out ones. ``priors`` and ``by-size``
cast each usable person's feet onto the ground with the clip's true camera and print the
implied height of the head top and neck above the ground (median, robust std = 1.4826 x
MAD) and the horizontal offset of those joints from the feet; ``variants``, ``groups``,
``tilt-model``, ``prior``, ``gain`` and ``doubt`` estimate the camera from the first 6 s
under changed settings and print the errors (pitch deg, height %, fov %, roll deg) or the
errors over the reported sigmas. ``column`` fits the tilt's column term clip by clip (a
free unknown with the prior `TILT_POSITION` +- a std) instead of fixing it; ``horizon``
compares the horizon row that a robust line through the people's pixel heights against
their foot rows gives (h = a (v_foot - v_horizon), exact for a level camera) with the
fit's, both against the truth; ``track-speed`` casts the tracked people's feet (the track
stage on the first 6 s) onto the ground of the best camera at each of a few fixed focal
lengths along the fit's valley and prints the spread of the tracks' speeds (within each
track, over ``LAGS`` frame windows): a walker keeps a nearly constant speed, so the right
lens should make it smallest; and the slope of log speed over the image row within
tracks at the true camera and at its pitch +- 4 degrees (a wrong pitch or height makes a
walker's speed change with the row, so the right camera should make it zero).
``profile`` fits the camera with the focal length fixed at ``PROFILE_RATIOS`` times the
truth (no lens prior) and prints, per clip, how the summed soft-l1 cost of the height rows
and of the lean rows changes against their value at the true focal length (negative: that
cue prefers this lens), with the column term fixed and, for the clips whose camera looks
down by `FIT_COLUMN_BELOW_PITCH_DEG` or less, free; and the fit's field of view with its
sigma from the people alone (before the lens prior joins). ``stature-size`` fits, within
each clip under its true camera, the log of the model's implied head-top height over the
log of the person's pixel height and over the log of the pixel height a person of the
prior's stature would have at that foot point (which depends on the foot pixel only, so
the person's own stature and the head's pixel noise do not enter it). ``motion`` casts
the tracked feet of the first 6 s (the track stage, as ``track-speed``) onto the ground of
the best camera at each of ``PROFILE_RATIOS`` times the true focal length (no lens prior)
and fits, over all 2 s windows of moving people (0.4-4 m/s), the slope of log speed over
the squared share of the displacement along the line of sight: a wrong lens stretches the
ground along the view only, so the slope should cross zero at the true focal length.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibration as bench  # noqa: E402

import crowdpose3d.geometry.self_calibration as sc  # noqa: E402
import crowdpose3d.stages.auto_camera as ac  # noqa: E402
from crowdpose3d.core.skeleton import JTA22  # noqa: E402

SPLITS = ("tune", "tune2")  # 20 tune clips (`calibration.py --split ... --prepare-only`)
FIRST_FRAMES = 60  # 6 s at 10 fps
LAGS = (10, 20, 30)  # frames over which ``track-speed`` measures a speed (1, 2, 3 s)
FOCAL_RATIOS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6)  # ... focal lengths / truth
PROFILE_RATIOS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4)  # ``profile``'s focal lengths / truth
ANKLES = (18, 21)  # jta22's ankles


def collector() -> ac.AutoCamera:
    return ac.AutoCamera(JTA22, bench.SIZE, bench.FPS, None, 6.0, 6.0, 6.0)


def implied(clip, frames) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(N, J) heights above the ground and (N, J) horizontal offsets (m) of the top joints
    under the true camera, (N,) pixel heights, and the joint names."""
    auto = collector()
    for frame in frames:
        auto.observe(frame)
    cal = auto.calibrator
    obs = sc.Observations.concatenate(cal._parts, len(cal.tops))
    model = sc._Model(obs, cal.top_names, bench.SIZE[1], bench.SIZE[0], None)
    camera = bench.true_camera(clip)
    x = np.array(
        [[math.log(camera.intrinsics.fx / bench.SIZE[1]), math.radians(clip.pitch_deg), 0.0,
          math.log(clip.height_m), sc.TILT_GAIN, sc.TILT_POSITION]]
    )  # fmt: skip
    r = model.residuals(x)[0].reshape(model.rows_per_observation, len(obs))
    z = np.stack([model.prior[j] * np.exp(r[2 * j] * model.height_sigma[:, j])
                  for j in range(len(cal.tops))], 1)  # fmt: skip
    side = np.stack([r[2 * j + 1] * model.lean_sigma[:, j] for j in range(len(cal.tops))], 1)
    return z, side, obs.foot[:, 1] - obs.top[:, 0, 1], cal.top_names


def robust_std(values: np.ndarray, centre: float | None = None) -> float:
    centre = float(np.median(values)) if centre is None else centre
    return float(1.4826 * np.median(np.abs(values - centre)))


def tilts(clip, frames) -> tuple[np.ndarray, np.ndarray, float]:
    """(N,) image tilt of the model's people (mid-ankle to head top, radians from the
    image's down, all 12 s) and (N,) the true vertical's tilt at their feet; and their
    median head-top height over the prior (the true camera)."""
    auto = ac.AutoCamera(JTA22, bench.SIZE, bench.FPS, None, 60.0, 60.0, 60.0)
    for frame in frames:
        auto.observe(frame)
    cal = auto.calibrator
    obs = sc.Observations.concatenate(cal._parts, len(cal.tops))
    model = sc._Model(obs, cal.top_names, bench.SIZE[1], bench.SIZE[0], None, sc.EXACT_TILT)
    camera = bench.true_camera(clip)
    x = np.array(
        [[math.log(camera.intrinsics.fx / bench.SIZE[1]), math.radians(clip.pitch_deg), 0.0,
          math.log(clip.height_m), 1.0, 0.0]]
    )  # fmt: skip
    r = model.residuals(x)[0].reshape(model.rows_per_observation, len(obs))
    vertical = model.tilt[:, 0] - r[1] * model.lean_sigma[:, 0]  # lean row: tilt - vertical
    height = float(np.median(np.exp(r[0] * model.height_sigma[:, 0])))
    return model.tilt[:, 0], vertical, height, obs


def tilt_model(found: list, names: list[str]) -> None:
    """Fit ``tilt = (gain + size_slope ln(h / TILT_SIZE_PX)) vertical + position (u - cx) / W
    + a constant per clip`` by least squares over all clips' person-frames (each clip
    weighted equally; the constant is each clip's mean lean, which the roll absorbs)."""
    tilt = np.concatenate([f[0] for f in found])
    vertical = np.concatenate([f[1] for f in found])
    obs = [f[3] for f in found]
    size = np.log(np.concatenate([o.foot[:, 1] - o.top[:, 0, 1] for o in obs]) / sc.TILT_SIZE_PX)
    column = np.concatenate([(o.foot[:, 0] - bench.SIZE[1] / 2) / bench.SIZE[1] for o in obs])
    clip = np.concatenate([np.full(len(f[0]), i) for i, f in enumerate(found)])
    per_clip = np.eye(len(found))[clip]  # (N, C)
    weight = 1 / np.sqrt(np.bincount(clip)[clip])
    for label, columns in (
        ("gain only", [vertical]),
        ("gain + column", [vertical, column]),
        ("gain + size + column", [vertical, vertical * size, column]),
    ):
        design = np.concatenate([np.stack(columns, 1), per_clip], 1)
        coef = np.linalg.lstsq(design * weight[:, None], tilt * weight, rcond=None)[0]
        residual = tilt - design @ coef
        slopes = [
            np.polyfit(column[clip == i], residual[clip == i], 1)[0] for i in range(len(found))
        ]
        print(f"{label:<22} coefficients {np.round(coef[: len(columns)], 3).tolist()}; residual "
              f"std {np.std(residual):.4f} rad; per-clip residual slope over the column: robust "
              f"std {robust_std(np.array(slopes), 0.0):.3f}, worst "
              f"{np.abs(slopes).max():.3f}")  # fmt: skip


def first_observations(clip, frames) -> tuple[sc.Observations, list[str]]:
    """The calibrator's observations of the first 6 s (as `camera: auto` collects them)."""
    auto = collector()
    for frame in frames[:FIRST_FRAMES]:
        auto.observe(frame)
    cal = auto.calibrator
    return sc.Observations.concatenate(cal._parts, len(cal.tops)), cal.top_names


def errors(clips, data, **calibrator) -> np.ndarray:
    rows = []
    for clip in clips:
        auto = collector()
        for key, value in calibrator.items():
            setattr(auto.calibrator, key, value)
        for frame in data[clip.name][:FIRST_FRAMES]:
            auto.observe(frame)
        e = auto.calibrator.estimate()
        rows.append((e.pitch_deg - clip.pitch_deg, 100 * (e.height_m / clip.height_m - 1),
                     100 * (e.fov_deg / clip.fov_deg - 1), e.roll_deg,
                     (e.pitch_deg - clip.pitch_deg) / e.pitch_sigma_deg,
                     (e.height_m - clip.height_m) / e.height_sigma_m,
                     (e.fov_deg - clip.fov_deg) / e.fov_sigma_deg, e.column_tilt))  # fmt: skip
    return np.array(rows)


def report(label: str, found: np.ndarray) -> None:
    """One line: clips within issue 17's targets, median and worst errors, error / sigma."""
    err = np.abs(found)
    within = [
        int((err[:, 0] <= 2).sum()),
        int((err[:, 1] <= 10).sum()),
        int((err[:, 2] <= 10).sum()),
    ]
    print(f"{label:<40} within (pitch 2 deg, height 10 %, fov 10 %) {within} of {len(err)}; "
          f"median {np.round(np.median(err[:, :3], 0), 1).tolist()}; worst "
          f"{np.round(err[:, :3].max(0), 1).tolist()}; largest |error| / sigma "
          f"{err[:, 4:7].max():.1f}, {int((err[:, 4:7] <= 2).sum())}/{err[:, 4:7].size} "
          "within 2")  # fmt: skip


def horizon(clips, data) -> None:
    """Horizon rows (pixels from the truth): the fit's and a robust line's."""
    width, height = bench.SIZE[1], bench.SIZE[0]
    line_err, fit_err = [], []
    for clip in clips:
        obs, names = first_observations(clip, data[clip.name])
        true_f = bench.true_camera(clip).intrinsics.fx
        truth = height / 2 - true_f * math.tan(math.radians(clip.pitch_deg))
        e = sc.fit_camera(obs, names, width, height)
        fit = height / 2 - e.intrinsics.fx * math.tan(math.radians(e.pitch_deg))
        foot = obs.foot[:, 1]
        pixels = foot - obs.top[:, 0, 1]  # (N,) head top to mid-ankle
        design = np.stack((foot, np.ones_like(foot)), 1)
        weight = np.ones_like(foot)
        for _ in range(20):  # Huber by reweighting
            coef = np.linalg.lstsq(design * weight[:, None], pixels * weight, rcond=None)[0]
            residual = pixels - design @ coef
            scale = robust_std(residual, 0.0) + 1e-9
            weight = np.sqrt(np.minimum(1, 1.5 * scale / np.maximum(np.abs(residual), 1e-9)))
        line = -coef[1] / coef[0]
        line_err.append(line - truth)
        fit_err.append(fit - truth)
        from_line = sc.HEIGHT_PRIORS["head_top"][0] / coef[0]  # stature over the slope
        print(f"{clip.name:<24} true horizon row {truth:7.1f}; fit {fit - truth:+7.1f}, line "
              f"{line - truth:+7.1f} px; camera height from the line {from_line:5.1f} m "
              f"(true {clip.height_m:g})")  # fmt: skip
    print(f"median |horizon error|: fit {np.median(np.abs(fit_err)):.1f} px, line "
          f"{np.median(np.abs(line_err)):.1f} px")  # fmt: skip


def on_ground(camera, pixels: np.ndarray, z: float) -> np.ndarray:
    """(N, 2) pixels -> (N, 2) world x, y where their rays meet the plane at height z."""
    k = camera.intrinsics
    ray = np.stack(((pixels[:, 0] - k.cx) / k.fx, (pixels[:, 1] - k.cy) / k.fy,
                    np.ones(len(pixels))), 1) @ camera.rotation  # fmt: skip
    down = np.minimum(ray[:, 2], -1e-3)  # at or above the horizon: far away
    centre = camera.centre
    return centre[:2] + ray[:, :2] * ((z - centre[2]) / down)[:, None]


def feet_by_track(tracked, camera=None) -> dict[int, dict[int, np.ndarray]]:
    """Track id -> frame index -> (2,) the person's feet (mean of the ankles): in pixels,
    or with ``camera`` cast onto the ground (`FOOT_HEIGHT_M` above it), where finite; only
    the tracked people scoring at least `MIN_SCORE`."""
    paths: dict[int, dict[int, np.ndarray]] = {}
    for frame in tracked:
        poses = frame.poses
        if poses is None or not len(poses):
            continue
        feet = np.asarray(poses.kp2d, np.float64)[:, list(ANKLES)].mean(axis=1)  # (N, 2)
        if camera is not None:
            feet = on_ground(camera, feet, sc.FOOT_HEIGHT_M[0])  # (N, 2) metres
        for i, track in enumerate(np.asarray(poses.track_id)):
            if track >= 0 and poses.scores[i] >= sc.MIN_SCORE and np.isfinite(feet[i]).all():
                paths.setdefault(int(track), {})[frame.index] = feet[i]
    return paths


def track_spread(tracked, camera, lag: int) -> float:
    """Robust std of log speed about each track's median over ``lag`` frame windows, the
    people's feet cast onto the ground (`FOOT_HEIGHT_M` above it) with ``camera``."""
    paths = feet_by_track(tracked, camera)
    deviations = []
    for path in paths.values():
        speed = np.array(
            [np.linalg.norm(path[f + lag] - p) for f, p in path.items() if f + lag in path]
        )
        middle = float(np.median(speed)) if len(speed) else 0.0
        speed = speed[speed > 0.4 * middle]  # moving: not the stops
        if len(speed) < 5 or middle * bench.FPS / lag < 0.2:
            continue
        deviations.append(np.log(speed) - np.median(np.log(speed)))
    return robust_std(np.concatenate(deviations), 0.0) if deviations else math.nan


def row_slope(tracked, camera, lag: int = 20) -> float:
    """Least-squares slope of log speed over the image row (per image height), within
    tracks (each track's means removed), over ``lag`` frame windows of moving tracks that
    change row by 10 px or more; the feet cast onto the ground with ``camera``."""
    height = bench.SIZE[0]
    paths: dict[int, dict[int, tuple[np.ndarray, float]]] = {}
    for frame in tracked:
        poses = frame.poses
        if poses is None or not len(poses):
            continue
        feet = np.asarray(poses.kp2d, np.float64)[:, list(ANKLES)].mean(axis=1)  # (N, 2)
        ground = on_ground(camera, feet, sc.FOOT_HEIGHT_M[0])
        for i, track in enumerate(np.asarray(poses.track_id)):
            if track >= 0 and poses.scores[i] >= sc.MIN_SCORE:
                paths.setdefault(int(track), {})[frame.index] = (ground[i], feet[i, 1])
    rows, logs = [], []
    for path in paths.values():
        pairs = np.array([(np.linalg.norm(path[f + lag][0] - p[0]), (p[1] + path[f + lag][1]) / 2)
                          for f, p in path.items() if f + lag in path]).reshape(-1, 2)  # fmt: skip
        if len(pairs) < 5 or np.median(pairs[:, 0]) * bench.FPS / lag < 0.3:
            continue
        pairs = pairs[pairs[:, 0] > 0.4 * np.median(pairs[:, 0])]
        if len(pairs) < 5 or np.ptp(pairs[:, 1]) < 10:
            continue
        rows.append((pairs[:, 1] - pairs[:, 1].mean()) / height)
        logs.append(np.log(pairs[:, 0]) - np.log(pairs[:, 0]).mean())
    if not rows:
        return math.nan
    x, y = np.concatenate(rows), np.concatenate(logs)
    return float((x * y).sum() / (x * x).sum())


def track_speed(clips, data) -> None:
    """Speed constancy along tracks along the valley of focal lengths; speed against the
    image row at the true camera and at its pitch +- 4 degrees."""
    width, height = bench.SIZE[1], bench.SIZE[0]
    hits = dict.fromkeys(LAGS, 0)
    for clip in clips:
        obs, names = first_observations(clip, data[clip.name])
        true_f = bench.true_camera(clip).intrinsics.fx
        fit = sc.fit_camera(obs, names, width, height)
        frames = data[clip.name][:FIRST_FRAMES]
        tracked, _ = bench.run_stages(frames, {"camera_file": str(clip.camera)})
        spreads = np.zeros((len(LAGS), len(FOCAL_RATIOS)))
        for k, ratio in enumerate(FOCAL_RATIOS):
            e = sc.fit_camera(obs, names, width, height, focal_px=ratio * true_f)
            for j, lag in enumerate(LAGS):
                spreads[j, k] = track_spread(tracked, e.camera, lag)
        best = [FOCAL_RATIOS[int(np.nanargmin(row))] for row in spreads]
        for lag, ratio in zip(LAGS, best, strict=True):
            hits[lag] += 0.8 <= ratio <= 1.25
        print(f"{clip.name:<24} fit's focal / truth {fit.intrinsics.fx / true_f:.2f}; the "
              f"smallest spread at focal / truth {best} for lags {list(LAGS)} frames")  # fmt: skip
        true = bench.true_camera(clip)
        slopes = [
            row_slope(tracked, sc.ground_camera(true.intrinsics, clip.height_m, clip.pitch_deg + d))
            for d in (-4.0, 0.0, 4.0)
        ]
        print(f"{'':<24} log speed over the row (per image height), within tracks: "
              f"{slopes[1]:+.2f} at the true camera, {slopes[0]:+.2f} / {slopes[2]:+.2f} with its "
              f"pitch 4 degrees less / more")  # fmt: skip
    print(f"clips whose smallest spread is within 0.8-1.25 of the true focal length, by lag: "
          f"{hits} of {len(clips)}")  # fmt: skip


def soft_l1(residual: np.ndarray) -> np.ndarray:
    return 2 * (np.sqrt(1 + residual**2) - 1)


def cue_costs(model, obs, names, focal_px: float, column_free: bool) -> tuple[float, float]:
    """Summed soft-l1 cost of the height rows and of the lean rows at the best camera with
    this focal length (no lens prior)."""
    width, height = bench.SIZE[1], bench.SIZE[0]
    e = sc.fit_camera(obs, names, width, height, focal_px=focal_px, fov_prior=None,
                      fit_column=column_free)  # fmt: skip
    x = sc._start_vector(e, sc.SHIPPED_TILT, math.log(focal_px / width))
    x[5] = e.column_tilt
    cost = soft_l1(model.residuals(x[None])[0].reshape(model.rows_per_observation, len(obs)))
    return float(cost[0::2].sum()), float(cost[1::2].sum())


def profile(clips, data) -> None:
    """Which cue prefers which lens, clip by clip (see the module docstring)."""
    width, height = bench.SIZE[1], bench.SIZE[0]
    truth = PROFILE_RATIOS.index(1.0)
    for clip in clips:
        obs, names = first_observations(clip, data[clip.name])
        true_f = bench.true_camera(clip).intrinsics.fx
        model = sc._Model(obs, names, width, height, None, sc.SHIPPED_TILT)
        fit = sc.fit_camera(obs, names, width, height)
        print(f"{clip.name:<22} {len(np.unique(obs.group)):3d} groups; fit fov "
              f"{100 * (fit.fov_deg / clip.fov_deg - 1):+6.1f} %, sigma {fit.fov_sigma_deg:4.1f} "
              f"deg, from the people alone {fit.fov_people_sigma_deg:4.1f} deg")  # fmt: skip
        modes = [False] + ([True] if clip.pitch_deg <= sc.FIT_COLUMN_BELOW_PITCH_DEG else [])
        for column_free in modes:
            costs = np.array([cue_costs(model, obs, names, r * true_f, column_free)
                              for r in PROFILE_RATIOS])  # fmt: skip
            costs -= costs[truth]
            label = "column free " if column_free else "column fixed"
            print(f"{'':<4}{label} focal / truth {list(PROFILE_RATIOS)}: height "
                  f"{np.round(costs[:, 0], 1).tolist()}, lean {np.round(costs[:, 1], 1).tolist()}; "
                  f"both smallest at {PROFILE_RATIOS[int(np.argmin(costs.sum(1)))]:g}")  # fmt: skip


def motion(clips, data, lag: int = 20) -> None:
    """Log speed against the direction of the walk along the valley of focal lengths."""
    width, height = bench.SIZE[1], bench.SIZE[0]
    for clip in clips:
        obs, names = first_observations(clip, data[clip.name])
        true_f = bench.true_camera(clip).intrinsics.fx
        frames = data[clip.name][:FIRST_FRAMES]
        tracked, _ = bench.run_stages(frames, {"camera_file": str(clip.camera)})
        paths = feet_by_track(tracked)
        pairs = [(path[f], path[f + lag]) for path in paths.values() for f in path
                 if f + lag in path]  # fmt: skip
        start = np.array([p[0] for p in pairs]).reshape(-1, 2)
        end = np.array([p[1] for p in pairs]).reshape(-1, 2)
        slopes = []
        for ratio in PROFILE_RATIOS:
            camera = sc.fit_camera(
                obs, names, width, height, focal_px=ratio * true_f, fov_prior=None
            ).camera
            a = on_ground(camera, start, sc.FOOT_HEIGHT_M[0])  # (S, 2)
            b = on_ground(camera, end, sc.FOOT_HEIGHT_M[0])
            step = b - a
            speed = np.linalg.norm(step, axis=1) * bench.FPS / lag
            sight = a - camera.centre[:2]
            sight /= np.maximum(np.linalg.norm(sight, axis=1, keepdims=True), 1e-9)
            along = ((step * sight).sum(1) / np.maximum(speed * lag / bench.FPS, 1e-9)) ** 2
            keep = (speed > 0.4) & (speed < 4.0)
            x = along[keep] - along[keep].mean()
            y = np.log(speed[keep])
            slopes.append(float((x * (y - y.mean())).sum() / max((x * x).sum(), 1e-12)))
        print(f"{clip.name:<22} {int(keep.sum()):4d} windows; slope of log speed over the "
              f"share along the view, focal / truth {list(PROFILE_RATIOS)}: "
              f"{np.round(slopes, 2).tolist()}")  # fmt: skip


def stature_size(clips, data) -> None:
    """Within-clip slope of log implied head-top height over log pixel height."""
    found = [implied(clip, data[clip.name]) for clip in clips]
    prior = sc.HEIGHT_PRIORS["head_top"][0]
    for label, expected in (("the person's pixel height", False), ("a prior person's", True)):
        slopes = []
        for z, _, pixels, _ in found:
            log_z = np.log(z[:, 0] / prior)
            size = np.log(pixels) - (log_z if expected else 0.0)
            slopes.append(float(np.polyfit(size, log_z, 1)[0]))
        print(f"log head-top height over the log of {label}: slope per clip "
              f"{np.round(slopes, 2).tolist()}; median {np.median(slopes):+.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "mode",
        choices=("priors", "by-size", "variants", "groups", "tilt", "tilt-model", "prior",
                 "gain", "doubt", "column", "horizon", "track-speed", "profile",
                 "stature-size", "motion"),
    )  # fmt: skip
    args = parser.parse_args()
    clips = [clip for split in SPLITS for clip in bench.clips_of(split)]
    data = {clip.name: bench.detections(clip, bench.DEFAULT_MODEL) for clip in clips}
    if args.mode == "by-size":
        sc.MAX_HEIGHT_FRACTION = 1.0  # show the tall people the default leaves out
    if args.mode in ("priors", "by-size"):
        found = [implied(clip, data[clip.name]) for clip in clips]
        names = found[0][3]
        z = np.concatenate([f[0] for f in found])
        side = np.concatenate([f[1] for f in found])
        pixels = np.concatenate([f[2] for f in found])
        if args.mode == "priors":
            for j, name in enumerate(names):
                print(f"{name}: height {np.median(z[:, j]):.3f} m (robust std "
                      f"{robust_std(z[:, j]):.3f}), tilt residual robust std "
                      f"{robust_std(side[:, j], 0.0):.3f} rad, {len(z)} person-frames")  # fmt: skip
        else:
            for low, high in ((24, 35), (35, 50), (50, 70), (70, 100), (100, 150), (150, 400)):
                rows = (pixels >= low) & (pixels < high)
                print(
                    f"{low:>3}-{high:<3} px: {rows.sum():>5} person-frames, head top "
                    f"{np.median(z[rows, 0]):.3f} m (robust std {robust_std(z[rows, 0]):.3f})"
                )
        return
    if args.mode == "tilt":
        found = [tilts(clip, data[clip.name]) for clip in clips]
        for clip, (tilt, vertical, height, _) in zip(clips, found, strict=True):
            slope = float((tilt * vertical).sum() / (vertical**2).sum())
            print(f"{clip.name}: tilt gain {slope:.3f} ({len(tilt)} person-frames), head "
                  f"top {100 * (height - 1):+.1f} % over the prior")  # fmt: skip
        tilt = np.concatenate([f[0] for f in found])
        vertical = np.concatenate([f[1] for f in found])
        slopes = [float((f[0] * f[1]).sum() / (f[1] ** 2).sum()) for f in found]
        print(f"pooled tilt gain {(tilt * vertical).sum() / (vertical**2).sum():.3f}; the "
              f"clips' robust std {robust_std(np.array(slopes)):.3f}")  # fmt: skip
        tilt_model(found, [])
        return
    if args.mode == "tilt-model":
        old = sc.DetectorTilt(gain=0.9, size_slope=0.0, position=0.0, position_std=0.0)
        for label, tilt in (("gain 0.9 only (old)", old), ("DetectorTilt", sc.SHIPPED_TILT)):
            for prior in (None, sc.FOV_PRIOR):
                report(
                    f"{label}, lens prior {prior}", errors(clips, data, tilt=tilt, fov_prior=prior)
                )
        return
    if args.mode == "prior":
        for prior in (None, (60.0, 0.3), (60.0, 0.2), (60.0, 0.15), (65.0, 0.2), (70.0, 0.2)):
            report(f"lens prior {prior}", errors(clips, data, fov_prior=prior))
        return
    if args.mode == "column":
        report("column term fixed (-0.137, doubt 0.05)", errors(clips, data, fit_column=False))
        saved = sc.FIT_COLUMN_BELOW_PITCH_DEG
        for below in (12.0, 16.0, 20.0):
            sc.FIT_COLUMN_BELOW_PITCH_DEG = below
            report(f"column term fitted below {below:g} deg", errors(clips, data))
        sc.FIT_COLUMN_BELOW_PITCH_DEG = saved
        for std in (0.05, 0.03, 0.02):
            tilt = replace(sc.SHIPPED_TILT, position_std=std)
            found = errors(clips, data, fit_column=True, tilt=tilt)
            report(f"column term fitted, prior +- {std:g}", found)
            print(f"{'':<40} the fitted terms (rad per image width) per clip "
                  f"{np.round(found[:, 7], 2).tolist()}")  # fmt: skip
        return
    studies = {  # modes that print their own tables
        "horizon": horizon,
        "track-speed": track_speed,
        "profile": profile,
        "stature-size": stature_size,
        "motion": motion,
    }
    if args.mode in studies:
        studies[args.mode](clips, data)
        return
    if args.mode in ("gain", "doubt"):
        values = (0.5, 0.61, 0.7) if args.mode == "gain" else (0.15, 0.25, 0.35)
        key = "gain" if args.mode == "gain" else "gain_std"
        for value in values:
            found = errors(clips, data, tilt=replace(sc.SHIPPED_TILT, **{key: value}))
            print(f"{key} {value:g}: errors (pitch, height %, fov %) per clip "
                  f"{np.round(found[:, :3], 1).tolist()}; median |error| "
                  f"{np.round(np.median(np.abs(found[:, :3]), 0), 1).tolist()}; largest "
                  f"|error| / sigma {np.abs(found[:, 4:7]).max():.1f}")  # fmt: skip
        return
    if args.mode == "variants":
        for label, changes, options in (
            ("defaults", {}, {}),
            ("with the 3D up cue, 12 deg", {}, {"up_sigma_deg": 12.0}),
            ("lean sigma 0.13 / 0.10", {"LEAN_SIGMA": {"head_top": 0.13, "neck": 0.10}}, {}),
            ("no size cut", {"MAX_HEIGHT_FRACTION": 1.0}, {}),
        ):
            saved = {key: getattr(sc, key) for key in changes}
            for key, value in changes.items():
                setattr(sc, key, value)
            found = errors(clips, data, **options)
            for key, value in saved.items():
                setattr(sc, key, value)
            print(f"{label:<28} errors (pitch, height %, fov %, roll) per clip "
                  f"{np.round(found[:, :4], 1).tolist()}; median |error| "
                  f"{np.round(np.median(np.abs(found[:, :4]), 0), 1).tolist()}")  # fmt: skip
        return
    saved = ac.GROUP_SECONDS
    for seconds in (1.0, 10.0):
        ac.GROUP_SECONDS = seconds
        found = errors(clips, data)
        print(f"groups of {seconds:g} s: error / sigma (pitch, height, fov) per clip "
              f"{np.round(found[:, 4:7], 1).tolist()}")  # fmt: skip
    ac.GROUP_SECONDS = saved


if __name__ == "__main__":
    main()
