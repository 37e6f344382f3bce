"""Does the 3D head say more than the average body? 3DPCK and MPJPE per joint group of a
model's poses against trivial baselines on the same people of a held-out synthetic set.

    python benchmarks/pose_vs_mean.py out/data/pvm_heldout
    python benchmarks/pose_vs_mean.py out/data/pvm_heldout --model out/runs/x/last.pt --no-track
    python benchmarks/pose_vs_mean.py out/data/pvm_heldout --no-predictor --without-lifter

Make the held-out set with a seed no training config uses (configs/: 100-600; evaluation
sets 997-999; tracking clips 501-503):

    crowdpose3d synth out/data/pvm_heldout --split test=4 --frames 20 --fps 5 \\
        --width 512 --height 320 --min-people 10 --max-people 40 --seed 4242

Rows, each on the people the model found (box IoU >= 0.5 with a true person):

- ``predictor``: `Predictor` output as `crowdpose3d eval` scores it (``kp3d_rel`` times
  the true person's bone-length sum, root-relative, ground-truth scale);
- ``predictor, own size``: the same poses first rescaled to bone-length sum 1 (a pose
  that is right but too small is then right);
- ``pipeline rows``: `crowdpose3d track` (with the sequence's camera file) written to
  Parquet, read back with pandas, matched frame by frame to the truth; each row's metric
  pose minus its root, put at the true person's size (its own bone-length sum rescaled to
  the truth's);
- ``--without-lifter``: the pipeline rows again from the default pipeline without its
  ``pose_lifter`` stage (`crowdpose3d.stages.pose_lifter`), i.e. the 3D head's own poses;
- ``mean pose``: the set's oracle mean of every true person's normalised pose in camera
  axes, the same for everyone;
- ``mean pose, walking direction``: the set's mean pose in a body frame (forward = the
  true walking direction on the ground, up = the world's up), turned to each person's own
  walking direction (the plain mean pose for people slower than `MIN_WALKING_SPEED`);
- ``mean pose, ray frame``: the set's mean pose in each person's viewing-ray frame
  (`crowdpose3d.geometry.rays`), turned back along the person's own ray: what the mean
  gains when the label does not depend on where the person stands in the image.

Also printed: the mean bone-length sum of the predicted normalised poses (1 if the head
kept the training normalisation) and the spread of the predicted and true limb joints.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from crowdpose3d.core.skeleton import Skeleton, bone_lengths, normalize_pose
from crowdpose3d.engine.evaluator import load_samples
from crowdpose3d.engine.metrics import match_people
from crowdpose3d.engine.predictor import Predictor
from crowdpose3d.geometry.rays import camera_to_ray, ray_rotation, ray_to_camera
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL, default_pipeline

PCK_THRESHOLD_MM = 150.0  # the paper's 3DPCK threshold
MIN_WALKING_SPEED = 0.2  # m/s: slower people have no walking direction
TORSO_GROUPS = ("head", "neck", "clavicles", "spines", "hips")
LIMB_GROUPS = ("shoulders", "elbows", "wrists", "knees", "ankles")


def joint_sets(skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Column sets of the table: torso, limbs, all -> joint indices."""
    groups = dict(skeleton.groups)
    return {
        "torso": np.array(sorted(j for g in TORSO_GROUPS for j in groups[g])),
        "limbs": np.array(sorted(j for g in LIMB_GROUPS for j in groups[g])),
        "all": np.arange(skeleton.num_joints),
    }


