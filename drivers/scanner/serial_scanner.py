"""Serial scanners (RS-232, or USB-CDC showing up as /dev/ttyACM*): one line per scan.

Scanners in serial mode send the code's bytes and a CR and/or LF. Unlike a keyboard wedge they
carry any bytes, so Chinese payloads arrive intact — as UTF-8 from most scanners, as GBK/GB18030
from many sold in China; `decode_payload` takes UTF-8 when the bytes are valid UTF-8 and
GB18030 otherwise (GB18030 decodes any byte string, so it goes last).
"""

from __future__ import annotations

import errno
import re
import termios
import time
from collections import deque

import serial

from drivers.scanner.base import (
    Scan, Scanner, ScannerBusy, ScannerNotFound, ScannerPermission, ScannerUnplugged,
)

_LINE_END = re.compile(rb"\r\n|\r|\n")
_READ_SLICE_S = 0.05
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)
MAX_LINE = 8192  # a scanner stuck without terminators must not grow the buffer forever
ENCODINGS = ("auto", "utf-8", "gb18030")


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (empty ones dropped: CR LF is one terminator) and the unterminated rest."""
    parts = _LINE_END.split(buffer)
    rest = parts.pop()
    return [line for line in parts if line], rest


def decode_payload(raw: bytes, encoding: str = "auto") -> str:
    if encoding == "auto":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="replace")
    else:
        text = raw.decode(encoding, errors="replace")
    return text.removeprefix("\ufeff")


class SerialScanner(Scanner):
    """A line-terminated scanner on a serial port, opened exclusively."""

    def __init__(self, port: str, baud: int = 9600, encoding: str = "auto") -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding: one of {', '.join(ENCODINGS)}")
        self.port_name = port
        self.encoding = encoding
        self._buffer = b""
        self._ready: deque[bytes] = deque()
        try:
            self._port = serial.Serial(port, baud, timeout=_READ_SLICE_S, exclusive=True)
        except serial.SerialException as exc:
            code = exc.errno if isinstance(exc.errno, int) else None
            if code == errno.ENOENT:
                raise ScannerNotFound(f"no scanner at {port}") from None
            if code == errno.EACCES:
                raise ScannerPermission(f"may not open {port}: add the user to group 'dialout'") from None
            if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
                raise ScannerBusy(f"{port} is open in another process") from None
            raise ScannerUnplugged(f"cannot open {port}: {exc}") from None

    def read(self, timeout_s: float) -> Scan | None:
        deadline = time.monotonic() + timeout_s
        while not self._ready:
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._port.read(max(1, self._port.in_waiting))
            except _PORT_ERRORS as exc:
                raise ScannerUnplugged(f"scanner {self.port_name} is gone: {exc}") from None
            if not chunk:
                continue
            lines, self._buffer = split_lines(self._buffer + chunk)
            if len(self._buffer) > MAX_LINE:
                self._buffer = b""
            self._ready.extend(lines)
        return Scan(decode_payload(self._ready.popleft(), self.encoding), "serial", self.port_name)

    def close(self) -> None:
        try:
            self._port.close()
        except _PORT_ERRORS:
            pass
