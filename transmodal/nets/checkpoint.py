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
from transmodal.nets.scenes import BoxLayoutGenerator, DualEncoder, SceneCaptioner, SceneGenerator, SpeechEncoder
from transmodal.nets.text_segmenter import TextSegmenter

NETWORKS: dict[str, type[nn.Module]] = {
    "text-segmenter": TextSegmenter,
    "partial-unet": PartialUNet,
    "dual-encoder": DualEncoder,
    "scene-captioner": SceneCaptioner,
    "scene-generator": SceneGenerator,
    "box-layout-generator": BoxLayoutGenerator,
    "speech-encoder": SpeechEncoder,
    "pixel-translator": PixelTranslator,
    "conv-strip-translator": ConvStripTranslator,
}

# the networks that draw a scene-world picture from an embedding (one forward signature): either loads
SCENE_GENERATORS = ("scene-generator", "box-layout-generator")

INT8_SCALE = "@int8-scale"  # the key beside an 8-bit weight that holds its scales


def save(model: nn.Module, network: str, arguments: dict, path: str, precision: str = "half") -> None:
    """Weights in half precision (the checkpoint is committed: half the size; the networks run in float32),
    or with `precision="int8"` the larger weights (matrices and kernels of 1,024 values or more) as 8-bit
    integers with one scale per output channel: a quarter of float32, for the larger networks shipped."""
    if precision not in ("half", "int8"):
        raise ValueError(f"precision is 'half' or 'int8', not {precision!r}")
    state: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()  # (a network trained on a GPU loads anywhere)
        if not value.is_floating_point():
            state[key] = value
        elif precision == "int8" and value.dim() >= 2 and value.numel() >= 1024:
            rows = value.float().reshape(value.shape[0], -1)
            scale = rows.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            state[key] = (rows / scale[:, None]).round().to(torch.int8).reshape(value.shape)
            state[key + INT8_SCALE] = scale
        else:
            state[key] = value.half()
    torch.save({"network": network, "arguments": arguments, "state_dict": state}, path)


def _float_weights(saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A saved state dict as the network takes it: half and 8-bit weights back in float32."""
    weights = {}
    for key, value in saved.items():
        if key.endswith(INT8_SCALE):
            continue
        scale = saved.get(key + INT8_SCALE)
        if scale is not None:
            value = value.float() * scale.float().reshape(-1, *[1] * (value.dim() - 1))
        weights[key] = value.float() if value.is_floating_point() else value
    return weights


def load(path: str, network: str | tuple[str, ...], device: str = "cpu", how_to_get: str = "") -> nn.Module:
    """The `network` saved at `path` (or any of a tuple of networks that do one job), in eval mode on
    `device`; ModelNotFoundError saying `how_to_get` one."""
    names = (network,) if isinstance(network, str) else network
    if not os.path.isfile(path):
        raise ModelNotFoundError(f"{' or '.join(names)} checkpoint {path!r} not found: {how_to_get}".rstrip(": "))
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("network") not in names:
        wanted = " or ".join(repr(name) for name in names)
        raise ModelNotFoundError(f"{path!r} holds a {saved.get('network')!r} network, not a {wanted} one")
    model = NETWORKS[saved["network"]](**saved["arguments"])
    model.load_state_dict(_float_weights(saved["state_dict"]))
    return model.to(device).eval()


def load_configured(
    configured: str | None,
    env_var: str,
    shipped: str,
    network: str | tuple[str, ...],
    device: str,
    option: str,
    train: str,
) -> nn.Module:
    """The checkpoint an executor's `with:` option names, else the one $`env_var` names, else the shipped
    one, loaded by `load`. A missing one fails naming all three ways to get one: `option` as written under
    `with:` ("backend_options: {checkpoint: PATH}") and `train`, the `transmodal train` model that makes it."""
    path = configured or os.environ.get(env_var) or shipped
    how = f"set `with: {option}` or {env_var}, or train one with `transmodal train {train}`"
    return load(path, network, device, how)
