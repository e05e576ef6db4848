"""ESC/POS from the printer's side, pure: a byte stream into commands (`Tokenizer`), and
commands into printed pages (`PageBuilder`) — what the simulator does with what it receives,
testable from recorded bytes alone (`parse_pages`).

The tokenizer is incremental: bytes arrive in arbitrary chunks and a command split between two
chunks waits for the rest. It knows the length of every command it meets (including raster
pictures and QR data), so a DLE EOT inside picture data is never mistaken for a status request
— real printers get that wrong, we need not.

Covered: ESC @ ! E - a d J M t 2 3 = { p c B, GS ! B V r H h w f L W b k v0 ( k ( L,
FS & . ! - C S W, DLE EOT, DLE ENQ, DLE DC4, LF CR HT FF, text (GB18030 in Chinese mode,
code page 437 outside it). Anything else becomes an `Unknown` command noted on the page.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, replace
from typing import Literal

from drivers.printer.config import PrinterProfile

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, CR, HT, FF = 0x0A, 0x0D, 0x09, 0x0C
EOT, ENQ, DC4 = 0x04, 0x05, 0x14

Align = Literal["left", "center", "right"]
FEED_DOTS = 30  # one line of the default line spacing


# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class TextBytes:
    """A run of printable bytes, decoded by the page builder (code page or GB18030)."""

    data: bytes


@dataclass(frozen=True)
class Control:
    """A command with a fixed number of parameter bytes, by name: init, print_mode, bold,
    underline, align, feed_lines, feed_dots, char_size, chinese_on, chinese_off, cut,
    status_request, paper_sensor, clear_buffers, LF, CR, ... (see _ESC, _GS, _FS)."""

    name: str
    args: tuple[int, ...] = ()


@dataclass(frozen=True)
class Raster:
    """GS v 0: a 1-bit picture, rows of `width_bytes` bytes, bit 7 leftmost, 1 = black."""

    mode: int
    width_bytes: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Code2D:
    """GS ( k: a 2D-code function; cn 49 is QR. `params` are the bytes after cn and fn."""

    cn: int
    fn: int
    params: bytes


@dataclass(frozen=True)
class Unknown:
    raw: bytes


Command = TextBytes | Control | Raster | Code2D | Unknown

REALTIME = ("status_request", "clear_buffers", "realtime_request")

# byte after ESC → (name, number of parameter bytes)
_ESC: dict[int, tuple[str, int]] = {
    ord("@"): ("init", 0), ord("!"): ("print_mode", 1), ord("E"): ("bold", 1), ord("-"): ("underline", 1),
    ord("a"): ("align", 1), ord("d"): ("feed_lines", 1), ord("J"): ("feed_dots", 1), ord("M"): ("font", 1),
    ord("t"): ("codepage", 1), ord("2"): ("line_spacing_default", 0), ord("3"): ("line_spacing", 1),
    ord("="): ("select_device", 1), ord("{"): ("upside_down", 1), ord("G"): ("double_strike", 1),
    ord("V"): ("rotate", 1), ord("R"): ("charset", 1), ord("p"): ("drawer", 3), ord("B"): ("buzzer", 2),
    ord(" "): ("char_spacing", 1), ord("$"): ("position", 2), ord("\\"): ("rel_position", 2),
    ord("U"): ("unidirectional", 1), ord("r"): ("color", 1), ord("e"): ("reverse_feed", 1),
}
_GS: dict[int, tuple[str, int]] = {
    ord("!"): ("char_size", 1), ord("B"): ("invert", 1), ord("r"): ("paper_sensor", 1), ord("H"): ("hri_position", 1),
    ord("h"): ("barcode_height", 1), ord("w"): ("barcode_width", 1), ord("f"): ("hri_font", 1),
    ord("L"): ("left_margin", 2), ord("W"): ("print_width", 2), ord("b"): ("smoothing", 1),
    ord("|"): ("density", 1), ord("a"): ("asb", 1), ord("I"): ("printer_id", 1), ord("P"): ("motion_units", 2),
    ord("$"): ("abs_vertical", 2), ord("/"): ("print_downloaded", 1), ord(":"): ("macro", 0),
}
_FS: dict[int, tuple[str, int]] = {
    ord("&"): ("chinese_on", 0), ord("."): ("chinese_off", 0), ord("!"): ("chinese_print_mode", 1),
    ord("-"): ("chinese_underline", 1), ord("C"): ("chinese_code_system", 1), ord("S"): ("chinese_spacing", 2),
    ord("W"): ("chinese_quadruple", 1),
}
_SIMPLE = {LF: "LF", CR: "CR", HT: "HT", FF: "FF", 0x18: "CAN"}


class Tokenizer:
    """Bytes in, commands out, across arbitrary chunk boundaries."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because the command they start is not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Command]:
        self._buffer += data
        commands: list[Command] = []
        pos = 0
        while pos < len(self._buffer):
            parsed = _parse_one(self._buffer, pos)
            if parsed is None:
                break
            command, pos = parsed
            commands.append(command)
        del self._buffer[:pos]
        return commands


def _parse_one(buf: bytearray, pos: int) -> tuple[Command, int] | None:
    """The command starting at `pos` and where the next one starts; None if incomplete."""
    first = buf[pos]
    if first >= 0x20:
        end = pos
        while end < len(buf) and buf[end] >= 0x20:
            end += 1
        return TextBytes(bytes(buf[pos:end])), end
    if first in _SIMPLE:
        return Control(_SIMPLE[first]), pos + 1
    if first in (ESC, GS, FS, DLE):
        if pos + 1 >= len(buf):
            return None
        return _parse_prefixed(buf, pos, first, buf[pos + 1])
    return Unknown(bytes(buf[pos : pos + 1])), pos + 1


def _take(buf: bytearray, pos: int, count: int) -> bytes | None:
    return bytes(buf[pos : pos + count]) if pos + count <= len(buf) else None


def _fixed(buf: bytearray, pos: int, name: str, count: int) -> tuple[Command, int] | None:
    args = _take(buf, pos + 2, count)
    return None if args is None else (Control(name, tuple(args)), pos + 2 + count)


def _parse_prefixed(buf: bytearray, pos: int, first: int, second: int) -> tuple[Command, int] | None:
    if first == ESC:
        if second in _ESC:
            return _fixed(buf, pos, *_ESC[second])
        if second == ord("c"):  # ESC c 3 n, ESC c 4 n, ESC c 5 n: panel and sensor settings
            return _fixed(buf, pos, "panel", 2)
        if second == ord("*"):
            return _bit_image_column(buf, pos)
        if second == ord("D"):  # tab stops, up to a NUL
            end = buf.find(0, pos + 2)
            return None if end < 0 else (Control("tabs"), end + 1)
        return Unknown(bytes(buf[pos : pos + 2])), pos + 2
    if first == GS:
        if second in _GS:
            return _fixed(buf, pos, *_GS[second])
        if second == ord("V"):
            mode = _take(buf, pos + 2, 1)
            if mode is None:
                return None
            if mode[0] in (65, 66, 97, 98, 103, 104):  # feed n and cut
                return _fixed(buf, pos, "cut", 2)
            return Control("cut", (mode[0],)), pos + 3
        if second == ord("v"):
            return _raster(buf, pos)
        if second == ord("("):
            return _length_prefixed(buf, pos)
        if second == ord("k"):
            return _barcode(buf, pos)
        return Unknown(bytes(buf[pos : pos + 2])), pos + 2
    if first == FS:
        if second in _FS:
            return _fixed(buf, pos, *_FS[second])
        if second == ord("("):
            return _length_prefixed(buf, pos)
        return Unknown(bytes(buf[pos : pos + 2])), pos + 2
    # DLE: real-time commands
    if second == EOT:
        return _fixed(buf, pos, "status_request", 1)
    if second == ENQ:
        return _fixed(buf, pos, "realtime_request", 1)
    if second == DC4:
        fn = _take(buf, pos + 2, 1)
        if fn is None:
            return None
        count = {1: 2, 2: 2, 7: 1, 8: 7}.get(fn[0], 0)
        rest = _take(buf, pos + 3, count)
        if rest is None:
            return None
        name = "clear_buffers" if fn[0] == 8 and rest == bytes([1, 3, 20, 1, 6, 2, 8]) else "realtime_dc4"
        return Control(name, (fn[0], *rest)), pos + 3 + count
    return Unknown(bytes(buf[pos : pos + 1])), pos + 1  # a lone DLE is just a control byte


def _raster(buf: bytearray, pos: int) -> tuple[Command, int] | None:
    head = _take(buf, pos + 2, 6)  # '0' m xL xH yL yH
    if head is None:
        return None
    if head[0] not in (0x00, 0x30):
        return Unknown(bytes(buf[pos : pos + 3])), pos + 3
    width_bytes, height = head[2] | head[3] << 8, head[4] | head[5] << 8
    data = _take(buf, pos + 8, width_bytes * height)
    if data is None:
        return None
    return Raster(head[1] % 48, width_bytes, height, data), pos + 8 + width_bytes * height


def _length_prefixed(buf: bytearray, pos: int) -> tuple[Command, int] | None:
    """GS ( X pL pH ... and FS ( X pL pH ...: the length counts the bytes after pH."""
    head = _take(buf, pos + 2, 3)
    if head is None:
        return None
    length = head[1] | head[2] << 8
    body = _take(buf, pos + 5, length)
    if body is None:
        return None
    end = pos + 5 + length
    if buf[pos] == GS and head[0] == ord("k") and length >= 2:
        return Code2D(body[0], body[1], body[2:]), end
    return Control(f"{chr(buf[pos + 1])}{chr(head[0])}", tuple(body[:2])), end


def _barcode(buf: bytearray, pos: int) -> tuple[Command, int] | None:
    system = _take(buf, pos + 2, 1)
    if system is None:
        return None
    if system[0] <= 6:  # function A: data up to a NUL
        end = buf.find(0, pos + 3)
        return None if end < 0 else (Control("barcode", (system[0],)), end + 1)
    count = _take(buf, pos + 3, 1)
    if count is None or _take(buf, pos + 4, count[0]) is None:
        return None
    return Control("barcode", (system[0],)), pos + 4 + count[0]


def _bit_image_column(buf: bytearray, pos: int) -> tuple[Command, int] | None:
    head = _take(buf, pos + 2, 3)  # m nL nH
    if head is None:
        return None
    columns = head[1] | head[2] << 8
    count = columns * (3 if head[0] in (32, 33) else 1)
    if _take(buf, pos + 5, count) is None:
        return None
    return Control("bit_image_column", (head[0], columns)), pos + 5 + count


# ---------------------------------------------------------------- the printed page


@dataclass(frozen=True)
class Style:
    width: int = 1
    height: int = 1
    bold: bool = False
    underline: int = 0


@dataclass(frozen=True)
class Span:
    """Text in one style. `chinese`: decoded in Chinese mode, where every non-ASCII character
    is a 24-dot double-byte glyph; outside it every character is 12 dots."""

    text: str
    style: Style
    chinese: bool


@dataclass(frozen=True)
class TextLine:
    spans: tuple[Span, ...]
    align: Align

    @property
    def text(self) -> str:
        return "".join(span.text for span in self.spans)


@dataclass(frozen=True)
class Picture:
    """A raster picture: `bits` are rows of width_bytes bytes, 1 = black."""

    width_bytes: int
    height: int
    bits: bytes
    align: Align
    scale_x: int = 1
    scale_y: int = 1


@dataclass(frozen=True)
class QrSymbol:
    payload: bytes
    module: int
    level: Literal["L", "M", "Q", "H"]
    align: Align


@dataclass(frozen=True)
class Space:
    dots: int


Element = TextLine | Picture | QrSymbol | Space


@dataclass(frozen=True)
class Page:
    """What came out of the printer between two cuts."""

    elements: tuple[Element, ...]
    cut: Literal["full", "partial"] | None
    notes: tuple[str, ...] = ()
    complete: bool = True  # False: the page was abandoned (buffers cleared) before its cut

    def text_lines(self) -> list[str]:
        """The text of every non-empty line, in order."""
        return [e.text for e in self.elements if isinstance(e, TextLine) and e.text.strip()]

    def qr_payloads(self) -> list[str]:
        return [e.payload.decode("utf-8", "replace") for e in self.elements if isinstance(e, QrSymbol)]

    @property
    def pictures(self) -> list[Picture]:
        return [e for e in self.elements if isinstance(e, Picture)]


_ALIGNS: tuple[Align, Align, Align] = ("left", "center", "right")
_QR_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}


