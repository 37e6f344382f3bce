"""Transforms keep image, 2D, 3D and intrinsics in agreement, and follow their labelling rules.

Samples are random 3D people seen by a known camera, their 2D labels exact projections, so
``intrinsics.project(kp3d) == kp2d`` must survive any chain of geometric transforms.
"""

from dataclasses import replace

import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.data.dataset import random_sample
from crowdpose3d.data.sample import Sample
from crowdpose3d.data.transforms import (
    DEFAULT_FILL,
    ColorJitter,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    ResizeToFit,
    crop,
    flip_horizontally,
    resize,
)
from crowdpose3d.geometry.camera import Intrinsics

HEIGHT, WIDTH = 240, 320


def scene(seed: int = 0, num_people: int = 6, height: int = HEIGHT, width: int = WIDTH):
    rng = np.random.default_rng(seed)
    return random_sample(rng, height=height, width=width, num_people=num_people, skeleton=JTA22)


def reprojection_error(sample: Sample) -> float:
    """Largest |project(kp3d) - kp2d| in pixels over labelled joints (0 when nobody)."""
    if len(sample) == 0:
        return 0.0
    error = np.abs(sample.intrinsics.project(sample.kp3d) - sample.kp2d).max(axis=-1)
    return float(error[sample.kp2d_valid & sample.kp3d_valid].max(initial=0.0))


def test_random_scenes_start_consistent():
    sample = scene()
    assert reprojection_error(sample) < 1e-3
    assert sample.visible.any()


@pytest.mark.parametrize(
    "transform",
    [
        RandomScale(0.5, 2.0),
        RandomScale(0.8, 1.2, fit_size=(128, 160)),
        RandomCrop(160, 224),
        RandomCrop(320, 416),  # larger than the image: padding on both axes
        RandomCrop(128, 416),  # crop one axis, pad the other
        RandomHorizontalFlip(p=1.0),
        ResizeToFit(256, 288),
        ColorJitter(0.4, 0.4, 0.4, 0.1),
    ],
    ids=repr,
)
def test_each_transform_keeps_2d_and_3d_in_agreement(transform):
    for seed in range(5):
        out = transform(scene(seed), np.random.default_rng(seed))
        assert out.image.shape[:2] == (out.intrinsics.height, out.intrinsics.width)
        assert reprojection_error(out) < 1e-3


def test_random_compositions_keep_2d_and_3d_in_agreement():
    pieces = [
        RandomScale(0.6, 1.6),
        RandomCrop(192, 256, person_bias=0.5),
        RandomHorizontalFlip(p=0.5),
        ColorJitter(0.2, 0.2, 0.2, 0.05),
        RandomCrop(96, 128, person_bias=1.0),
    ]
    rng = np.random.default_rng(7)
    for seed in range(12):
        chosen = rng.permutation(len(pieces))[: rng.integers(2, len(pieces) + 1)]
        transform = Compose([pieces[i] for i in chosen] + [RandomCrop(160, 192)])
        out = transform(scene(seed, num_people=10), np.random.default_rng(seed))
        assert out.image.shape == (160, 192, 3)
        assert reprojection_error(out) < 1e-3


def test_transforms_do_not_modify_their_input():
    sample = scene()
    image, kp2d, kp3d, boxes = (
        a.copy() for a in (sample.image, sample.kp2d, sample.kp3d, sample.boxes)
    )
    transform = Compose(
        [RandomScale(0.5, 2), RandomCrop(128, 160), RandomHorizontalFlip(1.0), ColorJitter(0.5)]
    )
    transform(sample, np.random.default_rng(0))
    for before, after in ((image, sample.image), (kp2d, sample.kp2d), (kp3d, sample.kp3d)):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(boxes, sample.boxes)


def test_same_generator_state_gives_the_same_output():
    transform = Compose([RandomScale(0.5, 2), RandomCrop(128, 160), RandomHorizontalFlip()])
    first = transform(scene(), np.random.default_rng(3))
    second = transform(scene(), np.random.default_rng(3))
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.kp2d, second.kp2d)


# ---------------------------------------------------------------------- flip
def test_flip_twice_is_the_identity():
    sample = scene()
    twice = flip_horizontally(flip_horizontally(sample))
    np.testing.assert_array_equal(twice.image, sample.image)
    np.testing.assert_allclose(twice.kp2d, sample.kp2d, atol=1e-4)
    np.testing.assert_array_equal(twice.kp3d, sample.kp3d)
    np.testing.assert_allclose(twice.boxes, sample.boxes, atol=1e-4)
    for name in ("kp2d_valid", "kp3d_valid", "visible"):
        np.testing.assert_array_equal(getattr(twice, name), getattr(sample, name))
    assert twice.intrinsics == sample.intrinsics


