"""PandaNet network (Benzine et al., CVPR 2020, section 3.1 and Figure 3).

    image -> Darknet-53 backbone (strides 8, 16, 32)
          -> FPN-like top-down pyramid -> four 3x3 convs per level
          -> upsample to stride 8, concatenate -> sub-pixel convolution (stride 4)
          -> four heads (four 3x3 convs + one output conv each):
             scores (N_A), box offsets (N_A x 4), 2D joints (N_A x N_K x 2),
             root-relative 3D joints (N_A x N_K x 3)

Presets only change widths and depths; every preset keeps the structure of Figure 3.
Figures for the presets (parameters, GFLOPs, milliseconds) come from
`benchmarks/model_speed.py`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PRESETS",
    "Darknet53",
    "ModelPreset",
    "PandaNet",
    "PandaNetOutput",
    "count_parameters",
    "estimate_gflops",
]

# ImageNet statistics, used to normalise [0, 1] RGB images inside the model.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Darknet-53 (YOLOv3): channels and residual blocks of its five stride-2 stages.
DARKNET53_STEM_CHANNELS = 32
DARKNET53_STAGE_CHANNELS = (64, 128, 256, 512, 1024)
DARKNET53_STAGE_BLOCKS = (1, 2, 8, 8, 4)

# Prior probability of a positive anchor at initialisation (RetinaNet's focal-loss init).
SCORE_PRIOR_PROBABILITY = 0.01


class PandaNetOutput(NamedTuple):
    """Dense predictions on the output grid (H, W) = image size / output stride."""

    scores: Tensor  # (B, H, W, A) logits, no sigmoid
    box_offsets: Tensor  # (B, H, W, A, 4)
    kp2d: Tensor  # (B, H, W, A, K, 2) in anchor coordinates
    kp3d: Tensor  # (B, H, W, A, K, 3) root-relative, bone-normalised


@dataclasses.dataclass(frozen=True)
class ModelPreset:
    """Widths and depths of one PandaNet variant.

    width_multiplier: scales every backbone channel count (rounded to a multiple of 8).
    depth_multiplier: scales the residual blocks per backbone stage (at least 1 each).
    pyramid_channels: channels of the pyramid levels (lateral convs and their 4 convs).
    subpixel_channels: channels of the stride-4 map after the sub-pixel convolution
        (the convolution itself outputs 4x as many before nn.PixelShuffle(2)).
    head_channels: channels of the four 3x3 convs of the box, 2D and 3D pose heads.
    score_head_channels: channels of the four 3x3 convs of the score head (it predicts
        only N_A numbers per cell, so it can be narrower).
    output_kernel_size: kernel of each head's final output conv (1 or 3).
    upsample_mode: interpolation of the coarse pyramid levels to stride 8.
    """

    width_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    pyramid_channels: int = 256
    subpixel_channels: int = 128
    head_channels: int = 128
    score_head_channels: int = 128
    output_kernel_size: int = 3
    upsample_mode: str = "nearest"

    def __post_init__(self) -> None:
        if self.width_multiplier <= 0 or self.depth_multiplier <= 0:
            raise ValueError("width_multiplier and depth_multiplier must be positive")
        for name in (
            "pyramid_channels",
            "subpixel_channels",
            "head_channels",
            "score_head_channels",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.output_kernel_size not in (1, 3):
            raise ValueError(f"output_kernel_size must be 1 or 3, got {self.output_kernel_size}")
        if self.upsample_mode not in ("nearest", "bilinear"):
            raise ValueError(
                f"upsample_mode must be 'nearest' or 'bilinear', got {self.upsample_mode!r}"
            )


PRESETS: dict[str, ModelPreset] = {
    # The paper's network: full Darknet-53, for GPUs.
    "darknet53": ModelPreset(),
    # Darknet-53 at half width and half depth: a mid-size model for small GPUs.
    "medium": ModelPreset(
        width_multiplier=0.5,
        depth_multiplier=0.5,
        pyramid_channels=128,
        subpixel_channels=64,
        head_channels=64,
        score_head_channels=32,
        output_kernel_size=1,
    ),
    # Sized for a 2-core CPU (under 100 ms per 512x320 frame): narrow stride-4 heads,
    # 1x1 output convs, a narrower score head.
    "small": ModelPreset(
        width_multiplier=0.25,
        depth_multiplier=0.5,
        pyramid_channels=64,
        subpixel_channels=32,
        head_channels=32,
        score_head_channels=16,
        output_kernel_size=1,
    ),
    # Half of "small": for weak CPUs, tests and smoke runs.
    "tiny": ModelPreset(
        width_multiplier=0.125,
        depth_multiplier=0.25,
        pyramid_channels=32,
        subpixel_channels=16,
        head_channels=16,
        score_head_channels=8,
        output_kernel_size=1,
    ),
}


def _scaled_channels(channels: int, width_multiplier: float) -> int:
    """Channels times the width multiplier, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels * width_multiplier / 8)) * 8)


