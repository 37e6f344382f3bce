"""Dataset loaders and video frames, on tiny fixtures written in each dataset's real format
(see dataset_fixtures.py): pixel positions, metres in the camera frame, validity,
visibility, ids, intrinsics, image content and skeleton mapping."""

from __future__ import annotations

import json
import math
import pickle

import av
import cv2
import numpy as np
import pytest
from dataset_fixtures import (
    MUPOTS_K,
    PANOPTIC_SEQUENCE,
    frame_colour,
    write_coco,
    write_jta,
    write_muco,
    write_mupots,
    write_panoptic,
    write_video,
)

from crowdpose3d.core.skeleton import JTA22, MUPOTS17, PANOPTIC19
from crowdpose3d.data.coco import COCO17, COCODataset
from crowdpose3d.data.common import boxes_from_joints
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.frames import VideoFrames
from crowdpose3d.data.jta import JTA_INTRINSICS, JTADataset
from crowdpose3d.data.mupots import MuCoDataset, MuPoTSDataset
from crowdpose3d.data.panoptic import PanopticDataset, distorted_pixels

COLOUR_TOLERANCE = 6  # H.264 / JPEG round trip of a flat colour


def assert_colour(image: np.ndarray, index: int) -> None:
    mean = image.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, frame_colour(index), atol=COLOUR_TOLERANCE)


# ---------------------------------------------------------------------- VideoFrames
@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(7)]
    write_video(path, frames, fps=12)
    return path


def decode_all(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_video_frames_random_access_equals_sequential_decode(video):
    sequential = decode_all(video)
    frames = VideoFrames(video)
    assert (len(frames), frames.size, frames.fps) == (7, (64, 48), 12.0)
    for index in (5, 0, 6, 2, 2, -1):
        np.testing.assert_array_equal(frames[index], sequential[index])
    assert frames.decoded_frames == 7  # decoded once, whatever the access order
    with pytest.raises(IndexError):
        frames[7]
    every_third = VideoFrames(video, step=3)
    assert len(every_third) == 3
    np.testing.assert_array_equal(every_third[2], sequential[6])


def test_video_frames_cache_is_reused(video, tmp_path):
    first = VideoFrames(video, cache_dir=tmp_path)
    np.testing.assert_array_equal(first[4], decode_all(video)[4])
    assert first.decoded_frames == 7
    assert len(list(tmp_path.glob("clip-*.u8"))) == 1 and len(list(tmp_path.glob("*.json"))) == 1

    second = VideoFrames(video, cache_dir=tmp_path)
    np.testing.assert_array_equal(second[4], first[4])
    assert len(second) == 7 and second.decoded_frames == 0  # served by the cache
    assert second[4].flags.writeable  # a copy: transforms may draw on it
    clone = pickle.loads(pickle.dumps(second))  # as a DataLoader worker gets it
    np.testing.assert_array_equal(clone[4], first[4])
    assert clone.decoded_frames == 0
    # Another step is another cache entry.
    assert VideoFrames(video, cache_dir=tmp_path, step=2)[1].shape == (48, 64, 3)
    assert len(list(tmp_path.glob("clip-*.u8"))) == 2


def test_video_frames_errors(tmp_path, video):
    with pytest.raises(DatasetError, match="video not found"):
        VideoFrames(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(DatasetError, match="not a video"):
        VideoFrames(text)
    # Truncated with the index at the end (default MP4): the file cannot even be opened.
    data = video.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated.mp4"):
        len(VideoFrames(truncated))
    # Truncated with the index first (faststart): opens, then fewer frames than announced.
    rng = np.random.default_rng(2)
    noisy = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(10)]
    faststart = tmp_path / "faststart.mp4"
    write_video(faststart, noisy, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: int(faststart.stat().st_size * 0.6)])
    with pytest.raises(DatasetError, match="truncated: its header announces 10 frames"):
        len(VideoFrames(cut))


# ---------------------------------------------------------------------- boxes
def test_boxes_from_joints_margin_and_clipping():
    kp2d = np.array([[[10.0, 20.0], [30.0, 60.0], [500.0, 500.0]], [[0, 0], [0, 0], [0, 0]]])
    valid = np.array([[True, True, False], [False, False, False]])
    boxes = boxes_from_joints(kp2d, valid, width=100, height=62, head_margin=0.1)
    # extent 20 x 40 -> pad 4 on every side, plus 4 on top
    np.testing.assert_allclose(boxes, [[6.0, 12.0, 34.0, 62.0], [0, 0, 0, 0]])


# ---------------------------------------------------------------------- JTA
@pytest.fixture(scope="module")
def jta(tmp_path_factory):
    root = tmp_path_factory.mktemp("jta")
    return root, write_jta(root)


