"""Fonts from Debian's fonts-dejavu-core, fonts-noto-core and fonts-noto-cjk, chosen by the text's script.

Pillow's built-in font covers ASCII only, so rendering translations (accents, CJK, Cyrillic, Arabic)
needs a real font that has glyphs for every character drawn.
"""

from __future__ import annotations

import functools
import glob
import os

from PIL import ImageFont

FONT_DIRS = [d for d in os.environ.get("TRANSMODAL_FONT_DIRS", "").split(os.pathsep) if d] + [
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    os.path.expanduser("~/.fonts"),
]

# Preferred files, best first, by family. Sans faces read best on signs and in speech balloons.
SANS = ["NotoSans-Regular.ttf", "DejaVuSans.ttf"]
SANS_BOLD = ["NotoSans-Bold.ttf", "DejaVuSans-Bold.ttf"]
SERIF = ["NotoSerif-Regular.ttf", "DejaVuSerif.ttf"]
SERIF_BOLD = ["NotoSerif-Bold.ttf", "DejaVuSerif-Bold.ttf"]
MONO = ["DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"]
CJK = ["NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc"]
CJK_BOLD = ["NotoSansCJK-Bold.ttc", "NotoSerifCJK-Bold.ttc"]


class FontNotFoundError(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def _font_files() -> dict[str, str]:
    """File name -> path of every font installed."""
    files: dict[str, str] = {}
    for directory in FONT_DIRS:
        for path in glob.glob(os.path.join(directory, "**", "*.tt[fc]"), recursive=True) + glob.glob(
            os.path.join(directory, "**", "*.otf"), recursive=True
        ):
            files.setdefault(os.path.basename(path), path)
    return files


def font_path(candidates: list[str]) -> str:
    files = _font_files()
    for name in candidates:
        if name in files:
            return files[name]
    raise FontNotFoundError(
        f"none of the fonts {candidates} is installed: apt-get install fonts-dejavu-core fonts-noto-core "
        "fonts-noto-cjk (scripts/install-system.sh), or add a font folder to TRANSMODAL_FONT_DIRS"
    )


def is_cjk(text: str) -> bool:
    return any(
        0x3000 <= ord(char) <= 0x9FFF
        or 0xAC00 <= ord(char) <= 0xD7AF
        or 0xF900 <= ord(char) <= 0xFAFF
        or 0xFF00 <= ord(char) <= 0xFFEF
        for char in text
    )


@functools.lru_cache(maxsize=64)
def _glyph_coverage(path: str) -> frozenset[int] | None:
    """Code points a font maps, read from its cmap (None where fontTools is absent: assume coverage)."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        return None
    font = TTFont(path, fontNumber=0, lazy=True)
    return frozenset(font.getBestCmap())


def covers(path: str, text: str) -> bool:
    coverage = _glyph_coverage(path)
    return coverage is None or all(ord(char) in coverage for char in text if not char.isspace())


def font_for_text(text: str, bold: bool = False) -> str:
    """The path of an installed font that has glyphs for `text`, preferring a plain sans face."""
    families = (CJK_BOLD if bold else CJK) if is_cjk(text) else (SANS_BOLD if bold else SANS)
    for name in families + CJK + SANS:
        try:
            path = font_path([name])
        except FontNotFoundError:
            continue
        if covers(path, text):
            return path
    return font_path(families)  # nothing covers it all: the preferred face, missing glyphs show as boxes


@functools.lru_cache(maxsize=256)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=max(1, int(size)))


# Comic lettering (Debian's fonts-comic-neue): for speech balloons and captions lettered in capitals.
COMIC = ["ComicNeue-Regular.otf"]
COMIC_BOLD = ["ComicNeue-Bold.otf"]


def comic_font(bold: bool = False) -> str | None:
    """The path of an installed comic lettering face, or None when fonts-comic-neue is not installed."""
    try:
        return font_path(COMIC_BOLD if bold else COMIC)
    except FontNotFoundError:
        return None
