"""Layouts into ESC/POS bytes, with python-escpos (its `Dummy` printer captures the bytes).

What is sent depends only on the printer profile:
- Chinese text in the printer's own GB18030 font when it has one (FS & enters Chinese mode,
  text goes as GB18030 bytes); otherwise each non-ASCII line is drawn with Noto Sans CJK
  (`preview`) and sent as a raster picture (GS v 0) through python-escpos's `image()`.
- QR codes with the printer's QR command (GS ( k, python-escpos `qr(native=True)`) where it
  has one; otherwise drawn with segno exactly as in the preview and sent as a picture.
- The cut (GS V) only where there is a cutter; a tear-off printer just feeds.
`mode="raster"` sends the whole slip as one picture (for printers nothing else works on, and
for the bench that shows what native printing saves).

Why we go past python-escpos for Chinese: its `text()` encodes through MagicEncode, which
picks single-byte code pages (ESC t) from escpos-printer-db and has no FS & / FS . at all, so
on a Chinese-firmware printer Hanzi would come out as code page garbage or '?'. We send FS &,
the GB18030 bytes and FS . with `_raw()` — python-escpos's documented way to send raw bytes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

from escpos.capabilities import Profile
from escpos.constants import QR_ECLEVEL_H, QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q
from escpos.printer import Dummy
from PIL import Image

from drivers.printer.config import PrinterProfile
from drivers.printer.layout import Block, Cut, Feed, Layout, Qr, Row, Rule, Text, wrap, wrap_balanced
from drivers.printer.preview import render_block, render_slips, to_1bit

FS = b"\x1c"
CHINESE_ON = FS + b"&"  # FS &: select Chinese (double-byte) character mode
CHINESE_OFF = FS + b"."  # FS .: cancel it
CUT_FEED_LINES = 4  # what a tear-off printer feeds so the slip clears the tear bar
_QR_LEVELS = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}

Mode = Literal["auto", "raster"]


def escpos_profile(profile: PrinterProfile) -> Profile:
    """A python-escpos profile carrying our profile's width, cutter and QR abilities.

    python-escpos keeps profile data on the class, shared by every printer; we give each
    printer a copy so setting the paper width for one does not change it for the others."""
    features = {
        "paperFullCut": profile.cutter,
        "paperPartCut": profile.cutter,
        "qrCode": profile.qr,
        "bitImageRaster": True,
        "highDensity": True,
    }
    escpos = Profile(columns=profile.chars_per_line, features=features)
    data = copy.deepcopy(escpos.profile_data)
    data["media"]["width"]["pixels"] = profile.width_dots
    data["media"]["width"]["mm"] = 72 if profile.width_dots >= 576 else 48
    escpos.profile_data = data
    return escpos


def columns(text: str) -> int:
    """Width of `text` in font-A columns on a printer in Chinese mode: ASCII takes one
    column (12 dots), every GB18030 multi-byte character two (24 dots)."""
    return sum(1 if ord(c) < 0x80 else 2 for c in text)


def fit_size(text: str, size: int, cols: int) -> int:
    """The largest magnification ≤ size at which `text` fits one line, or 1 (then wrapped)."""
    for candidate in range(size, 0, -1):
        if columns(text) * candidate <= cols:
            return candidate
    return 1


@dataclass(frozen=True)
class Rendered:
    """The bytes of a job and how they were made (for the bench and for tests)."""

    data: bytes
    native_lines: int
    raster_pictures: int
    native_qr: int


class _Writer:
    """Sends blocks to a python-escpos printer the way the profile wants them."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.printer = Dummy(profile=escpos_profile(profile))
        self.native_lines = 0
        self.raster_pictures = 0
        self.native_qr = 0

    @property
    def chinese(self) -> bool:
        return self.profile.chinese

    def start(self) -> None:
        self.printer.hw("INIT")  # ESC @: a known state whatever the last job left
        if self.chinese:
            self.printer._raw(CHINESE_ON)  # noqa: SLF001 — see the module docstring

    def end(self) -> None:
        if self.chinese:
            self.printer._raw(CHINESE_OFF)  # noqa: SLF001

    def can_print_natively(self, text: str) -> bool:
        return self.chinese or text.isascii()

    def line(self, text: str, size: int, bold: bool, align: str) -> None:
        self.printer.set(align=align, bold=bold, custom_size=True, width=size, height=size)
        if self.chinese:
            self.printer._raw(text.encode("gb18030") + b"\n")  # noqa: SLF001
        else:
            self.printer.text(text + "\n")
        self.native_lines += 1

    def picture(self, image: Image.Image, align: str = "left") -> None:
        """A 1-bit picture, cropped to its ink (fewer bytes) and placed by ESC a."""
        ink = to_1bit(image).convert("L")
        box = Image.eval(ink, lambda v: 255 - v).getbbox()
        if box is None:
            self.printer.print_and_feed(max(1, image.height // 30))
            return
        left, top, right, bottom = box
        if align == "left":
            left = 0
        elif align == "right":
            right = image.width
        else:  # keep it centred: crop the same on both sides
            side = min(left, image.width - right)
            left, right = side, image.width - side
        self.printer.set(align=align)
        self.printer.image(ink.crop((left, 0, right, image.height)), impl="bitImageRaster")
        self.raster_pictures += 1

    def text(self, block: Text) -> None:
        cols = self.profile.chars_per_line
        if not self.can_print_natively(block.text):
            self.picture(render_block(block, self.profile.width_dots), block.align)  # type: ignore[arg-type]
            return
        size = fit_size(block.text, block.size, cols)
        wrapper = wrap_balanced if block.align == "center" else wrap
        for piece in wrapper(block.text, lambda s: columns(s) * size, cols):
            self.line(piece, size, block.bold, block.align)

    def row(self, block: Row) -> None:
        cols = self.profile.chars_per_line
        if not self.can_print_natively(block.label + block.value):
            self.picture(render_block(block, self.profile.width_dots))  # type: ignore[arg-type]
            return
        gap = cols - columns(block.label) - columns(block.value)
        if gap >= 2:
            self.line(block.label + " " * gap + block.value, 1, block.bold, "left")
        else:
            self.line(block.label, 1, block.bold, "left")
            self.line(" " * max(0, cols - columns(block.value)) + block.value, 1, block.bold, "left")

    def qr(self, block: Qr) -> None:
        level = _QR_LEVELS[block.level]
        self.printer.set(align=block.align)
        if self.profile.qr:
            # python-escpos refuses center=True for native codes; ESC a (set above) centres them.
            self.printer.qr(block.payload, ec=level, size=block.module, native=True)
            self.printer.control("LF")
            self.native_qr += 1
        else:
            self.picture(render_block(block, self.profile.width_dots), block.align)  # type: ignore[arg-type]

    def rule(self) -> None:
        self.line("-" * self.profile.chars_per_line, 1, False, "left")

    def cut(self) -> None:
        self.printer.set(align="left", bold=False, custom_size=True, width=1, height=1)
        if self.profile.cutter:
            self.printer.cut()  # ESC d 6 (past the cutter), GS V 0
        else:
            self.printer.print_and_feed(CUT_FEED_LINES)

    def block(self, block: Block) -> None:
        if isinstance(block, Text):
            self.text(block)
        elif isinstance(block, Row):
            self.row(block)
        elif isinstance(block, Qr):
            self.qr(block)
        elif isinstance(block, Rule):
            self.rule()
        elif isinstance(block, Feed):
            self.printer.print_and_feed(block.lines)
        elif isinstance(block, Cut):
            self.cut()

    def result(self) -> Rendered:
        return Rendered(self.printer.output, self.native_lines, self.raster_pictures, self.native_qr)


def render(layout: Layout, profile: PrinterProfile, mode: Mode = "auto") -> Rendered:
    """The ESC/POS bytes of a layout for a printer of `profile`."""
    writer = _Writer(profile)
    if mode == "raster":
        writer.printer.hw("INIT")
        for slip in render_slips(layout, profile.width_dots):
            writer.picture(slip)
            writer.cut()
        return writer.result()
    writer.start()
    for block in layout.blocks:
        writer.block(block)
    writer.end()
    return writer.result()


def render_bytes(layout: Layout, profile: PrinterProfile, mode: Mode = "auto") -> bytes:
    return render(layout, profile, mode).data
