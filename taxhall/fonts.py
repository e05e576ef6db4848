"""Where the CJK fonts are: Noto Sans CJK from Debian's fonts-noto-cjk, Simplified Chinese face.

Every renderer (printer raster fallback and previews, LED frames, screenshots, Kivy) takes its
font from here, so a missing font is one clear error in one place."""

from __future__ import annotations

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
