"""The synthetic crowd generator: geometry, occlusion flags, ids, gait, JTA files, CLI."""

import itertools
import json
import subprocess
import sys

import av
import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22, bone_lengths
from crowdpose3d.data.synth import (
    SynthConfig,
    generate_dataset,
    generate_sequence,
    parse_split,
    sequence_numbers,
)
from crowdpose3d.data.synth.motion import GaitInput, pose_bodies
from crowdpose3d.data.synth.solids import HULL_PARTS, JOINT_PARTS
from crowdpose3d.geometry.camera import Camera

SMALL = SynthConfig(num_frames=12, width=320, height=192, min_people=8, max_people=12)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny dataset written twice with the same seed and once with another."""
    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(num_frames=12, width=320, height=192, min_people=6, max_people=10,
                         vehicles=True)  # fmt: skip
    splits = {"train": 2, "val": 1, "test": 1}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        generate_dataset(root / name, config, splits, seed=seed)
    return root, config


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------------- files
def test_layout_and_numbering_follow_jta(dataset):
    root, _ = dataset
    expected = []
    for split, number in (("train", 0), ("train", 1), ("test", 2), ("val", 3)):
        for kind, ext in (("videos", "mp4"), ("annotations", "json"), ("cameras", "json")):
            expected.append(f"{kind}/{split}/seq_{number}.{ext}")
    assert sorted(map(str, _files(root / "a"))) == sorted(expected)
    # JTA: train 0..255, then test even / val odd from 256.
    numbers = sequence_numbers({"train": 256, "val": 128, "test": 128})
    assert numbers[256] == ("test", 256) and numbers[257] == ("val", 257)
    assert numbers[-1] == ("val", 511)
    assert parse_split("train=6,val=1,test=1") == {"train": 6, "val": 1, "test": 1}
    with pytest.raises(ValueError, match="bad split"):
        parse_split("train:6")


def test_same_seed_same_files_other_seed_differs(dataset):
    root, _ = dataset
    for path in _files(root / "a"):
        assert (root / "a" / path).read_bytes() == (root / "b" / path).read_bytes(), path
    differ = [
        p
        for p in _files(root / "a")
        if (root / "a" / p).read_bytes() != (root / "c" / p).read_bytes()
    ]
    assert len(differ) == len(_files(root / "a"))


def test_rows_format(dataset):
    root, config = dataset
    rows = json.loads((root / "a/annotations/train/seq_0.json").read_text())
    table = np.array(rows, dtype=np.float64)
    assert table.ndim == 2 and table.shape[1] == 10
    frames = table[:, 0].astype(int)
    assert frames.min() == 1 and frames.max() == config.num_frames
    assert np.all(np.diff(frames) >= 0)
    for row in rows[:44]:
        assert all(isinstance(v, int) for v in (row[0], row[1], row[2], row[8], row[9]))
    # Per (frame, person): the 22 joint types in order.
    types = table[:, 2].astype(int).reshape(-1, 22)
    assert np.all(types == np.arange(22))
    assert set(np.unique(table[:, 8:10])) <= {0.0, 1.0}
    assert not np.any((table[:, 8] == 1) & (table[:, 9] == 1))


def test_2d_is_projection_of_3d_with_camera_file(dataset):
    root, _ = dataset
    for split, number in (("train", 0), ("val", 3)):
        rows = np.array(json.loads((root / f"a/annotations/{split}/seq_{number}.json").read_text()))
        cam = json.loads((root / f"a/cameras/{split}/seq_{number}.json").read_text())
        camera = Camera.from_dict(cam)
        assert cam["fps"] == 30 and cam["num_frames"] == 12 and "settings" in cam
        front = rows[:, 7] > 0.05
        projected = camera.intrinsics.project(rows[front, 5:8])
        assert np.abs(projected - rows[front, 3:5]).max() < 0.5
        # Every listed person has a joint inside the image in that frame.
        inside = (rows[:, 7] > 0) & (rows[:, 3] >= -0.5) & (rows[:, 3] <= 319.5) & (
            rows[:, 4] >= -0.5) & (rows[:, 4] <= 191.5)  # fmt: skip
        assert inside.reshape(-1, 22).any(axis=1).all()


def test_video_decodes_to_frame_count_and_size(dataset):
    root, config = dataset
    with av.open(str(root / "a/videos/test/seq_2.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == config.num_frames
    assert frames[0].shape == (config.height, config.width, 3)
    assert frames[0].std() > 10  # a picture, not a flat colour


# ---------------------------------------------------------------------- in memory
def test_in_memory_frames_match_and_counts_respect_arguments():
    frames = list(generate_sequence(SMALL, 11))
    assert [f.frame for f in frames] == list(range(1, 13))
    for frame in frames:
        assert frame.image.shape == (192, 320, 3) and frame.image.dtype == np.uint8
        assert SMALL.min_people <= frame.population <= SMALL.max_people
        assert len(frame.person_ids) <= SMALL.max_people
        assert frame.joints2d.shape == (len(frame.person_ids), 22, 2)
    assert np.mean([len(f.person_ids) for f in frames]) >= 0.5 * SMALL.min_people
    empty = list(generate_sequence(SynthConfig(num_frames=3, width=64, height=48, min_people=0,
                                               max_people=0), 1))  # fmt: skip
    assert all(len(f.person_ids) == 0 for f in empty)


def test_ids_persist_and_are_never_reused():
    # 4 fps: 100 frames are 25 s, long enough for people to leave and others to arrive.
    config = SynthConfig(num_frames=100, fps=4, width=160, height=96, min_people=10,
                         max_people=10, distance_range_m=(2.0, 12.0), run_fraction=0.5)  # fmt: skip
    seen_ids: set[int] = set()
    gone: set[int] = set()
    previous: dict[int, np.ndarray] = {}
    arrivals = 0
    for frame in generate_sequence(config, 1):
        ids = set(frame.solid_ids.tolist())
        assert not ids & gone, "an id came back"
        new = ids - seen_ids
        if seen_ids:
            arrivals += len(new)
            assert all(i > max(seen_ids) for i in new), "new people get new, larger ids"
        gone |= seen_ids - ids
        seen_ids |= ids
        # The same id is the same body: its root moves little between frames (<= 4.5 m/s).
        roots = dict(zip(frame.solid_ids.tolist(), frame.solids.centres[:, 4, 0], strict=True))
        for pid, root in roots.items():
            if pid in previous:
                assert np.linalg.norm(root - previous[pid]) < 4.5 / config.fps + 0.3
        previous = roots
    assert arrivals > 0 and gone


def test_people_span_near_and_far():
    config = SynthConfig(num_frames=1, width=320, height=192, min_people=30, max_people=30)
    heights = []
    for seed in range(8):
        frame = next(iter(generate_sequence(config, seed)))
        heights.extend(np.ptp(frame.joints2d[..., 1], axis=1) / config.height)
        assert (frame.joints3d[..., 2] > 0).any()
    assert min(heights) < 0.08 and max(heights) > 0.5


# ---------------------------------------------------------------------- occlusion
def _segment_distance(p0, p1, q0, q1):
    """Distance between segments p0-p1 (broadcast) and q0-q1 (C, 3), and the q parameter."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
    denom = a * e - b * b
    s = np.where(
        denom > 1e-12, np.clip((b * f - c * e) / np.where(denom > 1e-12, denom, 1), 0, 1), 0
    )
    t = np.where(e > 1e-12, (b * s + f) / np.where(e > 1e-12, e, 1), 0)
    s = np.where(t < 0, np.clip(-c / a, 0, 1), np.where(t > 1, np.clip((b - c) / a, 0, 1), s))
    t = np.clip(t, 0, 1)
    gap = (p0 + d1 * s[..., None]) - (q0 + d2 * t[..., None])
    return np.linalg.norm(gap, axis=-1), t


