"""Printer URLs: one string names a printer in config and on the command line.

    usb:VID:PID[?in_ep=0x82&out_ep=0x01]   e.g. usb:0416:5011 (hex ids, as lsusb shows them)
    serial:/dev/ttyUSB0[?baud=115200&flow=none|rtscts|xonxoff]
    tcp://host[:9100]
    file:/dev/usb/lp0

Pure parsing into typed values; `PrinterUrlError` carries a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TCP_PORT = 9100
DEFAULT_BAUD = 9600
# Baud rates receipt printers offer; anything else is almost surely a typo.
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
EXAMPLES = "usb:0416:5011, serial:/dev/ttyUSB0?baud=115200, tcp://192.168.1.50:9100, file:/dev/usb/lp0"


class PrinterUrlError(ValueError):
    """A printer URL that cannot be used; str() is the one line to show, `reason` the part
    after the URL (for messages that name the URL themselves)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"printer URL {url!r}: {reason}")
        self.url, self.reason = url, reason


@dataclass(frozen=True)
class UsbUrl:
    vendor_id: int
    product_id: int
    in_ep: int = 0x82
    out_ep: int = 0x01
    kind: Literal["usb"] = "usb"

    def __str__(self) -> str:
        return f"usb:{self.vendor_id:04x}:{self.product_id:04x}"


@dataclass(frozen=True)
class SerialUrl:
    path: str
    baud: int = DEFAULT_BAUD
    flow: Literal["none", "rtscts", "xonxoff"] = "none"
    kind: Literal["serial"] = "serial"

    def __str__(self) -> str:
        return f"serial:{self.path}?baud={self.baud}"


@dataclass(frozen=True)
class TcpUrl:
    host: str
    port: int = DEFAULT_TCP_PORT
    kind: Literal["tcp"] = "tcp"

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True)
class FileUrl:
    path: str
    kind: Literal["file"] = "file"

    def __str__(self) -> str:
        return f"file:{self.path}"


PrinterUrl = UsbUrl | SerialUrl | TcpUrl | FileUrl


def parse_printer_url(text: str) -> PrinterUrl:
    """Parses a printer URL; raises PrinterUrlError naming what is wrong."""
    scheme, sep, rest = text.strip().partition(":")
    if not sep or not rest:
        raise PrinterUrlError(text, f"expected one of {EXAMPLES}")
    scheme = scheme.lower()
    if scheme == "usb":
        return _parse_usb(text, rest)
    if scheme == "serial":
        return _parse_serial(text, rest)
    if scheme == "tcp":
        return _parse_tcp(text)
    if scheme == "file":
        path = rest[2:] if rest.startswith("//") else rest
        if not path.startswith("/"):
            raise PrinterUrlError(text, "file: needs an absolute path, e.g. file:/dev/usb/lp0")
        return FileUrl(path)
    raise PrinterUrlError(text, f"unknown scheme {scheme!r}; expected usb:, serial:, tcp:// or file:")


def _query(text: str, query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    params = dict(parse_qsl(query, keep_blank_values=True))
    for key in params:
        if key not in allowed:
            raise PrinterUrlError(text, f"unknown option {key!r}; expected {', '.join(allowed)}")
    return params


def _hex_id(text: str, value: str, what: str) -> int:
    try:
        number = int(value, 16)
    except ValueError:
        raise PrinterUrlError(text, f"{what} {value!r} is not a hex number like 0416") from None
    if not 0 <= number <= 0xFFFF:
        raise PrinterUrlError(text, f"{what} {value!r} is out of range 0000-ffff")
    return number


def _parse_usb(text: str, rest: str) -> UsbUrl:
    ids, _, query = rest.partition("?")
    parts = ids.split(":")
    if len(parts) != 2 or not all(parts):
        raise PrinterUrlError(text, "expected usb:VID:PID with hex ids, e.g. usb:0416:5011")
    params = _query(text, query, ("in_ep", "out_ep"))
    vendor, product = _hex_id(text, parts[0], "vendor id"), _hex_id(text, parts[1], "product id")
    endpoints = {key: _endpoint(text, key, value) for key, value in params.items()}
    return UsbUrl(vendor, product, **endpoints)


def _endpoint(text: str, key: str, value: str) -> int:
    try:
        number = int(value, 0)
    except ValueError:
        raise PrinterUrlError(text, f"{key}={value!r} is not a number like 0x82") from None
    if not 0 <= number <= 0xFF:
        raise PrinterUrlError(text, f"{key}={value!r} is not an endpoint address (0x00-0xff)")
    return number


def _parse_serial(text: str, rest: str) -> SerialUrl:
    path, _, query = rest.partition("?")
    if path.startswith("//"):
        path = path[2:]
    if not path.startswith("/"):
        raise PrinterUrlError(text, "serial: needs a device path, e.g. serial:/dev/ttyUSB0?baud=115200")
    params = _query(text, query, ("baud", "flow"))
    baud = DEFAULT_BAUD
    if "baud" in params:
        if not params["baud"].isdigit() or int(params["baud"]) not in BAUD_RATES:
            raise PrinterUrlError(
                text, f"baud={params['baud']!r}; expected one of {', '.join(map(str, BAUD_RATES))}"
            )
        baud = int(params["baud"])
    flow = params.get("flow", "none")
    if flow not in ("none", "rtscts", "xonxoff"):
        raise PrinterUrlError(text, f"flow={flow!r}; expected none, rtscts or xonxoff")
    return SerialUrl(path, baud, flow)  # type: ignore[arg-type]


def _parse_tcp(text: str) -> TcpUrl:
    parts = urlsplit(text.strip())
    if parts.path not in ("", "/") or parts.query:
        raise PrinterUrlError(text, "expected tcp://host:port with nothing after the port")
    try:
        port = parts.port or DEFAULT_TCP_PORT
    except ValueError:
        raise PrinterUrlError(text, "the port must be a number 1-65535") from None
    if not parts.hostname:
        raise PrinterUrlError(text, "expected tcp://host:port, e.g. tcp://192.168.1.50:9100")
    return TcpUrl(parts.hostname, port)
