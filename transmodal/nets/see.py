"""SEE (Bartz, Yang, Meinel 2017): a spatial transformer that finds text lines, learnt from their text only.

    image --localisation net--> N affine matrices A_n (2x3)
          --grid generator + bilinear sampler--> N crops, one per text line
          --recognition net--> T softmax classifiers per crop (BLANK pads a line to T characters)

The localisation net is a small ResNet whose pooled features feed an LSTM run for N time steps; each step
goes through a second LSTM with 6 hidden units whose output, added to a fixed initial transform, is A_n.
The crop of step n is the image under the grid A_n maps the unit square to: its four corners are the
predicted box of line n. Only the text labels are a loss; the grid regularisers (area, aspect ratio,
direction) and rotation dropout only shape the boxes.
"""

from __future__ import annotations

import dataclasses
import os
import string

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transmodal.errors import ModelNotFoundError

ALPHABET = string.digits + string.ascii_lowercase + string.ascii_uppercase
BLANK = 0  # label 0 pads a line to T characters, and is all a region without a line reads


def encode(text: str, max_length: int) -> list[int]:
    """Characters -> labels 1..len(ALPHABET), padded with BLANK to `max_length`."""
    labels = [ALPHABET.index(char) + 1 for char in text[:max_length]]
    return labels + [BLANK] * (max_length - len(labels))


def decode(labels) -> str:
    """Labels -> text; blanks are dropped wherever they are."""
    return "".join(ALPHABET[label - 1] for label in labels if label != BLANK)


