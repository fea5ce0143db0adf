"""Side-by-side picture of the demo's inputs and outputs for the README: run after `make demo`.

.venv/bin/python examples/before_after.py   # examples/*.png + out/*.png -> docs/before-after.png
"""

import glob
import os

from PIL import Image, ImageDraw

from transmodal import fonts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TILE = (512, 384)


def main() -> None:
    inputs = sorted(glob.glob(os.path.join(ROOT, "examples", "*.png")))
    pairs = [(path, os.path.join(ROOT, "out", os.path.basename(path))) for path in inputs]
    pairs = [(before, after) for before, after in pairs if os.path.exists(after)]
    header = 40
    sheet = Image.new("RGB", (2 * TILE[0], header + len(pairs) * TILE[1]), "white")
    draw = ImageDraw.Draw(sheet)
    font = fonts.load_font(fonts.font_path(fonts.SANS_BOLD), 24)
    draw.text((10, 6), "before (English)", font=font, fill="black")
    draw.text((TILE[0] + 10, 6), "after (Spanish)", font=font, fill="black")
    for row, (before, after) in enumerate(pairs):
        for column, path in enumerate((before, after)):
            sheet.paste(Image.open(path).convert("RGB").resize(TILE), (column * TILE[0], header + row * TILE[1]))
    path = os.path.join(ROOT, "docs", "before-after.png")
    sheet.save(path, optimize=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
