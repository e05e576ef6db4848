"""Chinese text into 1-bit LED frames, and frames into PNG pictures of the board.

Boards have no Chinese font of their own; we render each line with Noto Sans CJK at the
line's height and threshold it, which is what the boards' own PC software does."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from taxhall.fonts import cjk_font


@dataclass(frozen=True)
class Frame:
    """A board-sized picture: `rows[y][x]` is a color character ('0' off, '1' red, ...)."""

    rows: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0

    @property
    def height(self) -> int:
        return len(self.rows)

    def lit(self) -> int:
        """How many dots are on."""
        return sum(len(r) - r.count("0") for r in self.rows)


def render_lines(lines: list[str], width: int, height: int, color: str = "1") -> Frame:
    """Each line gets an equal band of the board's height, centred; text wider than the board
    is squeezed horizontally rather than cut (a cut-off counter number misleads taxpayers)."""
    image = Image.new("L", (width, height), 0)
    band = height // max(1, len(lines))
    for i, line in enumerate(lines):
        if not line:
            continue
        font = cjk_font(max(8, band), bold=True)
        left, top, right, bottom = font.getbbox(line)
        text = Image.new("L", (right - left + 2, bottom - top + 2), 0)
        ImageDraw.Draw(text).text((-left + 1, -top + 1), line, font=font, fill=255)
        if text.width > width or text.height > band:
            text = text.resize((min(text.width, width), min(text.height, band)))
        x = (width - text.width) // 2
        y = i * band + (band - text.height) // 2
        image.paste(text, (x, y))
    bits = image.point(lambda v: 255 if v >= 110 else 0)
    rows = tuple("".join(color if bits.getpixel((x, y)) else "0" for x in range(width)) for y in range(height))
    return Frame(rows)


_LED_COLORS = {"1": (255, 40, 30), "2": (40, 230, 60), "3": (255, 170, 20)}


def frame_png(frame: Frame, dot: int = 6) -> Image.Image:
    """A picture of the board as a person sees it: round dots on black."""
    image = Image.new("RGB", (frame.width * dot, frame.height * dot), (12, 12, 12))
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(frame.rows):
        for x, c in enumerate(row):
            fill = _LED_COLORS.get(c, (45, 20, 20))
            draw.ellipse((x * dot + 1, y * dot + 1, x * dot + dot - 1, y * dot + dot - 1), fill=fill)
    return image
