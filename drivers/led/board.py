"""The LED board driver: shows lines of text on an Alpha-protocol board over serial.

ASCII-only text on a board in `text` mode goes as a WRITE TEXT FILE (the board's own font);
anything else — Chinese above all — is rendered to a 1-bit SMALL DOTS PICTURE of the board's
size and shown by a text file that calls it. The transport is pyserial's `serial_for_url`, so
a board on a serial server (`socket://host:port`) works the same as `/dev/ttyUSB0`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import serial
from pydantic import Field

from drivers.led.alpha import Packet, WriteSmallDots, WriteText, encode
from drivers.led.bitmap import Frame, render_lines
from taxhall.config import ConfigSection

log = logging.getLogger("drivers.led")

PICTURE_LABEL = "P"
TEXT_LABEL = "A"


class LedError(Exception):
    """The board could not be written (unplugged, port busy, write time-out)."""


class LedSection(ConfigSection):
    port: str = Field(description="serial device or pyserial URL, e.g. /dev/ttyUSB0 or socket://10.0.0.9:4001")
    baud: int = Field(9600, description="the board's baud rate")
    width: int = Field(128, ge=8, le=255, description="dots across")
    height: int = Field(32, ge=8, le=255, description="dots down")
    color: Literal["red", "green", "amber"] = Field("red", description="dot color of a single-color board")
    mode: Literal["bitmap", "text"] = Field("bitmap", description="text: ASCII in the board's own font; bitmap: everything as pictures")
    address: str = Field("00", min_length=2, max_length=2, description="the board's Alpha address, 00 = all")
    counter: str = Field("", description="the counter this window board belongs to; empty for the hall board")
    write_timeout_s: float = Field(2.0, gt=0, description="a write that takes longer means the board is gone")


_COLOR_CODE = {"red": "1", "green": "2", "amber": "3"}


@dataclass(frozen=True)
class Shown:
    """What was sent: the frame (None for board-font text) and the bytes on the wire."""

    frame: Frame | None
    wire: bytes


def board_packet(section: LedSection, lines: list[str]) -> tuple[Packet, Frame | None]:
    """The packet that shows `lines`, and the frame it carries (pure)."""
    if section.mode == "text" and all(line.isascii() for line in lines):
        text = "\r".join(lines)  # CR starts a new line in an Alpha text file
        return Packet("Z", section.address, (WriteText(TEXT_LABEL, text),)), None
    frame = render_lines(lines, section.width, section.height, _COLOR_CODE[section.color])
    commands = (WriteSmallDots(PICTURE_LABEL, frame.rows), WriteText(TEXT_LABEL, chr(0x14) + PICTURE_LABEL))
    return Packet("Z", section.address, commands), frame


class LedBoard:
    """One board on one serial line. Opens lazily and reopens after a fault."""

    def __init__(self, section: LedSection) -> None:
        self.section = section
        self._port: serial.SerialBase | None = None

    def _open(self) -> serial.SerialBase:
        if self._port is None:
            try:
                self._port = serial.serial_for_url(
                    self.section.port, baudrate=self.section.baud, write_timeout=self.section.write_timeout_s, timeout=0.5
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                raise LedError(f"cannot open LED board at {self.section.port}: {exc}") from None
        return self._port

    def show(self, lines: list[str]) -> Shown:
        packet, frame = board_packet(self.section, lines)
        wire = encode(packet)
        port = self._open()
        try:
            port.write(wire)
            port.flush()
        except (serial.SerialException, serial.SerialTimeoutException, OSError) as exc:
            self.close()
            raise LedError(f"LED board at {self.section.port} did not take the frame: {exc}") from None
        return Shown(frame, wire)

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
            self._port = None
