"""CMU Panoptic Studio (Joo et al.): 3D bodies seen by the dome's 31 HD cameras.

Format, as checked against CMU-Perceptual-Computing-Lab/panoptic-toolbox (README,
python/demo_3Dkeypoints_reprojection_hd.py, python/panutils.py,
scripts/hdImgsExtractor.sh):

    <root>/<seq>/calibration_<seq>.json
        {"cameras": [{"name": "00_16", "type": "hd", "resolution": [1920, 1080],
                      "panel": 0, "node": 16, "K": 3x3, "distCoef": [k1, k2, p1, p2, k3],
                      "R": 3x3, "t": 3x1 (cm)}, ...]}
    <root>/<seq>/hdPose3d_stage1_coco19/body3DScene_XXXXXXXX.json
        {"version", "univTime", "fpsType", "bodies": [{"id", "joints19": [x, y, z, c] * 19}]}
        world frame, centimetres; c is the joint's confidence (-1 when it was not
        reconstructed); the toolbox plots joints with c > 0.1, which is our validity rule.
    <root>/<seq>/hdImgs/00_16/00_16_XXXXXXXX.jpg   frames extracted by hdImgsExtractor.sh
                                                   (ffmpeg -start_number 0), or
    <root>/<seq>/hdVideos/hd_00_16.mp4             the HD video, read with `VideoFrames`

XXXXXXXX is the HD frame index, the same number for the skeleton file, the extracted image
and the video frame (the toolbox pairs body3DScene_{i} with 00_XX_{i}.jpg).
Images are preferred when the camera's ``hdImgs`` folder exists, else the video is used.

Camera frame: X_cam = R @ X_world + t, then cm -> m. The 2D joints include the lens
distortion (OpenCV's model: radial k1, k2, k3 and tangential p1, p2, as cv2.projectPoints;
the toolbox's panutils.projectPoints applies the same model), so they land on the pixels of
the (distorted) image; ``Sample.intrinsics`` is the pinhole part K only and
``Sample.extra["dist_coeffs"]`` holds the distortion.

Monocular protocol (Zanfir et al. CVPR 2018 and NeurIPS 2018, followed by Benzine et al.
and PandaNet section 4.2): the test set is the Haggling, Mafia, Ultimatum and Pizza
sequences seen by HD cameras 16 and 30; training uses the same sequences seen by the other
HD cameras. The sequence names are those of the public evaluation sets that follow it
(jiangwenpl/multiperson README: 160422_haggling1, 160422_mafia2, 160422_ultimatum1,
160906_pizza1; Arthur151/ROMP cmu_panoptic_eval.py uses the same with cameras 00_16, 00_30).
The paper says "the other 28 HD cameras"; the dome has 31 (00_00..00_30), so here the
training cameras are the HD cameras of the calibration file other than 16 and 30 whose
images or video are on disk.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crowdpose3d.core.skeleton import PANOPTIC19, Skeleton
from crowdpose3d.data.common import build_sample, read_image
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.frames import VideoFrames
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.camera import Camera, Intrinsics

PANOPTIC_TEST_SEQUENCES = (
    "160422_haggling1",
    "160422_mafia2",
    "160422_ultimatum1",
    "160906_pizza1",
)
PANOPTIC_TEST_CAMERAS = ("00_16", "00_30")
PANOPTIC_SPLITS = ("train", "test")
CENTIMETRES_PER_METRE = 100.0


@dataclass(frozen=True)
class PanopticCamera:
    """One calibrated HD camera: pinhole camera (metres) and OpenCV distortion coefficients."""

    name: str
    camera: Camera
    dist_coeffs: np.ndarray  # (5,) k1, k2, p1, p2, k3

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points in metres -> ((..., 3) camera-frame metres, (..., 2) pixels).

        Pixels of points at or behind the camera (z <= 0) are NaN.
        """
        cam = self.camera.world_to_camera(points_world)  # (..., 3)
        return cam, distorted_pixels(cam, self.camera.intrinsics, self.dist_coeffs)