def _scaled_blocks(blocks: int, depth_multiplier: float) -> int:
    """Residual blocks times the depth multiplier, at least 1."""
    return max(1, int(round(blocks * depth_multiplier)))


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + LeakyReLU(0.1), Darknet's basic layer."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.1, inplace=True),
        )


class DarknetResidual(nn.Module):
    """Darknet residual block: 1x1 conv to c/2, 3x3 conv back to c, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(1, channels // 2)
        self.reduce = ConvBNAct(channels, hidden, kernel_size=1)
        self.expand = ConvBNAct(hidden, channels, kernel_size=3)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.expand(self.reduce(x))


class Darknet53(nn.Module):
    """YOLOv3's Darknet-53 without its classifier; returns the stride 8, 16, 32 maps.

    width_multiplier scales channels, depth_multiplier scales the residual blocks of each
    stage (at least one per stage). With both at 1 this is the original network.
    """

    def __init__(self, width_multiplier: float = 1.0, depth_multiplier: float = 1.0) -> None:
        super().__init__()
        stem_channels = _scaled_channels(DARKNET53_STEM_CHANNELS, width_multiplier)
        self.stem = ConvBNAct(3, stem_channels, kernel_size=3)
        stages = []
        in_channels = stem_channels
        for channels, blocks in zip(DARKNET53_STAGE_CHANNELS, DARKNET53_STAGE_BLOCKS, strict=True):
            out_channels = _scaled_channels(channels, width_multiplier)
            layers = [ConvBNAct(in_channels, out_channels, kernel_size=3, stride=2)]
            layers += [
                DarknetResidual(out_channels)
                for _ in range(_scaled_blocks(blocks, depth_multiplier))
            ]
            stages.append(nn.Sequential(*layers))
            in_channels = out_channels
        self.stages = nn.ModuleList(stages)
        # Channels of the returned maps at strides 8, 16, 32 (outputs of stages 3, 4, 5).
        self.out_channels: tuple[int, int, int] = tuple(
            _scaled_channels(c, width_multiplier) for c in DARKNET53_STAGE_CHANNELS[2:]
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.stem(x)  # (B, C0, H, W)
        features = []
        for stage in self.stages:
            x = stage(x)  # stride 2, 4, 8, 16, 32
            features.append(x)
        c3, c4, c5 = features[2:]  # (B, C3, H/8, W/8), (B, C4, H/16, W/16), (B, C5, H/32, W/32)
        return c3, c4, c5


class PyramidFusion(nn.Module):
    """FPN top-down pyramid, four 3x3 convs per level, fusion to one stride-8 map.

    Returns the concatenation of the three levels at stride 8 (3 * pyramid_channels).
    """

    def __init__(
        self,
        in_channels: tuple[int, int, int],
        pyramid_channels: int,
        upsample_mode: str = "nearest",
    ) -> None:
        super().__init__()
        self.upsample_mode = upsample_mode
        self.lateral = nn.ModuleList(
            nn.Conv2d(c, pyramid_channels, kernel_size=1, bias=False) for c in in_channels
        )
        self.level_convs = nn.ModuleList(
            nn.Sequential(*(ConvBNAct(pyramid_channels, pyramid_channels) for _ in range(4)))
            for _ in in_channels
        )
        self.out_channels = 3 * pyramid_channels

    def _upsample(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        if self.upsample_mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode=self.upsample_mode, align_corners=False)

    def forward(self, c3: Tensor, c4: Tensor, c5: Tensor) -> Tensor:
        # Top-down pathway: (B, P, H/32, W/32) -> (B, P, H/16, W/16) -> (B, P, H/8, W/8).
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + self._upsample(p5, c4.shape[-2:])
        p3 = self.lateral[0](c3) + self._upsample(p4, c3.shape[-2:])
        levels = [convs(p) for convs, p in zip(self.level_convs, (p3, p4, p5), strict=True)]
        size = levels[0].shape[-2:]
        levels = [levels[0]] + [self._upsample(p, size) for p in levels[1:]]
        return torch.cat(levels, dim=1)  # (B, 3P, H/8, W/8)


class SubPixelUpsample(nn.Sequential):
    """Sub-pixel convolution (Shi et al. 2016): 3x3 conv to 4*C, BN, act, PixelShuffle(2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            ConvBNAct(in_channels, 4 * out_channels, kernel_size=3),  # (B, 4C, H/8, W/8)
            nn.PixelShuffle(2),  # -> (B, C, H/4, W/4)
        )


