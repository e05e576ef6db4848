"""Where the CJK fonts are: Noto Sans CJK from Debian's fonts-noto-cjk, Simplified Chinese face.

Every renderer (printer raster fallback and previews, LED frames, screenshots, Kivy) takes its
font from here, so a missing font is one clear error in one place."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

NOTO_DIR = Path("/usr/share/fonts/opentype/noto")
# Face order inside Debian's NotoSansCJK-*.ttc: JP, KR, SC, TC, HK.
SIMPLIFIED_CHINESE_INDEX = 2


class FontMissing(Exception):
    """The CJK font is not installed."""


def cjk_font_path(bold: bool = False) -> Path:
    path = NOTO_DIR / ("NotoSansCJK-Bold.ttc" if bold else "NotoSansCJK-Regular.ttc")
    if not path.exists():
        raise FontMissing(f"CJK font {path} is missing; install the Debian package fonts-noto-cjk")
    return path


@lru_cache(maxsize=64)
def cjk_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC at `size` pixels (cached: loading a .ttc costs ~20 ms)."""
    return ImageFont.truetype(str(cjk_font_path(bold)), size, index=SIMPLIFIED_CHINESE_INDEX)


def font_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "taxhall" / "fonts"


def single_face_font(bold: bool = False) -> Path:
    """The Simplified Chinese face as a file of its own, for renderers that can only open the
    first face of a .ttc (Kivy's SDL2 text provider would draw Japanese glyph forms).
    Extracted once with fontTools (~1 s) and cached."""
    name = "NotoSansCJKsc-Bold.otf" if bold else "NotoSansCJKsc-Regular.otf"
    target = font_cache_dir() / name
    if target.exists():
        return target
    from fontTools.ttLib import TTCollection

    target.parent.mkdir(parents=True, exist_ok=True)
    collection = TTCollection(str(cjk_font_path(bold)))
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    collection.fonts[SIMPLIFIED_CHINESE_INDEX].save(str(tmp))
    os.replace(tmp, target)
    return target


# Face order of the monospaced faces inside the same .ttc: Mono JP, KR, SC, TC, HK.
SIMPLIFIED_CHINESE_MONO_INDEX = 7


@lru_cache(maxsize=16)
def cjk_mono_font(size: int) -> ImageFont.FreeTypeFont:
    """Noto Sans Mono CJK SC: Latin half as wide as Hanzi, like a receipt printer's own fonts
    (12×24 and 24×24 dots) — what the printer simulator draws with."""
    return ImageFont.truetype(str(cjk_font_path()), size, index=SIMPLIFIED_CHINESE_MONO_INDEX)
