"""Milliseconds per `PoseTracker.update` for crowds of 1, 10, 30 and 60 people.

Generates people walking straight lines (0.8-1.8 m/s) 4-30 m in front of a 1280x720 camera,
with box, root and scale noise, 5 % missed detections and 10 % low-score ones, each person
with an appearance descriptor (a colour of their own plus noise, as the track stage gives
the tracker from the frame), and prints the
mean and 95th-percentile time of one ``update`` per crowd size (first 10 frames excluded as
warm-up), with the people output per frame and the ids issued (people walk through each
other, so a few more ids than people is expected). Also prints what one filterpy
``KalmanFilter`` predict + update costs, the reason the tracker runs its filter batched in
numpy.

    OMP_NUM_THREADS=1 python benchmarks/tracking_speed.py
    python benchmarks/tracking_speed.py --people 60 120 --frames 600
    python benchmarks/tracking_speed.py --against fa8bece   # and that revision's tracker

``--against REV`` also times the tracker of git revision REV (its tracking/ package and
track-stage defaults, as ``tracking_peers.py --old-tracker`` loads them) on the same
frames, the two taking turns for ``ROUNDS`` rounds with each frame counting its fastest
round, and prints the ratio of the means measured in this one run, and whether the two
trackers' outputs are identical on every frame of every crowd (ids equal, boxes and
filtered roots and velocities equal to ``IDENTICAL_TOLERANCE``): a faster tracker that
tracked differently would need the held-out tracking benchmark rerun; and the same for
that revision's descriptors (their cost, and whether they are equal). The descriptors' own
cost (`appearance_descriptors` on a 1280x720 frame, in the track stage, outside ``update``)
is printed on its own line, and so is the gap filling, smoothing and backfill's
(`crowdpose3d.tracking.gap_fill`, the track stage's step after tracking; the tracker's
`track`, which also returns the detections waiting for their track's id, timed apart).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.poses import Poses
from crowdpose3d.stages.track import DEFAULT_FILL_GAPS_S, DEFAULT_SMOOTH_TRACKS_S
from crowdpose3d.tracking import KalmanFilterXYZ, PoseTracker
from crowdpose3d.tracking.appearance import APPEARANCE, DESCRIPTOR_SIZE, appearance_descriptors
from crowdpose3d.tracking.gap_fill import GAP_FILLED, GapFiller

FOCAL_PX = 1000.0
CENTRE_PX = np.array([640.0, 360.0])
FPS = 30.0
WARM_UP_FRAMES = 10
WIDTHS = (6, 8, 8, 8, 13, 10)
IMAGE_SIZE = (720, 1280)  # height, width of the camera
APPEARANCE_NOISE = 0.02  # std of a person's descriptor from frame to frame (clips: ~0.03)
ROUNDS = 5  # rounds of --against; each frame counts its fastest round
#: Largest difference of a box, filtered root or velocity coordinate for two trackers'
#: outputs to count as identical (float32 outputs: far below their rounding at 30 m).
IDENTICAL_TOLERANCE = 1e-9
#: The same for a descriptor's values in [0, 1] (float32: far below the 1/255 of a pixel).
DESCRIPTOR_TOLERANCE = 1e-6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[1, 10, 30, 60])
    parser.add_argument("--frames", type=int, default=300, help="frames per crowd (30 fps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--against", metavar="REV", help="also time the tracker of this git revision"
    )
    return parser.parse_args(argv)


def make_frames(num_people: int, num_frames: int, seed: int) -> list[Poses]:
    """Noisy detections of ``num_people`` walkers over ``num_frames`` frames."""
    rng = np.random.default_rng(seed)
    start = np.stack(
        [rng.uniform(-8, 8, num_people), np.full(num_people, 0.6), rng.uniform(4, 30, num_people)],
        axis=1,
    )  # (P, 3)
    heading = rng.uniform(0, 2 * np.pi, num_people)
    speed = rng.uniform(0.8, 1.8, num_people)
    velocity = np.stack([np.cos(heading), np.zeros(num_people), np.sin(heading)], axis=1)
    velocity *= speed[:, None]  # (P, 3)
    colours = rng.uniform(0, 1, (num_people, DESCRIPTOR_SIZE))  # (P, D) each person's own
    frames = []
    for frame in range(num_frames):
        roots = start + velocity * frame / FPS
        roots[:, 2] = np.clip(roots[:, 2], 2.0, None)
        seen = rng.random(num_people) > 0.05
        roots, n = roots[seen], int(seen.sum())
        appearance = colours[seen] + rng.normal(0, APPEARANCE_NOISE, (n, DESCRIPTOR_SIZE))
        top_left = roots + np.array([-0.25, -0.85, 0.0])
        bottom_right = roots + np.array([0.25, 0.9, 0.0])
        boxes = np.concatenate(
            [FOCAL_PX * p[:, :2] / p[:, 2:] + CENTRE_PX for p in (top_left, bottom_right)], axis=1
        )
        noise_std = np.stack([0.03 + 0.005 * roots[:, 2]] * 2 + [0.03 * roots[:, 2]], axis=1)
        frames.append(
            Poses(
                boxes=boxes + rng.normal(0, 2.0, (n, 4)),
                scores=np.where(rng.random(n) < 0.1, 0.3, 0.9),
                kp2d=np.zeros((n, 22, 2)),
                kp3d_rel=np.zeros((n, 22, 3)),
                root=roots + rng.normal(0, 1, (n, 3)) * noise_std,
                data={
                    "scale": 0.55 + rng.normal(0, 0.03, n),
                    APPEARANCE: appearance.astype(np.float32),
                },
            )
        )
    return frames


def time_tracker(frames: list[Poses], make=PoseTracker) -> tuple[np.ndarray, float, int]:
    """Milliseconds of each ``update`` after warm-up, mean people output per frame, ids used."""
    tracker = make()
    times_ms, outputs = [], []
    for frame, poses in enumerate(frames):
        start = time.perf_counter()
        out = tracker.update(poses, frame / FPS)
        times_ms.append((time.perf_counter() - start) * 1e3)
        outputs.append(len(out))
    times = np.array(times_ms[WARM_UP_FRAMES:])
    return times, float(np.mean(outputs[WARM_UP_FRAMES:])), tracker.ids_issued


def time_descriptors(frames: list[Poses], seed: int, describe=appearance_descriptors) -> np.ndarray:
    """(F,) milliseconds of ``describe`` (`appearance_descriptors`) on each frame of
    ``frames``, on a random 1280x720 image (its cost does not depend on the pixels)."""
    image = random_image(seed)
    times_ms = []
    for poses in frames:
        start = time.perf_counter()
        describe(image, poses.boxes)
        times_ms.append((time.perf_counter() - start) * 1e3)
    return np.array(times_ms)


def time_gap_filling(frames: list[Poses]) -> tuple[float, float, int, int]:
    """The track stage's steps for a file after ``update``, on ``frames``: mean
    milliseconds per frame of the tracker's `track` (``update`` with the detections waiting
    for their track's id) and of `GapFiller.push` (the stage's defaults for files: filling,
    smoothing, backfill), the rows it filled and the rows it backfilled."""
    tracker = PoseTracker()
    filler = GapFiller(DEFAULT_FILL_GAPS_S, DEFAULT_SMOOTH_TRACKS_S, backfill=True)
    track_ms, push_ms, filled = [], [], 0
    for frame, poses in enumerate(frames):
        start = time.perf_counter()
        tracked = tracker.track(poses, frame / FPS)
        track_ms.append((time.perf_counter() - start) * 1e3)
        held = Frame("speed", frame, frame / FPS, None, poses=tracked.people)
        start = time.perf_counter()
        done = filler.push(held, tracked.unnamed, tracked.named)
        push_ms.append((time.perf_counter() - start) * 1e3)
        filled += sum(int(f.poses.data[GAP_FILLED].sum()) for f in done)
    filled += sum(int(f.poses.data[GAP_FILLED].sum()) for f in filler.flush())
    track, push = (float(np.mean(ms[WARM_UP_FRAMES:])) for ms in (track_ms, push_ms))
    return track, push, filled, filler.backfilled


def random_image(seed: int) -> np.ndarray:
    """(720, 1280, 3) uint8 random pixels, for the descriptors."""
    return np.random.default_rng(seed).integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)


def time_filterpy_step(repeats: int = 2000) -> float:
    """Microseconds of one per-track filterpy predict + update (with this frame's F, Q, R)."""
    model = KalmanFilterXYZ()
    kf = model.make_filter(np.array([0.0, 0.6, 8.0]))
    z = np.array([0.05, 0.6, 8.05])
    start = time.perf_counter()
    for _ in range(repeats):
        kf.predict(F=model.transition(1 / FPS), Q=model.process_noise(1 / FPS))
        kf.update(z, R=model.measurement_noise(z[None])[0])
    return (time.perf_counter() - start) / repeats * 1e6


def same_output(a: Poses, b: Poses) -> bool:
    """Whether two trackers' outputs for a frame agree: the same ids in the same order, and
    boxes, filtered roots and velocities within ``IDENTICAL_TOLERANCE`` (NaN where NaN)."""
    if not np.array_equal(a.track_id, b.track_id):
        return False
    pairs = [(a.boxes, b.boxes)] + [
        (a.data[key], b.data[key]) for key in ("root_filtered", "velocity")
    ]
    return all(
        x.shape == y.shape and np.allclose(x, y, rtol=0, atol=IDENTICAL_TOLERANCE, equal_nan=True)
        for x, y in pairs
    )


def differing_frames(frames: list[Poses], make_ours, make_theirs) -> int:
    """How many of ``frames`` two fresh trackers answer differently (`same_output`)."""
    ours, theirs = make_ours(), make_theirs()
    return sum(
        not same_output(ours.update(poses, frame / FPS), theirs.update(poses, frame / FPS))
        for frame, poses in enumerate(frames)
    )


def differing_descriptors(frames: list[Poses], seed: int, ours, theirs) -> int:
    """How many of ``frames`` two descriptor functions describe differently (beyond
    ``DESCRIPTOR_TOLERANCE``) on the random image of ``seed``."""
    image = random_image(seed)
    return sum(
        not np.allclose(
            ours(image, poses.boxes), theirs(image, poses.boxes), rtol=0, atol=DESCRIPTOR_TOLERANCE
        )
        for poses in frames
    )


def compare(revision: str, people: list[int], num_frames: int, seed: int) -> None:
    """Mean ms per ``update`` of ours and of ``revision``'s tracker, taking turns, and
    whether their outputs are identical on every frame; the same for the appearance
    descriptors (taking turns too, each frame counting its fastest round; equal to
    ``DESCRIPTOR_TOLERANCE``)."""
    from tracking_peers import load_old_tracker, old_tracking_module  # benchmarks/ on sys.path

    from crowdpose3d.stages.track import TrackParams, TrackStage

    makers = {"ours": lambda: TrackStage(TrackParams()).tracker}
    makers[revision] = load_old_tracker(revision, {})
    describers = {"ours": appearance_descriptors}
    try:
        describers[revision] = old_tracking_module(revision, "appearance").appearance_descriptors
    except ModuleNotFoundError:  # a revision before the descriptors: trackers only
        describers = {}
    differ = described_differ = 0
    descriptor_ms = {}
    for num_people in people:
        frames = make_frames(num_people, num_frames, seed)
        differ += differing_frames(frames, makers["ours"], makers[revision])
        if describers:
            described_differ += differing_descriptors(frames, seed, *describers.values())
            fastest = {name: np.full(num_frames, np.inf) for name in describers}
            for _ in range(ROUNDS):
                for name, describe in describers.items():
                    fastest[name] = np.minimum(
                        fastest[name], time_descriptors(frames, seed, describe)
                    )
            descriptor_ms[num_people] = {name: float(ms.mean()) for name, ms in fastest.items()}
        best = {name: np.full(num_frames - WARM_UP_FRAMES, np.inf) for name in makers}
        for _ in range(ROUNDS):
            for name, make in makers.items():
                best[name] = np.minimum(best[name], time_tracker(frames, make)[0])
        ours, theirs = best["ours"].mean(), best[revision].mean()
        print(
            f"{num_people:6d} people: ours {ours:.3f} ms, {revision} {theirs:.3f} ms per frame "
            f"(fastest of {ROUNDS} rounds per frame; ours / {revision} = {ours / theirs:.2f})"
        )
    print(
        f"outputs identical: {'no' if differ else 'yes'} ({differ} of "
        f"{num_frames * len(people)} frames differ from {revision}: ids, or boxes, filtered "
        f"roots or velocities beyond {IDENTICAL_TOLERANCE:g})"
    )
    for num_people, ms in descriptor_ms.items():
        ours, theirs = ms["ours"], ms[revision]
        print(
            f"{num_people:6d} people, appearance descriptors: ours {ours:.3f} ms, {revision} "
            f"{theirs:.3f} ms per frame (fastest of {ROUNDS} rounds per frame; ours / {revision} "
            f"= {ours / theirs:.2f})"
        )
    if describers:
        print(
            f"descriptors identical: {'no' if described_differ else 'yes'} ({described_differ} "
            f"of {num_frames * len(people)} frames differ beyond {DESCRIPTOR_TOLERANCE:g})"
        )
    else:
        print(f"{revision} has no appearance descriptors to compare")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"{args.frames} frames at {FPS:g} fps"
    )
    columns = ("people", "mean ms", "p95 ms", "max ms", "output/frame", "ids issued")
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, WIDTHS, strict=True)))
    described, filling = {}, {}
    for num_people in args.people:
        frames = make_frames(num_people, args.frames, args.seed)
        times_ms, output, ids = time_tracker(frames)
        described[num_people] = float(time_descriptors(frames, args.seed).mean())
        filling[num_people] = time_gap_filling(frames)
        print(
            f"{num_people:6d} {times_ms.mean():8.3f} {np.percentile(times_ms, 95):8.3f} "
            f"{times_ms.max():8.3f} {output:13.1f} {ids:10d}"
        )
    print(
        "appearance descriptors (track stage, outside update), ms per frame: "
        + ", ".join(f"{n} people {ms:.3f}" for n, ms in described.items())
    )
    print(
        "gap filling, smoothing and backfill (track stage, outside update), ms per frame: "
        + ", ".join(
            f"{n} people {push:.3f} ({rows} rows filled, {back} backfilled; the tracker's "
            f"track in that run {track:.3f})"
            for n, (track, push, rows, back) in filling.items()
        )
    )
    if args.against:
        compare(args.against, args.people, args.frames, args.seed)
    step_us = time_filterpy_step()
    print(
        f"filterpy KalmanFilter predict+update per track: {step_us:.1f} us "
        f"(x60 tracks = {step_us * 60 / 1e3:.2f} ms per frame, filter alone)"
    )


if __name__ == "__main__":
    main()