class Head(nn.Module):
    """Four 3x3 conv+BN+act layers and one output conv (Figure 3)."""

    def __init__(
        self, in_channels: int, hidden_channels: int, out_channels: int, output_kernel_size: int = 3
    ) -> None:
        super().__init__()
        layers = []
        for i in range(4):
            layers.append(ConvBNAct(in_channels if i == 0 else hidden_channels, hidden_channels))
        self.tower = nn.Sequential(*layers)
        self.output = ChannelsLastOutputConv(
            hidden_channels, out_channels, output_kernel_size, padding=output_kernel_size // 2
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.tower(x))  # (B, C_in, H, W) -> (B, H, W, C_out)


class ChannelsLastOutputConv(nn.Conv2d):
    """Conv2d that returns (B, H, W, C_out), contiguous, instead of (B, C_out, H, W).

    The head outputs are wide (A*K*3 = 660 channels) and the model's outputs are
    channel-last, so the conv runs on a channels_last input and writes its result
    straight in that layout: permuting a (B, C_out, H, W) map afterwards costs several
    times the conv itself on CPU.
    """

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # (B, C_in, H, W), NHWC in memory
        y = self._conv_forward(x, self.weight, self.bias)  # (B, C_out, H, W)
        return y.permute(0, 2, 3, 1).contiguous()  # (B, H, W, C_out); no copy if NHWC already