def test_jta_labels_visibility_and_intrinsics(jta):
    root, truth = jta
    dataset = JTADataset(root, "train")
    assert len(dataset) == 5  # seq_0 frames 1-3, seq_1 frames 1-2
    sample = dataset[1]
    assert (sample.sequence, sample.frame) == ("jta/train/seq_0", 2)
    # Person 9 (every joint occluded) and person 4 (off-screen) are dropped.
    np.testing.assert_array_equal(sample.person_ids, [7])
    walker = truth["seq_0"][(2, 7)]
    np.testing.assert_allclose(sample.kp3d[0], walker, atol=1e-6)
    np.testing.assert_allclose(sample.kp2d[0], JTA_INTRINSICS.project(walker), atol=0.006)
    # The head top of a person at 8 m: u = 1158 * 0 / 8 + 960, v = 1158 * -0.3 / 8 + 540.
    np.testing.assert_allclose(sample.kp2d[0, 0], [960.0, 496.575], atol=0.006)
    assert sample.kp2d_valid.all() and sample.kp3d_valid.all()
    hidden = np.flatnonzero(~sample.visible[0])
    np.testing.assert_array_equal(hidden, [6, 10])  # occluded, self-occluded
    assert sample.intrinsics == JTA_INTRINSICS and "camera" not in sample.extra
    assert sample.image.shape == (1080, 1920, 3)
    assert_colour(sample.image, 1)  # frame 2 is video frame 1
    expected_box = boxes_from_joints(sample.kp2d, sample.kp2d_valid, 1920, 1080)
    np.testing.assert_allclose(sample.boxes, expected_box)
    x1, y1, x2, y2 = sample.boxes[0]
    height = sample.kp2d[0, :, 1].max() - sample.kp2d[0, :, 1].min()
    assert y1 == pytest.approx(sample.kp2d[0, 0, 1] - 0.1 * height, abs=1e-3)

    synthetic = dataset[4]  # seq_1 frame 2: the sequence's own camera file
    assert synthetic.intrinsics.fx == 100.0 and synthetic.intrinsics.width == 160
    assert synthetic.extra["camera"].intrinsics == synthetic.intrinsics
    assert_colour(synthetic.image, 4)
    # Every sample's 2D labels are the projection of its 3D labels (files round to 0.01 px).
    for sample in dataset:
        error = np.abs(sample.intrinsics.project(sample.kp3d) - sample.kp2d)
        assert error.max() < 0.5


