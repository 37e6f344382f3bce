"""Writers of tiny datasets in the real on-disk formats (JTA, CMU Panoptic, MuPoTS-3D,
MuCo-3DHP, COCO), for the loader tests. Images are flat colours so a test can check that
the right frame was read; labels are made by projecting known 3D points."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import scipy.io

from crowdpose3d.geometry.camera import Intrinsics


def frame_colour(index: int) -> tuple[int, int, int]:
    """The flat RGB colour of frame ``index`` in every fixture."""
    return (30 + 50 * index, 200 - 40 * index, 90 + 20 * index)


def flat_image(width: int, height: int, index: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB filled with ``frame_colour(index)``."""
    return np.broadcast_to(np.array(frame_colour(index), np.uint8), (height, width, 3)).copy()


def write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])


def write_video(path: Path, frames: list[np.ndarray], fps: int = 30, faststart=False) -> None:
    """An H.264 MP4 of RGB frames (crf 0: only the YUV 4:2:0 conversion alters colours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def standing_pose(root: np.ndarray, height: float = 1.7) -> np.ndarray:
    """(22, 3) JTA joints (metres, camera frame, y down) of a person standing at ``root``
    (the pelvis / spine4), ``height`` tall."""
    s = height / 1.7
    offsets = np.array(
        [
            [0.0, -0.80, 0], [0.0, -0.68, 0], [0.0, -0.56, 0],  # head top, head, neck
            [-0.08, -0.52, 0], [-0.18, -0.50, 0], [-0.22, -0.25, 0], [-0.24, -0.02, 0],  # right
            [0.08, -0.52, 0], [0.18, -0.50, 0], [0.22, -0.25, 0], [0.24, -0.02, 0],  # left arm
            [0.0, -0.48, 0], [0.0, -0.36, 0], [0.0, -0.24, 0], [0.0, -0.12, 0], [0.0, 0.0, 0],
            [-0.10, 0.02, 0], [-0.11, 0.45, 0], [-0.12, 0.88, 0],  # right leg
            [0.10, 0.02, 0], [0.11, 0.45, 0], [0.12, 0.88, 0],  # left leg
        ]
    )  # fmt: skip
    return np.asarray(root, dtype=np.float64) + s * offsets


# ---------------------------------------------------------------------- JTA
def jta_rows(
    frame: int,
    person: int,
    joints3d: np.ndarray,
    intrinsics: Intrinsics,
    occluded=(),
    self_occluded=(),
) -> list[list[float]]:
    """The 22 annotation rows of one person, 2D projected from ``joints3d`` (rounded to
    0.01 px as a file would store them)."""
    pixels = intrinsics.project(joints3d)
    return [
        [frame, person, j, *np.round(pixels[j], 2), *joints3d[j], int(j in occluded),
         int(j in self_occluded)]
        for j in range(22)
    ]  # fmt: skip


def write_jta(root: Path) -> dict:
    """A JTA tree with train/seq_0 (JTA's own 1920x1080 camera, 3 frames) and train/seq_1
    (a synthetic sequence with its own 160x120 camera file, 2 frames). Returns what was
    written, for the test to compare against."""
    truth: dict = {}
    jta_k = Intrinsics(1158.0, 1158.0, 960.0, 540.0, 1920, 1080)
    # seq_0: person 7 walks right; person 9 is fully occluded; person 4 is off-screen.
    rows, people = [], {}
    for frame in (1, 2, 3):
        walker = standing_pose([-1.0 + 0.5 * frame, 0.5, 8.0])
        people[(frame, 7)] = walker
        rows += jta_rows(frame, 7, walker, jta_k, occluded={6}, self_occluded={10})
        rows += jta_rows(frame, 9, standing_pose([2.0, 0.5, 12.0]), jta_k, occluded=range(22))
        rows += jta_rows(frame, 4, standing_pose([40.0, 0.5, 5.0]), jta_k)
    (root / "annotations" / "train").mkdir(parents=True)
    # Rows in a shuffled order: the loader must not rely on the file's order.
    order = np.random.default_rng(0).permutation(len(rows))
    (root / "annotations/train/seq_0.json").write_text(json.dumps([rows[i] for i in order]))
    write_video(root / "videos/train/seq_0.mp4", [flat_image(1920, 1080, i) for i in range(3)])
    truth["seq_0"] = people

    small = Intrinsics(100.0, 100.0, 80.0, 60.0, 160, 120)
    rows, people = [], {}
    for frame in (1, 2):
        person = standing_pose([0.1 * frame, 0.3, 6.0], height=1.6)
        people[(frame, 0)] = person
        rows += jta_rows(frame, 0, person, small)
    (root / "annotations/train/seq_1.json").write_text(json.dumps(rows))
    write_video(root / "videos/train/seq_1.mp4", [flat_image(160, 120, i + 3) for i in range(2)])
    (root / "cameras" / "train").mkdir(parents=True)
    camera = {
        "intrinsics": small.to_dict(),
        "rotation": np.eye(3).tolist(),
        "translation": [0.0, 0.0, 0.0],
        "fps": 30,
    }
    (root / "cameras/train/seq_1.json").write_text(json.dumps(camera))
    truth["seq_1"] = people
    return truth


# ---------------------------------------------------------------------- CMU Panoptic
PANOPTIC_SEQUENCE = "160422_haggling1"


def panoptic_camera(name: str, rotation, t_cm, k, dist=(0, 0, 0, 0, 0), resolution=(64, 48)):
    panel, node = (int(part) for part in name.split("_"))
    return {
        "name": name, "type": "hd", "resolution": list(resolution), "panel": panel,
        "node": node, "K": k, "distCoef": list(dist), "R": rotation,
        "t": [[v] for v in t_cm],
    }  # fmt: skip


def write_panoptic(root: Path) -> dict:
    """One protocol sequence, HD frames 0 and 1, three HD cameras (00_16 from hdImgs,
    00_30 from the HD video, 00_05 for training; 00_07 has no images) and one VGA camera."""
    folder = root / PANOPTIC_SEQUENCE
    k = [[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]]
    quarter_turn = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # about the z axis
    identity = np.eye(3).tolist()
    cameras = [
        panoptic_camera("00_16", quarter_turn, [10.0, 20.0, 300.0], k),
        panoptic_camera("00_30", identity, [0.0, 0.0, 400.0], k, (-0.2, 0.05, 1e-3, -2e-3, 0.01)),
        panoptic_camera("00_05", identity, [0.0, 0.0, 500.0], k),
        panoptic_camera("00_07", identity, [0.0, 0.0, 500.0], k),
        {**panoptic_camera("01_01", identity, [0, 0, 0], k), "type": "vga"},
    ]  # fmt: skip
    folder.mkdir(parents=True)
    (folder / f"calibration_{PANOPTIC_SEQUENCE}.json").write_text(json.dumps({"cameras": cameras}))

    # Body 3: joint i at world (10 i, 5 i, 0) cm, except joint 1 (nose) = (100, 0, 0) cm;
    # joint 4 missing (c = -1), joint 5 barely seen (c = 0.05).
    # Body 8: 10 m behind every camera (world z = -1000 cm) -> never in view.
    joints = np.array([[10.0 * i, 5.0 * i, 0.0, 0.9] for i in range(19)])
    joints[1, :3] = (100.0, 0.0, 0.0)
    joints[4, 3], joints[5, 3] = -1.0, 0.05
    behind = np.array([[0.0, 0.0, -1000.0, 0.9]] * 19)
    skeletons = folder / "hdPose3d_stage1_coco19"
    skeletons.mkdir()
    for frame in (0, 1):
        bodies = [
            {"id": 3, "joints19": (joints + [frame * 10.0, 0, 0, 0]).ravel().tolist()},
            {"id": 8, "joints19": behind.ravel().tolist()},
        ]
        scene = {"version": 0.7, "univTime": 100.0 + frame, "fpsType": "hd_29_97", "bodies": bodies}
        (skeletons / f"body3DScene_{frame:08d}.json").write_text(json.dumps(scene))
    for frame in (0, 1):
        write_image(folder / f"hdImgs/00_16/00_16_{frame:08d}.jpg", flat_image(64, 48, frame))
        write_image(folder / f"hdImgs/00_05/00_05_{frame:08d}.jpg", flat_image(64, 48, frame))
    write_video(folder / "hdVideos/hd_00_30.mp4", [flat_image(64, 48, i + 2) for i in range(2)])
    return {"joints_cm": joints, "cameras": {c["name"]: c for c in cameras}}


# ---------------------------------------------------------------------- MuPoTS-3D / MuCo
MUPOTS_K = Intrinsics(60.0, 62.0, 40.0, 30.0, 80, 60)


def mupots_pose(root_mm: np.ndarray) -> np.ndarray:
    """(17, 3) MuPoTS joints in mm around a pelvis at ``root_mm`` (camera frame)."""
    jta = standing_pose(np.zeros(3))  # metres, 22 JTA joints
    jta_of_mupots = [0, 2, 4, 5, 6, 8, 9, 10, 16, 17, 18, 19, 20, 21, 15, 13, 1]
    return root_mm + 1000.0 * jta[jta_of_mupots]


def write_mupots(root: Path) -> dict:
    """MultiPersonTestSet/TS1 with 3 frames and 2 people; person 1 is invalid in frame 0;
    person 0's left wrist (joint 7) is occluded in frame 2."""
    folder = root / "TS1"
    folder.mkdir(parents=True)
    frames, people = 3, 2
    annotations = np.empty((frames, people), dtype=object)
    occlusion = np.empty((frames, people), dtype=object)
    truth = {}
    for i in range(frames):
        for p in range(people):
            annot3 = mupots_pose(np.array([-600.0 + 1200.0 * p, 200.0, 5000.0 + 100.0 * i]))
            annot2 = MUPOTS_K.project(annot3)
            annotations[i, p] = {
                "annot2": annot2.T,
                "annot3": annot3.T,
                "univ_annot3": 0.9 * annot3.T,
                "isValidFrame": np.array([[0.0 if (i, p) == (0, 1) else 1.0]]),
            }
            labels = np.zeros((1, 17))
            if (i, p) == (2, 0):
                labels[0, 7] = 1
            occlusion[i, p] = labels
            truth[(i, p)] = (annot2, annot3)
        write_image(folder / f"img_{i:06d}.jpg", flat_image(80, 60, i))
    scipy.io.savemat(folder / "annot.mat", {"annotations": annotations})
    scipy.io.savemat(folder / "occlusion.mat", {"occlusion_labels": occlusion})
    return truth


def write_muco(root: Path) -> dict:
    """MuCo-3DHP.json with two images (2 and 1 people) in augmented_set/unaugmented_set."""
    images, annotations = [], []
    k = Intrinsics(70.0, 70.0, 40.0, 30.0, 80, 60)
    truth = {}
    for image_id, (subset, count) in enumerate([("augmented_set", 2), ("unaugmented_set", 1)]):
        file_name = f"{subset}/{image_id:06d}.jpg"
        write_image(root / file_name, flat_image(80, 60, image_id))
        images.append({"id": image_id, "file_name": file_name, "width": 80, "height": 60,
                       "f": [k.fx, k.fy], "c": [k.cx, k.cy]})  # fmt: skip
        for p in range(count):
            body = mupots_pose(np.array([-500.0 + 1000 * p, 100.0, 4000.0]))
            cam = np.concatenate([body, np.full((4, 3), 4321.0)])  # hands, toes: placeholders
            img = k.project(cam)
            aid = 100 * image_id + p
            annotations.append(
                {
                    "id": aid,
                    "image_id": image_id,
                    "bbox": [0, 0, 10, 10],
                    "keypoints_img": img.tolist(),
                    "keypoints_cam": cam.tolist(),
                }
            )
            truth[aid] = (img, cam)
    (root / "MuCo-3DHP.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "MuCo-3DHP.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    return truth


# ---------------------------------------------------------------------- COCO
def coco_keypoints(points: dict[int, tuple[float, float, int]]) -> list[float]:
    flat = [0.0] * 51
    for index, (x, y, v) in points.items():
        flat[3 * index : 3 * index + 3] = [x, y, v]
    return flat


def write_coco(root: Path) -> None:
    """val2017 with image 1 (two people, one crowd region, one person without keypoints)
    and image 2 (nobody)."""
    people = {
        # person 11: left shoulder visible, right shoulder labelled but hidden, nose visible
        11: coco_keypoints(
            {0: (30.0, 10.0, 2), 5: (40.0, 20.0, 2), 6: (20.0, 21.0, 1), 15: (42.0, 50.0, 2)}
        ),  # fmt: skip
        # person 12: only a right ankle, labelled but not visible
        12: coco_keypoints({16: (70.0, 55.0, 1)}),
    }
    annotations = [
        {"id": aid, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 1,
         "bbox": [0, 0, 5, 5], "keypoints": kps}
        for aid, kps in people.items()
    ] + [
        {"id": 13, "image_id": 1, "category_id": 1, "iscrowd": 1, "num_keypoints": 0,
         "bbox": [1, 2, 10, 20], "keypoints": [0.0] * 51},
        {"id": 14, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 0,
         "bbox": [50, 5, 4, 8], "keypoints": [0.0] * 51},
    ]  # fmt: skip
    images = [
        {"id": 1, "file_name": "000000000001.jpg", "width": 96, "height": 64},
        {"id": 2, "file_name": "000000000002.jpg", "width": 96, "height": 64},
    ]
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}],
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations/person_keypoints_val2017.json").write_text(json.dumps(data))
    for index, image in enumerate(images):
        write_image(root / "val2017" / image["file_name"], flat_image(96, 64, index))