def _capsules(solids):
    """Body parts as capsules (owner row, part, a, b, ra, rb): a slab as its sphere pairs."""
    out = []
    for i, p in itertools.product(range(solids.centres.shape[0]), range(solids.centres.shape[1])):
        c, r = solids.centres[i, p], solids.radii[i, p]
        if p in HULL_PARTS:
            pts = [*c, (c[0] + c[1]) / 2, (c[2] + c[3]) / 2]
            rad = [*r, (r[0] + r[1]) / 2, (r[2] + r[3]) / 2]
            for x, y in [*itertools.combinations(range(4), 2), (4, 5)]:
                out.append((i, p, pts[x], pts[y], rad[x], rad[y]))
        else:
            out.append((i, p, c[0], c[2], r[0], r[2]))
    return out


def _ray_hits_box(end, corners):
    """Does the segment from the camera centre to `end` cross the box (8 corners)?"""
    origin = corners[0]
    axes = np.stack((corners[4] - origin, corners[2] - origin, corners[1] - origin), axis=1)
    inverse = np.linalg.inv(axes)
    start, direction = inverse @ -origin, inverse @ end
    low, high = 0.0, 1.0
    for k in range(3):
        if abs(direction[k]) < 1e-12:
            if not 0 <= start[k] <= 1:
                return False
            continue
        t0, t1 = sorted(((0 - start[k]) / direction[k], (1 - start[k]) / direction[k]))
        low, high = max(low, t0), min(high, t1)
    return low <= high


