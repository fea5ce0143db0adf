"""Inpainting backends: `inpaint(pixels, mask) -> pixels`, filling the masked pixels from their surroundings.

`pixels` is RGB uint8 (height, width, 3), `mask` uint8 (height, width) with 255 where the text was. Every
backend returns an array of the same shape whose unmasked pixels are unchanged; it may fill `pixels` in
place and return it (the executor hands over its own copy of the page).
"""

from __future__ import annotations

import cv2
import numpy as np

from transmodal.backends import Registry
from transmodal.errors import ConfigurationError
from transmodal.models import load_pretrained, model_reference, torch_device

ERASERS: Registry = Registry("inpainting")


class OpenCVInpainter:
    """cv2.inpaint: fast and CPU-only; exact on flat backgrounds and near-exact on gradients.

    cv2.inpaint fills smoothly, which leaves a ghost of the text on grainy surfaces (paper, concrete,
    photos): the strokes show as smooth patches. With `grain` on, the fine detail of a nearby unmasked patch
    of the same image is added on top of the smooth fill. Flat and gradient backgrounds have no detail to
    copy, so they stay exact.
    """

    METHOD = cv2.INPAINT_TELEA

    def __init__(self, radius: int = 5, grain: bool = True, grain_sigma: float = 2.0):
        if radius < 1:
            raise ConfigurationError(f"inpainting radius must be >= 1, got {radius}")
        self.radius = radius
        self.grain = grain
        self.grain_sigma = grain_sigma

    def inpaint(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fills the holes of `pixels` in place (the executor passes its own copy) and returns it."""
        # Only the parts of the image the holes, their inpainting radius and their grain sources (up to two
        # hole sizes away) can reach are worked on, one window per group of nearby holes: the same result,
        # in a fraction of the memory on a large page with a few signs (a 6000x6000 photo peaked at 2.6 GB
        # in full).
        for (y0, y1), (x0, x1) in hole_windows(mask, self.radius):
            pixels[y0:y1, x0:x1] = self._inpaint(pixels[y0:y1, x0:x1], mask[y0:y1, x0:x1])
        return pixels

    def _inpaint(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        holes = (mask > 0).astype(np.uint8)
        # On 8-bit input cv2.inpaint's Telea rounds its way to errors of a few levels even on a flat colour,
        # enough to leave a faint ghost of the text. At 16 bits the same error is 1/256 of a level.
        deep = pixels.astype(np.uint16) * 257
        filled16 = np.stack(
            [
                cv2.inpaint(np.ascontiguousarray(deep[..., channel]), holes, self.radius, self.METHOD)
                for channel in range(3)
            ],
            axis=-1,
        )
        del deep
        # round(x / 257) in integers (no float64 copy of the image): x = 257 k + r rounds up iff r >= 129.
        filled = ((filled16.astype(np.uint32) + 128) // 257).astype(np.float32)
        del filled16
        if self.grain:
            filled += self._grain(pixels, holes)
        filled = np.clip(np.round(filled), 0, 255).astype(np.uint8)
        # cv2 may touch pixels next to the mask; keep the original wherever there was no text.
        return np.where(holes[..., None] > 0, filled, pixels)

    def _grain(self, pixels: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Fine detail (image minus its blur) for every word-sized hole, copied from the clean patch nearby
        whose surroundings match the hole's surroundings best. Only fine grain is copied: coarser detail,
        which cannot line up with the hole's edges, would draw the strokes' outlines back in."""
        image = pixels.astype(np.float32)
        height, width = holes.shape
        grain = np.zeros_like(image)
        # Pixels next to a hole are contaminated by the text's edges: never copy from there.
        unusable = cv2.dilate(holes, np.ones((5, 5), np.uint8), iterations=2) > 0
        # Nearby strokes are treated as one patch, so the copied detail is continuous across a word.
        joined = cv2.dilate(holes, np.ones((9, 9), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(joined)
        for label in range(1, count):
            x, y, w, h = stats[label, :4]
            component = labels[y : y + h, x : x + w] == label
            target = component & (holes[y : y + h, x : x + w] > 0)
            # The clean pixels of the hole's box (between and around the strokes), to match sources by.
            ring = ~unusable[y : y + h, x : x + w]
            margin = int(3 * self.grain_sigma) + 1
            # Candidate sources: the hole's box shifted by up to two of its sizes, nearest first, inside the
            # image and (nearly) free of other text.
            shifts = sorted(
                (
                    (dx, dy)
                    for dy in (-2 * h, -h, 0, h, 2 * h)
                    for dx in (-w, -w // 2, 0, w // 2, w)
                    if (dx, dy) != (0, 0)
                ),
                key=lambda shift: abs(shift[0]) + abs(shift[1]),
            )
            sources = [
                (x + dx, y + dy)
                for dx, dy in shifts
                if 0 <= x + dx
                and x + dx + w <= width
                and 0 <= y + dy
                and y + dy + h <= height
                and unusable[y + dy : y + dy + h, x + dx : x + dx + w][component].mean() <= 0.02
            ]
            if not sources:
                continue
            target_ring = image[y : y + h, x : x + w][ring]
            sx, sy = (
                sources[0]
                if not ring.any()
                else min(
                    sources,
                    key=lambda source: float(
                        np.mean((image[source[1] : source[1] + h, source[0] : source[0] + w][ring] - target_ring) ** 2)
                    ),
                )
            )
            # Blur a window with some margin around the source, so the detail near its border is right too.
            wx0, wy0 = max(0, sx - margin), max(0, sy - margin)
            wx1, wy1 = min(width, sx + w + margin), min(height, sy + h + margin)
            window = image[wy0:wy1, wx0:wx1]
            detail = window - cv2.GaussianBlur(window, (0, 0), self.grain_sigma)
            # Where other text is within reach of the blur, its edges leak into the detail: copy none there.
            leaked = cv2.dilate(holes[wy0:wy1, wx0:wx1], np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
            detail[leaked] = 0
            detail = detail[sy - wy0 : sy - wy0 + h, sx - wx0 : sx - wx0 + w]
            grain[y : y + h, x : x + w][target] = detail[target]
        return grain


@ERASERS.register("opencv-telea")
class TeleaInpainter(OpenCVInpainter):
    """Telea's fast marching method: fills from the boundary inwards, weighted by distance and direction."""

    METHOD = cv2.INPAINT_TELEA


@ERASERS.register("opencv-ns")
class NavierStokesInpainter(OpenCVInpainter):
    """Navier-Stokes based inpainting: continues isophotes (edges) into the hole; a little smoother."""

    METHOD = cv2.INPAINT_NS


@ERASERS.register("diffusers")
class DiffusersInpainter:
    """A diffusers inpainting pipeline (Stable Diffusion inpainting, or any AutoPipelineForInpainting model).

    Each cluster of masked pixels is cropped with some context, resized so its longer side is at most
    `max_side` (a multiple of 8, as the VAE needs), inpainted, resized back, and only the masked pixels are
    pasted into the image: the rest of the image is never touched, and a large image costs no more than
    its text areas.
    """

    ENV_VAR = "TRANSMODAL_INPAINT_MODEL"

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        steps: int = 25,
        guidance_scale: float = 7.5,
        dtype: str = "auto",
        prompt: str = "clean background",
        negative_prompt: str = "text, letters, words, characters, watermark, writing",
        strength: float = 1.0,
        max_side: int = 512,
        context: float = 0.5,
        seed: int = 0,
    ):
        import torch
        from diffusers import AutoPipelineForInpainting

        reference = model_reference(model, self.ENV_VAR)
        self.device = torch_device(device)
        # Half precision only where it is fast and supported: on a GPU. CPU kernels for fp16 are slow or missing.
        if dtype == "auto":
            torch_dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        elif dtype in ("float16", "fp16", "half"):
            torch_dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        elif dtype in ("float32", "fp32", "float"):
            torch_dtype = torch.float32
        elif dtype in ("bfloat16", "bf16"):
            torch_dtype = torch.bfloat16
        else:
            raise ConfigurationError(f"unknown dtype {dtype!r}: use auto, float16, bfloat16 or float32")
        self.pipeline = load_pretrained(
            AutoPipelineForInpainting.from_pretrained,
            reference,
            "model",
            self.ENV_VAR,
            dtype=torch_dtype,
            safety_checker=None,
            requires_safety_checker=False,
        )
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.strength = strength
        self.max_side = max(64, max_side // 8 * 8)
        self.context = context
        self.seed = seed

    def _crops(self, mask: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Boxes (x0, y0, x1, y1) around groups of nearby masked pixels, each with context around it."""
        height, width = mask.shape
        # Text lines of one block are close: join them so a block is inpainted at once, with shared context.
        gap = max(8, int(0.02 * max(height, width)))
        joined = cv2.dilate((mask > 0).astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(joined)
        boxes = []
        for label in range(1, count):
            x, y, w, h = stats[label, :4]
            margin = max(16, int(self.context * max(w, h) / 2))
            boxes.append(
                (max(0, x - margin), max(0, y - margin), min(width, x + w + margin), min(height, y + h + margin))
            )
        return boxes

    def _model_size(self, width: int, height: int) -> tuple[int, int]:
        scale = min(1.0, self.max_side / max(width, height))
        return max(64, round(width * scale / 8) * 8), max(64, round(height * scale / 8) * 8)

    def inpaint(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        result = pixels.copy()
        for x0, y0, x1, y1 in self._crops(mask):
            crop, crop_mask = pixels[y0:y1, x0:x1], mask[y0:y1, x0:x1]
            model_width, model_height = self._model_size(x1 - x0, y1 - y0)
            image = Image.fromarray(crop).resize((model_width, model_height), Image.Resampling.LANCZOS)
            # Resize the mask without smoothing and grow it a little: the VAE blurs edges at 1/8 resolution.
            model_mask = cv2.resize(crop_mask, (model_width, model_height), interpolation=cv2.INTER_NEAREST)
            model_mask = cv2.dilate(model_mask, np.ones((5, 5), np.uint8))
            generator = torch.Generator(device="cpu").manual_seed(self.seed)
            output = self.pipeline(
                prompt=self.prompt,
                negative_prompt=self.negative_prompt,
                image=image,
                mask_image=Image.fromarray(model_mask),
                height=model_height,
                width=model_width,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance_scale,
                strength=self.strength,
                generator=generator,
            ).images[0]
            filled = np.asarray(output.convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS))
            inside = crop_mask > 0
            result[y0:y1, x0:x1][inside] = filled[inside]
        return result


def hole_windows(mask: np.ndarray, radius: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Disjoint windows ((y0, y1), (x0, x1)) that together hold every hole of `mask` with all the pixels
    its inpainting can read: its radius and the grain sources up to two hole sizes away. Windows that would
    overlap are merged, so a hole never sees another hole's unfilled text as its surroundings."""
    joined = cv2.dilate((mask > 0).astype(np.uint8), np.ones((9, 9), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined)
    del joined
    height, width = mask.shape
    windows = []
    for x, y, w, h, _ in stats[1:count]:
        reach = int(max(2 * h, w)) + 2 * radius + 16
        windows.append([max(0, y - reach), min(height, y + h + reach), max(0, x - reach), min(width, x + w + reach)])
    merged = True
    while merged:  # few windows per page: a quadratic merge is plenty
        merged = False
        for i in range(len(windows)):
            for j in range(i + 1, len(windows)):
                a, b = windows[i], windows[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    windows[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
                    del windows[j]
                    merged = True
                    break
            if merged:
                break
    return [((y0, y1), (x0, x1)) for y0, y1, x0, x1 in windows]