@dataclass
class _Qr:
    module: int = 3
    level: str = "L"
    data: bytes | None = None


@dataclass
class PageBuilder:
    """Applies commands the way a printer of `profile` would and collects finished pages.
    Real-time commands are the device's business (see simulator) and are ignored here."""

    profile: PrinterProfile
    pages: list[Page] = field(default_factory=list)
    _style: Style = Style()
    _align: Align = "left"
    _chinese: bool = False
    _decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("gb18030")("replace"))
    _spans: list[Span] = field(default_factory=list)
    _elements: list[Element] = field(default_factory=list)
    _notes: list[str] = field(default_factory=list)
    _qr: _Qr = field(default_factory=_Qr)

    def apply(self, command: Command) -> None:
        if isinstance(command, TextBytes):
            self._text(command.data)
        elif isinstance(command, Control):
            self._control(command)
        elif isinstance(command, Raster):
            self._flush_line(only_if_pending=True)
            scale = (1 + (command.mode & 1), 1 + (command.mode >> 1 & 1))
            self._elements.append(Picture(command.width_bytes, command.height, command.data, self._align, *scale))
        elif isinstance(command, Code2D):
            self._code2d(command)
        else:
            self._note(f"unknown command {command.raw.hex(' ')}")

    # -- text

    def _text(self, data: bytes) -> None:
        text = self._decoder.decode(data) if self._chinese else data.decode("cp437")
        if not text:
            return
        if self._spans and self._spans[-1].style == self._style and self._spans[-1].chinese == self._chinese:
            last = self._spans.pop()
            text = last.text + text
        self._spans.append(Span(text, self._style, self._chinese))

    def _flush_line(self, only_if_pending: bool = False) -> bool:
        if only_if_pending and not self._spans:
            return False
        self._elements.append(TextLine(tuple(self._spans), self._align))
        self._spans = []
        return True

    def _set_chinese(self, on: bool) -> None:
        if not self.profile.chinese:
            self._note(f"FS {'&' if on else '.'} ignored: this printer has no Chinese font")
            return
        if self._chinese and not on:
            tail = self._decoder.decode(b"", final=True)
            if tail:
                self._spans.append(Span(tail, self._style, True))
            self._decoder.reset()
        self._chinese = on

    # -- control commands

    def _control(self, command: Control) -> None:
        name, args = command.name, command.args
        if name == "LF":
            self._flush_line()
        elif name == "init":
            self._style, self._align, self._qr = Style(), "left", _Qr()
            if self._chinese:  # ESC @ returns to the power-on state: single-byte mode
                self._set_chinese(False)
        elif name == "print_mode":
            n = args[0]
            self._style = Style(2 if n & 0x20 else 1, 2 if n & 0x10 else 1, bool(n & 0x08), 1 if n & 0x80 else 0)
        elif name == "char_size":
            self._style = replace(self._style, width=(args[0] >> 4 & 7) + 1, height=(args[0] & 7) + 1)
        elif name == "bold":
            self._style = replace(self._style, bold=bool(args[0] & 1))
        elif name == "underline":
            self._style = replace(self._style, underline=args[0] % 48 if args[0] % 48 <= 2 else 0)
        elif name == "align":
            self._align = _ALIGNS[args[0] % 48] if args[0] % 48 <= 2 else "left"
        elif name == "feed_lines":
            printed = self._flush_line(only_if_pending=True)
            lines = args[0] - (1 if printed else 0)
            if lines > 0:
                self._elements.append(Space(lines * FEED_DOTS))
        elif name == "feed_dots":
            self._flush_line(only_if_pending=True)
            self._elements.append(Space(args[0]))
        elif name == "chinese_on":
            self._set_chinese(True)
        elif name == "chinese_off":
            self._set_chinese(False)
        elif name == "cut":
            self._cut(args)
        elif name in ("bit_image_column", "barcode"):
            self._note(f"{name} not drawn by the simulator")
        # everything else (code page, fonts, spacing, buzzer, status...) changes nothing drawn

    def _code2d(self, command: Code2D) -> None:
        if command.cn != 49:
            self._note(f"2D code type {command.cn} not drawn by the simulator")
            return
        if not self.profile.qr:
            self._note("GS ( k ignored: this printer has no QR command")
            return
        fn, params = command.fn, command.params
        if fn == 67 and params:
            self._qr.module = params[0]
        elif fn == 69 and params:
            self._qr.level = _QR_LEVELS.get(params[0], "L")
        elif fn == 80 and params:
            self._qr.data = params[1:]  # after m = 48
        elif fn == 81:
            if self._qr.data:
                self._flush_line(only_if_pending=True)
                self._elements.append(QrSymbol(self._qr.data, self._qr.module, self._qr.level, self._align))  # type: ignore[arg-type]
            else:
                self._note("QR print without stored data")

    def _cut(self, args: tuple[int, ...]) -> None:
        self._flush_line(only_if_pending=True)
        if args and args[0] in (65, 66, 97, 98, 103, 104):
            self._elements.append(Space(args[1]))
        if not self.profile.cutter:
            self._note("GS V ignored: this printer has no cutter (page ends here for the simulator)")
        mode: Literal["full", "partial"] = "partial" if args and args[0] in (1, 49, 66, 98, 104) else "full"
        self._finish_page(mode if self.profile.cutter else None, complete=True)

    def _note(self, text: str) -> None:
        if text not in self._notes:
            self._notes.append(text)

    def _finish_page(self, cut: Literal["full", "partial"] | None, complete: bool) -> None:
        self.pages.append(Page(tuple(self._elements), cut, tuple(self._notes), complete))
        self._elements, self._notes = [], []

    # -- the device's side

    def has_content(self) -> bool:
        return bool(self._elements or self._spans)

    def end_page(self) -> Page | None:
        """Ends the page in progress without a cut (the sender went away); None if empty."""
        self._flush_line(only_if_pending=True)
        if not self._elements:
            return None
        self._finish_page(None, complete=True)
        return self.pages[-1]

    def abandon_page(self) -> Page | None:
        """Drops what is in progress (buffers cleared): kept as an incomplete page."""
        self._flush_line(only_if_pending=True)
        if not self._elements:
            return None
        self._finish_page(None, complete=False)
        return self.pages[-1]


def parse_pages(data: bytes, profile: PrinterProfile) -> list[Page]:
    """Recorded bytes into the pages a printer of `profile` would print (the tail after the
    last cut counts as a page too)."""
    builder = PageBuilder(profile)
    for command in Tokenizer().feed(data):
        if isinstance(command, Control) and command.name in REALTIME:
            continue
        builder.apply(command)
    builder.end_page()
    return builder.pages
