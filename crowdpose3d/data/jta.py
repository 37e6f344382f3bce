"""JTA (Joint Track Auto, Fabbri et al. ECCV 2018) and our synthetic crowds, which use its layout.

Format, as checked against fabbrimatteo/JTA-Dataset (README, joint.py, pose.py,
coco_style_convert.py, to_imgs.py):

    <root>/annotations/<split>/seq_N.json   a list of rows [frame, person_id, joint_type,
                                            x2D, y2D, x3D, y3D, z3D, occluded, self_occluded]
    <root>/videos/<split>/seq_N.mp4         1920x1080, 30 fps, 900 frames

- splits are ``train`` (256 sequences), ``val`` and ``test`` (128 each); the JTA paper's
  "test set" is val + test together (README, "Important Note").
- frame numbers count from 1: annotation frame f is video frame f - 1.
- joint_type 0..21 is the JTA22 order; 2D in pixels from the top-left corner, 3D in metres
  in the camera frame (x right, y down, z forward).
- every sequence was recorded with K = [[1158, 0, 960], [0, 1158, 540], [0, 0, 1]].
- a joint is visible when it is neither occluded nor self-occluded (``Joint.visible``);
  JTA's own tools drop people whose joints are all occluded (``Pose.invisible``), our rule
  (at least one visible joint inside the image, see `crowdpose3d.data.common`) is stricter.

Our synthetic generator writes the same layout plus ``<root>/cameras/<split>/seq_N.json``
= {"intrinsics": {fx, fy, cx, cy, width, height}, "rotation": 3x3, "translation": 3,
"fps": ...}; when that file exists its intrinsics replace JTA's fixed ones, and the camera
(world to camera, metres) is in ``Sample.extra["camera"]``.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crowdpose3d.core.skeleton import JTA22, Skeleton
from crowdpose3d.data.common import build_sample, natural_key
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.frames import VideoFrames
from crowdpose3d.data.sample import Sample
from crowdpose3d.files import atomic_path
from crowdpose3d.geometry.camera import Camera, Intrinsics

JTA_INTRINSICS = Intrinsics(fx=1158.0, fy=1158.0, cx=960.0, cy=540.0, width=1920, height=1080)
JTA_SPLITS = ("train", "val", "test")

# Columns of an annotation row.
FRAME, PERSON, JOINT, X2D, Y2D, X3D, Y3D, Z3D, OCCLUDED, SELF_OCCLUDED = range(10)


@dataclass(frozen=True)
class _Sequence:
    name: str  # "seq_3"
    video: Path
    rows: np.ndarray  # (R, 10) float32, kept frames only, sorted by frame, person, joint
    intrinsics: Intrinsics
    camera: Camera | None


class JTADataset(Sequence[Sample]):
    """The labelled frames of one JTA split, as `Sample` on ``skeleton``.

    root:        the JTA-Dataset folder (holding ``annotations/`` and ``videos/``).
    split:       "train", "val" or "test".
    skeleton:    the joint set of the samples (JTA22 keeps all joints).
    frame_step:  keep frames 1, 1 + n, 1 + 2n, ... (JTA has 230 400 training frames).
    sequences:   names to keep (e.g. ["seq_0", "seq_12"]); all when None.
    cache_dir:   where decoded video frames (`VideoFrames`) and parsed annotations are kept
                 between runs; without one, frames are decoded into memory (the
                 ``max_open_videos`` most recently used videos are kept).

    Annotations are read when the dataset is made (only the kept frames stay in memory);
    images are decoded when a sample is asked for. Frames without any annotation row
    (nobody in view) are not listed.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        skeleton: Skeleton = JTA22,
        frame_step: int = 1,
        sequences: Sequence[str] | None = None,
        cache_dir: str | Path | None = None,
        max_open_videos: int = 2,
    ):
        if split not in JTA_SPLITS:
            raise ValueError(f"unknown JTA split {split!r}; use one of {', '.join(JTA_SPLITS)}")
        if frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {frame_step}")
        self.root = Path(root)
        self.split = split
        self.skeleton = skeleton
        self.frame_step = int(frame_step)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.max_open_videos = max(1, int(max_open_videos))
        self._videos: OrderedDict[int, VideoFrames] = OrderedDict()

        annotation_dir = self.root / "annotations" / split
        if not annotation_dir.is_dir():
            raise DatasetError(
                f"JTA annotations not found: {annotation_dir}; root must hold "
                f"annotations/{split}/seq_N.json and videos/{split}/seq_N.mp4"
            )
        files = sorted(annotation_dir.glob("*.json"), key=lambda p: natural_key(p.stem))
        if sequences is not None:
            wanted = set(sequences)
            missing = wanted - {p.stem for p in files}
            if missing:
                raise DatasetError(
                    f"JTA {split} has no sequence(s) {sorted(missing)} in {annotation_dir}"
                )
            files = [p for p in files if p.stem in wanted]

        self._sequences: list[_Sequence] = []
        items: list[tuple[int, int, int, int]] = []  # (sequence, frame, first row, end row)
        for path in files:
            sequence = self._read_sequence(path)
            rows = sequence.rows
            frames, starts = np.unique(rows[:, FRAME].astype(np.int64), return_index=True)
            ends = np.append(starts[1:], len(rows))
            index = len(self._sequences)
            self._sequences.append(sequence)
            items.extend(
                (index, int(f), int(s), int(e))
                for f, s, e in zip(frames, starts, ends, strict=True)
            )
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} is out of range ({len(self)} samples)")
        seq_index, frame, start, end = self._items[index]
        sequence = self._sequences[seq_index]
        rows = sequence.rows[start:end]  # (R, 10) one frame, sorted by person then joint

        person_ids, person_of_row = np.unique(rows[:, PERSON].astype(np.int64), return_inverse=True)
        joint_of_row = rows[:, JOINT].astype(np.int64)
        n, k = len(person_ids), JTA22.num_joints
        kp2d = np.zeros((n, k, 2), dtype=np.float32)
        kp3d = np.zeros((n, k, 3), dtype=np.float32)
        labelled = np.zeros((n, k), dtype=bool)
        not_occluded = np.zeros((n, k), dtype=bool)
        kp2d[person_of_row, joint_of_row] = rows[:, [X2D, Y2D]]
        kp3d[person_of_row, joint_of_row] = rows[:, [X3D, Y3D, Z3D]]
        labelled[person_of_row, joint_of_row] = True
        not_occluded[person_of_row, joint_of_row] = (rows[:, OCCLUDED] == 0) & (
            rows[:, SELF_OCCLUDED] == 0
        )

        image = self._video(seq_index)[(frame - 1) // self.frame_step]
        extra = {} if sequence.camera is None else {"camera": sequence.camera}
        return build_sample(
            image=image,
            kp2d=kp2d,
            kp3d=kp3d,
            kp2d_valid=labelled,
            kp3d_valid=labelled,
            not_occluded=not_occluded,
            person_ids=person_ids,
            intrinsics=sequence.intrinsics,
            source=JTA22,
            target=self.skeleton,
            sequence=f"jta/{self.split}/{sequence.name}",
            frame=frame,
            extra=extra,
        )

    # ------------------------------------------------------------------ reading
    def _read_sequence(self, path: Path) -> _Sequence:
        video = self.root / "videos" / self.split / f"{path.stem}.mp4"
        if not video.is_file():
            raise DatasetError(f"JTA video not found: {video} (for {path}); check the layout")
        intrinsics, camera = JTA_INTRINSICS, None
        camera_path = self.root / "cameras" / self.split / f"{path.stem}.json"
        if camera_path.is_file():
            intrinsics, camera = read_camera_file(camera_path)
        return _Sequence(path.stem, video, self._read_rows(path), intrinsics, camera)

    def _read_rows(self, path: Path) -> np.ndarray:
        """The annotation rows of the kept frames, (R, 10) float32, sorted; cached if asked."""
        cache = None
        if self.cache_dir is not None:
            stat = path.stat()
            identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.frame_step}"
            key = hashlib.sha1(identity.encode()).hexdigest()[:16]
            cache = self.cache_dir / f"jta-{path.stem}-{key}.npy"
            if cache.is_file():
                return np.load(cache)
        try:
            rows = np.asarray(json.loads(path.read_text()), dtype=np.float64)
        except (json.JSONDecodeError, ValueError) as error:
            raise DatasetError(
                f"cannot parse JTA annotations {path} ({error}); expected a JSON list of "
                "10-number rows"
            ) from None
        if rows.size == 0:
            rows = rows.reshape(0, 10)
        if rows.ndim != 2 or rows.shape[1] != 10:
            raise DatasetError(
                f"JTA annotations {path} have shape {rows.shape}; expected rows of 10 numbers"
            )
        bad = (rows[:, JOINT] < 0) | (rows[:, JOINT] >= JTA22.num_joints) | (rows[:, FRAME] < 1)
        if bad.any():
            raise DatasetError(
                f"JTA annotations {path} row {int(np.argmax(bad))} has a frame < 1 or a joint "
                f"type outside 0..{JTA22.num_joints - 1}"
            )
        rows = rows[(rows[:, FRAME].astype(np.int64) - 1) % self.frame_step == 0]
        rows = rows[np.lexsort((rows[:, JOINT], rows[:, PERSON], rows[:, FRAME]))]
        rows = rows.astype(np.float32)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache, cache.with_suffix(".partial.npy")) as partial:
                np.save(partial, rows)
        return rows

    def _video(self, seq_index: int) -> VideoFrames:
        """The frames of a sequence's video, keeping a few recently used ones open."""
        if seq_index in self._videos:
            self._videos.move_to_end(seq_index)
            return self._videos[seq_index]
        video = VideoFrames(
            self._sequences[seq_index].video,
            cache_dir=None if self.cache_dir is None else self.cache_dir / "frames",
            step=self.frame_step,
        )
        self._videos[seq_index] = video
        while len(self._videos) > self.max_open_videos:
            self._videos.popitem(last=False)
        return video


def read_camera_file(path: str | Path) -> tuple[Intrinsics, Camera | None]:
    """A synthetic sequence's ``cameras/<split>/seq_N.json``: its intrinsics and, when the
    file has ``rotation`` and ``translation`` (world to camera), the full camera."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        intrinsics = Intrinsics.from_dict(data["intrinsics"])
        camera = None
        if "rotation" in data and "translation" in data:
            camera = Camera(intrinsics, data["rotation"], data["translation"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(
            f"cannot read camera file {path} ({error!r}); expected {{'intrinsics': {{fx, fy, "
            "cx, cy, width, height}, 'rotation': 3x3, 'translation': 3}"
        ) from None
    return intrinsics, camera
