"""The one interface every scanner kind offers: `Scanner.read(timeout_s)` → a `Scan` or None.

HID, serial and camera scanners differ below this line only; applications (kiosk, dispenser)
hold a `Scanner` and never learn which kind it is. Failures are `ScannerError`s whose str() is
one line; a time-out with nothing scanned is not a failure, it is None.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(frozen=True)
class Scan:
    """One decoded code."""

    text: str
    source: str  # "hid", "serial", "camera", "image"
    device: str  # the path or name it came from
    symbology: str = ""  # "QRCODE", "CODE128", ...; empty when the scanner does not say
    at: float = field(default_factory=time.time)


class ScannerError(Exception):
    """Base of every scanner failure; str() is one line."""


class ScannerNotFound(ScannerError):
    """No device at the configured path (unplugged before we started, or a wrong path)."""


class ScannerUnplugged(ScannerError):
    """The device went away while we used it."""


class ScannerBusy(ScannerError):
    """Another process holds the device (an evdev grab, an open serial port)."""


class ScannerPermission(ScannerError):
    """The device exists but this user may not open it (udev rule or group missing)."""


class Scanner(ABC):
    """A source of scans. Use as a context manager or call `close()`."""

    @abstractmethod
    def read(self, timeout_s: float) -> Scan | None:
        """The next scan, waiting up to `timeout_s`; None if nothing was scanned by then."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
