"""The appearance cue: the descriptor of `crowdpose3d.tracking.appearance` on drawn images,
and hand-built scenes through the track stage (which computes the descriptors from each
frame's pixels) where two people meet and part again."""

from __future__ import annotations

import numpy as np
import pytest

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.poses import Poses
from crowdpose3d.stages.track import TrackParams, TrackStage
from crowdpose3d.tracking import PoseTracker
from crowdpose3d.tracking.appearance import (
    APPEARANCE,
    BAND_WIDTH,
    BANDS,
    DESCRIPTOR_SIZE,
    GRID,
    appearance_descriptors,
    appearance_distance,
)

SIZE = (360, 640)  # height, width of the drawn frames
GREY = 110  # background
RED, BLUE = (200, 40, 40), (40, 60, 200)
BOX_W, BOX_H = 50.0, 150.0
FPS = 10.0


def draw(boxes: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """(H, W, 3) grey image with each (N, 4) box filled with its colour, the box with the
    lowest bottom (the nearest person) drawn last, on top."""
    image = np.full((*SIZE, 3), GREY, np.uint8)
    for i in np.argsort(boxes[:, 3]):
        x1, y1, x2, y2 = np.round(boxes[i]).astype(int)
        image[max(y1, 0) : y2, max(x1, 0) : x2] = colours[i]
    return image


def people(boxes: np.ndarray, gt_ids: list[int]) -> Poses:
    n = len(boxes)
    return Poses(
        boxes=boxes,
        scores=np.full(n, 0.9),
        kp2d=np.zeros((n, 0, 2)),
        kp3d_rel=np.zeros((n, 0, 3)),
        data={"gt_id": np.asarray(gt_ids, np.int64)},
    )


def meet_and_part(frame: int, speed_px: float, apart_px: float = 0.0) -> np.ndarray:
    """(2, 4) boxes of two people walking towards each other along the same line at
    ``speed_px`` per frame, who meet (their centres ``apart_px`` apart, boxes overlapping)
    at frame 10 and walk back where they came from: motion alone predicts each to go on
    into the other's place."""
    turn = 10
    walked = speed_px * (frame if frame <= turn else 2 * turn - frame)
    centres = np.array(
        [320.0 - apart_px / 2 - 10 * speed_px + walked, 320 + apart_px / 2 + 10 * speed_px - walked]
    )
    bottoms = np.array([300.0, 292.0])  # the first a little nearer: drawn in front
    return np.stack([centres - BOX_W / 2, bottoms - BOX_H, centres + BOX_W / 2, bottoms], axis=1)


def track_scene(
    colours, params: dict, speed_px: float = 6.0, frames: int = 21, apart_px: float = 0.0
) -> list[Poses]:
    """The meet-and-part scene drawn with ``colours`` through the track stage."""
    stage = TrackStage(TrackParams(min_hits_to_confirm=1, **params))
    stage.open(StageContext())
    rng = np.random.default_rng(0)
    inputs = []
    for f in range(frames):
        truth = meet_and_part(f, speed_px, apart_px)
        image = draw(truth, colours)
        detected = truth + rng.normal(0.0, 1.0, truth.shape)
        inputs.append(Frame("s", f, f / FPS, image, poses=people(detected, [0, 1])))
    return [frame.poses for frame in stage(iter(inputs))]


def switches(outputs: list[Poses]) -> int:
    """Changes of track id along each true person's frames."""
    seen: dict[int, list[int]] = {}
    for out in outputs:
        for gt, track in zip(out.data["gt_id"], out.track_id, strict=True):
            seen.setdefault(int(gt), []).append(int(track))
    return sum(int(np.count_nonzero(np.diff(ids))) for ids in seen.values())


def test_the_descriptor_is_the_colour_of_the_box_middle_and_ignores_a_minority():
    boxes = np.array([[100.0, 50.0, 150.0, 200.0], [300.0, 50.0, 350.0, 200.0]])
    image = draw(boxes, [RED, BLUE])
    # A neighbour's arm across a quarter of the first box's sampled middle changes nothing.
    image[60:200, 118:121] = BLUE
    descriptors = appearance_descriptors(image, boxes)
    assert descriptors.shape == (2, DESCRIPTOR_SIZE) and descriptors.dtype == np.float32
    np.testing.assert_allclose(descriptors[0].reshape(-1, 3), np.tile(RED, (4, 1)) / 255, atol=1e-6)
    np.testing.assert_allclose(
        descriptors[1].reshape(-1, 3), np.tile(BLUE, (4, 1)) / 255, atol=1e-6
    )
    same = appearance_distance(descriptors[:1], descriptors[:1])
    other = appearance_distance(descriptors[:1], descriptors[1:])
    assert same[0] == 0.0 and other[0] > 0.5


def test_boxes_beyond_the_image_sample_its_nearest_pixels():
    image = draw(np.array([[0.0, 0.0, 40.0, 360.0]]), [RED])
    boxes = np.array([[-100.0, -50.0, 30.0, 400.0], [0.0, 0.0, 0.0, 0.0]])  # half out; empty
    descriptors = appearance_descriptors(image, boxes)
    assert np.isfinite(descriptors).all()
    assert appearance_descriptors(image, np.zeros((0, 4))).shape == (0, DESCRIPTOR_SIZE)


def descriptor_one_by_one(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The descriptor as the module docstring states it, one person and one band at a time:
    the RGB median of a GRID of pixels in the band's middle BAND_WIDTH, clamped to the
    image, scaled to [0, 1] (positions in the module's arithmetic order, so that their
    integer parts agree)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    box_w, box_h = x2 - x1, y2 - y1
    columns = (x1 + BAND_WIDTH[0] * box_w) + ((BAND_WIDTH[1] - BAND_WIDTH[0]) * box_w) * GRID_X
    bands = []
    for top, bottom in BANDS:
        rows = (y1 + box_h * top) + (box_h * (bottom - top)) * GRID_Y
        samples = [
            image[min(max(int(y), 0), height - 1), min(max(int(x), 0), width - 1)]
            for y in rows
            for x in columns
        ]  # R x C pixels, (3,) each
        bands.append(np.median(np.array(samples), axis=0) / 255.0)
    return np.concatenate(bands)


GRID_X = (np.arange(GRID[0]) + 0.5) / GRID[0]  # sample positions across a band, 0-1
GRID_Y = (np.arange(GRID[1]) + 0.5) / GRID[1]  # and down it


def test_the_descriptors_are_each_boxs_band_medians_taken_one_by_one():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    corner = rng.uniform([-80, -80], [SIZE[1] + 20, SIZE[0] + 20], (40, 2))  # some beyond
    boxes = np.concatenate([corner, corner + rng.uniform(2, 300, (40, 2))], axis=1)
    expected = np.array([descriptor_one_by_one(image, box) for box in boxes], np.float32)
    np.testing.assert_array_equal(appearance_descriptors(image, boxes), expected)


# At 15 px a frame the turn puts each person 30 px (0.6 box widths) from their track's
# prediction, too far for the default gate (min_iou 0.35: with and without the colours the
# ids swap twice); that case lowers the gate to 0.3, so both pairings stay possible and the
# colours decide.
@pytest.mark.parametrize(
    ("speed_px", "apart_px", "gate"), [(6.0, 10.0, {}), (15.0, 20.0, {"min_iou": 0.3})]
)
def test_two_people_of_different_colours_who_meet_and_part_keep_their_ids(speed_px, apart_px, gate):
    blind = {"appearance_weight": 0.0, **gate}
    without = track_scene([RED, BLUE], blind, speed_px, apart_px=apart_px)
    with_colours = track_scene([RED, BLUE], gate, speed_px, apart_px=apart_px)
    without, with_colours = switches(without), switches(with_colours)
    assert without > 0  # motion alone swaps them: the scene tests the cue
    assert with_colours == 0


def test_two_people_of_the_same_colours_do_no_worse_than_without_appearance():
    without = switches(track_scene([RED, RED], {"appearance_weight": 0.0}, apart_px=10.0))
    with_colours = switches(track_scene([RED, RED], {}, apart_px=10.0))
    assert with_colours <= without


def test_descriptors_already_in_the_detections_are_used_as_they_are():
    """A benchmark's cache brings the descriptors (its frames hold no pixels): the stage
    must not recompute them from the frame's stand-in image."""
    stage = TrackStage(TrackParams(min_hits_to_confirm=1))
    stage.open(StageContext())
    boxes = meet_and_part(0, 6.0)
    given = np.full((2, DESCRIPTOR_SIZE), 0.25, np.float32)
    poses = people(boxes, [0, 1])
    poses.data[APPEARANCE] = given
    blank = np.zeros((*SIZE, 3), np.uint8)
    out = next(stage(iter([Frame("s", 0, 0.0, blank, poses=poses)])))
    np.testing.assert_array_equal(out.poses.data[APPEARANCE], given)
    np.testing.assert_allclose(stage.tracker.tracks.appearance, 0.25)


def test_the_resume_state_carries_each_tracks_appearance():
    outputs = track_scene([RED, BLUE], {}, frames=8)
    assert switches(outputs) == 0
    tracker = PoseTracker(min_hits_to_confirm=1)
    rng = np.random.default_rng(1)
    for f in range(6):
        truth = meet_and_part(f, 6.0)
        poses = people(truth, [0, 1])
        poses.data[APPEARANCE] = np.stack([np.full(DESCRIPTOR_SIZE, v) for v in (0.2, 0.7)])
        poses.data[APPEARANCE] += rng.normal(0, 0.01, (2, DESCRIPTOR_SIZE))
        tracker.update(poses, f / FPS)
    state = tracker.state_dict()
    assert state["tracks.appearance"].shape == (2, DESCRIPTOR_SIZE)
    resumed = PoseTracker(min_hits_to_confirm=1)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(resumed.tracks.appearance, tracker.tracks.appearance)
    # A state saved before the appearance column resumes with unknown appearances.
    older = {k: v for k, v in state.items() if k != "tracks.appearance"}
    resumed.load_state_dict(older)
    assert np.isnan(resumed.tracks.appearance).all() and resumed.tracks.appearance.shape == (2, 12)


def test_the_median_is_numpys_median():
    from crowdpose3d.tracking.appearance import _median

    rng = np.random.default_rng(0)
    for count in (12, 11, 1, 2):
        pixels = rng.integers(0, 256, (5, 4, count, 3), dtype=np.uint8)
        np.testing.assert_array_equal(_median(pixels), np.median(pixels, axis=2))


def test_frames_without_people_and_a_wrong_descriptor_length():
    stage = TrackStage(TrackParams(min_hits_to_confirm=1, fill_gaps_s=0))  # frame 1 stays empty
    stage.open(StageContext())
    image = draw(meet_and_part(0, 6.0), [RED, BLUE])
    frames = [
        Frame("s", 0, 0.0, image, poses=people(meet_and_part(0, 6.0), [0, 1])),
        Frame("s", 1, 0.1, image, poses=people(np.zeros((0, 4)), [])),  # nobody detected
        Frame("s", 2, 0.2, image, poses=people(meet_and_part(2, 6.0), [0, 1])),
    ]
    outputs = [frame.poses for frame in stage(iter(frames))]
    assert [len(out) for out in outputs] == [2, 0, 2]
    assert sorted(outputs[2].track_id) == [1, 2]
    wrong = people(meet_and_part(3, 6.0), [0, 1])
    wrong.data[APPEARANCE] = np.zeros((2, DESCRIPTOR_SIZE + 1))
    with pytest.raises(ValueError, match="appearance"):
        stage.tracker.update(wrong, 0.3)
