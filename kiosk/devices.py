"""The kiosk's hardware as the flows see it: an ID-card reader, a scanner and a receipt
printer, each optional, each reporting its health to the board.

Reads are short (a fraction of a second) and made only while a screen wants them, so a
card left on the reader or a code scanned at the home screen does nothing. A reader or
scanner that fails is closed, marked `fault` on the board with the driver's one-line reason,
and reopened after `retry_s`; the printer's health comes from its status monitor.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from drivers.idcard.identity import Identity
from drivers.idcard.reader import IdCardReader, NoCard, ReaderError, ReaderSettings
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.errors import JobResult
from drivers.printer.layout import Layout
from drivers.printer.monitor import StatusMonitor
from drivers.scanner.base import Scanner, ScannerError
from kiosk.health import OK, PRINTER, READER, SCANNER, HealthBoard, absent, fault

log = logging.getLogger("kiosk.devices")


class DeviceTrouble(Exception):
    """A reader or scanner stopped working; `component` says which. str() is one line."""

    def __init__(self, component: str, message: str) -> None:
        super().__init__(message)
        self.component = component


@dataclass
class _Opened:
    """A device handle with the time of its last failed open (for retrying)."""

    handle: object | None = None
    failed_at: float | None = None


class KioskDevices:
    def __init__(self, board: HealthBoard, *, reader: ReaderSettings | None = None,
                 scanner: Callable[[], Scanner] | None = None, printer: ReceiptPrinter | None = None,
                 monitor: StatusMonitor | None = None, retry_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.board = board
        self.reader_settings = reader
        self.scanner_factory = scanner
        self.printer = printer
        self.monitor = monitor
        self.retry_s = retry_s
        self._clock = clock
        self._reader = _Opened()
        self._scanner = _Opened()
        if reader is None:
            board.set(READER, absent("no [idreader] port configured"))
        if scanner is None:
            board.set(SCANNER, absent("no scanner configured ([scanner] kind)"))
        if printer is None:
            board.set(PRINTER, absent("no [printer] url configured"))
        elif monitor is not None:
            board.add_source(PRINTER, monitor.health)

    @property
    def has_reader(self) -> bool:
        return self.reader_settings is not None

    @property
    def has_scanner(self) -> bool:
        return self.scanner_factory is not None

    # -- opening --------------------------------------------------------------------------

    def open(self) -> None:
        """Opens what is configured; failures are recorded, not raised (tiles say why)."""
        self._open_reader()
        self._open_scanner()

    def _due(self, opened: _Opened) -> bool:
        return opened.failed_at is None or self._clock() - opened.failed_at >= self.retry_s

    def _open_reader(self) -> IdCardReader | None:
        if self.reader_settings is None:
            return None
        if self._reader.handle is None and self._due(self._reader):
            reader = IdCardReader(self.reader_settings)
            try:
                reader.open()
            except ReaderError as exc:
                self._reader.failed_at = self._clock()
                self.board.set(READER, fault(str(exc)))
                return None
            self._reader = _Opened(reader)
            self.board.set(READER, OK)
        return self._reader.handle  # type: ignore[return-value]

    def _open_scanner(self) -> Scanner | None:
        if self.scanner_factory is None:
            return None
        if self._scanner.handle is None and self._due(self._scanner):
            try:
                scanner = self.scanner_factory()
            except (ScannerError, ValueError, OSError) as exc:
                self._scanner.failed_at = self._clock()
                self.board.set(SCANNER, fault(str(exc).splitlines()[0]))
                return None
            self._scanner = _Opened(scanner)
            self.board.set(SCANNER, OK)
        return self._scanner.handle  # type: ignore[return-value]

    def close(self) -> None:
        for opened in (self._reader, self._scanner):
            if opened.handle is not None:
                try:
                    opened.handle.close()  # type: ignore[attr-defined]
                except Exception:  # closing a device that went away must not stop the kiosk
                    log.debug("closing a device failed", exc_info=True)
                opened.handle = None

    # -- reading --------------------------------------------------------------------------

    def read_card(self, timeout_s: float) -> Identity | None:
        """A card on the reader, or None; DeviceTrouble when the reader fails."""
        reader = self._open_reader()
        if reader is None:
            return None
        try:
            return reader.read_card(timeout_s)
        except NoCard:
            return None
        except ReaderError as exc:
            reader.close()
            self._reader = _Opened(failed_at=self._clock())
            self.board.set(READER, fault(str(exc)))
            log.warning("ID card reader failed: %s", exc)
            raise DeviceTrouble(READER, str(exc)) from None

    def read_scan(self, timeout_s: float) -> str | None:
        """The next scanned text, or None; DeviceTrouble when the scanner fails."""
        scanner = self._open_scanner()
        if scanner is None:
            if timeout_s > 0:
                time.sleep(min(timeout_s, 0.2))  # nothing to wait on: do not spin
            return None
        try:
            scan = scanner.read(timeout_s)
        except ScannerError as exc:
            scanner.close()
            self._scanner = _Opened(failed_at=self._clock())
            self.board.set(SCANNER, fault(str(exc)))
            log.warning("scanner failed: %s", exc)
            raise DeviceTrouble(SCANNER, str(exc)) from None
        return scan.text if scan else None

    def flush_scans(self) -> int:
        """Drops codes scanned before a scanning screen opened; how many were dropped."""
        dropped = 0
        try:
            while self.read_scan(0) is not None:
                dropped += 1
        except DeviceTrouble:
            pass
        return dropped

    # -- printing -------------------------------------------------------------------------

    def print_layout(self, layout: Layout, job_id: str) -> JobResult:
        """Prints and waits for the printer's confirmation; raises PrinterError otherwise
        (after asking the monitor to look again, so the tiles follow at once)."""
        if self.printer is None:
            from drivers.printer.errors import PrinterUnreachable

            raise PrinterUnreachable("no printer configured")
        try:
            result = self.printer.print_job(layout, job_id=job_id)
        except Exception:
            if self.monitor is not None:
                self.monitor.poll_now()
            raise
        if self.monitor is not None and self.monitor.health().state != "ok":
            self.monitor.poll_now()  # it printed: the fault seen before may be gone (paper changed)
        return result
