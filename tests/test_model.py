"""Tests of the PandaNet network: shapes, presets, initialisation, gradients, FLOP counts."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from crowdpose3d.core.model import (
    PRESETS,
    Darknet53,
    PandaNet,
    PandaNetOutput,
    count_parameters,
    estimate_gflops,
)

SMALL_PRESETS = ["tiny", "small", "medium"]


def _expected_shapes(
    batch: int, height: int, width: int, anchors: int, joints: int
) -> dict[str, tuple[int, ...]]:
    return {
        "scores": (batch, height, width, anchors),
        "box_offsets": (batch, height, width, anchors, 4),
        "kp2d": (batch, height, width, anchors, joints, 2),
        "kp3d": (batch, height, width, anchors, joints, 3),
    }


def _check_output(output: PandaNetOutput, expected: dict[str, tuple[int, ...]]) -> None:
    assert isinstance(output, PandaNetOutput)
    for name, shape in expected.items():
        tensor = getattr(output, name)
        assert tuple(tensor.shape) == shape, name
        assert tensor.dtype == torch.float32, name
        assert tensor.is_contiguous(), name
        assert torch.isfinite(tensor).all(), name


@pytest.mark.parametrize("preset", SMALL_PRESETS)
@pytest.mark.parametrize("size", [(64, 96), (128, 160)])
def test_output_shapes(preset: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = PandaNet(num_anchors=10, num_joints=22, preset=preset).eval()
    height, width = size
    with torch.inference_mode():
        output = model(torch.rand(2, 3, height, width))
    assert model.output_stride == 4
    assert model.output_size(height, width) == (height // 4, width // 4)
    _check_output(output, _expected_shapes(2, height // 4, width // 4, 10, 22))


def test_darknet53_builds_and_runs() -> None:
    torch.manual_seed(0)
    model = PandaNet(preset="darknet53").eval()
    # The paper's backbone: Darknet-53 without its classifier has 40.58 M parameters.
    assert count_parameters(model.backbone) == 40_584_928
    with torch.inference_mode():
        output = model(torch.rand(1, 3, 64, 96))
    _check_output(output, _expected_shapes(1, 16, 24, 10, 22))


def test_darknet53_backbone_flops_match_yolov3_paper() -> None:
    # YOLOv3 (Redmon & Farhadi 2018), Table 2: Darknet-53 costs 18.7 billion ops at 256x256.
    gflops = estimate_gflops(Darknet53(), 256, 256)
    assert gflops == pytest.approx(18.7, rel=0.02)


def test_backbone_returns_strides_8_16_32() -> None:
    backbone = Darknet53(width_multiplier=0.25, depth_multiplier=0.25)
    with torch.no_grad():
        c3, c4, c5 = backbone(torch.rand(1, 3, 64, 128))
    assert c3.shape == (1, 64, 8, 16)
    assert c4.shape == (1, 128, 4, 8)
    assert c5.shape == (1, 256, 2, 4)
    assert backbone.out_channels == (64, 128, 256)


def test_depth_multiplier_keeps_at_least_one_block_per_stage() -> None:
    backbone = Darknet53(width_multiplier=0.125, depth_multiplier=0.01)
    # Each stage: the stride-2 conv plus one residual block.
    assert [len(stage) for stage in backbone.stages] == [2, 2, 2, 2, 2]
    full = Darknet53()
    assert [len(stage) - 1 for stage in full.stages] == [1, 2, 8, 8, 4]


def test_anchor_and_joint_counts() -> None:
    model = PandaNet(num_anchors=3, num_joints=17, preset="tiny").eval()
    with torch.inference_mode():
        output = model(torch.rand(1, 3, 64, 64))
    _check_output(output, _expected_shapes(1, 16, 16, 3, 17))


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_subpixel_off_gives_stride_8(preset: str) -> None:
    with_subpixel = PandaNet(preset=preset, subpixel=True)
    without = PandaNet(preset=preset, subpixel=False).eval()
    assert with_subpixel.output_stride == 4
    assert without.output_stride == 8
    assert without.output_size(320, 512) == (40, 64)
    with torch.inference_mode():
        output = without(torch.rand(1, 3, 64, 96))
    _check_output(output, _expected_shapes(1, 8, 12, 10, 22))
    assert not any(isinstance(m, nn.PixelShuffle) for m in without.modules())
    assert any(isinstance(m, nn.PixelShuffle) for m in with_subpixel.modules())


@pytest.mark.parametrize("size", [(100, 96), (64, 90), (0, 64)])
def test_size_not_multiple_of_32_raises(size: tuple[int, int]) -> None:
    model = PandaNet(preset="tiny")
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, *size))
    with pytest.raises(ValueError, match="multiples of 32"):
        model.output_size(*size)


def test_wrong_channel_count_raises() -> None:
    model = PandaNet(preset="tiny")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 64, 64))


def test_preset_parameter_counts_are_ordered() -> None:
    counts = {name: count_parameters(PandaNet(preset=name)) for name in PRESETS}
    assert counts["tiny"] < counts["small"] < counts["medium"] < counts["darknet53"]
    # The full network is dominated by Darknet-53 (40.6 M) and is far bigger than "small".
    assert counts["darknet53"] > 40_000_000
    assert counts["small"] < counts["darknet53"] / 10


def test_preset_flops_are_ordered() -> None:
    flops = [estimate_gflops(PandaNet(preset=name), 64, 96) for name in SMALL_PRESETS]
    assert flops == sorted(flops)
    assert flops[0] > 0


def test_score_bias_gives_prior_probability_at_init() -> None:
    torch.manual_seed(0)
    model = PandaNet(preset="small").train()  # BatchNorm normalises with batch statistics
    bias = model.score_head.output.bias
    assert torch.allclose(torch.sigmoid(bias), torch.full_like(bias, 0.01))
    with torch.no_grad():
        output = model(torch.rand(2, 3, 64, 96))
    assert torch.sigmoid(output.scores).mean().item() == pytest.approx(0.01, abs=0.003)
    # Regression outputs start near zero.
    for tensor in (output.box_offsets, output.kp2d, output.kp3d):
        assert tensor.abs().mean().item() < 0.1


def test_overrides_replace_preset_fields() -> None:
    model = PandaNet(preset="small", head_channels=8, score_head_channels=4, output_kernel_size=3)
    assert model.config == dataclasses.replace(
        PRESETS["small"], head_channels=8, score_head_channels=4, output_kernel_size=3
    )
    assert model.box_head.tower[0][0].out_channels == 8
    assert model.score_head.tower[0][0].out_channels == 4
    assert model.kp3d_head.output.kernel_size == (3, 3)
    assert PRESETS["small"].head_channels != 8  # the preset itself is untouched
    smaller = PandaNet(preset="small", width_multiplier=0.125)
    assert count_parameters(smaller) < count_parameters(PandaNet(preset="small"))


def test_bad_preset_or_override_raises() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        PandaNet(preset="resnet50")
    with pytest.raises(ValueError, match="head_chanels"):
        PandaNet(preset="small", head_chanels=8)
    with pytest.raises(ValueError, match="output_kernel_size"):
        PandaNet(preset="small", output_kernel_size=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["small"].head_channels = 8  # type: ignore[misc]


def test_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = PandaNet(preset="small").train()
    output = model(torch.rand(2, 3, 64, 64))
    sum(tensor.sum() for tensor in output).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_eval_is_deterministic_and_batch_independent() -> None:
    torch.manual_seed(0)
    model = PandaNet(preset="tiny").eval()
    images = torch.rand(2, 3, 64, 96)
    with torch.inference_mode():
        first = model(images)
        second = model(images)
        alone = model(images[1:])
    for a, b, c in zip(first, second, alone, strict=True):
        assert torch.equal(a, b)
        torch.testing.assert_close(a[1:], c, rtol=1e-4, atol=1e-5)


def test_channels_last_is_only_a_memory_layout() -> None:
    torch.manual_seed(0)
    model = PandaNet(preset="tiny").eval()
    images = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        nhwc = model(images)
        model.channels_last = False
        nchw = model(images)
    for a, b in zip(nhwc, nchw, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_images_are_normalised_inside_the_model() -> None:
    model = PandaNet(preset="tiny")
    assert torch.allclose(model.pixel_mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    assert torch.allclose(model.pixel_std.flatten(), torch.tensor([0.229, 0.224, 0.225]))
    # Buffers follow the model but are not stored in checkpoints.
    assert "pixel_mean" not in model.state_dict()


def test_estimate_gflops_counts_conv_multiply_adds() -> None:
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    # 8 output channels x 16 x 16 positions x (3 x 3 x 3) multiply-adds, times 2.
    assert estimate_gflops(conv, 16, 16) == pytest.approx(2 * 8 * 16 * 16 * 27 / 1e9)
    model = PandaNet(preset="tiny").train()
    gflops = estimate_gflops(model, 64, 96)
    assert model.training  # the mode is restored
    # Doubling both sides quadruples the cost of a fully convolutional network.
    assert estimate_gflops(model, 128, 192) == pytest.approx(4 * gflops, rel=1e-6)
    assert math.isfinite(gflops) and gflops > 0