def test_occlusion_flags_agree_with_an_independent_ray_cast():
    """Cast a 3D ray from the camera to each joint against every solid (capsules, boxes):
    hit by someone else's part or a vehicle = occluded; hit first by a part of its own
    body that the joint does not lie in = self-occluded. The generator instead reads a
    painter's-algorithm label image; the two must mostly agree on well-resolved people."""
    config = SynthConfig(num_frames=2, width=464, height=288, min_people=25, max_people=25,
                         distance_range_m=(2.0, 20.0), camera_height_m=(1.5, 4.0),
                         vehicles=True)  # fmt: skip
    counts = np.zeros((2, 2, 2), int)  # [flag kind, flagged, expected]
    for seed in range(3):
        sequence = generate_sequence(config, seed)
        k = sequence.camera.intrinsics
        for frame in sequence:
            caps = _capsules(frame.solids)
            owner = np.array([c[0] for c in caps])
            part = np.array([c[1] for c in caps])
            a, b = np.array([c[2] for c in caps]), np.array([c[3] for c in caps])
            ra, rb = np.array([c[4] for c in caps]), np.array([c[5] for c in caps])
            row_of = {pid: i for i, pid in enumerate(frame.solid_ids.tolist())}
            for n, pid in enumerate(frame.person_ids.tolist()):
                if np.ptp(frame.joints2d[n, :, 1]) < 60:
                    continue  # pixel-sized limbs cannot settle self-occlusion
                me = row_of[pid]
                for j in range(22):
                    joint = frame.joints3d[n, j]
                    u, v = np.round(frame.joints2d[n, j])
                    if joint[2] <= 0 or not (0 <= u < k.width and 0 <= v < k.height):
                        continue
                    # Stop 5 cm short of the joint: the joint's own surface is not a cover.
                    end = joint * (1 - 0.05 / np.linalg.norm(joint))
                    dist, t = _segment_distance(np.zeros(3), end, a, b)
                    hit = dist < ra + t * (rb - ra)
                    other = (hit & (owner != me)).any() or any(
                        _ray_hits_box(end, box) for box in frame.vehicle_corners
                    )
                    own = (hit & (owner == me) & ~np.isin(part, JOINT_PARTS[j])).any()
                    counts[0, int(frame.occluded[n, j]), int(other)] += 1
                    counts[1, int(frame.self_occluded[n, j]), int(own and not other)] += 1
    total = counts[0].sum()
    assert total > 500
    occluded_agree = (counts[0, 0, 0] + counts[0, 1, 1]) / total
    self_agree = (counts[1, 0, 0] + counts[1, 1, 1]) / total
    assert counts[0, 1, 1] > 30 and counts[1, 1, 1] > 30  # both kinds really happen
    assert occluded_agree > 0.93, counts[0]
    assert self_agree > 0.88, counts[1]


# ---------------------------------------------------------------------- gait
def _gait(run: float, phases: np.ndarray):
    shape = {  # an average 1.75 m adult
        "stature": 1.75, "hip_height": 0.93, "thigh": 0.43, "shin": 0.43, "ankle_height": 0.07,
        "foot": 0.26, "hip_half_width": 0.09, "spine": 0.55, "neck_to_head": 0.12,
        "shoulder_half_width": 0.19, "upper_arm": 0.3, "forearm": 0.26, "hand": 0.1,
        "head_radius": 0.11, "neck_radius": 0.05, "torso_radius": 0.11,
        "upper_arm_radius": 0.05, "forearm_radius": 0.04, "thigh_radius": 0.08,
        "shin_radius": 0.055, "foot_radius": 0.04,
    }  # fmt: skip
    n = len(phases)
    speed = 1.35 if run == 0 else 3.5
    frequency = 0.9 if run == 0 else 1.4
    gait = GaitInput(
        phase=phases, stride=np.full(n, speed / frequency), walk=np.ones(n), run=np.full(n, run),
        time=phases / frequency, head_yaw=np.zeros(n), style=np.full(n, 0.5),
    )  # fmt: skip
    return pose_bodies({k: np.full(n, v) for k, v in shape.items()}, gait)