@dataclasses.dataclass
class SeeConfig:
    """Sizes of a SEE model; saved with its checkpoint so the checkpoint can be rebuilt alone."""

    max_lines: int = 3  # N: regions (time steps) per image
    max_length: int = 8  # T: characters per region
    alphabet: str = ALPHABET
    localization_size: int = 64  # the localisation net sees the image resized to this square
    localization_widths: tuple[int, int, int] = (32, 48, 48)
    localization_hidden: int = 256
    crop_height: int = 32  # the sampler cuts each region to this size for the recognition net
    crop_width: int = 96
    recognition_widths: tuple[int, int, int] = (32, 64, 128)
    recognition_hidden: int = 256
    rotation_dropout: float = 0.5  # probability, per region, of zeroing the rotation/shear parameters
    initial_scale: tuple[float, float] = (1.0, 1.0)  # the initial transform: (x, y) scale of the whole image

    @property
    def classes(self) -> int:
        return len(self.alphabet) + 1  # + BLANK

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> SeeConfig:
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {
            key: tuple(value) if isinstance(value, list) else value for key, value in values.items() if key in fields
        }
        return cls(**values)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and ReLU, plus a shortcut (1x1 where the width changes)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class LocalizationNet(nn.Module):
    """Image -> N affine matrices (batch, N, 2, 3), one per text line, top to bottom."""

    def __init__(self, config: SeeConfig):
        super().__init__()
        first, second, third = config.localization_widths
        self.size = config.localization_size
        self.stem = nn.Sequential(
            nn.Conv2d(3, first, 3, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU(), nn.AvgPool2d(2, stride=2)
        )
        self.blocks = nn.Sequential(
            ResidualBlock(first, first),
            ResidualBlock(first, second),
            nn.MaxPool2d(2, 2),
            ResidualBlock(second, third),
            nn.AvgPool2d(5, stride=2),
        )
        pooled = (self.size // 4 - 5) // 2 + 1
        self.lstm = nn.LSTMCell(third * pooled * pooled, config.localization_hidden)
        self.transform_lstm = nn.LSTMCell(config.localization_hidden, 6)
        scale_x, scale_y = config.initial_scale
        # A_n = A_0 + output of the 6-unit LSTM, whose weights start at zero so that its output does too:
        # every region starts exactly at A_0 (the whole image), the usual spatial-transformer start, and the
        # recogniser first learns on whole images instead of on random crops. (The cell-input weights still
        # get gradients: with zero weights the cell is 0 and d(output)/d(cell) = 0.5.)
        self.register_buffer("initial_transform", torch.tensor([scale_x, 0.0, 0.0, 0.0, scale_y, 0.0]))
        self.reset_transform()

    def reset_transform(self) -> None:
        for parameter in self.transform_lstm.parameters():
            nn.init.zeros_(parameter)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.size, self.size):
            images = F.interpolate(
                images, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True
            )
        return self.blocks(self.stem(images)).flatten(1)

    def forward(self, images: torch.Tensor, steps: int) -> torch.Tensor:
        features = self.features(images)
        state = transform_state = None
        transforms = []
        for _ in range(steps):  # the same features every step; the LSTM's state says which line is next
            state = self.lstm(features, state)
            transform_state = self.transform_lstm(state[0], transform_state)
            transforms.append(self.initial_transform + transform_state[0])
        return torch.stack(transforms, dim=1).view(-1, steps, 2, 3)


class RecognitionNet(nn.Module):
    """Crops (batch, 3, crop_height, crop_width) -> logits (batch, T, classes), T independent classifiers."""

    def __init__(self, config: SeeConfig):
        super().__init__()
        first, second, third = config.recognition_widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, first, 3, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU(), nn.MaxPool2d(2, 2)
        )
        self.blocks = nn.Sequential(
            ResidualBlock(first, first),
            nn.MaxPool2d(2, 2),
            ResidualBlock(first, second),
            nn.MaxPool2d(2, 2),
            ResidualBlock(second, third),
        )
        features = third * (config.crop_height // 8) * (config.crop_width // 8)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(features, config.recognition_hidden), nn.ReLU())
        self.classifiers = nn.Linear(config.recognition_hidden, config.max_length * config.classes)
        self.max_length = config.max_length
        self.classes = config.classes

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        hidden = self.fc(self.blocks(self.stem(crops)))
        return self.classifiers(hidden).view(-1, self.max_length, self.classes)


@dataclasses.dataclass
class SeeOutput:
    logits: torch.Tensor  # (batch, N, T, classes)
    transforms: torch.Tensor  # (batch, N, 2, 3), after rotation dropout
    crops: torch.Tensor  # (batch, N, 3, crop_height, crop_width)


class SeeModel(nn.Module):
    def __init__(self, config: SeeConfig):
        super().__init__()
        self.config = config
        self.localization = LocalizationNet(config)
        self.recognition = RecognitionNet(config)

    def forward(self, images: torch.Tensor, steps: int | None = None) -> SeeOutput:
        """`images` (batch, 3, H, W) in [-1, 1], any H and W; `steps` regions (default N)."""
        steps = steps or self.config.max_lines
        transforms = rotation_dropout(self.localization(images, steps), self.config.rotation_dropout, self.training)
        crops = sample_regions(images, transforms, self.config.crop_height, self.config.crop_width)
        logits = self.recognition(crops.flatten(0, 1))
        return SeeOutput(logits.view(images.shape[0], steps, self.config.max_length, -1), transforms, crops)


def rotation_dropout(transforms: torch.Tensor, probability: float, training: bool) -> torch.Tensor:
    """Zero the rotation/shear entries (A[0,1], A[1,0]) of a random share of the regions while training,
    and scale them by the keep probability at inference, as dropout does (SEE, section 3.2)."""
    if probability <= 0:
        return transforms
    keep = torch.ones_like(transforms)
    if training:
        kept = (torch.rand(transforms.shape[:2], device=transforms.device) >= probability).to(transforms.dtype)
        keep[..., 0, 1] = kept
        keep[..., 1, 0] = kept
    else:
        keep[..., 0, 1] = 1 - probability
        keep[..., 1, 0] = 1 - probability
    return transforms * keep


def sample_regions(images: torch.Tensor, transforms: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Grid generator + bilinear sampler: (batch, N, 3, height, width) crops of `images` under `transforms`."""
    batch, steps = transforms.shape[:2]
    grid = F.affine_grid(
        transforms.reshape(batch * steps, 2, 3), [batch * steps, 3, height, width], align_corners=False
    )
    sources = images.unsqueeze(1).expand(-1, steps, -1, -1, -1).reshape(batch * steps, *images.shape[1:])
    crops = F.grid_sample(sources, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.view(batch, steps, 3, height, width)


# The unit square's corners, clockwise from top-left, in the normalised coordinates affine_grid uses
# (with align_corners=False, -1 and 1 are the outer edges of the crop's border pixels).
UNIT_CORNERS = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])


def corners(transforms: torch.Tensor) -> torch.Tensor:
    """(..., 2, 3) transforms -> (..., 4, 2) corners of each region in normalised image coordinates."""
    return UNIT_CORNERS.to(transforms) @ transforms.transpose(-1, -2)


def corners_in_pixels(transforms: torch.Tensor, image_width: int, image_height: int) -> torch.Tensor:
    """Corners (..., 4, 2) in image pixels: top-left, top-right, bottom-right, bottom-left."""
    scale = torch.tensor([image_width, image_height]).to(transforms)
    return (corners(transforms) + 1) / 2 * scale


def predictions(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (..., T, classes) -> (labels (..., T), confidence (...): mean max-softmax over the T)."""
    probabilities = logits.softmax(-1)
    confidence, labels = probabilities.max(-1)
    return labels, confidence.mean(-1)


def read(logits: torch.Tensor) -> list[list[tuple[str, float]]]:
    """Logits (batch, N, T, classes) -> per image, per region: (text with blanks dropped, confidence)."""
    labels, confidence = predictions(logits.detach())
    return [
        [(decode(region.tolist()), float(score)) for region, score in zip(image, scores)]
        for image, scores in zip(labels, confidence)
    ]


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """RGB uint8 images of one size -> float tensor (batch, 3, height, width) in [-1, 1]."""
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return stacked / 127.5 - 1.0


# --- checkpoints ----------------------------------------------------------------------------------------

ENV_VAR = "TRANSMODAL_SEE_CHECKPOINT"


def _read_checkpoint(path: str, device: str = "cpu") -> dict:
    if not os.path.isfile(path):
        raise ModelNotFoundError(
            f"SEE checkpoint {path!r} not found: set `with: backend_options: {{checkpoint: PATH}}` or "
            f"{ENV_VAR}, or train one with `transmodal train see`"
        )
    return torch.load(path, map_location=device, weights_only=True)


def checkpoint_config(path: str) -> SeeConfig:
    """The model config saved in a checkpoint, without building the model."""
    return SeeConfig.from_dict(_read_checkpoint(path)["config"])


def load_checkpoint(path: str, device: str = "cpu") -> SeeModel:
    """A SEE model, in eval mode, from a checkpoint written by `train.py` (model config + weights)."""
    saved = _read_checkpoint(path, device)
    model = SeeModel(SeeConfig.from_dict(saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()
