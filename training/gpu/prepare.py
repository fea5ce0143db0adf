"""`python -m training.gpu.prepare [FOLDER]`: what a GPU lease must carry besides the repository (default
`.gpu`, which .git/info/exclude should ignore): the fonts the eraser's data generator draws with (the CJK
ones cut down to the characters it uses, 40 KB instead of 19 MB each) and scikit-image's photos it uses as
backgrounds. On the GPU machine, TRANSMODAL_FONT_DIRS points at FOLDER/fonts and the photos are copied
into its scikit-image (run.sh does both)."""

from __future__ import annotations

import os
import shutil
import sys

from training.eraser import data
from transmodal import fonts, synthetic


def prepare(folder: str) -> int:
    """Writes FOLDER/fonts and FOLDER/photos; returns the bytes written."""
    from fontTools import subset

    os.makedirs(os.path.join(folder, "fonts"), exist_ok=True)
    os.makedirs(os.path.join(folder, "photos"), exist_ok=True)
    written = []
    for path in sorted({fonts.font_path(names) for names in sum(data.SCRIPT_FONTS.values(), [])}):
        target = os.path.join(folder, "fonts", os.path.basename(path))
        if path.endswith(".ttc"):  # a CJK collection: its first face, with the generator's characters only
            options = subset.Options()
            options.font_number = 0
            font = subset.load_font(path, options)
            subsetter = subset.Subsetter(options)
            subsetter.populate(text=data.CJK_CHARACTERS)
            subsetter.subset(font)
            subset.save_font(font, target, options)
        else:
            shutil.copy(path, target)
        written.append(target)
    for path in synthetic._photo_paths():
        written.append(shutil.copy(path, os.path.join(folder, "photos")))
    return sum(os.path.getsize(path) for path in written)


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else ".gpu"
    print(f"{folder}: {prepare(folder) / 1e6:.1f} MB")