@pytest.mark.parametrize("run", [0.0, 1.0])
def test_gait_alternates_and_keeps_bone_lengths(run):
    phases = np.linspace(0, 1, 60, endpoint=False)
    pose = _gait(run, phases)
    joints = pose.joints  # (T, 22, 3), body frame: y forward, z up
    ahead = joints[:, 18, 1] - joints[:, 21, 1]  # right ankle ahead of the left
    assert ahead.max() > 0.2 and ahead.min() < -0.2
    assert np.count_nonzero(np.diff(np.sign(ahead))) == 2  # twice per cycle
    # Opposite arm swing: the right wrist is forward when the left foot is.
    wrist_ahead = joints[:, 6, 1] - joints[:, 10, 1]
    assert np.corrcoef(wrist_ahead, ahead)[0, 1] < -0.7
    # Knees bend more in swing than in stance, feet touch the ground, head bobs.
    lengths = bone_lengths(joints, JTA22)
    assert np.ptp(lengths, axis=0).max() < 1e-9
    feet_low = np.minimum(pose.heels[..., 2], pose.toes[..., 2]).min(axis=1) - 0.04
    head_bob = np.ptp(joints[:, 1, 2])
    assert 0.01 < head_bob < 0.15
    if run:
        assert feet_low.max() > 0.02  # a flight phase: both feet off the ground
    else:
        assert np.abs(feet_low).max() < 1e-9  # walking: always a foot on the ground


# ---------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "crowdpose3d.cli", "synth", *args], capture_output=True, text=True
    )


def test_cli_writes_and_refuses_a_non_empty_directory(tmp_path):
    out = tmp_path / "out"
    args = [str(out), "--frames", "3", "--width", "96", "--height", "64", "--max-people", "3",
            "--min-people", "1", "--split", "train=1,test=1"]  # fmt: skip
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    assert (out / "videos/test/seq_1.mp4").is_file()
    again = _cli(*args)
    assert again.returncode == 2
    assert again.stderr.startswith("crowdpose3d: ") and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert _cli(*args, "--overwrite").returncode == 0
    bad = _cli(str(tmp_path / "x"), "--min-people", "9", "--max-people", "2")
    assert bad.returncode == 2 and bad.stderr.startswith("crowdpose3d: ")
    assert "Traceback" not in bad.stderr


def test_resume_keeps_finished_sequences_and_workers_give_the_same_files(tmp_path):
    config = SynthConfig(num_frames=3, width=96, height=64, min_people=1, max_people=3)
    splits = {"train": 3}
    generate_dataset(tmp_path / "one", config, splits, seed=2)
    generate_dataset(tmp_path / "two", config, splits, seed=2, workers=2)
    for path in _files(tmp_path / "one"):
        assert (tmp_path / "one" / path).read_bytes() == (tmp_path / "two" / path).read_bytes()

    # An interrupted run: one sequence missing, one half-written. --resume completes it
    # and leaves the finished sequence untouched.
    root = tmp_path / "two"
    (root / "videos/train/seq_2.mp4").unlink()
    (root / "annotations/train/seq_1.json").rename(root / "annotations/train/seq_1.json.partial")
    kept = root / "videos/train/seq_0.mp4"
    before = kept.stat().st_mtime_ns
    generate_dataset(root, config, splits, seed=2, resume=True)
    assert kept.stat().st_mtime_ns == before
    for path in _files(tmp_path / "one"):
        assert (tmp_path / "one" / path).read_bytes() == (root / path).read_bytes(), path
    with pytest.raises(FileExistsError, match="other settings or another seed"):
        generate_dataset(root, config, splits, seed=3, resume=True)


def test_mesh_renderer_without_its_extra_says_what_to_install(tmp_path, monkeypatch, capsys):
    from crowdpose3d import cli
    from crowdpose3d.data.synth import mesh_body

    mesh_body.load_body_model.cache_clear()
    monkeypatch.setitem(sys.modules, "anny", None)  # as if anny were not installed
    try:
        code = cli.main(["synth", str(tmp_path / "x"), "--renderer", "mesh", "--frames", "1",
                         "--width", "64", "--height", "48", "--min-people", "1",
                         "--max-people", "2"])  # fmt: skip
    finally:
        mesh_body.load_body_model.cache_clear()
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "pip install 'crowdpose3d[mesh]'" in err
    assert not (tmp_path / "x").exists()  # refused before writing anything
    furniture = cli.main(["synth", str(tmp_path / "y"), "--street-furniture", "--frames", "1"])
    assert furniture == 2 and "needs the mesh renderer" in capsys.readouterr().err