class People:
    """Every true person of the set: normalised pose, scale, ray and walking frames."""

    def __init__(self, samples, skeleton: Skeleton, fps: float) -> None:
        self.skeleton = skeleton
        rows = []  # per person: (sample index, person index)
        poses, scales, valid, rays, ups, roots = [], [], [], [], [], []
        keys = []
        for s, sample in enumerate(samples):
            sample = sample.mapped_to(skeleton)
            pose, scale = normalize_pose(
                sample.kp3d.astype(np.float64), skeleton, sample.kp3d_valid
            )
            root = sample.kp3d[:, skeleton.root].astype(np.float64)  # (N, 3) metres
            camera = sample.extra.get("camera")
            up = (
                -camera.rotation[:, 2] if camera is not None else np.array([0.0, -1.0, 0.0])
            )  # world up (z) in camera axes
            root_px = sample.intrinsics.project(root)  # (N, 2)
            for i in range(len(sample)):
                rows.append((s, i))
                keys.append((sample.sequence, int(sample.person_ids[i]), sample.frame))
            poses.append(pose)
            scales.append(scale)
            valid.append(sample.kp3d_valid & (scale > 0)[:, None])
            rays.append(ray_rotation(root_px, sample.intrinsics))
            ups.append(np.repeat(up[None], len(sample), axis=0))
            roots.append(root)
        self.rows = rows
        self.index = {row: n for n, row in enumerate(rows)}
        self.pose = np.concatenate(poses)  # (P, K, 3) normalised, camera axes
        self.scale = np.concatenate(scales)  # (P,) metres
        self.valid = np.concatenate(valid)  # (P, K)
        self.ray = np.concatenate(rays)  # (P, 3, 3)
        up = np.concatenate(ups)  # (P, 3)
        self.up = up / np.linalg.norm(up, axis=1, keepdims=True)
        root = np.concatenate(roots)
        self.body, self.walking = _walking_frames(keys, root, up, fps)
        self._means()

    def _means(self) -> None:
        weight = self.valid[..., None].astype(np.float64)
        self.mean_camera = (self.pose * weight).sum(0) / np.maximum(weight.sum(0), 1)  # (K, 3)
        in_ray = camera_to_ray(self.pose, self.ray)
        self.mean_ray = (in_ray * weight).sum(0) / np.maximum(weight.sum(0), 1)
        moving = self.walking[:, None, None]
        in_body = camera_to_ray(self.pose, self.body)
        w = weight * moving
        self.mean_body = (in_body * w).sum(0) / np.maximum(w.sum(0), 1)

    def baselines(self, people: np.ndarray) -> dict[str, np.ndarray]:
        """(M,) person rows -> name: (M, K, 3) normalised baseline poses, camera axes."""
        m = len(people)
        turned = ray_to_camera(np.repeat(self.mean_body[None], m, 0), self.body[people])
        walking = self.walking[people][:, None, None]
        plain = np.repeat(self.mean_camera[None], m, 0)
        return {
            "mean pose": plain,
            "mean pose, walking direction": np.where(walking, turned, plain),
            "mean pose, ray frame": ray_to_camera(
                np.repeat(self.mean_ray[None], m, 0), self.ray[people]
            ),
        }


