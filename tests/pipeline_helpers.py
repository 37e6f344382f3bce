"""Stages for the pipeline tests, loaded by the runner as ``pipeline_helpers:Class``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageParams
from crowdpose3d.poses import Poses


class FakePeopleParams(StageParams):
    people: int = 2
    joints: int = 22
    # With gap_every > 0 the people walk right (1 px a frame) and person i is missed for
    # gap_frames frames every gap_every frames, from frame 3 + 2 i on.
    gap_every: int = 0
    gap_frames: int = 0
    jitter_px: float = 0.0  # boxes and joints shaken by up to this, differently each frame


class FakePeople(BaseStage):
    """Gives each frame ``people`` tracked people at known places (no model needed)."""

    Params = FakePeopleParams

    def open(self, context):
        super().open(context)
        context.facts.joint_names = [f"j{k}" for k in range(self.params.joints)]

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        n, k = self.params.people, self.params.joints
        every, missed = self.params.gap_every, self.params.gap_frames
        for frame in frames:
            ids = np.arange(n)
            walked = frame.index if every else 0
            boxes = np.stack([10 + 20 * ids + walked, 10 + 0 * ids, 20 + 20 * ids + walked,
                              40 + 0 * ids], 1)  # fmt: skip
            frame.poses = Poses(
                boxes=boxes,
                scores=np.full(n, 0.9),
                kp2d=np.full((n, k, 2), float(frame.index)),
                kp3d_rel=np.zeros((n, k, 3)),
                kp3d=np.full((n, k, 3), 1.5),
                root=np.stack([ids, 0 * ids, 5 + 0 * ids], 1).astype(float),
                track_id=ids + 100,
            )
            if self.params.jitter_px:
                shake = self.params.jitter_px * (((frame.index * 7 + 3 * ids) % 5) / 2 - 1)
                frame.poses.boxes[:, [0, 2]] += shake[:, None]
                frame.poses.kp2d[..., 0] += shake[:, None]
            if every:
                phase = (frame.index - 3 - 2 * ids) % every
                frame.poses = frame.poses[(frame.index < 3 + 2 * ids) | (phase >= missed)]
            yield frame


class FailAtParams(StageParams):
    index: int = 5


class FailAt(BaseStage):
    """Raises on the frame with the given index."""

    Params = FailAtParams

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.index == self.params.index:
                raise RuntimeError(f"boom at frame {frame.index}")
            yield frame


class SlowParams(StageParams):
    seconds: float = 0.05


class Slow(BaseStage):
    """Takes ``seconds`` per frame (a model that cannot keep up with a live source)."""

    Params = SlowParams

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            time.sleep(self.params.seconds)
            yield frame


class TruthDetectorParams(StageParams):
    root: str  # a JTA-layout folder with the clip's labels (crowdpose3d synth)
    noise_px: float = 1.0
    miss_rate: float = 0.05
    seed: int = 0


class TruthDetector(BaseStage):
    """An oracle in place of the model: the labelled people of each frame, with 2D noise
    and random misses, so the stages after the model can be scored exactly."""

    Params = TruthDetectorParams

    def open(self, context):
        from crowdpose3d.core.skeleton import JTA22
        from crowdpose3d.data.jta import JTADataset

        super().open(context)
        context.facts.skeleton, context.facts.joint_names = "jta22", list(JTA22.joints)
        self.samples = {s.frame - 1: s for s in JTADataset(self.params.root, split="test")}
        self.rng = np.random.default_rng(self.params.seed)

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        from crowdpose3d.core.skeleton import JTA22, normalize_pose

        for frame in frames:
            sample = self.samples.get(frame.index)
            if sample is None:
                frame.poses = Poses.empty(22)
                yield frame
                continue
            seen = (sample.visible.mean(1) >= 0.25) & (
                self.rng.random(len(sample)) > self.params.miss_rate
            )
            kp3d_rel, _ = normalize_pose(sample.kp3d[seen], JTA22)
            kp2d = sample.kp2d[seen] + self.rng.normal(
                0, self.params.noise_px, sample.kp2d[seen].shape
            )
            frame.poses = Poses(
                boxes=sample.boxes[seen],
                scores=np.full(int(seen.sum()), 0.95),
                kp2d=kp2d,
                kp3d_rel=kp3d_rel,
            )
            yield frame


class FirstFrames(BaseStage):
    """Passes the first three frames on, then stops reading its input."""

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for _, frame in zip(range(3), frames, strict=False):
            yield frame


class CountingSourceParams(StageParams):
    source_id: str
    frames: int = 10
    size: tuple[int, int] = (32, 48)  # (H, W)
    value: int = 0  # every image is this grey value plus its index (mod 256)
    fps: float = 10.0
    live: bool = False  # a live source drops its oldest frames when the model is behind
    realtime: bool = False  # deliver at ``fps`` (a camera), not as fast as possible
    fail_at: int | None = None  # raise instead of delivering this frame
    stall_at: int | None = None  # stop delivering from this frame until the run stops


class CountingSource(BaseStage):
    """A source of plain grey frames that can fail or stall (a broken or frozen camera)."""

    Params = CountingSourceParams

    def __init__(self, params: CountingSourceParams) -> None:
        super().__init__(params)
        self.source_id = params.source_id
        self.live = params.live

    def open(self, context):
        super().open(context)
        context.facts.source_id, context.facts.fps = self.source_id, self.params.fps
        context.facts.height, context.facts.width = self.params.size

    def frames(self) -> Iterator[Frame]:
        p = self.params
        for index in range(p.frames):
            if index == p.fail_at:
                raise RuntimeError(f"camera {p.source_id} broke at frame {index}")
            if index == p.stall_at:
                self.context.stop.wait()
                return
            if p.realtime:
                time.sleep(1 / p.fps)
            image = np.full((*p.size, 3), (p.value + index) % 256, np.uint8)
            wall = time.time() if p.live else None
            yield Frame(p.source_id, index, index / p.fps, image, wall_time=wall)


class StampPeople(BaseStage):
    """One tracked person per frame whose score is the image's first pixel / 255, so rows
    can be traced back to the image (and thus the source) they came from."""

    Params = FakePeopleParams

    def open(self, context):
        super().open(context)
        context.facts.joint_names = [f"j{k}" for k in range(self.params.joints)]

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        k = self.params.joints
        for frame in frames:
            height, width = frame.size
            frame.poses = Poses(
                boxes=np.array([[0.0, 0.0, width / 2, height / 2]]),
                scores=np.array([frame.image[0, 0, 0] / 255]),
                kp2d=np.full((1, k, 2), float(frame.index)),
                kp3d_rel=np.zeros((1, k, 3)),
                kp3d=np.full((1, k, 3), float(width)),
                root=np.array([[0.0, 0.0, float(height)]]),
                track_id=np.array([7]),
            )
            yield frame


class UnevenStampPeople(StampPeople):
    """`StampPeople` taking an uneven time per batch (batches of one are slow, bigger ones
    fast), so batches in several model workers finish out of the order they began; counts
    the frames it saw (``counters``)."""

    def open(self, context):
        super().open(context)
        self.seen = 0

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        batch = list(frames)
        time.sleep(0.02 if len(batch) == 1 else 0.001)
        self.seen += len(batch)
        yield from super().__call__(iter(batch))

    def counters(self) -> dict[str, int]:
        return {"frames_seen": self.seen}


class ThreadedStampParams(FakePeopleParams):
    threads: int | None = None  # as the pandanet stage's: the model's CPU threads
    device: str = "cpu"
    backend: str = "auto"  # as the pandanet stage's (the batcher's auto workers read it)
    precision: str = "auto"


class ThreadedStampPeople(StampPeople):
    """`StampPeople` with the pandanet stage's ``threads``, ``device``, ``backend`` and
    ``precision`` options."""

    Params = ThreadedStampParams


def with_truth_detector(config: dict, root, noise_px: float = 1.0, miss_rate: float = 0.05):
    """``config`` (a default pipeline's mapping) with `TruthDetector` in place of the model
    stages (pandanet and the verify stage that re-scores its detections) -> ``config``."""
    model_stages = ("pandanet", "verify")
    config["stages"] = [
        {"type": "pipeline_helpers:TruthDetector", "root": str(root), "noise_px": noise_px,
         "miss_rate": miss_rate},
        *(stage for stage in config["stages"] if stage["type"] not in model_stages),
    ]  # fmt: skip
    return config
