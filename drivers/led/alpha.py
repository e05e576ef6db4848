"""The Alpha Sign Communications Protocol (Adaptive Micro Systems, document 9708-8061,
"Alpha Sign Communications Protocol"), the subset our boards use. Pure: bytes in, bytes out.

Why our own code: the PyPI packages for this protocol are a 2009 Python 2 release
(`alphasign` 0.9) and a 2026 0.1 release without a parser; we need both directions (the
simulator parses what the driver writes) and the SMALL DOTS PICTURE command for Chinese.

A packet: ≥5 NUL (sync), SOH, type code ('Z' = all signs), 2-char address ("00" = all),
then per command STX, command code, data, ETX, 4 hex digits checksum (sum of the bytes from
STX through ETX), and finally EOT. Commands used:
- 'A' WRITE TEXT FILE: file label, ESC, display position (' ' middle line), mode code
  ('b' hold), the text; the text may call a picture with DC4 (0x14) + picture label.
- 'I' WRITE SMALL DOTS PICTURE: label, height and width as two hex digits each, then one
  row per line of color characters ('0' off, '1' red, '2' green, '3' amber) ending in CR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

NUL, SOH, STX, ETX, EOT, ESC, CR, DC4 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x1B, 0x0D, 0x14
SYNC = bytes(5)
MAX_DOTS = 255  # height and width travel as two hex digits
COLORS = "0123"


class AlphaProtocolError(ValueError):
    """Bytes that are not a well-formed Alpha packet."""


@dataclass(frozen=True)
class WriteText:
    label: str
    text: str
    mode: str = "b"  # hold
    position: str = " "  # middle line

    code = "A"

    def data(self) -> bytes:
        return self.label.encode("ascii") + bytes([ESC]) + self.position.encode() + self.mode.encode() + self.text.encode("latin-1")


@dataclass(frozen=True)
class WriteSmallDots:
    label: str
    rows: tuple[str, ...]  # each a string of color characters, all the same length

    code = "I"

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0

    def data(self) -> bytes:
        if not (0 < self.height <= MAX_DOTS and 0 < self.width <= MAX_DOTS):
            raise AlphaProtocolError(f"a small dots picture is 1–{MAX_DOTS} dots each way, not {self.width}×{self.height}")
        if any(len(r) != self.width or set(r) - set(COLORS) for r in self.rows):
            raise AlphaProtocolError("picture rows must all have the same width and use only 0, 1, 2, 3")
        body = b"".join(r.encode("ascii") + bytes([CR]) for r in self.rows)
        return self.label.encode("ascii") + f"{self.height:02X}{self.width:02X}".encode() + body


Command = WriteText | WriteSmallDots


@dataclass(frozen=True)
class Packet:
    type_code: str
    address: str
    commands: tuple[Command, ...]


def checksum(block: bytes) -> bytes:
    return f"{sum(block) & 0xFFFF:04X}".encode()


def encode(packet: Packet) -> bytes:
    out = bytearray(SYNC)
    out += bytes([SOH]) + packet.type_code.encode() + packet.address.encode()
    for command in packet.commands:
        block = bytes([STX]) + command.code.encode() + command.data() + bytes([ETX])
        out += block + checksum(block)
    out.append(EOT)
    return bytes(out)


def _decode_command(code: str, data: bytes) -> Command:
    if code == "A":
        if len(data) < 4 or data[1] != ESC:
            raise AlphaProtocolError("WRITE TEXT without label, ESC, position and mode")
        return WriteText(chr(data[0]), data[4:].decode("latin-1"), mode=chr(data[3]), position=chr(data[2]))
    if code == "I":
        if len(data) < 5:
            raise AlphaProtocolError("WRITE SMALL DOTS PICTURE too short")
        try:
            height, width = int(data[1:3], 16), int(data[3:5], 16)
        except ValueError:
            raise AlphaProtocolError("picture size is not hex") from None
        rows = tuple(r.decode("ascii") for r in data[5:].split(bytes([CR]))[:height])
        if len(rows) != height or any(len(r) != width for r in rows):
            raise AlphaProtocolError(f"picture says {width}×{height} but carries other rows")
        return WriteSmallDots(chr(data[0]), rows)
    raise AlphaProtocolError(f"command '{code}' is not supported by this board")


def decode(frame: bytes) -> Packet:
    """Decodes one packet (from SOH to EOT, sync bytes allowed before)."""
    start = frame.find(bytes([SOH]))
    if start < 0 or not frame.endswith(bytes([EOT])):
        raise AlphaProtocolError("no SOH … EOT packet")
    body = frame[start + 1 : -1]
    if len(body) < 3:
        raise AlphaProtocolError("packet without type code and address")
    type_code, address, rest = chr(body[0]), body[1:3].decode("ascii", "replace"), body[3:]
    commands = []
    while rest:
        if rest[0] != STX:
            raise AlphaProtocolError("expected STX before a command")
        end = rest.find(bytes([ETX]))
        if end < 0 or len(rest) < end + 5:
            raise AlphaProtocolError("command without ETX and checksum")
        block, given = rest[: end + 1], rest[end + 1 : end + 5]
        if checksum(block) != given:
            raise AlphaProtocolError(f"checksum {given!r} does not match {checksum(block)!r}")
        commands.append(_decode_command(chr(block[1]), block[2:-1]))
        rest = rest[end + 5 :]
    return Packet(type_code, address, tuple(commands))


class PacketSplitter:
    """Cuts a serial byte stream into packets: feed bytes, get each SOH…EOT frame."""

    def __init__(self, limit: int = 256 * 1024) -> None:
        self._buffer = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        while True:
            start = self._buffer.find(bytes([SOH]))
            if start < 0:
                self._buffer.clear()  # line noise and sync bytes
                return
            end = self._buffer.find(bytes([EOT]), start)
            if end < 0:
                del self._buffer[:start]
                if len(self._buffer) > self._limit:
                    self._buffer.clear()  # a packet this long is garbage
                return
            yield bytes(self._buffer[start : end + 1])
            del self._buffer[: end + 1]
