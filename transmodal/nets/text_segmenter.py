"""Text segmentation network for the learned eraser (issue 12): image -> per-pixel text logits, no boxes.

The seed design ("Text Segmentation and Image Inpainting", for comic and manga translators on CPU):

- a MobileNetV2 encoder (inverted residual blocks; `width` multiplies every channel count, up to 2) with
  spatial and channel squeeze-and-excitation after each block (scSE: a gate per channel from the pooled
  features, and a gate per pixel from a 1x1 convolution, added);
- dilated convolutions instead of the blocks that would take it to strides 16 and 32, so the features stay
  at 1/8 of the image (thin strokes survive);
- an RFB-like pooling module: separable convolutions with kernels 3, 5 and 7, each followed by a 3x3 atrous
  convolution of dilation 3, 5 and 7, beside a 1x1 branch, concatenated, fused, added to a shortcut;
- a DeepLabV3+ decoder: the module's output upsampled x2, concatenated with the 1/4-scale encoder features
  (reduced to 48 channels), two 3x3 convolutions, one logit per pixel, upsampled to the input size.

Training and evaluation will live in training/; the TextEraser only loads checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# MobileNetV2's stages: expansion, channels, blocks, stride, dilation. The last four stages would take it to
# strides 16 and 32: they keep stride 1 and dilate instead.
STAGES = [
    (1, 16, 1, 1, 1),
    (6, 24, 2, 2, 1),
    (6, 32, 3, 2, 1),
    (6, 64, 4, 1, 2),
    (6, 96, 3, 1, 2),
    (6, 160, 3, 1, 4),
    (6, 320, 1, 1, 4),
]
LOW_LEVEL_STAGE = 1  # the 24-channel stage, at 1/4 of the image: the decoder's fine detail


def _channels(count: int, width: float) -> int:
    """A channel count scaled by the width multiplier, rounded to a multiple of 8 as MobileNetV2 does."""
    return max(8, int(count * width + 4) // 8 * 8)


def conv_bn(channels_in: int, channels_out: int, kernel: int = 1, stride: int = 1, dilation: int = 1, groups: int = 1):
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, stride, dilation * (kernel // 2), dilation, groups, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU6(inplace=True),
    )


class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze-and-excitation: x * channel gate + x * pixel gate."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.pixel_gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_gate(x) + x * self.pixel_gate(x)


class InvertedResidual(nn.Module):
    """MobileNetV2's block (1x1 expansion, 3x3 depthwise, 1x1 linear projection; a residual when the shape
    stays), followed by scSE."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, expansion: int, dilation: int):
        super().__init__()
        hidden = channels_in * expansion
        layers = [conv_bn(channels_in, hidden)] if expansion != 1 else []
        layers += [
            conv_bn(hidden, hidden, 3, stride, dilation, groups=hidden),
            nn.Conv2d(hidden, channels_out, 1, bias=False),
            nn.BatchNorm2d(channels_out),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and channels_in == channels_out
        self.attention = SCSE(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.residual:
            out = out + x
        return self.attention(out)


class ReceptiveFieldBlock(nn.Module):
    """RFB-like pooling: a 1x1 branch and three branches of a separable k x k convolution (k = 3, 5, 7) then a
    3x3 convolution of dilation k; concatenated, fused by a 1x1 convolution, added to a 1x1 shortcut."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        branch = channels_out // 4
        self.point = conv_bn(channels_in, branch)
        self.branches = nn.ModuleList(
            nn.Sequential(
                conv_bn(channels_in, channels_in, kernel, groups=channels_in),  # depthwise k x k
                conv_bn(channels_in, branch),  # pointwise: separable together
                conv_bn(branch, branch, 3, dilation=kernel),
            )
            for kernel in (3, 5, 7)
        )
        self.fuse = nn.Sequential(nn.Conv2d(4 * branch, channels_out, 1, bias=False), nn.BatchNorm2d(channels_out))
        self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, bias=False), nn.BatchNorm2d(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.point(x)] + [branch(x) for branch in self.branches]
        return F.relu(self.fuse(torch.cat(branches, dim=1)) + self.shortcut(x))


class TextSegmenter(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> text logits (N, 1, H, W); `width` in (0, 2] scales the encoder."""

    def __init__(self, width: float = 1.0, features: int = 128):
        super().__init__()
        if not 0 < width <= 2:
            raise ValueError(f"width must be in (0, 2], not {width}")
        channels = _channels(32, width)
        self.stem = conv_bn(3, channels, 3, stride=2)
        self.stages = nn.ModuleList()
        for expansion, count, blocks, stride, dilation in STAGES:
            out = _channels(count, width)
            stage = []
            for index in range(blocks):
                stage.append(InvertedResidual(channels, out, stride if index == 0 else 1, expansion, dilation))
                channels = out
            self.stages.append(nn.Sequential(*stage))
        low_level = _channels(STAGES[LOW_LEVEL_STAGE][1], width)
        self.pooling = ReceptiveFieldBlock(channels, features)
        self.low_level = conv_bn(low_level, 48)
        self.decoder = nn.Sequential(
            conv_bn(features + 48, features, 3), conv_bn(features, features, 3), nn.Conv2d(features, 1, 1)
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stem(image)
        low = x
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index == LOW_LEVEL_STAGE:
                low = x
        x = self.pooling(x)
        low = self.low_level(low)
        x = F.interpolate(x, size=low.shape[2:], mode="bilinear", align_corners=False)
        logits = self.decoder(torch.cat([x, low], dim=1))
        return F.interpolate(logits, size=image.shape[2:], mode="bilinear", align_corners=False)
