"""Layouts drawn with Pillow and Noto Sans CJK: the PNG preview of a ticket or receipt, and the
1-bit pictures the raster fallback sends to printers without a Chinese font or QR command.

Sizes follow the printer: one dot is one pixel, size 1 text is 24 dots high, the paper is the
profile's printable width. What does not fit is shrunk (big text) or wrapped (normal text),
never cut off.
"""

from __future__ import annotations

from pathlib import Path

import segno
from PIL import Image, ImageDraw

from drivers.printer.layout import Block, Cut, Feed, Layout, QrLevel, Qr, Row, Rule, Text, align_offset, wrap, wrap_balanced
from taxhall.fonts import cjk_font

BASE_DOTS = 24  # height of the printer's normal font, and of size-1 text here
LINE_GAP = 6  # dots between lines, about what the printer's default line spacing leaves
FEED_DOTS = 30  # one line feed (ESC/POS default spacing, 1/6 inch at 180 dpi)
QR_QUIET_MODULES = 2  # white modules around a QR code in pictures (the paper adds the rest)


def render_text(block: Text, width: int) -> Image.Image:
    """A text block as a picture `width` dots wide: shrunk to one line if it is big text that
    would not fit, wrapped if it is normal text."""
    size = BASE_DOTS * block.size
    font = cjk_font(size, block.bold)
    while size > BASE_DOTS and font.getlength(block.text) > width:
        size -= 4
        font = cjk_font(size, block.bold)
    lines = (wrap_balanced if block.align == "center" else wrap)(block.text, font.getlength, width)
    line_height = size + max(LINE_GAP, size // 5)
    image = Image.new("L", (width, line_height * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        x = align_offset(block.align, int(font.getlength(line)), width)
        # baseline at 88 % of the size: the ideographic em box sits 0.88 em above it
        draw.text((x, i * line_height + round(size * 0.88) + (line_height - size) // 2), line, font=font, fill=0, anchor="ls")
    return image


def render_row(block: Row, width: int) -> Image.Image:
    """Label left, value right; the value goes under the label when both do not fit."""
    font = cjk_font(BASE_DOTS, block.bold)
    line_height = BASE_DOTS + LINE_GAP
    label_w, value_w = int(font.getlength(block.label)), int(font.getlength(block.value))
    one_line = label_w + font.getlength("  ") + value_w <= width
    image = Image.new("L", (width, line_height * (1 if one_line else 2)), 255)
    draw = ImageDraw.Draw(image)
    baseline = round(BASE_DOTS * 0.88) + LINE_GAP // 2
    draw.text((0, baseline), block.label, font=font, fill=0, anchor="ls")
    draw.text((max(0, width - value_w), baseline + (0 if one_line else line_height)), block.value, font=font, fill=0, anchor="ls")
    return image


def qr_symbol(payload: bytes, level: QrLevel, module: int, quiet_modules: int = QR_QUIET_MODULES) -> Image.Image:
    """A QR code as a printer draws it: `module` dots per module, the printer's choice of
    version (the smallest that fits; the error level is not raised behind our back)."""
    matrix = segno.make(payload, error=level, micro=False, boost_error=False).matrix
    modules = len(matrix) + 2 * quiet_modules
    image = Image.new("L", (modules, modules), 255)
    pixels = image.load()
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                pixels[x + quiet_modules, y + quiet_modules] = 0
    return image.resize((modules * module, modules * module), Image.Resampling.NEAREST)


def render_qr(block: Qr, width: int) -> Image.Image:
    symbol = qr_symbol(block.payload.encode("utf-8"), block.level, block.module)
    image = Image.new("L", (width, symbol.height), 255)
    image.paste(symbol, (align_offset(block.align, symbol.width, width), 0))
    return image


def render_rule(width: int) -> Image.Image:
    image = Image.new("L", (width, 14), 255)
    ImageDraw.Draw(image).rectangle((0, 6, width - 1, 7), fill=0)
    return image


def render_block(block: Block, width: int) -> Image.Image | None:
    """One block as a picture `width` dots wide; None for a cut (not drawn)."""
    if isinstance(block, Text):
        return render_text(block, width)
    if isinstance(block, Row):
        return render_row(block, width)
    if isinstance(block, Qr):
        return render_qr(block, width)
    if isinstance(block, Rule):
        return render_rule(width)
    if isinstance(block, Feed):
        return Image.new("L", (width, FEED_DOTS * block.lines), 255)
    return None


def stack(images: list[Image.Image], width: int, margin: int = 0) -> Image.Image:
    """Pictures one under the other, with `margin` white dots above and below."""
    height = sum(im.height for im in images) + 2 * margin
    sheet = Image.new("L", (width, max(1, height)), 255)
    y = margin
    for im in images:
        sheet.paste(im, (0, y))
        y += im.height
    return sheet


def render_slips(layout: Layout, width: int) -> list[Image.Image]:
    """Each slip of a layout (the blocks between cuts) as one picture."""
    slips: list[list[Image.Image]] = [[]]
    for block in layout.blocks:
        if isinstance(block, Cut):
            slips.append([])
            continue
        image = render_block(block, width)
        if image is not None:
            slips[-1].append(image)
    return [stack(images, width) for images in slips if images]


def to_1bit(image: Image.Image) -> Image.Image:
    """Black and white at 50 %: thermal paper has no grey."""
    return image.point(lambda v: 0 if v < 128 else 255, mode="1")


def save_preview(layout: Layout, path: Path, width: int) -> Path:
    """Writes the PNG preview of a layout: its slips one under the other, as printed, with a
    grey band where the paper is cut."""
    slips = [to_1bit(s).convert("L") for s in render_slips(layout, width)]
    margin = 16
    parts: list[Image.Image] = []
    for i, slip in enumerate(slips):
        if i:
            band = Image.new("L", (width, 12), 200)
            parts.append(band)
        parts.append(stack([slip], width, margin))
    path.parent.mkdir(parents=True, exist_ok=True)
    stack(parts, width).save(path)
    return path
