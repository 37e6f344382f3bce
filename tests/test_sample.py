"""The `Sample` record: validation, selection, skeleton mapping, training targets."""

import numpy as np
import pytest

from crowdpose3d.core.skeleton import JTA22, PANOPTIC19, bone_lengths
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.camera import Intrinsics


def make_sample(num_people=2):
    rng = np.random.default_rng(0)
    intrinsics = Intrinsics.from_fov(64, 48, 60.0)
    kp3d = rng.normal(0, 0.3, size=(num_people, 22, 3)) + [0, 0, 5.0]
    kp2d = intrinsics.project(kp3d)
    ones = np.ones((num_people, 22), dtype=bool)
    return Sample(
        image=np.zeros((48, 64, 3), np.uint8),
        boxes=np.concatenate((kp2d.min(1), kp2d.max(1)), axis=1),
        kp2d=kp2d,
        kp3d=kp3d,
        kp2d_valid=ones,
        kp3d_valid=ones,
        visible=ones,
        person_ids=np.arange(num_people) + 7,
        intrinsics=intrinsics,
        skeleton=JTA22,
    )


def test_shapes_and_size_check():
    sample = make_sample()
    assert len(sample) == 2 and sample.kp3d.dtype == np.float32
    with pytest.raises(ValueError, match="intrinsics describe 10x10"):
        Sample(**{**sample.__dict__, "intrinsics": Intrinsics.from_fov(10, 10, 60.0)})


def test_select_keeps_rows_together():
    sample = make_sample(3)
    chosen = sample.select(np.array([False, True, True]))
    assert chosen.person_ids.tolist() == [8, 9]
    np.testing.assert_array_equal(chosen.kp3d, sample.kp3d[1:])


def test_mapped_to_another_skeleton():
    sample = make_sample()
    mapped = sample.mapped_to(PANOPTIC19)
    assert mapped.kp2d.shape == (2, 19, 2) and mapped.skeleton is PANOPTIC19
    neck_jta, neck_panoptic = JTA22.index("neck"), PANOPTIC19.index("neck")
    np.testing.assert_array_equal(mapped.kp3d[:, neck_panoptic], sample.kp3d[:, neck_jta])
    nose = PANOPTIC19.index("nose")  # JTA has no nose
    assert not mapped.kp2d_valid[:, nose].any() and not mapped.visible[:, nose].any()
    assert sample.mapped_to(JTA22) is sample


def test_to_ground_truth_normalises_3d():
    sample = make_sample()
    sample.kp3d_valid[1] = False  # a person without 3D labels
    gt = sample.to_ground_truth()
    np.testing.assert_allclose(gt.kp3d[0, JTA22.root].numpy(), 0.0, atol=1e-7)
    assert bone_lengths(gt.kp3d[0].numpy(), JTA22).sum() == pytest.approx(1.0, rel=1e-5)
    assert not gt.kp3d_valid[1].any() and gt.kp3d_valid[0].all()
    np.testing.assert_array_equal(gt.kp2d.numpy(), sample.kp2d)
