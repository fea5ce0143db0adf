"""Programs the offline backends run (Tesseract, Apertium, flite, espeak-ng): found once, or a clear error."""

from __future__ import annotations

import shutil

from transmodal.errors import ModelNotFoundError


def require_binary(binary: str, install: str) -> str:
    """The full path of `binary`, or ModelNotFoundError saying how to install it (`install`, e.g.
    "apt-get install flite"). Backends call it at start-up, so a missing engine fails fast, not per document."""
    path = shutil.which(binary)
    if path is None:
        raise ModelNotFoundError(f"{binary!r} not found: {install} (or run scripts/install-system.sh)")
    return path
