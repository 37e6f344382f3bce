"""The sparse heads (`crowdpose3d.core.sparse_heads`) give the dense forward's candidates.

Tolerance: the same anchors in the same order, values within 1e-4 (a 1x1 convolution and
a matrix product of the same numbers differ only by float reassociation).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.core.decode import gather_candidates
from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.sparse_heads import candidate_forward, supports_sparse_heads
from crowdpose3d.engine.export import DeployedPandaNet


def assert_same_candidates(dense, sparse) -> None:
    torch.testing.assert_close(sparse.indices, dense.indices, rtol=0, atol=0)
    for name in ("logits", "box_offsets", "kp2d", "kp3d"):
        torch.testing.assert_close(
            getattr(sparse, name), getattr(dense, name), rtol=1e-5, atol=1e-4, msg=name
        )


@pytest.fixture(scope="module")
def crowd_frame() -> torch.Tensor:
    """A generated 512x320 frame with 25 people, (1, 3, H, W) in [0, 1]."""
    from crowdpose3d.data.synth import SynthConfig, generate_sequence

    config = SynthConfig(num_frames=1, fps=5, width=512, height=320, min_people=25, max_people=25)
    image = next(iter(generate_sequence(config, seed=31))).image  # (320, 512, 3) uint8
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def test_shipped_model_candidates_equal_the_dense_ones(crowd_frame):
    model = load_checkpoint("builtin:crowd-small").model.eval()
    assert supports_sparse_heads(model)
    with torch.inference_mode():
        dense = gather_candidates(model(crowd_frame), 1000)
        sparse = candidate_forward(model, crowd_frame, 1000)
    assert sparse.kp3d.shape == (1, 1000, 22, 3)
    assert dense.logits[0, 0] > 0  # real detections on this frame, not an all-low map
    assert_same_candidates(dense, sparse)


@pytest.mark.parametrize("batch, height, width", [(2, 128, 192), (1, 64, 64)])
def test_random_model_batches_and_sizes(batch, height, width):
    torch.manual_seed(0)
    model = PandaNet(num_anchors=3, num_joints=5, preset="tiny").eval()
    images = torch.rand(batch, 3, height, width)
    top_k = min(500, (height // 4) * (width // 4) * 3)
    with torch.inference_mode():
        dense = gather_candidates(model(images), top_k)
        sparse = candidate_forward(model, images, top_k)
    assert sparse.box_offsets.shape == (batch, top_k, 4)
    assert_same_candidates(dense, sparse)


def test_three_by_three_output_convs_fall_back_to_the_dense_heads():
    torch.manual_seed(0)
    model = PandaNet(num_anchors=2, num_joints=4, preset="tiny", output_kernel_size=3).eval()
    assert not supports_sparse_heads(model)
    images = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        assert_same_candidates(
            gather_candidates(model(images), 100), candidate_forward(model, images, 100)
        )


def test_deployed_graph_sparse_and_dense_agree_under_bf16():
    """bf16 autocast: both graphs choose the same best anchors (bf16 rounds the towers the
    same way), and the sparse values stay within bf16's resolution of the dense ones."""
    torch.manual_seed(0)
    model = PandaNet(num_anchors=3, num_joints=5, preset="tiny").eval()
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 96, 128, 3), np.uint8))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        dense = DeployedPandaNet(model, 200, sparse=False)(images)
        sparse = DeployedPandaNet(model, 200)(images)
    torch.testing.assert_close(sparse[1], dense[1], rtol=0, atol=0)  # indices
    for a, b in zip(sparse[2:], dense[2:], strict=True):
        torch.testing.assert_close(a.float(), b.float(), rtol=2e-2, atol=2e-2)