def test_jta_frame_step_mapping_and_cache(jta, tmp_path):
    root, truth = jta
    every_other = JTADataset(root, "train", frame_step=2, cache_dir=tmp_path)
    assert [(s.sequence[-5:], s.frame) for s in every_other] == [
        ("seq_0", 1),
        ("seq_0", 3),
        ("seq_1", 1),
    ]
    assert_colour(every_other[1].image, 2)  # frame 3 is video frame 2
    assert len(list(tmp_path.glob("jta-seq_*.npy"))) == 2
    again = JTADataset(root, "train", frame_step=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(again[1].kp2d, every_other[1].kp2d)

    mupots = JTADataset(root, "train", skeleton=MUPOTS17, sequences=["seq_1"])[0]
    assert mupots.skeleton == MUPOTS17 and len(mupots) == 1
    person = truth["seq_1"][(1, 0)]
    np.testing.assert_allclose(mupots.kp3d[0, MUPOTS17.root], person[JTA22.root], atol=1e-6)
    spine = MUPOTS17.index("spine")
    assert not mupots.kp3d_valid[0, spine] and mupots.kp3d_valid[0, MUPOTS17.root]


def test_jta_errors(jta, tmp_path):
    root, _ = jta
    with pytest.raises(DatasetError, match="annotations/train"):
        JTADataset(tmp_path, "train")
    with pytest.raises(DatasetError, match="seq_99"):
        JTADataset(root, "train", sequences=["seq_99"])
    with pytest.raises(ValueError, match="unknown JTA split"):
        JTADataset(root, "training")


# ---------------------------------------------------------------------- CMU Panoptic
@pytest.fixture(scope="module")
def panoptic(tmp_path_factory):
    root = tmp_path_factory.mktemp("panoptic")
    return root, write_panoptic(root)


def test_panoptic_world_cm_to_camera_metres(panoptic):
    root, truth = panoptic
    dataset = PanopticDataset(root, "test", sequences=[PANOPTIC_SEQUENCE])
    assert len(dataset) == 4  # cameras 00_16 and 00_30, HD frames 0 and 1
    sample = dataset[0]
    assert (sample.sequence, sample.frame) == (f"panoptic/{PANOPTIC_SEQUENCE}/00_16", 0)
    np.testing.assert_array_equal(sample.person_ids, [3])  # body 8 is behind the camera
    # Nose at world (100, 0, 0) cm; camera 00_16: R = quarter turn about z, t = (10, 20, 300) cm.
    np.testing.assert_allclose(sample.kp3d[0, 1], [0.1, 1.2, 3.0], atol=1e-6)
    np.testing.assert_allclose(sample.kp2d[0, 1], [50 * 0.1 / 3 + 32, 50 * 1.2 / 3 + 24], atol=1e-4)
    # Joint i at world (10 i, 5 i, 0) cm -> camera (0.1 - 0.05 i, 0.2 + 0.1 i, 3) m.
    np.testing.assert_allclose(sample.kp3d[0, 8], [-0.3, 1.0, 3.0], atol=1e-6)
    # c = -1 (joint 4) and c = 0.05 (joint 5) are unlabelled.
    np.testing.assert_array_equal(np.flatnonzero(~sample.kp3d_valid[0]), [4, 5])
    np.testing.assert_array_equal(np.flatnonzero(~sample.kp2d_valid[0]), [4, 5])
    # Joints below the image (v >= 48) are labelled but not visible.
    below = sample.kp2d[0, :, 1] >= 48
    assert below.any()
    np.testing.assert_array_equal(sample.visible[0], sample.kp2d_valid[0] & ~below)
    k = sample.intrinsics
    assert (k.fx, k.cx, k.width, k.height) == (50.0, 32.0, 64, 48)
    assert_colour(sample.image, 0)  # from hdImgs/00_16/00_16_00000000.jpg


def test_panoptic_distortion_video_frames_and_train_cameras(panoptic):
    root, truth = panoptic
    dataset = PanopticDataset(root, "test", sequences=[PANOPTIC_SEQUENCE])
    sample = dataset[3]  # camera 00_30, HD frame 1: from hdVideos/hd_00_30.mp4
    assert sample.sequence.endswith("00_30") and sample.frame == 1
    assert_colour(sample.image, 3)
    cam = truth["cameras"]["00_30"]
    world_m = (truth["joints_cm"][:, :3] + [10.0, 0, 0]) / 100.0
    expected, _ = cv2.projectPoints(
        world_m,
        cv2.Rodrigues(np.array(cam["R"]))[0],
        np.array(cam["t"]) / 100.0,
        np.array(cam["K"]),
        np.array(cam["distCoef"]),
    )
    valid = sample.kp2d_valid[0]
    np.testing.assert_allclose(sample.kp2d[0][valid], expected[:, 0][valid], atol=1e-4)
    np.testing.assert_allclose(sample.extra["dist_coeffs"], cam["distCoef"])
    behind = distorted_pixels(np.array([0.0, 0.0, -1.0]), sample.intrinsics, np.zeros(5))
    assert np.isnan(behind).all()

    # Training cameras: 00_05 only (00_07 has no images, 01_01 is a VGA camera).
    train = PanopticDataset(root, "train", sequences=[PANOPTIC_SEQUENCE])
    assert [s.sequence.rsplit("/", 1)[1] for s in train] == ["00_05", "00_05"]
    with pytest.raises(DatasetError, match="no frames for camera 00_07"):
        PanopticDataset(root, "test", sequences=[PANOPTIC_SEQUENCE], cameras=["00_07"])

    jta = PanopticDataset(root, "test", skeleton=JTA22, sequences=[PANOPTIC_SEQUENCE])[0]
    body_centre = dataset[0].kp3d[0, PANOPTIC19.root]
    np.testing.assert_allclose(jta.kp3d[0, JTA22.root], body_centre, atol=1e-6)
    assert not jta.kp3d_valid[0, JTA22.index("spine0")]


# ---------------------------------------------------------------------- MuPoTS-3D / MuCo
@pytest.fixture(scope="module")
def mupots(tmp_path_factory):
    root = tmp_path_factory.mktemp("MultiPersonTestSet")
    return root, write_mupots(root)


def test_mupots_frames_people_units_and_fitted_intrinsics(mupots):
    root, truth = mupots
    dataset = MuPoTSDataset(root, sequences=[1])
    assert len(dataset) == 3
    fitted = dataset.intrinsics(1)
    for name in ("fx", "fy", "cx", "cy"):
        assert getattr(fitted, name) == pytest.approx(getattr(MUPOTS_K, name), abs=1e-3)
    assert (fitted.width, fitted.height) == (80, 60)

    first = dataset[0]
    np.testing.assert_array_equal(first.person_ids, [0])  # person 1: isValidFrame = 0
    annot2, annot3 = truth[(0, 0)]
    np.testing.assert_allclose(first.kp3d[0], annot3 / 1000.0, atol=1e-6)  # mm -> m
    np.testing.assert_allclose(first.kp2d[0], annot2, atol=1e-4)
    np.testing.assert_allclose(first.extra["kp3d_univ"][0], 0.9 * annot3 / 1000.0, atol=1e-6)
    assert first.kp3d[0, MUPOTS17.root, 2] == pytest.approx(5.0)
    assert_colour(first.image, 0)

    last = dataset[2]
    np.testing.assert_array_equal(last.person_ids, [0, 1])
    np.testing.assert_array_equal(np.flatnonzero(~last.visible[0]), [7])  # occluded wrist
    assert last.visible[1].all() and last.kp3d_valid.all()
    assert_colour(last.image, 2)


def test_mupots_intrinsics_file(mupots, tmp_path):
    root, _ = mupots
    images = [
        {"id": i, "file_name": f"TS1/img_{i:06d}.jpg", "width": 80, "height": 60,
         "intrinsic": [61.0, 63.0, 41.0, 31.0]}
        for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "MuPoTS-3D.json"
    path.write_text(json.dumps({"images": images, "annotations": []}))
    dataset = MuPoTSDataset(root, sequences=[1], intrinsics_file=path)
    intrinsics = dataset[1].intrinsics
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (61.0, 63.0, 41.0, 31.0)
    with pytest.raises(DatasetError, match="TS2"):
        MuPoTSDataset(root, sequences=[2])


def test_muco_keeps_the_17_mupots_joints(tmp_path):
    truth = write_muco(tmp_path)
    dataset = MuCoDataset(tmp_path)
    assert len(dataset) == 2
    sample = dataset[0]
    np.testing.assert_array_equal(sample.person_ids, [0, 1])
    image_px, cam_mm = truth[1]
    np.testing.assert_allclose(sample.kp3d[1], cam_mm[:17] / 1000.0, atol=1e-6)
    np.testing.assert_allclose(sample.kp2d[1], image_px[:17], atol=1e-4)
    assert sample.intrinsics.fx == 70.0 and sample.intrinsics.cx == 40.0
    assert sample.kp3d_valid.all()
    assert_colour(sample.image, 0)
    unaugmented = MuCoDataset(tmp_path, subset="unaugmented_set")
    assert len(unaugmented) == 1
    np.testing.assert_array_equal(unaugmented[0].person_ids, [100])
    jta = MuCoDataset(tmp_path, skeleton=JTA22)[0]
    head_top = MUPOTS17.index("head_top")
    np.testing.assert_allclose(jta.kp3d[:, 0], sample.kp3d[:, head_top])


# ---------------------------------------------------------------------- COCO
def test_coco_2d_only_mapping_and_ignored_people(tmp_path):
    write_coco(tmp_path)
    dataset = COCODataset(tmp_path, "val")  # onto JTA22 by default
    assert len(dataset) == 1  # image 2 has nobody
    assert len(COCODataset(tmp_path, "val", keep_empty=True)) == 2
    sample = dataset[0]
    np.testing.assert_array_equal(sample.person_ids, [11, 12])
    assert not sample.intrinsics_known and not sample.kp3d_valid.any()
    assert sample.intrinsics.fx == pytest.approx(48 / math.tan(math.radians(30)))
    left_shoulder, right_shoulder = JTA22.index("left_shoulder"), JTA22.index("right_shoulder")
    np.testing.assert_allclose(sample.kp2d[0, left_shoulder], [40.0, 20.0])
    np.testing.assert_allclose(sample.kp2d[0, right_shoulder], [20.0, 21.0])
    assert sample.visible[0, left_shoulder] and not sample.visible[0, right_shoulder]
    assert sample.kp2d_valid[0, right_shoulder]
    np.testing.assert_array_equal(
        np.flatnonzero(sample.kp2d_valid[0]), sorted([left_shoulder, right_shoulder, 21])
    )
    # Person 12 has only a hidden right ankle: kept (its position is labelled), not visible.
    assert sample.kp2d_valid[1, JTA22.index("right_ankle")] and not sample.visible[1].any()
    # Box from the four COCO joints (x 20..42, y 10..50): pad 4, plus 4 on top (no head top).
    np.testing.assert_allclose(sample.boxes[0], [16.0, 2.0, 46.0, 54.0])
    np.testing.assert_allclose(sample.extra["ignore_boxes"], [[1, 2, 11, 22], [50, 5, 54, 13]])
    assert_colour(sample.image, 0)

    panoptic = COCODataset(tmp_path, "val", skeleton=PANOPTIC19)[0]
    np.testing.assert_allclose(panoptic.kp2d[0, PANOPTIC19.index("nose")], [30.0, 10.0])
    assert COCODataset(tmp_path, "val", skeleton=COCO17)[0].kp2d_valid[0].sum() == 4
    with pytest.raises(DatasetError, match="person_keypoints_train2017.json"):
        COCODataset(tmp_path, "train")
