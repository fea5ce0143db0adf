"""In-image translation from pixels to pixels: the two models of "Towards End-to-End In-Image Neural Machine
Translation" (Mansimov, Stern, Chen, Firat, Uszkoreit, Jain 2020), scaled for a CPU.

Strips are one text line, `height` x `width` pixels, as ink in [0, 1] (0 = paper, 1 = ink), one channel.

- `ConvStripTranslator` (the paper's section 3.1): a residual convolutional encoder of the source strip down
  to one vector, the same structure reversed as the decoder, a logit per pixel of the target strip.
- `PixelTranslator` (section 3.2): separate convolutional encoders for the source strip and the partial
  target strip (the target's first n - 1 pieces rendered), a self-attention encoder over their outputs side
  by side, and a convolutional decoder that draws the next partial target (the first n pieces). Decoding
  is greedy: the model's own thresholded drawing is fed back until a step changes no pixel.

Training and the data are in training/pixels; executors only load checkpoints (transmodal.nets.checkpoint).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ResidualBlock(nn.Module):
    """Two 3 x 3 convolutions with batch norm and a shortcut (a strided 1 x 1 convolution where the shape
    changes): the blocks of the paper's table 1."""

    def __init__(self, channels_in: int, channels_out: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(True),
            nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False), nn.BatchNorm2d(channels_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class UpBlock(nn.Module):
    """The decoder's mirror of a strided block: nearest-neighbour x 2, then a residual block."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.block = ResidualBlock(channels_in, channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _plan(width: int, downsamplings: int) -> list[tuple[int, int, int]]:
    """Table 1's encoder, (in, out, stride) per block, channels `width` x (1, 2, 2, 4, 4, 8, 8, ...): a
    stride-2 block doubles the channels (up to 8 x `width`), a stride-1 block after it keeps them."""
    blocks, channels = [], width
    for _ in range(downsamplings):
        wider = min(channels * 2, width * 8)
        blocks += [(channels, wider, 2), (wider, wider, 1)]
        channels = wider
    return blocks


FOLD = 4  # pixel (un)shuffle factor: the strip enters and leaves the networks at a quarter of its size


class StripEncoder(nn.Module):
    """Strip (B, 1, H, W) -> feature map (B, C, H / 4 / 2^k, W / 4 / 2^k): the strip folded 4 x 4 into
    channels (pixel unshuffle), then table 1's residual blocks. The fold stands in for table 1's blocks at
    full resolution, which cost a CPU 16 times as much for a one-channel picture of letters."""

    def __init__(self, width: int, downsamplings: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.PixelUnshuffle(FOLD),
            nn.Conv2d(FOLD * FOLD, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        )
        plan = _plan(width, downsamplings)
        self.blocks = nn.Sequential(*[ResidualBlock(a, b, stride) for a, b, stride in plan])
        self.channels = plan[-1][1]

    def forward(self, strips: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(strips))


class StripDecoder(nn.Module):
    """The encoder reversed: feature map -> logits (B, 1, H, W), unfolded by pixel shuffle. With `guide`
    (the partial target, for the full model), its folded pixels join just before the last convolution, so
    copying what is already drawn is easy."""

    def __init__(self, width: int, downsamplings: int, guide: bool = False):
        super().__init__()
        plan = _plan(width, downsamplings)
        self.blocks = nn.Sequential(
            *[UpBlock(b, a) if stride == 2 else ResidualBlock(b, a) for a, b, stride in plan[::-1]]
        )
        self.fold = nn.PixelUnshuffle(FOLD)
        self.out = nn.Sequential(
            nn.Conv2d(width + (FOLD * FOLD if guide else 0), FOLD * FOLD, 3, 1, 1), nn.PixelShuffle(FOLD)
        )

    def forward(self, features: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        drawn = self.blocks(features)
        return self.out(drawn if guide is None else torch.cat([drawn, self.fold(guide)], dim=1))


class ConvStripTranslator(nn.Module):
    """Section 3.1's baseline: source strip -> one vector -> target strip logits (no notion of pieces)."""

    def __init__(self, height: int = 32, width: int = 384, channels: int = 16, vector: int = 512):
        super().__init__()
        downsamplings = (height // FOLD).bit_length() - 1  # down to a height of 1
        self.height, self.width = height, width
        self.encoder = StripEncoder(channels, downsamplings)
        shrink = FOLD << downsamplings
        self.map_shape = (self.encoder.channels, height // shrink, width // shrink)
        size = self.map_shape[0] * self.map_shape[1] * self.map_shape[2]
        self.to_vector = nn.Sequential(nn.Flatten(), nn.Linear(size, vector), nn.ReLU(True))
        self.from_vector = nn.Sequential(nn.Linear(vector, size), nn.ReLU(True))
        self.decoder = StripDecoder(channels, downsamplings)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        vector = self.to_vector(self.encoder(source))
        return self.decoder(self.from_vector(vector).view(-1, *self.map_shape))

    @torch.no_grad()
    def translate(self, source: torch.Tensor, max_steps: int = 1, keep_drawn: bool = True) -> torch.Tensor:
        """The thresholded target strip (one step: the baseline draws the whole translation at once)."""
        return (self(source) > 0).float()


class PixelTranslator(nn.Module):
    """Section 3.2's model: (source strip, partial target strip) -> logits of the next partial target.

    Each strip is encoded to a map of height H / 8, whose columns become a sequence of W / 8 vectors
    (height folded into channels); position and segment embeddings are added, a Transformer encoder runs
    over the 2 x W / 8 vectors, and the target half is drawn back to H x W by the decoder.
    """

    def __init__(
        self,
        height: int = 32,
        width: int = 384,
        channels: int = 16,
        dimension: int = 128,
        layers: int = 3,
        heads: int = 4,
        feed_forward: int = 512,
        dropout: float = 0.1,
    ):
        super().__init__()
        downsamplings = 1  # with the 4 x 4 fold: columns of 8 pixels
        self.height, self.width = height, width
        self.source_encoder = StripEncoder(channels, downsamplings)
        self.target_encoder = StripEncoder(channels, downsamplings)
        shrink = FOLD << downsamplings
        self.map_shape = (self.source_encoder.channels, height // shrink, width // shrink)
        folded = self.map_shape[0] * self.map_shape[1]
        self.length = self.map_shape[2]
        self.to_sequence = nn.Linear(folded, dimension)
        self.positions = nn.Parameter(torch.randn(1, 2 * self.length, dimension) * 0.02)
        layer = nn.TransformerEncoderLayer(dimension, heads, feed_forward, dropout, batch_first=True, norm_first=True)
        self.attention = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.to_map = nn.Linear(dimension, folded)
        self.decoder = StripDecoder(channels, downsamplings, guide=True)

    def _sequence(self, features: torch.Tensor) -> torch.Tensor:
        batch, channels, rows, columns = features.shape
        return self.to_sequence(features.permute(0, 3, 1, 2).reshape(batch, columns, channels * rows))

    def forward(self, source: torch.Tensor, partial: torch.Tensor) -> torch.Tensor:
        joined = torch.cat(
            [self._sequence(self.source_encoder(source)), self._sequence(self.target_encoder(partial))], dim=1
        )
        attended = self.attention(joined + self.positions)[:, self.length :]
        channels, rows, columns = self.map_shape
        features = self.to_map(attended).view(-1, columns, channels, rows).permute(0, 2, 3, 1)
        return self.decoder(features, guide=partial)

    @torch.no_grad()
    def translate(self, source: torch.Tensor, max_steps: int = 24, keep_drawn: bool = True) -> torch.Tensor:
        """Greedy decoding: from a blank strip, draw the next partial target from the model's own thresholded
        drawing; a strip whose step changes no pixel is finished; at most `max_steps` steps (pieces).

        `keep_drawn` (our change to the paper, which feeds the drawing back as it is): ink once drawn stays,
        the next partial target is the union of the drawing and the partial one. Fed back as is, each step
        eroded the earlier pieces a little and the errors compounded (BLEU 0.0 against 5.3 with the ink
        kept, on 200 held-out phrases: training/pixels/README.md)."""
        partial = torch.zeros_like(source)
        running = torch.ones(source.shape[0], dtype=torch.bool, device=source.device)
        for _ in range(max_steps):
            before = partial[running]
            drawn = (self(source[running], before) > 0).float()
            if keep_drawn:
                drawn = torch.maximum(drawn, before)
            changed = (drawn != before).flatten(1).any(1)
            partial[running] = drawn
            running[running.clone()] = changed
            if not running.any():
                break
        return partial
