"""Loading of hub-style models (transformers, diffusers) from a model id or a local directory.

No model hub is assumed: by default weights must already be local (a directory, or the Hugging Face
cache). A missing model fails at start-up with a message naming the `with:` key and environment variable
to set, instead of hanging on a network lookup. Set TRANSMODAL_ALLOW_DOWNLOAD=1 to let the hub be asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from transmodal.errors import ModelNotFoundError

T = TypeVar("T")


def model_reference(configured: str | None, env_var: str) -> str:
    """The model id or directory: the `with:` value, else the environment variable."""
    reference = configured or os.environ.get(env_var)
    if not reference:
        raise ModelNotFoundError(
            f"no model configured: set `with: backend_options: {{model: ID_OR_DIRECTORY}}` in the executor's "
            f"YAML or {env_var}"
        )
    return reference


def allow_download() -> bool:
    return os.environ.get("TRANSMODAL_ALLOW_DOWNLOAD", "") == "1" and os.environ.get("HF_HUB_OFFLINE") != "1"


def load_pretrained(load: Callable[..., T], reference: str, with_key: str, env_var: str, **kwargs: Any) -> T:
    """Call `load(reference, local_files_only=..., **kwargs)`, turning "not found" into a clear error."""
    local_only = os.path.isdir(reference) or not allow_download()
    try:
        return load(reference, local_files_only=local_only, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(
            f"cannot load model {reference!r}: {error}\n"
            f"Put its files in a directory and set `with: backend_options: {{{with_key}: /that/directory}}` "
            f"(or {env_var}), "
            f"or place it in the Hugging Face cache (HF_HOME); set TRANSMODAL_ALLOW_DOWNLOAD=1 to fetch it "
            f"from the hub where one is reachable."
        ) from error


def torch_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
