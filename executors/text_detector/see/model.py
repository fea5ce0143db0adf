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

import torch
import torch.nn.functional as F
from torch import nn

from executors.text_detector.see.data import ALPHABET, BLANK, decode


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
    def from_dict(cls, values: dict) -> "SeeConfig":
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in values.items() if key in fields}
        return cls(**values)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and ReLU, plus a shortcut (1x1 where the width changes)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                            nn.BatchNorm2d(out_channels)))

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
        self.stem = nn.Sequential(nn.Conv2d(3, first, 3, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU(),
                                  nn.AvgPool2d(2, stride=2))
        self.blocks = nn.Sequential(ResidualBlock(first, first), ResidualBlock(first, second), nn.MaxPool2d(2, 2),
                                    ResidualBlock(second, third), nn.AvgPool2d(5, stride=2))
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
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", align_corners=False,
                                   antialias=True)
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
        self.stem = nn.Sequential(nn.Conv2d(3, first, 3, padding=1, bias=False), nn.BatchNorm2d(first), nn.ReLU(),
                                  nn.MaxPool2d(2, 2))
        self.blocks = nn.Sequential(ResidualBlock(first, first), nn.MaxPool2d(2, 2), ResidualBlock(first, second),
                                    nn.MaxPool2d(2, 2), ResidualBlock(second, third))
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
    grid = F.affine_grid(transforms.reshape(batch * steps, 2, 3), [batch * steps, 3, height, width],
                         align_corners=False)
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


# --- losses ---------------------------------------------------------------------------------------------

def recognition_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every classifier of every region against the labels (batch, N, T), BLANK included."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def side_lengths(transforms: torch.Tensor, aspect: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Width and height of each region in units of the image height; `aspect` is the image's width / height."""
    top_left, top_right, _, bottom_left = corners(transforms).unbind(-2)
    to_heights = torch.tensor([aspect / 2, 0.5]).to(transforms)  # normalised units -> image heights
    width = torch.linalg.vector_norm((top_right - top_left) * to_heights, dim=-1)
    height = torch.linalg.vector_norm((bottom_left - top_left) * to_heights, dim=-1)
    return width, height


def area_loss(transforms: torch.Tensor, has_line: torch.Tensor | None = None) -> torch.Tensor:
    """Mean area of the regions as a fraction of the image: the smaller, the tighter the box.

    With `has_line` (batch, N), only regions that have a line to read count: a region that should read
    nothing has no box to tighten, and shrinking it to nothing would leave it unable to find a line later.
    """
    # The determinant of the 2x2 part is the area ratio of region to image, whatever the rotation.
    areas = torch.linalg.det(transforms[..., :2]).abs()
    if has_line is None:
        return areas.mean()
    return (areas * has_line).sum() / has_line.sum().clamp_min(1)


def height_loss(transforms: torch.Tensor, min_height: float = 0.06) -> torch.Tensor:
    """Penalises regions lower than `min_height` (a fraction of the image height), in units of that
    height: a region too low to hold text is dead, no gradient would bring it back (the authors' code)."""
    top_left, _, _, bottom_left = corners(transforms).unbind(-2)
    height = torch.linalg.vector_norm(bottom_left - top_left, dim=-1) / 2
    return F.relu(1.0 - height / min_height).mean()


def aspect_ratio_loss(transforms: torch.Tensor, aspect: float = 1.0, max_ratio: float = 0.5) -> torch.Tensor:
    """Penalises regions whose height exceeds `max_ratio` times their width (in pixels): lines of text are
    wider than tall. 0.5, as in the authors' code, lets a region hold two characters' width at least."""
    width, height = side_lengths(transforms, aspect)
    return F.relu(height / width.clamp_min(1e-6) - max_ratio).mean()


def direction_loss(transforms: torch.Tensor) -> torch.Tensor:
    """Penalises mirrored or upside-down regions: the top-left corner must stay left of the top-right one
    and above the bottom-left one."""
    top_left, top_right, _, bottom_left = corners(transforms).unbind(-2)
    return (F.relu(top_left[..., 0] - top_right[..., 0]) + F.relu(top_left[..., 1] - bottom_left[..., 1])).mean()


def outside_loss(transforms: torch.Tensor) -> torch.Tensor:
    """How far the regions' corners lie outside the image (in half image sides, summed over the four): a
    region reaching past the image reads padding, and its box would claim text where there is none."""
    return F.relu(corners(transforms).abs() - 1.0).sum((-1, -2)).mean()


@dataclasses.dataclass
class LossWeights:
    """Equation 7: L = L_rec + lambda_area * L_area + lambda_aspect * L_aspect + L_direction,
    plus the minimum-height term of the authors' code (L_height, weight 1) and our penalty on regions
    reaching past the image (L_outside).

    As in the authors' code, the area weight grows with the training accuracy: boxes are tightened once
    the recogniser can read what they hold, not before.
    """

    area: float = 0.05
    area_growth: float = 1.0  # lambda_area = area + area_growth * accuracy
    aspect: float = 0.5
    max_height_to_width: float = 0.5  # regions may be at most half as tall as wide without penalty
    min_height: float = 0.06  # of the image height: lower regions are penalised (weight 1)
    outside: float = 1.0  # weight of the penalty on regions reaching past the image (ours, not the paper's)

    def area_weight(self, accuracy: float) -> float:
        return self.area + self.area_growth * accuracy


def see_loss(output: SeeOutput, labels: torch.Tensor, weights: LossWeights, accuracy: float,
             aspect: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss and its parts (for the logs and the loss curves)."""
    has_line = (labels != BLANK).any(-1).to(output.transforms.dtype)
    parts = {
        "recognition": recognition_loss(output.logits, labels),
        "area": area_loss(output.transforms, has_line),
        "aspect": aspect_ratio_loss(output.transforms, aspect, weights.max_height_to_width),
        "direction": direction_loss(output.transforms),
        "height": height_loss(output.transforms, weights.min_height),
        "outside": outside_loss(output.transforms),
    }
    total = (parts["recognition"] + weights.area_weight(accuracy) * parts["area"]
             + weights.aspect * parts["aspect"] + parts["direction"] + parts["height"]
             + weights.outside * parts["outside"])
    return total, {name: float(value.detach()) for name, value in parts.items()}


def predictions(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (..., T, classes) -> (labels (..., T), confidence (...): mean max-softmax over the T)."""
    probabilities = logits.softmax(-1)
    confidence, labels = probabilities.max(-1)
    return labels, confidence.mean(-1)


def read(logits: torch.Tensor) -> list[list[tuple[str, float]]]:
    """Logits (batch, N, T, classes) -> per image, per region: (text with blanks dropped, confidence)."""
    labels, confidence = predictions(logits.detach())
    return [[(decode(region.tolist()), float(score)) for region, score in zip(image, scores)]
            for image, scores in zip(labels, confidence)]