class PandaNet(nn.Module):
    """PandaNet: anchor-based single-shot multi-person 2D/3D pose network.

    Takes (B, 3, H, W) RGB images in [0, 1] (H and W multiples of 32) and returns a
    PandaNetOutput on a grid of (H, W) / output_stride. `preset` names an entry of
    PRESETS; keyword `overrides` replace fields of that preset. `subpixel=False` drops the
    sub-pixel convolution (output stride 8, as in the paper's MuPoTS experiments).
    """

    def __init__(
        self,
        num_anchors: int = 10,
        num_joints: int = 22,
        preset: str = "darknet53",
        *,
        subpixel: bool = True,
        **overrides: Any,
    ) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(ModelPreset)}
        if unknown:
            raise ValueError(
                f"unknown preset field(s) {sorted(unknown)}; valid fields are "
                f"{[f.name for f in dataclasses.fields(ModelPreset)]}"
            )
        if num_anchors < 1 or num_joints < 1:
            raise ValueError("num_anchors and num_joints must be at least 1")
        self.config = dataclasses.replace(PRESETS[preset], **overrides)
        self.preset = preset
        self.num_anchors = num_anchors
        self.num_joints = num_joints
        self.subpixel = subpixel
        # Run the convolutions on channels_last (NHWC) tensors: faster on CPU (oneDNN) and
        # on GPU tensor cores, and the outputs are channel-last anyway. Shapes are unchanged.
        self.channels_last = True
        cfg = self.config

        self.register_buffer(
            "pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False
        )

        self.backbone = Darknet53(cfg.width_multiplier, cfg.depth_multiplier)
        self.pyramid = PyramidFusion(
            self.backbone.out_channels, cfg.pyramid_channels, cfg.upsample_mode
        )
        if subpixel:
            self.upsample: nn.Module = SubPixelUpsample(
                self.pyramid.out_channels, cfg.subpixel_channels
            )
            head_in = cfg.subpixel_channels
        else:
            self.upsample = nn.Identity()
            head_in = self.pyramid.out_channels

        A, K = num_anchors, num_joints
        k_out = cfg.output_kernel_size
        self.score_head = Head(head_in, cfg.score_head_channels, A, k_out)
        self.box_head = Head(head_in, cfg.head_channels, A * 4, k_out)
        self.kp2d_head = Head(head_in, cfg.head_channels, A * K * 2, k_out)
        self.kp3d_head = Head(head_in, cfg.head_channels, A * K * 3, k_out)
        self._init_weights()

    def _init_weights(self) -> None:
        """He init for hidden convs; low initial scores and near-zero regressions."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(
                    module.weight, a=0.1, mode="fan_out", nonlinearity="leaky_relu"
                )
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for head in (self.score_head, self.box_head, self.kp2d_head, self.kp3d_head):
            nn.init.normal_(head.output.weight, std=0.01)
            nn.init.zeros_(head.output.bias)
        # sigmoid(bias) = p: every anchor starts with a score of about 0.01.
        prior = SCORE_PRIOR_PROBABILITY
        nn.init.constant_(self.score_head.output.bias, math.log(prior / (1 - prior)))

    @property
    def output_stride(self) -> int:
        """Image pixels per output cell: 4 with the sub-pixel convolution, 8 without."""
        return 4 if self.subpixel else 8

    def output_size(self, image_height: int, image_width: int) -> tuple[int, int]:
        """(H, W) of the output grid for an image of this size (multiples of 32)."""
        _check_image_size(image_height, image_width)
        return image_height // self.output_stride, image_width // self.output_stride

    def trunk(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> the map every head reads, (B, C, H/s, W/s) with
        s the output stride (NHWC in memory when ``channels_last``)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        _check_image_size(images.shape[2], images.shape[3])
        x = (images - self.pixel_mean) / self.pixel_std  # (B, 3, H, W)
        if self.channels_last:
            # NHWC in memory; every conv after this one keeps it (same shapes, same values).
            x = x.contiguous(memory_format=torch.channels_last)
        c3, c4, c5 = self.backbone(x)
        x = self.pyramid(c3, c4, c5)  # (B, 3P, H/8, W/8)
        return self.upsample(x)  # (B, C, H/4, W/4), or unchanged without sub-pixel conv

    def forward(self, images: Tensor) -> PandaNetOutput:
        """Predict dense scores, boxes and poses for (B, 3, H, W) RGB images in [0, 1]."""
        x = self.trunk(images)  # (B, C, H/4, W/4)
        B, _, H, W = x.shape
        A, K = self.num_anchors, self.num_joints
        # Channels are anchor-major: channel a * D + d holds component d of anchor a.
        # The heads return channel-last maps, so these views copy nothing.
        # (B, H, W, A)
        scores = self.score_head(x).view(B, H, W, A)
        # (B, H, W, A*4) -> (B, H, W, A, 4)
        boxes = self.box_head(x).view(B, H, W, A, 4)
        # (B, H, W, A*K*2) -> (B, H, W, A, K, 2)
        kp2d = self.kp2d_head(x).view(B, H, W, A, K, 2)
        # (B, H, W, A*K*3) -> (B, H, W, A, K, 3)
        kp3d = self.kp3d_head(x).view(B, H, W, A, K, 3)
        return PandaNetOutput(scores=scores, box_offsets=boxes, kp2d=kp2d, kp3d=kp3d)


def _check_image_size(height: int, width: int) -> None:
    if height % 32 or width % 32 or height <= 0 or width <= 0:
        raise ValueError(
            f"image height and width must be positive multiples of 32 (the backbone's "
            f"stride), got {height}x{width}; resize or pad the image, e.g. to "
            f"{max(32, -(-height // 32) * 32)}x{max(32, -(-width // 32) * 32)}"
        )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def estimate_gflops(model: nn.Module, height: int, width: int) -> float:
    """GFLOPs of one forward pass on one (3, height, width) image.

    Counts the multiply-adds (MACs) of every nn.Conv2d with forward hooks and returns
    2 * MACs / 1e9. BatchNorm, activations, upsampling and additions are not counted
    (they are a few percent at most). The model is run once on zeros in eval mode.
    """
    macs = 0

    def hook(module: nn.Conv2d, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal macs
        kernel_h, kernel_w = module.kernel_size
        per_output = (module.in_channels // module.groups) * kernel_h * kernel_w
        macs += output[0].numel() * per_output  # output[0]: one image's (C, H, W) or (H, W, C)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    try:
        model.eval()
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        dtype = parameter.dtype if parameter is not None else torch.float32
        with torch.inference_mode():
            model(torch.zeros(1, 3, height, width, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return 2 * macs / 1e9
