"""k-means anchors (1 - IoU distance) and the anchor grid."""

import numpy as np
import pytest
import torch

from crowdpose3d.core.anchors import anchor_grid, kmeans_anchors, mean_best_iou, size_iou


def test_size_iou_hand_computed():
    iou = size_iou(np.array([[2.0, 2.0]]), np.array([[1.0, 4.0], [2.0, 2.0]]))
    np.testing.assert_allclose(iou, [[1 / 3, 1.0]])


def three_size_clusters(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[10.0, 20.0], [40.0, 80.0], [100.0, 50.0]])
    return np.concatenate([c * (1 + 0.02 * rng.standard_normal((200, 2))) for c in centres])


def test_kmeans_recovers_known_clusters():
    anchors = kmeans_anchors(three_size_clusters(), num_anchors=3, seed=0)
    # Sorted by area: (10, 20) = 200, (40, 80) = 3200, (100, 50) = 5000.
    np.testing.assert_allclose(anchors, [[10, 20], [40, 80], [100, 50]], rtol=0.01)
    assert mean_best_iou(three_size_clusters(), anchors) > 0.95


def test_kmeans_is_deterministic_per_seed():
    sizes = np.random.default_rng(3).uniform(5, 300, size=(500, 2))
    first = kmeans_anchors(sizes, num_anchors=10, seed=7)
    again = kmeans_anchors(sizes, num_anchors=10, seed=7)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (10, 2)
    areas = first[:, 0] * first[:, 1]
    assert np.all(np.diff(areas) >= 0)


def test_kmeans_better_than_random_anchors():
    sizes = np.random.default_rng(4).lognormal(mean=3.5, sigma=0.8, size=(1000, 2))
    anchors = kmeans_anchors(sizes, num_anchors=10, seed=0)
    random_anchors = sizes[np.random.default_rng(5).choice(len(sizes), 10, replace=False)]
    assert mean_best_iou(sizes, anchors) > mean_best_iou(sizes, random_anchors)


def test_kmeans_needs_enough_boxes():
    with pytest.raises(ValueError, match="at least 10 distinct"):
        kmeans_anchors(np.ones((50, 2)), num_anchors=10)


def test_anchor_grid_layout():
    sizes = torch.tensor([[16.0, 32.0], [64.0, 128.0]])
    grid = anchor_grid(sizes, height=3, width=5, stride=8)
    assert grid.shape == (3, 5, 2, 4)
    # Cell (i=1, j=2) is centred at ((2 + 0.5) * 8, (1 + 0.5) * 8) = (20, 12).
    torch.testing.assert_close(grid[1, 2, 0], torch.tensor([20.0, 12.0, 16.0, 32.0]))
    torch.testing.assert_close(grid[1, 2, 1], torch.tensor([20.0, 12.0, 64.0, 128.0]))
    torch.testing.assert_close(grid[0, 0, 0, :2], torch.tensor([4.0, 4.0]))
