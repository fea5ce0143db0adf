"""Checkpoints of the project's trained networks: the network's name, its constructor arguments and its
weights.

Training (training/eraser, training/scenes) writes them with `save`; executors read them with `load`, which
builds the network from the saved arguments, so a checkpoint of another size loads through the same code.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from transmodal.errors import ModelNotFoundError
from transmodal.nets.pconv import PartialUNet
from transmodal.nets.pixels import ConvStripTranslator, PixelTranslator
from transmodal.nets.scenes import DualEncoder, SceneCaptioner, SceneGenerator, SpeechEncoder
from transmodal.nets.text_segmenter import TextSegmenter

NETWORKS: dict[str, type[nn.Module]] = {
    "text-segmenter": TextSegmenter,
    "partial-unet": PartialUNet,
    "dual-encoder": DualEncoder,
    "scene-captioner": SceneCaptioner,
    "scene-generator": SceneGenerator,
    "speech-encoder": SpeechEncoder,
    "pixel-translator": PixelTranslator,
    "conv-strip-translator": ConvStripTranslator,
}


def save(model: nn.Module, network: str, arguments: dict, path: str) -> None:
    """Weights in half precision (the checkpoint is committed: half the size; the networks run in float32)."""
    state = {key: value.half() if value.is_floating_point() else value for key, value in model.state_dict().items()}
    torch.save({"network": network, "arguments": arguments, "state_dict": state}, path)


def load(path: str, network: str, device: str = "cpu", how_to_get: str = "") -> nn.Module:
    """The `network` saved at `path`, in eval mode on `device`; ModelNotFoundError saying `how_to_get` one."""
    if not os.path.isfile(path):
        raise ModelNotFoundError(f"{network} checkpoint {path!r} not found: {how_to_get}".rstrip(": "))
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("network") != network:
        raise ModelNotFoundError(f"{path!r} holds a {saved.get('network')!r} network, not a {network!r} one")
    model = NETWORKS[network](**saved["arguments"])
    model.load_state_dict(
        {key: value.float() if value.is_floating_point() else value for key, value in saved["state_dict"].items()}
    )
    return model.to(device).eval()


def load_configured(
    configured: str | None, env_var: str, shipped: str, network: str, device: str, option: str, train: str
) -> nn.Module:
    """The checkpoint an executor's `with:` option names, else the one $`env_var` names, else the shipped
    one, loaded by `load`. A missing one fails naming all three ways to get one: `option` as written under
    `with:` ("backend_options: {checkpoint: PATH}") and `train`, the `transmodal train` model that makes it."""
    path = configured or os.environ.get(env_var) or shipped
    how = f"set `with: {option}` or {env_var}, or train one with `transmodal train {train}`"
    return load(path, network, device, how)