def _walking_frames(keys, root, up, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per person: (P, 3, 3) body frame (columns right, down, forward in camera axes) and
    (P,) bool, walking (speed >= MIN_WALKING_SPEED). Velocity: central differences of the
    true root over the neighbouring frames of the same person."""
    by_person = defaultdict(dict)
    for n, (sequence, person, frame) in enumerate(keys):
        by_person[(sequence, person)][frame] = n
    frame_time = 1.0 / fps
    body = np.repeat(np.eye(3)[None], len(keys), 0)
    walking = np.zeros(len(keys), dtype=bool)
    for frames in by_person.values():
        for frame, n in frames.items():
            before = frames.get(frame - 1, n)
            after = frames.get(frame + 1, n)
            steps = (frame + 1 if after != n else frame) - (frame - 1 if before != n else frame)
            if steps == 0:
                continue
            velocity = (root[after] - root[before]) / (steps * frame_time)
            u = up[n] / np.linalg.norm(up[n])
            velocity = velocity - (velocity @ u) * u  # on the ground plane
            speed = np.linalg.norm(velocity)
            if speed < MIN_WALKING_SPEED:
                continue
            forward = velocity / speed
            down = -u
            right = np.cross(down, forward)  # right-handed (right, down, forward)
            body[n] = np.stack((right, down, forward), axis=1)
            walking[n] = True
    return body, walking


def scores(
    predicted: np.ndarray, people: np.ndarray, truth: People, sets: dict[str, np.ndarray]
) -> dict[str, float]:
    """3DPCK (%) and MPJPE (mm) per joint set of (M, K, 3) normalised predictions."""
    scale = truth.scale[people][:, None]
    error = np.linalg.norm(predicted - truth.pose[people], axis=-1) * scale * 1000.0  # (M, K)
    valid = truth.valid[people]
    out = {}
    for name, joints in sets.items():
        e, v = error[:, joints], valid[:, joints]
        out[f"{name} pck"] = 100.0 * float((np.round(e, 3) < PCK_THRESHOLD_MM)[v].mean())
        out[f"{name} mpjpe"] = float(e[v].mean())
    return out


def predictor_rows(model: str, samples, truth: People) -> tuple[np.ndarray, np.ndarray]:
    """Matched (M,) person rows and (M, K, 3) normalised predicted poses."""
    predictor = Predictor.from_spec(model, device="cpu", score_threshold=0.3)
    people, poses = [], []
    for s in range(0, len(samples), predictor.batch_size):
        batch = [samples[i] for i in range(s, min(s + predictor.batch_size, len(samples)))]
        intrinsics = [sample.intrinsics for sample in batch]
        outputs = predictor([sample.image for sample in batch], intrinsics=intrinsics)
        for offset, (found, sample) in enumerate(zip(outputs, batch, strict=True)):
            matches = match_people(found.boxes, found.scores, sample.boxes)
            for p in np.flatnonzero(matches >= 0):
                people.append(truth.index[(s + offset, int(matches[p]))])
                poses.append(found.kp3d_rel[p])
    return np.array(people, dtype=np.int64), np.array(poses, dtype=np.float64)


def pipeline_rows(
    model: str, root: Path, samples, truth: People, work: Path, skip_stages: tuple = ()
) -> tuple[np.ndarray, np.ndarray]:
    """`crowdpose3d track` on every test video (or, with ``skip_stages``, the default
    pipeline without those stages via `crowdpose3d run`), read back from Parquet, matched
    to the truth -> (M,) person rows and (M, K, 3) poses at bone-length sum 1."""
    skeleton = truth.skeleton
    names = skeleton.joints
    by_frame = {
        (sample.sequence.split("/")[-1], sample.frame): s for s, sample in enumerate(samples)
    }
    people, poses = [], []
    for video in sorted((root / "videos" / "test").glob("seq_*.mp4")):
        out = work / video.stem
        camera = root / "cameras" / "test" / f"{video.stem}.json"
        if skip_stages:
            # The default pipeline without some stages, as a pipeline file for `run`.
            lift = {"camera_file": str(camera)}
            data = default_pipeline(str(video), str(out), model, camera=lift)
            data["stages"] = [s for s in data["stages"] if s["type"] not in skip_stages]
            pipeline = work / f"{video.stem}.yaml"
            pipeline.write_text(yaml.safe_dump(data))
            command = [sys.executable, "-m", "crowdpose3d.cli", "run", str(pipeline)]
        else:
            command = [
                sys.executable, "-m", "crowdpose3d.cli", "track", str(video), "-o", str(out),
                "--model", model, "--camera", str(camera),
            ]  # fmt: skip
        subprocess.run([*command, "--quiet", "--overwrite"], check=True)
        table = pd.read_parquet(out)
        for frame, rows in table.groupby("frame"):
            s = by_frame.get((video.stem, int(frame) + 1))  # annotation frames count from 1
            if s is None:
                continue
            sample = samples[s]
            boxes = rows[["box_x1", "box_y1", "box_x2", "box_y2"]].to_numpy(float)
            matches = match_people(boxes, rows["score"].to_numpy(float), sample.boxes)
            xyz = np.stack(
                [rows[[f"{j}_x", f"{j}_y", f"{j}_z"]].to_numpy(float) for j in names], axis=1
            )  # (R, K, 3) metres
            normalised, scale = normalize_pose(xyz, skeleton)
            for p in np.flatnonzero((matches >= 0) & (scale > 0)):
                people.append(truth.index[(s, int(matches[p]))])
                poses.append(normalised[p])
    return np.array(people, dtype=np.int64), np.array(poses, dtype=np.float64).reshape(
        -1, skeleton.num_joints, 3
    )


def lateral_angles(poses: np.ndarray, up: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(M, K, 3) poses, (M, 3) up -> (M,) heading (rad) of the right-to-left axis of the
    shoulders and hips on the ground plane (NaN where it has no length)."""
    joints = skeleton.joints
    left = [joints.index(n) for n in ("left_shoulder", "left_hip")]
    right = [joints.index(n) for n in ("right_shoulder", "right_hip")]
    axis = poses[:, left].sum(1) - poses[:, right].sum(1)  # (M, 3)
    axis = axis - (axis * up).sum(1, keepdims=True) * up
    # Two fixed directions on each person's ground plane: a = camera x made horizontal.
    a = np.array([1.0, 0.0, 0.0]) - up[:, :1] * up
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(up, a)
    angle = np.arctan2((axis * b).sum(1), (axis * a).sum(1))
    return np.where(np.linalg.norm(axis, axis=1) > 1e-9, angle, np.nan)


def heading_line(predicted: np.ndarray, people: np.ndarray, truth: People) -> str:
    """How the predicted body orientation compares with the truth's: the share of people
    within 45 degrees, within 45 degrees of the opposite (front and back swapped), and
    in between (a quarter turn off)."""
    up = truth.up[people]
    diff = lateral_angles(predicted, up, truth.skeleton) - lateral_angles(
        truth.pose[people], up, truth.skeleton
    )
    diff = np.abs((diff + np.pi) % (2 * np.pi) - np.pi)  # [0, pi]
    diff = diff[np.isfinite(diff)]
    right = 100.0 * (diff < np.pi / 4).mean()
    flipped = 100.0 * (diff > 3 * np.pi / 4).mean()
    return (
        f"body orientation (shoulder and hip axis on the ground): {right:.0f} % within 45 deg "
        f"of the truth, {flipped:.0f} % turned round (front and back swapped), "
        f"{100 - right - flipped:.0f} % a quarter turn off"
    )


def spread(poses: np.ndarray, joints: np.ndarray, scale: np.ndarray) -> float:
    """Mean over limb joints of the per-axis standard deviation across people, mm."""
    metres = poses[:, joints] * scale[:, None, None]
    return float(metres.std(axis=0).mean() * 1000.0)


def print_block(title: str, rows: dict[str, dict[str, float]], count: int) -> None:
    print(f"\n{title} ({count} matched people)")
    columns = [f"{s} {m}" for s in ("torso", "limbs", "all") for m in ("pck", "mpjpe")]
    print(f"{'':34}" + "".join(f"{c:>14}" for c in columns))
    for name, values in rows.items():
        print(f"{name:34}" + "".join(f"{values[c]:>14.1f}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="held-out set (JTA layout, split test)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--frame-step", type=int, default=1)
    parser.add_argument("--no-track", action="store_true", help="skip the pipeline rows")
    parser.add_argument(
        "--no-predictor", action="store_true", help="skip the predictor rows (pipeline only)"
    )
    parser.add_argument(
        "--without-lifter",
        action="store_true",
        help="also score the pipeline without its pose_lifter stage (the 3D head's poses)",
    )
    args = parser.parse_args()

    samples = load_samples(args.data, split="test", frame_step=args.frame_step)
    samples = [samples[i] for i in range(len(samples))]
    predictor_probe = Predictor.from_spec(args.model, device="cpu")
    skeleton = predictor_probe.skeleton
    del predictor_probe
    camera_files = sorted((args.data / "cameras" / "test").glob("seq_*.json"))
    fps = json.loads(camera_files[0].read_text()).get("fps", 5.0) if camera_files else 5.0
    truth = People(samples, skeleton, fps / args.frame_step)
    sets = joint_sets(skeleton)
    print(
        f"{args.data}: {len(samples)} frames, {len(truth.rows)} people "
        f"({truth.walking.mean() * 100:.0f} % walking); model {args.model}"
    )

    if not args.no_predictor:
        predictor_block(args.model, samples, truth, sets)
    variants = [("Pipeline (crowdpose3d track, Parquet)", ())]
    if args.without_lifter:
        variants.append(("Pipeline without the pose_lifter stage", ("pose_lifter",)))
    for title, skip in variants if not args.no_track else ():
        with tempfile.TemporaryDirectory(prefix="pose_vs_mean_") as work:
            people, poses = pipeline_rows(args.model, args.data, samples, truth, Path(work), skip)
        rows = {"pipeline rows": scores(poses, people, truth, sets)}
        for name, baseline in truth.baselines(people).items():
            rows[name] = scores(baseline, people, truth, sets)
        print_block(title, rows, len(people))
        print(heading_line(poses, people, truth))


def predictor_block(model: str, samples, truth: People, sets: dict[str, np.ndarray]) -> None:
    """The Predictor table, its size and spread line and its orientation line."""
    skeleton = truth.skeleton
    people, predicted = predictor_rows(model, samples, truth)
    own = predicted / np.maximum(bone_lengths(predicted, skeleton).sum(-1), 1e-9)[:, None, None]
    rows = {"predictor": scores(predicted, people, truth, sets)}
    rows["predictor, own size"] = scores(own, people, truth, sets)
    for name, baseline in truth.baselines(people).items():
        rows[name] = scores(baseline, people, truth, sets)
    print_block("Predictor", rows, len(people))
    limbs = sets["limbs"]
    scale = truth.scale[people]
    bone_sum = bone_lengths(predicted, skeleton).sum(-1).mean()
    print(
        f"predicted bone-length sum: mean {bone_sum:.3f} (training normalises to 1); limb "
        f"spread across people: predicted {spread(predicted, limbs, scale):.0f} mm, "
        f"true {spread(truth.pose[people], limbs, scale):.0f} mm; the set's mean pose has "
        f"bone-length sum {bone_lengths(truth.mean_camera, skeleton).sum():.3f} (camera axes) "
        f"and {bone_lengths(truth.mean_body, skeleton).sum():.3f} (walking frame)"
    )

    print(heading_line(predicted, people, truth))


if __name__ == "__main__":
    main()
