"""`ReceiptPrinter`: one interface for every ESC/POS printer the hall uses, whatever the link
(USB, serial, TCP, device file) and whatever the model (the profile says what it can do).

A job goes like this, so that nothing is lost without the caller knowing:
1. status first (DLE EOT 1-4): a printer out of paper or with its cover open gets nothing;
2. the job's bytes, in chunks, each write with a time-out;
3. GS r 1, which the printer answers only after it has printed everything before it; while
   waiting, the status is asked again every CHECK_S, so paper running out mid-job is seen at
   once — the printer's buffer is then cleared (DLE DC4 8) so the rest of the ticket does not
   come out later, and the job is reported unprinted with a typed error.
Every read has a time-out: a silent printer is a PrinterTimeout, never a hang. A broken link
is closed and reopened by the next call.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from types import TracebackType

from drivers.printer.config import PrinterProfile
from drivers.printer.errors import (
    JobResult,
    PrinterDisconnected,
    PrinterError,
    PrinterFault,
    PrinterTimeout,
    fault_error,
)
from drivers.printer.escpos_render import Mode, render_bytes
from drivers.printer.layout import Layout
from drivers.printer.status import (
    CLEAR_BUFFERS,
    PAPER_SENSOR_REQUEST,
    STATUS_KINDS,
    UNKNOWN_STATUS,
    PrinterStatus,
    is_paper_sensor_reply,
    is_status_reply,
    parse_status,
    status_request,
)
from drivers.printer.transport import CHUNK, Link
from drivers.printer.url import PrinterUrl, SerialUrl, parse_printer_url

log = logging.getLogger("drivers.printer")

CHECK_S = 0.25  # while a job prints: how often to ask whether the printer has stopped
ALL_STATUS_REQUESTS = b"".join(status_request(kind) for kind in STATUS_KINDS)


def transfer_seconds(size: int, url: PrinterUrl) -> float:
    """How long `size` bytes take on the wire: only serial links are slow enough to matter
    (10 bits a byte with start and stop bit)."""
    return size * 10 / url.baud if isinstance(url, SerialUrl) else 0.0


class ReceiptPrinter:
    """A receipt printer. Thread-safe: status polls wait while a job prints."""

    def __init__(
        self,
        url: PrinterUrl | str,
        profile: PrinterProfile,
        *,
        timeout_s: float = 3.0,
        job_timeout_s: float = 30.0,
    ) -> None:
        self.url = parse_printer_url(url) if isinstance(url, str) else url
        self.profile = profile
        self.timeout_s = timeout_s
        self.job_timeout_s = job_timeout_s
        self._link = Link(self.url, profile, timeout_s)
        self._lock = threading.RLock()
        self._completion_seen = False

    # -- connection

    def open(self) -> "ReceiptPrinter":
        """Connects now (otherwise the first call does); raises PrinterUnreachable."""
        with self._lock:
            self._link.open()
        return self

    def close(self) -> None:
        with self._lock:
            self._link.close()

    def __enter__(self) -> "ReceiptPrinter":
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def can_report_status(self) -> bool:
        return self._link.readable and self.profile.status

    # -- status

    def status(self) -> PrinterStatus:
        """Asks the printer now (DLE EOT 1-4). UNKNOWN_STATUS on a link it cannot answer on;
        PrinterUnreachable / PrinterTimeout / PrinterDisconnected when it cannot be asked."""
        with self._lock:
            self._link.open()
            if not self.can_report_status:
                return UNKNOWN_STATUS
            try:
                return self._query_status()
            except (PrinterTimeout, PrinterDisconnected):
                self._link.close()  # a late answer must not be read as the next one
                raise

    def _query_status(self) -> PrinterStatus:
        self._link.write(ALL_STATUS_REQUESTS)
        replies: list[int] = []
        deadline = time.monotonic() + self.timeout_s
        while len(replies) < len(STATUS_KINDS):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PrinterTimeout(f"{self.url}: no answer to a status request within {self.timeout_s:g} s")
            for byte in self._link.read(remaining):
                if is_status_reply(byte):
                    replies.append(byte)
                elif is_paper_sensor_reply(byte):
                    self._completion_seen = True  # a job's GS r answer overtaken by this request
                else:
                    log.debug("%s: ignoring byte 0x%02x", self.url, byte)
        return parse_status(dict(zip(STATUS_KINDS, replies)))

    # -- jobs

    def print_job(self, job: Layout | bytes, *, job_id: str | None = None, mode: Mode = "auto") -> JobResult:
        """Prints a layout (rendered for this printer's profile) or ready ESC/POS bytes.

        Returns the result when the printer confirmed it (`printed`) or, on a write-only link,
        when it was sent (`sent`). Raises a PrinterError whose `.job` is the unprinted result
        otherwise: PaperOut, CoverOpen, PrinterOffline, ... (PrinterFault), PrinterTimeout,
        PrinterDisconnected, PrinterUnreachable."""
        data = job if isinstance(job, bytes) else render_bytes(job, self.profile, mode)
        job_id = job_id or uuid.uuid4().hex[:12]
        started = time.monotonic()
        sent = 0
        with self._lock:
            try:
                self._link.open()
                if self.can_report_status:
                    self._link.drain()
                    before = self._query_status()
                    if not before.ready:
                        raise fault_error(before, "nothing was printed")
                self._completion_seen = False
                for start in range(0, len(data), CHUNK):  # counted as they go: an error says how far it got
                    self._link.write(data[start : start + CHUNK])
                    sent = min(len(data), start + CHUNK)
                if not self.can_report_status:
                    return JobResult(job_id, "sent", sent, time.monotonic() - started, UNKNOWN_STATUS)
                deadline = started + self.job_timeout_s + transfer_seconds(len(data), self.url)
                after = self._await_completion(deadline)
                log.info("job %s printed on %s (%d bytes)", job_id, self.url, sent)
                return JobResult(job_id, "printed", sent, time.monotonic() - started, after)
            except PrinterFault as exc:
                if sent:
                    self._clear_buffers()
                raise self._unprinted(exc, job_id, sent, started) from None
            except PrinterError as exc:
                self._link.close()
                raise self._unprinted(exc, job_id, sent, started) from None

    def _await_completion(self, deadline: float) -> PrinterStatus:
        self._link.write(PAPER_SENSOR_REQUEST)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PrinterTimeout(f"{self.url}: the job was not confirmed within {self.job_timeout_s:g} s")
            for byte in self._link.read(min(CHECK_S, remaining)):
                if is_paper_sensor_reply(byte):
                    self._completion_seen = True
            status = self._query_status()  # also catches a GS r answer that arrives meanwhile
            if self._completion_seen:
                return status
            if not status.ready:
                raise fault_error(status, "during the job")

    def _clear_buffers(self) -> None:
        """Drops the unprinted rest of a job from the printer, so it does not come out later."""
        try:
            self._link.write(CLEAR_BUFFERS)
        except PrinterError as exc:
            log.warning("%s: could not clear the printer's buffer: %s", self.url, exc)
            self._link.close()

    def _unprinted(self, exc: PrinterError, job_id: str, sent: int, started: float) -> PrinterError:
        result = JobResult(job_id, "unprinted", sent, time.monotonic() - started, exc.status, str(exc))
        log.warning("job %s not printed: %s", job_id, exc)
        return type(exc)(str(exc), status=exc.status, job=result)
