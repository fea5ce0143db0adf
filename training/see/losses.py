"""The SEE training loss: Equation 7 of the paper plus the authors' grid regularisers (see transmodal.nets.see)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from transmodal.nets.see import BLANK, SeeOutput, corners


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


def see_loss(
    output: SeeOutput, labels: torch.Tensor, weights: LossWeights, accuracy: float, aspect: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
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
    total = (
        parts["recognition"]
        + weights.area_weight(accuracy) * parts["area"]
        + weights.aspect * parts["aspect"]
        + parts["direction"]
        + parts["height"]
        + weights.outside * parts["outside"]
    )
    return total, {name: float(value.detach()) for name, value in parts.items()}