def test_flip_mirrors_pixels_and_swaps_left_and_right_joints():
    sample = scene()
    sample.visible[0, JTA22.index("right_wrist")] = False  # a mask must travel with its joint
    flipped = flip_horizontally(sample)
    left, right = JTA22.index("left_wrist"), JTA22.index("right_wrist")
    np.testing.assert_array_equal(flipped.image, sample.image[:, ::-1])
    # The new left wrist is where the old right wrist was, mirrored: u -> W - 1 - u, x -> -x.
    np.testing.assert_allclose(
        flipped.kp2d[:, left, 0], WIDTH - 1 - sample.kp2d[:, right, 0], atol=1e-4
    )
    np.testing.assert_allclose(flipped.kp2d[:, left, 1], sample.kp2d[:, right, 1], atol=1e-4)
    np.testing.assert_allclose(flipped.kp3d[:, left], sample.kp3d[:, right] * [-1, 1, 1])
    assert not flipped.visible[0, left] and flipped.visible[0, right] == sample.visible[0, left]
    # The root (a centre joint) stays itself.
    root = JTA22.root
    np.testing.assert_allclose(flipped.kp3d[:, root], sample.kp3d[:, root] * [-1, 1, 1])
    assert flipped.intrinsics.cx == pytest.approx(WIDTH - 1 - sample.intrinsics.cx)
    np.testing.assert_allclose(flipped.boxes[:, 0], WIDTH - 1 - sample.boxes[:, 2], atol=1e-4)
    assert (flipped.boxes[:, 2] >= flipped.boxes[:, 0]).all()


def test_random_flip_probability():
    sample = scene()
    rng = np.random.default_rng(0)
    flips = sum(
        RandomHorizontalFlip(p=0.3)(sample, rng).intrinsics != sample.intrinsics for _ in range(400)
    )
    assert 80 < flips < 160
    assert RandomHorizontalFlip(p=0.0)(sample, rng) is sample


