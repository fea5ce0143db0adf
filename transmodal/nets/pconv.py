"""Partial-convolution inpainting (Liu et al. 2018, "Image Inpainting for Irregular Holes Using Partial
Convolutions"): the network for the TextEraser's learned inpainter (issue 12; training and evaluation will
live in training/, the executor only loads checkpoints).

A partial convolution sees only the known pixels under its window and rescales its sum by how many of them
there were (window size / known count), so a hole does not darken what is computed next to it; where its
window holds no known pixel at all, the output is zero and stays a hole. The mask is updated as it goes: a
position becomes known once its window held any known pixel, so the holes shrink level by level and are
gone by the bottleneck of the U-Net.

Holes are zeroed in place with `masked_fill_` rather than `torch.where`: the seed design measured it faster
and lighter (no second output tensor).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class PartialConv2d(nn.Conv2d):
    """A Conv2d over the known pixels only: `forward(x, mask) -> (out, new_mask)`, the mask (N, 1, H, W)
    with 1 on known pixels and 0 on holes (one mask for all channels)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        height, width = self.kernel_size
        self.register_buffer("window", torch.ones(1, 1, height, width), persistent=False)
        self.window_size = float(height * width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        with torch.no_grad():
            window = cast(torch.Tensor, self.window)
            padding = cast(tuple[int, ...], self.padding)  # numbers, as the blocks below build it
            known = F.conv2d(mask, window, stride=self.stride, padding=padding, dilation=self.dilation)
            new_mask = (known > 0).to(x.dtype)
            scale = self.window_size / known.clamp(min=1.0)
        out = F.conv2d(x * mask, self.weight, None, self.stride, self.padding, self.dilation, self.groups)
        out = out * scale
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        out.masked_fill_(new_mask == 0, 0.0)  # a window with nothing known: still a hole
        return out, new_mask


class PartialBlock(nn.Module):
    """Partial convolution, batch norm (not on the first level, as in the paper), activation."""

    def __init__(
        self, channels_in: int, channels_out: int, kernel: int, stride: int, norm: bool, activation: nn.Module
    ):
        super().__init__()
        self.conv = PartialConv2d(channels_in, channels_out, kernel, stride, kernel // 2, bias=not norm)
        self.norm = nn.BatchNorm2d(channels_out) if norm else nn.Identity()
        self.activation = activation

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, mask = self.conv(x, mask)
        return self.activation(self.norm(out)), mask


class DoublePartialBlock(nn.Module):
    """A level of the seed's deeper variant: a partial block, then a second (3x3, stride 1, same channels)
    whose output is added to the first's — a residual add per level; the mask is the second's."""

    def __init__(self, first: PartialBlock, channels: int, activation: nn.Module):
        super().__init__()
        self.first = first
        self.second = PartialBlock(channels, channels, 3, 1, True, activation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, mask = self.first(x, mask)
        more, mask = self.second(out, mask)
        return out + more, mask


class PartialUNet(nn.Module):
    """The paper's U-Net of partial convolutions, scaled down for CPU: `levels` encoder steps (stride 2,
    kernels 7, 5, 5, 3, ...; ReLU) with `width`, 2x, 4x, 8x ... channels (at most 8x), and as many decoder
    steps (nearest upsampling x2, concatenation with the encoder's features of that level, 3x3 partial
    convolution; LeakyReLU 0.2), the last back to RGB without normalisation or activation. One mask serves the
    concatenation, known where either part is known (the paper keeps one per channel: a simplification).

    `forward(image, mask)`: image (N, 3, H, W) in [0, 1], mask (N, 1, H, W) with 1 on known pixels; H and W
    divisible by 2**levels. Returns the network's image; `composite` keeps the known pixels as they were.

    `double=True`: the seed's deeper variant, every level but the last a `DoublePartialBlock` (two partial
    convolutions, their outputs added).

    `residual=True`: `forward(image, mask, base)` returns `base` (a first fill of the holes, e.g. OpenCV's
    Telea) plus the network's correction; the last layer starts at zero, so an untrained network returns the
    first fill exactly and training can only add what the fill misses (texture, grain, edges).
    """

    def __init__(self, levels: int = 4, width: int = 32, residual: bool = False, double: bool = False):
        super().__init__()
        kernels = [7, 5, 5] + [3] * max(0, levels - 3)
        channels = [3] + [width * min(2**level, 8) for level in range(levels)]

        def level_block(block: PartialBlock, channels_out: int, activation: nn.Module) -> nn.Module:
            return DoublePartialBlock(block, channels_out, activation) if double else block

        self.encoder = nn.ModuleList(
            level_block(
                PartialBlock(channels[level], channels[level + 1], kernels[level], 2, level > 0, nn.ReLU()),
                channels[level + 1],
                nn.ReLU(),
            )
            for level in range(levels)
        )
        self.decoder = nn.ModuleList()
        for level in reversed(range(levels)):
            last = level == 0
            if last:  # back to RGB: one partial convolution, no normalisation, no activation
                self.decoder.append(PartialBlock(channels[1] + channels[0], 3, 3, 1, False, nn.Identity()))
                continue
            block = PartialBlock(channels[level + 1] + channels[level], channels[level], 3, 1, True, nn.LeakyReLU(0.2))
            self.decoder.append(level_block(block, channels[level], nn.LeakyReLU(0.2)))
        self.levels = levels
        self.residual = residual
        if residual:
            to_rgb = cast(PartialBlock, self.decoder[-1]).conv
            nn.init.zeros_(to_rgb.weight)
            if to_rgb.bias is not None:
                nn.init.zeros_(to_rgb.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        features, masks = [image * mask], [mask]
        x, m = image * mask, mask
        for block in self.encoder:
            x, m = block(x, m)
            features.append(x)
            masks.append(m)
        for index, block in enumerate(self.decoder):
            skip, skip_mask = features[self.levels - 1 - index], masks[self.levels - 1 - index]
            x = torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], dim=1)
            m = torch.max(F.interpolate(m, scale_factor=2.0, mode="nearest"), skip_mask)
            x, m = block(x, m)
        if self.residual:
            if base is None:
                raise ValueError("a residual PartialUNet needs the first fill: forward(image, mask, base)")
            return base + x
        return x

    @staticmethod
    def composite(image: torch.Tensor, mask: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The known pixels as they were, the holes from the network."""
        return image * mask + output * (1.0 - mask)
