"""The link to a printer: python-escpos's printer classes (Usb, Serial, Network, File) chosen
by URL, with a time-out on every read and write and their errors turned into ours.

Why we reach past python-escpos here: its `_read()` reads a fixed 16 bytes with no per-call
time-out (a serial read then always waits the full time-out; a USB read uses pyusb's default),
and `File` can neither read nor time out a write. So reads go to the underlying socket, serial
port or USB device with our own time-out, and writes to a FIFO or /dev/usb/lp0 wait for the
device to be writable (select) before python-escpos writes. Bytes are still written by
python-escpos's `_raw()`.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
from typing import Any

import serial
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from drivers.printer.config import PrinterProfile
from drivers.printer.errors import PrinterDisconnected, PrinterTimeout, PrinterUnreachable
from drivers.printer.escpos_render import escpos_profile
from drivers.printer.url import FileUrl, PrinterUrl, SerialUrl, TcpUrl, UsbUrl

log = logging.getLogger("drivers.printer")

CHUNK = 1024  # bytes per write: below PIPE_BUF, so a writable FIFO takes a chunk whole


def _reason(exc: BaseException) -> str:
    """The root cause of a python-escpos error in a few words (it wraps them in prose)."""
    cause = exc.__cause__ or exc.__context__ or exc
    if type(cause).__name__ == "NoBackendError":
        return "no USB backend (install the Debian package libusb-1.0-0)"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "no answer (connect timed out)"
    if isinstance(cause, FileNotFoundError) or getattr(cause, "errno", None) == errno.ENOENT:
        return "no such device"
    if isinstance(cause, PermissionError) or getattr(cause, "errno", None) == errno.EACCES:
        return "permission denied"
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__


class Link:
    """One open connection to a printer. Not thread-safe: the driver holds a lock."""

    def __init__(self, url: PrinterUrl, profile: PrinterProfile, timeout_s: float) -> None:
        self.url = url
        self.profile = profile
        self.timeout_s = timeout_s
        self._printer: Escpos | None = None

    @property
    def readable(self) -> bool:
        """Whether the printer can answer on this link (not on a file: device)."""
        return not isinstance(self.url, FileUrl)

    @property
    def is_open(self) -> bool:
        return self._printer is not None

    # -- open and close

    def open(self) -> None:
        if self._printer is not None:
            return
        profile = escpos_profile(self.profile)
        url = self.url
        try:
            if isinstance(url, TcpUrl):
                printer: Escpos = Network(url.host, url.port, timeout=self.timeout_s, profile=profile)
                printer.open()
                printer.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # status round trips
            elif isinstance(url, SerialUrl):
                printer = Serial(url.path, baudrate=url.baud, timeout=self.timeout_s,
                                 xonxoff=url.flow == "xonxoff", profile=profile)
                printer.open()
                port: serial.Serial = printer.device
                port.rtscts = url.flow == "rtscts"
                port.reset_input_buffer()  # answers meant for an earlier user of the port
            elif isinstance(url, UsbUrl):
                printer = Usb(url.vendor_id, url.product_id, timeout=int(self.timeout_s * 1000),
                              in_ep=url.in_ep, out_ep=url.out_ep, profile=profile)
                printer.open()
            else:
                self._check_file(url)
                printer = File(url.path, profile=profile)
                printer.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnreachable(f"{url}: {_reason(exc)}") from None
        except PrinterUnreachable:
            raise
        except Exception as exc:  # pyusb's NoBackendError and friends: still "cannot open"
            raise PrinterUnreachable(f"{url}: {_reason(exc)}") from None
        self._printer = printer

    @staticmethod
    def _check_file(url: FileUrl) -> None:
        """python-escpos would create a missing file (printing into nothing) and block forever
        opening a FIFO nobody reads; both are 'unreachable' for us."""
        try:
            mode = os.stat(url.path).st_mode
        except FileNotFoundError:
            raise PrinterUnreachable(f"{url}: no such device") from None
        if stat.S_ISFIFO(mode):
            try:
                os.close(os.open(url.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    raise PrinterUnreachable(f"{url}: nobody is reading this FIFO") from None
                raise

    def close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is None:
            return
        try:
            printer.close()
        except Exception as exc:  # closing a dead link must not hide the error that killed it
            log.debug("closing %s: %s", self.url, exc)
            # python-escpos's close() failed half-way (a serial flush on a vanished port): close
            # the device ourselves and tell python-escpos, or its __del__ tries again and fails.
            try:
                printer.device.close()
            except Exception:  # noqa: BLE001 — the device is gone either way
                pass
            printer.device = None

    # -- bytes

    def _device(self) -> Any:
        if self._printer is None:
            raise PrinterDisconnected(f"{self.url}: not open")
        return self._printer.device

    def write(self, data: bytes) -> None:
        """Writes everything or raises: PrinterTimeout if the printer stops taking data,
        PrinterDisconnected if the link breaks."""
        assert self._printer is not None, "open() first"
        for start in range(0, len(data), CHUNK):
            self._write_chunk(data[start : start + CHUNK])

    def _write_chunk(self, chunk: bytes) -> None:
        device = self._device()
        url = self.url
        try:
            if isinstance(url, TcpUrl):
                device.settimeout(self.timeout_s)
            elif isinstance(url, SerialUrl):
                # the time the bytes need on the wire, plus the time-out
                device.write_timeout = self.timeout_s + len(chunk) * 10 / url.baud
            elif isinstance(url, FileUrl):
                _, ready, _ = select.select([], [device.fileno()], [], self.timeout_s)
                if not ready:
                    raise PrinterTimeout(f"{url}: the device took no data for {self.timeout_s:g} s")
            self._printer._raw(chunk)  # type: ignore[union-attr]  # noqa: SLF001
        except PrinterTimeout:
            raise
        except (socket.timeout, serial.SerialTimeoutException) as exc:
            raise PrinterTimeout(f"{url}: the printer took no data for {self.timeout_s:g} s") from exc
        except Exception as exc:
            if _is_usb_timeout(exc):
                raise PrinterTimeout(f"{url}: the printer took no data for {self.timeout_s:g} s") from exc
            raise PrinterDisconnected(f"{url}: link lost while writing ({_reason(exc)})") from exc

    def read(self, timeout_s: float) -> bytes:
        """What the printer sent within `timeout_s` (b"" if nothing); PrinterDisconnected if
        the link is gone."""
        device = self._device()
        url = self.url
        try:
            if isinstance(url, TcpUrl):
                device.settimeout(max(timeout_s, 0.001))
                try:
                    data = device.recv(256)
                except socket.timeout:
                    return b""
                if not data:
                    raise PrinterDisconnected(f"{url}: the printer closed the connection")
                return bytes(data)
            if isinstance(url, SerialUrl):
                device.timeout = timeout_s
                first = device.read(1)
                return first + (device.read(device.in_waiting) if first and device.in_waiting else b"")
            if isinstance(url, UsbUrl):
                try:
                    return bytes(device.read(url.in_ep, 64, max(1, int(timeout_s * 1000))))
                except Exception as exc:
                    if _is_usb_timeout(exc):
                        return b""
                    raise
            return b""
        except PrinterDisconnected:
            raise
        except Exception as exc:
            raise PrinterDisconnected(f"{url}: link lost while reading ({_reason(exc)})") from exc

    def drain(self) -> bytes:
        """Reads and returns whatever is waiting (late answers to earlier requests)."""
        stale = b""
        while self.readable:
            chunk = self.read(0.0)
            if not chunk:
                return stale
            stale += chunk
        return stale


def _is_usb_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ == "USBTimeoutError" or getattr(exc, "errno", None) == errno.ETIMEDOUT