# ---------------------------------------------------------------------- scale
def test_resize_scales_the_focal_and_moves_the_principal_point():
    sample = scene()
    big = resize(sample, 2 * WIDTH, 2 * HEIGHT)
    assert big.image.shape == (2 * HEIGHT, 2 * WIDTH, 3)
    k, k2 = sample.intrinsics, big.intrinsics
    assert (k2.fx, k2.fy) == pytest.approx((2 * k.fx, 2 * k.fy))
    assert (k2.cx, k2.cy) == pytest.approx(((k.cx + 0.5) * 2 - 0.5, (k.cy + 0.5) * 2 - 0.5))
    np.testing.assert_allclose(big.kp2d, (sample.kp2d + 0.5) * 2 - 0.5, atol=1e-3)
    np.testing.assert_array_equal(big.kp3d, sample.kp3d)
    # Pixel (i, j) of the original is the 2x2 block at (2i, 2j) of the enlarged one: the same
    # colour at its centre (2i + 0.5, 2j + 0.5) for a flat image.
    flat = replace(sample, image=np.full_like(sample.image, 90))
    assert (resize(flat, WIDTH // 2, HEIGHT // 2).image == 90).all()


def test_random_scale_range_and_fit_size():
    sample = scene()
    rng = np.random.default_rng(0)
    widths = [RandomScale(0.5, 2.0)(sample, rng).image.shape[1] for _ in range(50)]
    assert 0.5 * WIDTH <= min(widths) < 0.7 * WIDTH and 1.6 * WIDTH < max(widths) <= 2 * WIDTH
    fitted = RandomScale(1.0, 1.0, fit_size=(120, 200))(sample, rng)
    assert fitted.image.shape[:2] == (120, 160)  # limited by the height: 240 -> 120


# ---------------------------------------------------------------------- crop
def test_crop_moves_the_principal_point_and_the_labels_by_the_offset():
    sample = scene()
    out = crop(sample, 30, 20, 200, 150, min_box_fraction=0.0, min_joints_inside=0)
    np.testing.assert_array_equal(out.image, sample.image[20:170, 30:230])
    assert (out.intrinsics.cx, out.intrinsics.cy) == (
        sample.intrinsics.cx - 30,
        sample.intrinsics.cy - 20,
    )
    assert (out.intrinsics.fx, out.intrinsics.width, out.intrinsics.height) == (
        sample.intrinsics.fx,
        200,
        150,
    )
    np.testing.assert_allclose(out.kp2d, sample.kp2d - [30, 20], atol=1e-4)
    np.testing.assert_array_equal(out.kp3d, sample.kp3d)


def test_crop_pads_with_the_fill_colour():
    sample = scene()
    out = crop(sample, -10, -5, WIDTH + 30, HEIGHT + 15, fill=(1, 2, 3))
    np.testing.assert_array_equal(out.image[5 : 5 + HEIGHT, 10 : 10 + WIDTH], sample.image)
    assert (out.image[:5] == [1, 2, 3]).all() and (out.image[:, :10] == [1, 2, 3]).all()
    assert (out.image[:, 10 + WIDTH :] == [1, 2, 3]).all()
    # A window that holds the whole image drops nobody and keeps every visible joint visible.
    assert len(out) == len(sample)
    np.testing.assert_array_equal(out.visible, sample.visible)
    padded = RandomCrop(HEIGHT + 64, WIDTH + 64)(sample, np.random.default_rng(0))
    left = round(padded.intrinsics.cx - sample.intrinsics.cx)  # where the image landed
    top = round(padded.intrinsics.cy - sample.intrinsics.cy)
    assert 0 <= left <= 64 and 0 <= top <= 64
    np.testing.assert_array_equal(
        padded.image[top : top + HEIGHT, left : left + WIDTH], sample.image
    )
    is_fill = (padded.image == DEFAULT_FILL).all(axis=-1)
    is_fill[top : top + HEIGHT, left : left + WIDTH] = True
    assert is_fill.all()


def person(box, num_joints=JTA22.num_joints):
    """Joints spread on the diagonal of an xyxy box (the box is their extent)."""
    t = np.linspace(0, 1, num_joints)[:, None]
    return np.asarray(box[:2]) + t * (np.asarray(box[2:]) - np.asarray(box[:2]))


def hand_made_sample(boxes):
    n, k = len(boxes), JTA22.num_joints
    intrinsics = Intrinsics(300.0, 300.0, 159.5, 119.5, WIDTH, HEIGHT)
    kp2d = np.stack([person(b) for b in boxes])
    depth = np.full((n, k, 1), 5.0)
    kp3d = intrinsics.back_project(kp2d, depth[..., 0])
    ones = np.ones((n, k), bool)
    return Sample(
        image=np.zeros((HEIGHT, WIDTH, 3), np.uint8),
        boxes=np.asarray(boxes, np.float32),
        kp2d=kp2d,
        kp3d=kp3d,
        kp2d_valid=ones,
        kp3d_valid=ones,
        visible=ones,
        person_ids=np.arange(n),
        intrinsics=intrinsics,
        skeleton=JTA22,
    )


def test_crop_drops_people_mostly_outside_and_hides_joints_outside():
    # Window: x in [100, 200), y in [0, 240).
    boxes = [
        (120, 50, 180, 150),  # 0: inside
        (160, 50, 260, 150),  # 1: 40 % of the box inside, 9 joints inside: kept
        (180, 50, 280, 150),  # 2: 20 % inside: dropped
        (195, 50, 205, 250),  # 3: 45 % of its in-image area inside, 10 joints inside: kept
        (90, 0, 110, 10),  # 4: half inside, small: kept
        (10, 10, 99, 230),  # 5: entirely left of the window: dropped
    ]
    sample = hand_made_sample(boxes)
    out = crop(sample, 100, 0, 100, HEIGHT)
    assert out.person_ids.tolist() == [0, 1, 3, 4]
    # Person 1: joints past x = 200 (u >= 99.5 in the crop) are labelled but not visible.
    inside = sample.kp2d[1, :, 0] < 199.5
    np.testing.assert_array_equal(out.visible[1], inside)
    assert out.kp2d_valid[1].all() and out.kp3d_valid[1].all()
    np.testing.assert_allclose(out.kp2d[1], sample.kp2d[1] - [100, 0], atol=1e-4)
    # Boxes are clipped to the window's pixel extent [-0.5, 99.5].
    np.testing.assert_allclose(out.boxes[1], (60, 50, 99.5, 150))
    np.testing.assert_allclose(out.boxes[2], (95, 50, 99.5, 239.5))  # person 3
    # The joint rule: a box mostly inside but with one labelled joint inside is dropped.
    one_joint = hand_made_sample([(120, 50, 180, 150)])
    one_joint.kp2d_valid[0, 1:] = False
    one_joint.kp2d[0, 0] = (150, 100)
    one_joint.kp2d[0, 1:] = (10, 10)  # unlabelled joints do not count
    assert len(crop(one_joint, 100, 0, 100, HEIGHT)) == 1  # it had only one to begin with
    two_joints = hand_made_sample([(120, 50, 180, 150)])
    two_joints.kp2d[0, 1:] = (10, 10)  # labelled but outside the window
    assert len(crop(two_joints, 100, 0, 100, HEIGHT)) == 0
    assert len(crop(two_joints, 100, 0, 100, HEIGHT, min_joints_inside=1)) == 1


def test_person_biased_crops_contain_someone():
    sample = scene(num_people=1, height=480, width=640)
    box = sample.boxes[0]
    centre = (box[:2] + box[2:]) / 2
    assert 0 <= centre[0] < 640 and 0 <= centre[1] < 480
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = RandomCrop(64, 64, person_bias=1.0, min_box_fraction=0.0, min_joints_inside=0)(
            sample, rng
        )
        left, top = (
            sample.intrinsics.cx - out.intrinsics.cx,
            sample.intrinsics.cy - out.intrinsics.cy,
        )
        assert left <= centre[0] < left + 64 and top <= centre[1] < top + 64


# ---------------------------------------------------------------------- colour
def test_color_jitter_changes_pixels_only():
    sample = scene()
    out = ColorJitter(0.4, 0.4, 0.4, 0.1)(sample, np.random.default_rng(1))
    assert out.image.shape == sample.image.shape and out.image.dtype == np.uint8
    changed = np.abs(out.image.astype(int) - sample.image.astype(int)).mean()
    assert changed > 5
    np.testing.assert_array_equal(out.kp2d, sample.kp2d)
    assert out.intrinsics == sample.intrinsics
    assert ColorJitter()(sample, np.random.default_rng(1)) is sample


def test_color_jitter_brightness_and_hue():
    sample = replace(scene(), image=np.full((HEIGHT, WIDTH, 3), 100, np.uint8))
    rng = np.random.default_rng(0)
    brighter = ColorJitter(brightness=0.5)  # a flat grey image times a factor in [0.5, 1.5]
    values = {int(brighter(sample, rng).image[0, 0, 0]) for _ in range(20)}
    assert 50 <= min(values) < 80 and 120 < max(values) <= 150
    red = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    red[..., 0] = 200
    shifted = ColorJitter(hue=0.5)(replace(sample, image=red), rng)
    assert shifted.image[0, 0].tolist() != [200, 0, 0]
    assert (shifted.image == shifted.image[0, 0]).all()  # the same shift everywhere


# ---------------------------------------------------------------------- letterbox
def test_resize_to_fit_letterboxes_and_maps_back():
    sample = scene(height=HEIGHT, width=WIDTH)
    fit = ResizeToFit(320, 320)
    out = fit(sample)
    assert out.image.shape == (320, 320, 3)
    box = out.extra["letterbox"]
    assert (box.scale_x, box.scale_y, box.pad_left, box.pad_top) == (1.0, 1.0, 0, 40)
    assert (out.image[:40] == DEFAULT_FILL).all() and (out.image[280:] == DEFAULT_FILL).all()
    assert len(out) == len(sample)
    np.testing.assert_allclose(box.points_to_original(out.kp2d), sample.kp2d, atol=1e-3)

    wide = scene(height=1080, width=1920, num_people=4)
    out = ResizeToFit(576, 928)(wide)
    box = out.extra["letterbox"]
    assert out.image.shape == (576, 928, 3) and box.pad_left == 0 and box.pad_top > 0
    assert reprojection_error(out) < 1e-3
    np.testing.assert_allclose(box.points_to_original(out.kp2d), wide.kp2d, atol=1e-2)
    # Boxes inside the image come back unchanged (the others were clipped to the input).
    inside = (wide.boxes[:, :2] > 0).all(1) & (wide.boxes[:, 2] < 1919) & (wide.boxes[:, 3] < 1079)
    assert inside.any()
    np.testing.assert_allclose(
        box.boxes_to_original(out.boxes[inside]), wide.boxes[inside], atol=1e-2
    )


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError, match="multiples of 32"):
        ResizeToFit(300, 320)
    with pytest.raises(ValueError, match="min_scale"):
        RandomScale(2.0, 1.0)
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)