def distorted_pixels(points: np.ndarray, intrinsics: Intrinsics, dist: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels with OpenCV's k1, k2, p1, p2, k3 model."""
    points = np.asarray(points, dtype=np.float64)
    z = points[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = points[..., 0] / z, points[..., 1] / z
    k1, k2, p1, p2, k3 = (list(np.asarray(dist, dtype=np.float64).ravel()) + [0.0] * 5)[:5]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    pixels = np.stack((intrinsics.fx * xd + intrinsics.cx, intrinsics.fy * yd + intrinsics.cy), -1)
    return np.where((z > 0)[..., None], pixels, np.nan)


def read_calibration(path: str | Path) -> dict[str, PanopticCamera]:
    """The HD cameras of a ``calibration_<seq>.json``, by name ("00_16")."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Panoptic calibration not found: {path}; download it with getData.sh")
    try:
        entries = json.loads(path.read_text())["cameras"]
        cameras = {}
        for entry in entries:
            if entry.get("type") != "hd":
                continue
            width, height = entry["resolution"]
            intrinsics = Intrinsics.from_matrix(np.array(entry["K"]), int(width), int(height))
            translation = np.asarray(entry["t"], dtype=np.float64).ravel() / CENTIMETRES_PER_METRE
            camera = Camera(intrinsics, np.array(entry["R"], dtype=np.float64), translation)
            dist = np.asarray(entry.get("distCoef", [0.0] * 5), dtype=np.float64).ravel()
            cameras[entry["name"]] = PanopticCamera(entry["name"], camera, dist)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(
            f"cannot read Panoptic calibration {path} ({error!r}); expected the toolbox's "
            "calibration_<seq>.json"
        ) from None
    return cameras


class PanopticDataset(Sequence[Sample]):
    """CMU Panoptic frames seen by HD cameras, as `Sample` on ``skeleton``.

    root:          the folder holding one folder per sequence (as getData.sh makes them).
    split:         "test" (cameras 00_16 and 00_30) or "train" (the other HD cameras) of
                   the monocular protocol; see the module docstring.
    sequences:     sequence names; the protocol's four when None.
    cameras:       HD camera names ("00_16"); the split's when None. Cameras named here
                   (or the test split's) must have images or a video on disk.
    frame_step:    keep HD frames 0, n, 2n, ...
    min_confidence: a joint is labelled when its confidence c exceeds this (c = -1: missing).
    cache_dir:     where `VideoFrames` keeps decoded videos (when frames come from videos).

    Items (sequence, camera, frame) are listed from the skeleton files when the dataset is
    made; the skeleton file and the image are read when a sample is asked for.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        skeleton: Skeleton = PANOPTIC19,
        sequences: Sequence[str] | None = None,
        cameras: Sequence[str] | None = None,
        frame_step: int = 1,
        min_confidence: float = 0.1,
        cache_dir: str | Path | None = None,
        max_open_videos: int = 2,
    ):
        if split not in PANOPTIC_SPLITS:
            raise ValueError(f"unknown Panoptic split {split!r}; use 'train' or 'test'")
        if frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {frame_step}")
        self.root = Path(root)
        self.split = split
        self.skeleton = skeleton
        self.frame_step = int(frame_step)
        self.min_confidence = float(min_confidence)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.max_open_videos = max(1, int(max_open_videos))
        self._videos: OrderedDict[tuple[str, str], VideoFrames] = OrderedDict()
        self.calibrations: dict[str, dict[str, PanopticCamera]] = {}

        items: list[tuple[str, str, int]] = []
        for sequence in sequences or PANOPTIC_TEST_SEQUENCES:
            folder = self.root / sequence
            calibration = read_calibration(folder / f"calibration_{sequence}.json")
            self.calibrations[sequence] = calibration
            frames = self._skeleton_frames(folder)
            for camera in self._cameras(sequence, calibration, cameras):
                items.extend((sequence, camera, frame) for frame in frames)
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} is out of range ({len(self)} samples)")
        sequence, camera_name, frame = self._items[index]
        camera = self.calibrations[sequence][camera_name]
        person_ids, joints_cm, confidence = read_bodies(self._skeleton_path(sequence, frame))
        kp3d, kp2d = camera.project(joints_cm / CENTIMETRES_PER_METRE)  # (N, 19, 3), (N, 19, 2)
        labelled = confidence > self.min_confidence  # (N, 19)
        in_front = kp3d[..., 2] > 0
        return build_sample(
            image=self._image(sequence, camera_name, frame),
            kp2d=np.nan_to_num(kp2d),
            kp3d=kp3d,
            kp2d_valid=labelled & in_front,
            kp3d_valid=labelled,
            not_occluded=np.ones_like(labelled),  # Panoptic has no occlusion labels
            person_ids=person_ids,
            intrinsics=camera.camera.intrinsics,
            source=PANOPTIC19,
            target=self.skeleton,
            sequence=f"panoptic/{sequence}/{camera_name}",
            frame=frame,
            extra={"camera": camera.camera, "dist_coeffs": camera.dist_coeffs},
        )

    # ------------------------------------------------------------------ listing
    def _skeleton_frames(self, folder: Path) -> list[int]:
        skeletons = folder / "hdPose3d_stage1_coco19"
        if not skeletons.is_dir():
            raise DatasetError(
                f"Panoptic skeletons not found: {skeletons}; extract hdPose3d_stage1_coco19.tar"
            )
        frames = sorted(
            int(path.stem.rsplit("_", 1)[1]) for path in skeletons.glob("body3DScene_*.json")
        )
        return [f for f in frames if f % self.frame_step == 0]

    def _cameras(
        self, sequence: str, calibration: dict[str, PanopticCamera], requested: Sequence[str] | None
    ) -> list[str]:
        """The cameras of this split that are used for ``sequence``."""
        if requested is None and self.split == "train":
            candidates = [n for n in sorted(calibration) if n not in PANOPTIC_TEST_CAMERAS]
            return [n for n in candidates if self._has_images(sequence, n)]
        names = list(requested or PANOPTIC_TEST_CAMERAS)
        for name in names:
            if name not in calibration:
                raise DatasetError(
                    f"Panoptic {sequence} has no HD camera {name!r} in its calibration; "
                    f"known: {', '.join(sorted(calibration))}"
                )
            if not self._has_images(sequence, name):
                folder = self.root / sequence
                raise DatasetError(
                    f"no frames for camera {name} of {sequence}: neither {folder}/hdImgs/{name}/ "
                    f"nor {folder}/hdVideos/hd_{name}.mp4 exists; download its HD video"
                )
        return names

    def _has_images(self, sequence: str, camera: str) -> bool:
        folder = self.root / sequence
        return (folder / "hdImgs" / camera).is_dir() or (
            folder / "hdVideos" / f"hd_{camera}.mp4"
        ).is_file()

    # ------------------------------------------------------------------ reading
    def _skeleton_path(self, sequence: str, frame: int) -> Path:
        return self.root / sequence / "hdPose3d_stage1_coco19" / f"body3DScene_{frame:08d}.json"

    def _image(self, sequence: str, camera: str, frame: int) -> np.ndarray:
        folder = self.root / sequence
        images = folder / "hdImgs" / camera
        if images.is_dir():
            return read_image(images / f"{camera}_{frame:08d}.jpg")
        key = (sequence, camera)
        if key not in self._videos:
            self._videos[key] = VideoFrames(
                folder / "hdVideos" / f"hd_{camera}.mp4",
                cache_dir=None if self.cache_dir is None else self.cache_dir / "frames",
                step=self.frame_step,
            )
            while len(self._videos) > self.max_open_videos:
                self._videos.popitem(last=False)
        self._videos.move_to_end(key)
        return self._videos[key][frame // self.frame_step]


def read_bodies(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``body3DScene_*.json`` -> ids (N,), joints (N, 19, 3) world cm, confidence (N, 19)."""
    path = Path(path)
    try:
        bodies = json.loads(path.read_text())["bodies"]
        ids = np.array([body["id"] for body in bodies], dtype=np.int64)
        joints = np.array([body["joints19"] for body in bodies], dtype=np.float64).reshape(
            len(bodies), PANOPTIC19.num_joints, 4
        )
    except FileNotFoundError:
        raise DatasetError(f"Panoptic skeleton file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(
            f"cannot read Panoptic skeletons {path} ({error!r}); expected "
            "{'bodies': [{'id', 'joints19': 76 numbers}]}"
        ) from None
    return ids, joints[..., :3], joints[..., 3]
