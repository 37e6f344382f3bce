"""PoseDataset: reproducible per-item randomness, targets on the model's skeleton, batching,
DataLoader workers, and mini-batches mixed from several sources in fixed proportions."""

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from crowdpose3d.core.skeleton import JTA22, PANOPTIC19
from crowdpose3d.data.dataset import (
    MixedBatchSampler,
    MixedDataset,
    PoseDataset,
    collate,
    projected_sample,
    random_sample,
    split_batch,
)
from crowdpose3d.data.transforms import (
    ColorJitter,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    ResizeToFit,
)
from crowdpose3d.geometry.camera import Intrinsics

INPUT_SIZE = (96, 128)


def make_samples(count: int, seed: int = 0, num_people: int = 5):
    rng = np.random.default_rng(seed)
    return [
        random_sample(rng, height=120, width=160, num_people=num_people, skeleton=JTA22)
        for _ in range(count)
    ]


def training_transform():
    return Compose(
        [
            RandomScale(0.7, 1.4),
            RandomCrop(*INPUT_SIZE),
            RandomHorizontalFlip(p=0.5),
            ColorJitter(0.2, 0.2, 0.2, 0.02),
        ]
    )


def make_dataset(count: int = 6, seed: int = 0, skeleton=JTA22) -> PoseDataset:
    return PoseDataset(
        make_samples(count), training_transform(), skeleton, input_size=INPUT_SIZE, seed=seed
    )


def assert_items_equal(first, second):
    (image1, gt1, meta1), (image2, gt2, meta2) = first, second
    assert torch.equal(image1, image2)
    assert torch.equal(gt1.kp2d, gt2.kp2d) and torch.equal(gt1.boxes, gt2.boxes)
    assert meta1.intrinsics == meta2.intrinsics


def test_item_shapes_and_ranges():
    image, gt, meta = make_dataset()[0]
    assert image.shape == (3, *INPUT_SIZE) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.1
    n = len(gt)
    assert gt.kp2d.shape == (n, 22, 2) and gt.kp3d.shape == (n, 22, 3) and gt.boxes.shape == (n, 4)
    # Targets are bone-normalised and root-relative.
    assert torch.allclose(gt.kp3d[:, JTA22.root], torch.zeros(n, 3), atol=1e-6)
    assert meta.kp3d.shape == (n, 22, 3) and meta.visible.shape == (n, 22)
    assert (meta.intrinsics.height, meta.intrinsics.width) == INPUT_SIZE
    # The 2D targets are the projections of the metric 3D joints by the item's camera.
    np.testing.assert_allclose(meta.intrinsics.project(meta.kp3d), gt.kp2d.numpy(), atol=1e-3)


def test_uint8_images_are_the_float_images_times_255():
    dataset = make_dataset()
    raw = PoseDataset(
        dataset.samples, training_transform(), JTA22, input_size=INPUT_SIZE, image_dtype=torch.uint8
    )
    image, _, _ = raw[1]
    assert image.dtype == torch.uint8 and image.shape == (3, *INPUT_SIZE)
    assert torch.allclose(image.float() / 255, dataset[1][0])


def test_samples_are_mapped_to_the_model_skeleton():
    image, gt, meta = make_dataset(skeleton=PANOPTIC19)[0]
    assert gt.kp2d.shape[1:] == (19, 2) and meta.visible.shape[1] == 19
    # Panoptic joints JTA lacks (nose, eyes, ears) are unlabelled, the others labelled.
    lacking = [PANOPTIC19.index(name) for name in ("nose", "l_eye", "l_ear", "r_eye", "r_ear")]
    assert not gt.kp2d_valid[:, lacking].any()
    assert gt.kp2d_valid[:, PANOPTIC19.index("l_wrist")].all()


def test_items_depend_on_seed_epoch_and_index_only():
    dataset = make_dataset()
    again = make_dataset()
    first_epoch = [dataset[i] for i in range(len(dataset))]
    for i in reversed(range(len(dataset))):  # another order, another instance: same items
        assert_items_equal(again[i], first_epoch[i])
    dataset.set_epoch(1)
    second_epoch = [dataset[i] for i in range(len(dataset))]
    assert all(not torch.equal(a[0], b[0]) for a, b in zip(first_epoch, second_epoch, strict=True))
    dataset.set_epoch(0)
    assert_items_equal(dataset[2], first_epoch[2])
    other_seed = make_dataset(seed=1)
    assert not torch.equal(other_seed[2][0], first_epoch[2][0])


def test_a_transform_of_the_wrong_size_is_a_clear_error():
    dataset = PoseDataset(make_samples(1), None, JTA22, input_size=INPUT_SIZE)
    with pytest.raises(ValueError, match="end the transform with RandomCrop or ResizeToFit"):
        dataset[0]
    with pytest.raises(ValueError, match="multiples of 32"):
        PoseDataset(make_samples(1), None, JTA22, input_size=(100, 128))


