"""The `Poses` record: validation, masks, concatenation."""

import numpy as np
import pytest

from crowdpose3d.poses import Poses


def three_people():
    return Poses(
        boxes=np.arange(12).reshape(3, 4),
        scores=[0.9, 0.5, 0.7],
        kp2d=np.zeros((3, 22, 2)),
        kp3d_rel=np.ones((3, 22, 3)),
        data={"anchor": np.array([0, 4, 9])},
    )


def test_defaults_and_dtypes():
    poses = three_people()
    assert len(poses) == 3 and poses.num_joints == 22
    assert poses.boxes.dtype == np.float32
    assert poses.track_id.tolist() == [-1, -1, -1]
    assert np.isnan(poses.kp3d).all() and np.isnan(poses.root).all()


def test_mask_and_index_selection():
    poses = three_people()
    confident = poses[poses.scores > 0.6]
    assert len(confident) == 2
    assert confident.data["anchor"].tolist() == [0, 9]
    np.testing.assert_array_equal(confident.boxes[1], [8, 9, 10, 11])
    assert len(poses[1]) == 1 and poses[1].scores[0] == pytest.approx(0.5)


def test_take_equals_index_selection_without_sharing_memory():
    poses = three_people()
    rows = np.array([2, 0])
    taken = poses.take(rows)
    assert taken == poses[rows]
    assert taken.data["anchor"].tolist() == [9, 0]
    taken.boxes[0] = -1.0  # a copy: the input keeps its rows
    assert poses.boxes[2, 0] == 8.0
    assert len(poses.take(np.zeros(0, np.int64))) == 0


def test_empty_and_concatenate():
    empty = Poses.empty(num_joints=22)
    assert len(empty) == 0 and empty.is_empty()
    both = Poses.concatenate([three_people()[:1], three_people()])
    assert len(both) == 4
    assert both.data["anchor"].tolist() == [0, 0, 4, 9]
    assert Poses.concatenate([three_people()]) == three_people()


def test_validation_errors():
    with pytest.raises(ValueError, match="has 2 rows, expected 3"):
        Poses(
            boxes=np.zeros((3, 4)),
            scores=np.zeros(3),
            kp2d=np.zeros((3, 5, 2)),
            kp3d_rel=np.zeros((3, 5, 3)),
            data={"anchor": np.zeros(2)},
        )
    with pytest.raises(ValueError):
        Poses(
            boxes=np.zeros((3, 4)),
            scores=np.zeros(2),
            kp2d=np.zeros((3, 5, 2)),
            kp3d_rel=np.zeros((3, 5, 3)),
        )
    with pytest.raises(ValueError, match="different data keys"):
        Poses.concatenate([three_people(), Poses.empty(22)])
