"""What the printer driver hands its callers: the result of a job and the typed errors.

Every error's str() is one line a technician understands. An error raised by `print_job`
carries the job's result in `.job` — always `state="unprinted"`: a job is never dropped
silently, the caller learns it did not come out and can print it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.printer.status import PrinterStatus

JobState = Literal["printed", "sent", "unprinted"]


@dataclass(frozen=True)
class JobResult:
    """`printed`: the printer confirmed it worked through the whole job (GS r came back).
    `sent`: written to a link the printer cannot answer on (file:), so unconfirmed.
    `unprinted`: not printed, or not known to be — print it again once the fault is fixed."""

    job_id: str
    state: JobState
    bytes_sent: int
    seconds: float
    status: PrinterStatus | None = None
    error: str | None = None

    @property
    def printed(self) -> bool:
        return self.state == "printed"


class PrinterError(Exception):
    """Base of the driver's errors."""

    def __init__(self, message: str, *, status: PrinterStatus | None = None, job: JobResult | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.job = job


class PrinterUnreachable(PrinterError):
    """The printer cannot be opened: connection refused, no such device, not plugged in."""


class PrinterDisconnected(PrinterError):
    """The link broke while in use: cable pulled, connection reset, port gone."""


class PrinterTimeout(PrinterError):
    """The printer did not answer, or stopped taking data, within the time-out."""


class PrinterFault(PrinterError):
    """The printer answers but cannot print; `.status` says why."""


class PaperOut(PrinterFault):
    pass


class CoverOpen(PrinterFault):
    pass


class CutterError(PrinterFault):
    pass


class PrinterOffline(PrinterFault):
    pass


def fault_error(status: PrinterStatus, when: str) -> PrinterFault:
    """The specific fault error for a status that is not ready, e.g. PaperOut."""
    reason = status.fault or "not ready"
    if status.paper_out:
        kind: type[PrinterFault] = PaperOut
    elif status.cover_open:
        kind = CoverOpen
    elif status.cutter_error:
        kind = CutterError
    elif not status.online and reason == "offline":
        kind = PrinterOffline
    else:
        kind = PrinterFault
    return kind(f"{reason} ({when})", status=status)