def test_evaluation_items_carry_the_letterbox():
    dataset = PoseDataset(make_samples(2), ResizeToFit(*INPUT_SIZE), JTA22, input_size=INPUT_SIZE)
    image, gt, meta = dataset[0]
    sample = dataset.samples[0]
    assert len(gt) == len(sample)
    np.testing.assert_allclose(
        meta.letterbox.points_to_original(gt.kp2d.numpy()), sample.kp2d, atol=1e-3
    )


def test_collate_shapes():
    dataset = make_dataset()
    images, targets, metas = collate([dataset[i] for i in range(4)])
    assert images.shape == (4, 3, *INPUT_SIZE)
    assert len(targets) == len(metas) == 4
    assert [m.index for m in metas] == [0, 1, 2, 3]


def test_dataset_pickles():
    dataset = make_dataset()
    dataset.set_epoch(3)
    copy = pickle.loads(pickle.dumps(dataset))
    assert_items_equal(copy[1], dataset[1])


def batches(dataset, num_workers: int, epochs: int = 2):
    out = []
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        loader = DataLoader(
            dataset, batch_size=3, shuffle=False, num_workers=num_workers, collate_fn=collate
        )
        out.extend(loader)
    return out


def test_workers_give_the_same_batches_as_the_main_process():
    dataset = make_dataset(count=6)
    serial = batches(dataset, num_workers=0)
    parallel = batches(dataset, num_workers=2)
    assert len(serial) == len(parallel) == 4
    for (images1, targets1, _), (images2, targets2, _) in zip(serial, parallel, strict=True):
        assert torch.equal(images1, images2)
        for gt1, gt2 in zip(targets1, targets2, strict=True):
            assert torch.equal(gt1.kp3d, gt2.kp3d)
    assert not torch.equal(serial[0][0], serial[2][0])  # epochs 0 and 1 differ


# ---------------------------------------------------------------------- mixed batches
def test_split_batch():
    assert split_batch(24, (0.5, 0.5)) == [12, 12]
    assert split_batch(5, (2, 1)) == [3, 2]
    assert split_batch(7, (1, 1, 1)) == [3, 2, 2]
    assert split_batch(4, (1, 0)) == [4, 0]
    with pytest.raises(ValueError):
        split_batch(4, (0, 0))


def test_mixed_batch_sampler_proportions_and_coverage():
    sampler = MixedBatchSampler((40, 100), batch_size=8, fractions=(0.5, 0.5), seed=0)
    assert len(sampler) == 10  # the 40 items of source 0 fill 10 batches of 4
    seen_first = []
    for batch in sampler:
        assert len(batch) == 8
        first = [i for i in batch if i < 40]
        assert len(first) == 4 and all(40 <= i < 140 for i in batch[4:])
        seen_first.extend(first)
    assert sorted(seen_first) == list(range(40))  # one pass, no repeats
    again = list(MixedBatchSampler((40, 100), batch_size=8, fractions=(0.5, 0.5), seed=0))
    assert again == list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != again


def test_mixed_batch_sampler_repeats_a_small_source_when_asked():
    sampler = MixedBatchSampler((3, 50), batch_size=6, fractions=(1, 2), num_batches=5)
    batches_ = list(sampler)
    assert len(batches_) == 5
    first = [i for batch in batches_ for i in batch if i < 3]
    assert len(first) == 10 and set(first) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_batches"):
        MixedBatchSampler((1, 50), batch_size=6, fractions=(1, 2))


def test_mixed_dataset_in_a_data_loader():
    muco = make_dataset(count=4, seed=0)
    coco_samples = make_samples(6, seed=1)
    for sample in coco_samples:  # 2D-only data: no 3D labels
        sample.kp3d_valid[:] = False
    coco = PoseDataset(coco_samples, training_transform(), JTA22, input_size=INPUT_SIZE, seed=0)
    mixed = MixedDataset([muco, coco])
    assert len(mixed) == 10 and mixed.locate(5) == (1, 1)
    loader = DataLoader(mixed, batch_sampler=mixed.batch_sampler(4, (0.5, 0.5)), collate_fn=collate)
    batches_ = list(loader)
    assert len(batches_) == 2
    for images, targets, _ in batches_:
        assert images.shape == (4, 3, *INPUT_SIZE)
        assert [bool(gt.kp3d_valid.any()) for gt in targets] == [True, True, False, False]
    mixed.set_epoch(2)
    assert muco.epoch == coco.epoch == 2


def test_projected_sample_boxes_and_visibility():
    intrinsics = Intrinsics(100.0, 100.0, 49.5, 39.5, 100, 80)
    kp3d = np.array([[[0.0, 0.0, 2.0], [0.2, 0.4, 2.0], [3.0, 0.0, 2.0]]])  # last: out of view
    skeleton = JTA22
    full = np.zeros((1, skeleton.num_joints, 3)) + [0.0, 0.0, 2.0]
    full[0, :3] = kp3d[0]
    sample = projected_sample(
        np.zeros((80, 100, 3), np.uint8), full, intrinsics, skeleton, box_margin=0.0
    )
    np.testing.assert_allclose(sample.kp2d[0, 1], (59.5, 59.5))
    np.testing.assert_allclose(sample.boxes[0], (49.5, 39.5, 199.5, 59.5))
    assert sample.visible[0, :2].all() and not sample.visible[0, 2]
