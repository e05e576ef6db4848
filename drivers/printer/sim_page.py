"""Printed pages (from `escpos_parse`) drawn the way a thermal printer draws them: PNG pictures
of what the simulator "printed".

Like a printer's own fonts, every ASCII character takes a 12×24-dot cell and every Chinese
(double-byte) character a 24×24 cell, magnified by whole multiples (GS !) without smoothing;
emphasis is double-striking one dot to the right. Glyphs come from Noto Sans Mono CJK SC, whose
Latin letters are exactly half as wide as its Hanzi. Lines longer than the paper wrap, as on a
printer. QR codes are drawn with segno from the data the printer was given, as the
printer would (smallest version, the error level asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from drivers.printer.escpos_parse import FEED_DOTS, Align, Page, Picture, QrSymbol, Space, Span, TextLine
from drivers.printer.layout import align_offset
from drivers.printer.preview import qr_symbol
from taxhall.fonts import cjk_mono_font

CELL = 24  # dots: height of a character, width of a Chinese one
BASELINE = 21  # the ideographic em box reaches 0.88 em above the baseline
MARGIN = 12  # white dots above and below a page in the picture
QR_QUIET = 2  # modules of white around a QR code (the paper gives the rest)


@dataclass
class PageRenderer:
    """Draws pages `width` dots wide; keeps its glyph cache for the pages it draws."""

    width: int
    _glyphs: dict[tuple[str, bool, bool], Image.Image] = field(default_factory=dict)

    def glyph(self, char: str, wide: bool, bold: bool) -> Image.Image:
        key = (char, wide, bold)
        if key not in self._glyphs:
            cell = Image.new("L", (CELL if wide else CELL // 2, CELL), 255)
            draw = ImageDraw.Draw(cell)
            font = cjk_mono_font(CELL)
            x = (cell.width - font.getlength(char)) / 2 if wide else 0
            draw.text((x, BASELINE), char, font=font, fill=0, anchor="ls")
            if bold:
                draw.text((x + 1, BASELINE), char, font=font, fill=0, anchor="ls")
            self._glyphs[key] = cell.point(lambda v: 0 if v < 128 else 255)
        return self._glyphs[key]

    # -- text

    def _cells(self, spans: tuple[Span, ...]) -> list[tuple[Image.Image, int]]:
        """Every character as its magnified picture, with its underline mode."""
        cells = []
        for span in spans:
            style = span.style
            for char in span.text:
                wide = span.chinese and ord(char) >= 0x80
                base = self.glyph(char, wide, style.bold)
                image = base.resize((base.width * style.width, base.height * style.height), Image.Resampling.NEAREST)
                cells.append((image, style.underline))
        return cells

    def text_line(self, line: TextLine) -> list[Image.Image]:
        """One printed line, or several if it is wider than the paper."""
        cells = self._cells(line.spans)
        if not cells:
            return [Image.new("L", (self.width, FEED_DOTS), 255)]
        rows: list[list[tuple[Image.Image, int]]] = [[]]
        used = 0
        for cell in cells:
            if used + cell[0].width > self.width and rows[-1]:
                rows.append([])
                used = 0
            rows[-1].append(cell)
            used += cell[0].width
        return [self._row(row, line.align) for row in rows]

    def _row(self, cells: list[tuple[Image.Image, int]], align: Align) -> Image.Image:
        tallest = max(image.height for image, _ in cells)
        height = max(FEED_DOTS, tallest + 6)  # the default spacing, or the characters and a gap
        strip = Image.new("L", (self.width, height), 255)
        x = align_offset(align, sum(image.width for image, _ in cells), self.width)
        draw = ImageDraw.Draw(strip)
        for image, underline in cells:
            top = tallest - image.height  # characters stand on a common bottom line
            strip.paste(image, (x, top))
            if underline:
                draw.rectangle((x, tallest + 1, x + image.width - 1, tallest + underline), fill=0)
            x += image.width
        return strip

    # -- pictures and codes

    def picture(self, picture: Picture) -> Image.Image:
        bits = Image.frombytes("1", (picture.width_bytes * 8, picture.height), picture.bits)
        image = ImageOps.invert(bits.convert("L"))  # in ESC/POS a 1 bit is black
        if picture.scale_x > 1 or picture.scale_y > 1:
            image = image.resize((image.width * picture.scale_x, image.height * picture.scale_y), Image.Resampling.NEAREST)
        strip = Image.new("L", (self.width, image.height), 255)
        strip.paste(image.crop((0, 0, min(image.width, self.width), image.height)), (align_offset(picture.align, image.width, self.width), 0))
        return strip

    def qr(self, symbol: QrSymbol) -> Image.Image:
        image = qr_symbol(symbol.payload, symbol.level, symbol.module, QR_QUIET)
        strip = Image.new("L", (self.width, image.height), 255)
        strip.paste(image, (align_offset(symbol.align, image.width, self.width), 0))
        return strip

    # -- the page

    def page(self, page: Page) -> Image.Image:
        strips: list[Image.Image] = []
        for element in page.elements:
            if isinstance(element, TextLine):
                strips.extend(self.text_line(element))
            elif isinstance(element, Picture):
                strips.append(self.picture(element))
            elif isinstance(element, QrSymbol):
                strips.append(self.qr(element))
            elif isinstance(element, Space):
                strips.append(Image.new("L", (self.width, max(1, element.dots)), 255))
        height = sum(s.height for s in strips) + 2 * MARGIN
        sheet = Image.new("L", (self.width, height), 255)
        y = MARGIN
        for strip in strips:
            sheet.paste(strip, (0, y))
            y += strip.height
        return sheet


def save_page(page: Page, width: int, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PageRenderer(width).page(page).save(path)
    return path


def overflowing_lines(page: Page, width: int) -> list[str]:
    """Text lines wider than the paper (a printer wraps them; a layout should not need it)."""
    renderer = PageRenderer(width)
    found = []
    for element in page.elements:
        if isinstance(element, TextLine) and sum(im.width for im, _ in renderer._cells(element.spans)) > width:
            found.append(element.text)
    return found
