"""ESC/POS printer status, pure: request bytes, parsing of the answers, and what they mean
for the bus (component health, events).

Two kinds of status request are used:
- `DLE EOT n` (real-time): the printer answers at once, even while it is stopped for want of
  paper, from its interrupt handler. n=1 printer, n=2 offline cause, n=3 error cause,
  n=4 roll paper sensor. Each answer is one byte with bits 1 and 4 set and bits 0 and 7
  clear — the fixed bits are how an answer is told apart from other bytes on the line.
- `GS r 1` (in sequence): answered only when the printer has worked through everything sent
  before it, so its answer is the sign that a job has been printed. Its byte has bit 4 and
  bit 7 clear, which tells it apart from a DLE EOT answer arriving on the same line.

`DLE DC4 8` (real-time) clears the printer's buffers: sent when a job is given up, so the rest
of an unprinted ticket does not come out later when the paper is changed.

Bit meanings follow the Epson ESC/POS reference, which Chinese-market printers copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from taxhall.bus.schemas import ComponentHealth

DLE, EOT, DC4, GS = 0x10, 0x04, 0x14, 0x1D

PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR = 1, 2, 3, 4
STATUS_KINDS = (PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR)

# DLE DC4 fn=8 d1..d7 = 1 3 20 1 6 2 8: "clear buffers" — the fixed parameter bytes guard
# against it being triggered by accident.
CLEAR_BUFFERS = bytes([DLE, DC4, 8, 1, 3, 20, 1, 6, 2, 8])
PAPER_SENSOR_REQUEST = bytes([GS, ord("r"), 1])

_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits 0,1,4,7 of a DLE EOT answer: 0,1,1,0


def status_request(kind: int) -> bytes:
    """`DLE EOT n` for one of PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR."""
    if kind not in STATUS_KINDS:
        raise ValueError(f"DLE EOT n: n must be 1-4, got {kind}")
    return bytes([DLE, EOT, kind])


def is_status_reply(byte: int) -> bool:
    """Whether a byte has the fixed bits of a DLE EOT answer."""
    return byte & _FIXED_MASK == _FIXED_BITS


def is_paper_sensor_reply(byte: int) -> bool:
    """Whether a byte can be the answer to GS r 1 (bits 4 and 7 clear)."""
    return byte & 0x90 == 0


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer says about itself. `known=False`: it cannot say (write-only link)."""

    online: bool = True
    cover_open: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    feed_button: bool = False
    known: bool = True

    @property
    def ready(self) -> bool:
        """Whether a job sent now would be printed."""
        return self.online and not self.fault

    @property
    def fault(self) -> str | None:
        """The reason the printer cannot print, most specific first, or None."""
        if self.paper_out:
            return "paper out"
        if self.cover_open:
            return "cover open"
        if self.cutter_error:
            return "cutter error"
        if self.unrecoverable_error:
            return "unrecoverable error"
        if self.auto_recoverable_error:
            return "overheated or over-voltage (recovers by itself)"
        if not self.online:
            return "offline"
        return None


UNKNOWN_STATUS = PrinterStatus(known=False)


def parse_status(replies: Mapping[int, int]) -> PrinterStatus:
    """Builds a PrinterStatus from DLE EOT answers keyed by n; missing answers count as
    'nothing wrong' for that part. Raises ValueError on a byte that is no status answer."""
    for kind, byte in replies.items():
        if kind not in STATUS_KINDS:
            raise ValueError(f"DLE EOT n: n must be 1-4, got {kind}")
        if not is_status_reply(byte):
            raise ValueError(f"0x{byte:02x} is not a DLE EOT {kind} answer (fixed bits 0x12 expected)")
    printer = replies.get(PRINTER, _FIXED_BITS)
    offline = replies.get(OFFLINE_CAUSE, _FIXED_BITS)
    error = replies.get(ERROR_CAUSE, _FIXED_BITS)
    paper = replies.get(PAPER_SENSOR, _FIXED_BITS)
    return PrinterStatus(
        online=not printer & 0x08,
        feed_button=bool(offline & 0x08),
        cover_open=bool(offline & 0x04),
        # paper end shows in the roll sensor (bits 5,6) and as the reason printing stopped (bit 5)
        paper_out=bool(paper & 0x60) or bool(offline & 0x20),
        paper_near_end=bool(paper & 0x0C),
        cutter_error=bool(error & 0x08),
        unrecoverable_error=bool(error & 0x20),
        auto_recoverable_error=bool(error & 0x40),
    )


def status_bytes(status: PrinterStatus) -> dict[int, int]:
    """The DLE EOT answers a printer in `status` gives (the simulator's side of parse_status)."""
    # a stopped printer is offline (bit 3) and waiting for online recovery (bit 5)
    printer = _FIXED_BITS | (0x28 if not status.ready else 0)
    offline = _FIXED_BITS | (0x04 if status.cover_open else 0) | (0x08 if status.feed_button else 0)
    offline |= (0x20 if status.paper_out else 0) | (0x40 if status.cutter_error or status.unrecoverable_error else 0)
    error = _FIXED_BITS | (0x08 if status.cutter_error else 0) | (0x20 if status.unrecoverable_error else 0)
    error |= 0x40 if status.auto_recoverable_error else 0
    paper = _FIXED_BITS | (0x0C if status.paper_near_end or status.paper_out else 0) | (0x60 if status.paper_out else 0)
    return {PRINTER: printer, OFFLINE_CAUSE: offline, ERROR_CAUSE: error, PAPER_SENSOR: paper}


@dataclass(frozen=True)
class PaperSensor:
    """The answer to GS r 1."""

    near_end: bool
    out: bool


def parse_paper_sensor(byte: int) -> PaperSensor:
    """Parses the GS r 1 answer: bits 0,1 near end, bits 2,3 paper end."""
    if not is_paper_sensor_reply(byte):
        raise ValueError(f"0x{byte:02x} is not a GS r 1 answer (bits 4 and 7 must be clear)")
    return PaperSensor(near_end=bool(byte & 0x03), out=bool(byte & 0x0C))


def paper_sensor_byte(near_end: bool, out: bool) -> int:
    return (0x03 if near_end or out else 0) | (0x0C if out else 0)


# ---------------------------------------------------------------- what it means on the bus

_CONDITION_TEXT: dict[str, str] = {
    "paper_low": "paper low",
    "paper_out": "paper out",
    "cover_open": "cover open",
    "cutter_error": "cutter error",
    "error": "printer error",
    "offline": "offline",
    "unreachable": "unreachable",
}


def conditions(status: PrinterStatus | None, error: str | None = None) -> frozenset[str]:
    """The named conditions a status shows; `status=None` with `error`: the printer could not
    be reached or did not answer."""
    if status is None:
        return frozenset({"unreachable"}) if error else frozenset()
    found = set()
    if status.paper_out:
        found.add("paper_out")
    elif status.paper_near_end:
        found.add("paper_low")
    if status.cover_open:
        found.add("cover_open")
    if status.cutter_error:
        found.add("cutter_error")
    if status.unrecoverable_error or status.auto_recoverable_error:
        found.add("error")
    if not status.online and not found - {"paper_low"}:
        found.add("offline")
    return frozenset(found)


def health(status: PrinterStatus | None, error: str | None = None) -> ComponentHealth:
    """Component health for the device status topic: ok, degraded (paper low) or fault."""
    if status is None:
        return ComponentHealth(state="fault", detail=f"unreachable: {error}" if error else "unreachable")
    if not status.known:
        return ComponentHealth(state="ok", detail="status not readable on this link")
    found = conditions(status)
    faults = sorted(found - {"paper_low"})
    if faults:
        return ComponentHealth(state="fault", detail=", ".join(_CONDITION_TEXT[c] for c in faults))
    if found:
        return ComponentHealth(state="degraded", detail="paper low")
    return ComponentHealth(state="ok", detail="")


@dataclass(frozen=True)
class StatusChange:
    """One condition appearing or going away: becomes a `device/{id}/event`."""

    kind: str  # printer_paper_out, printer_cover_open, ...
    severity: Literal["warning", "alarm", "cleared"]
    message: str


def changes(before: frozenset[str], after: frozenset[str]) -> list[StatusChange]:
    """Events for conditions that appeared (warning or alarm) and went away (cleared)."""
    events = []
    for name in sorted(after - before):
        severity: Literal["warning", "alarm"] = "warning" if name == "paper_low" else "alarm"
        events.append(StatusChange(f"printer_{name}", severity, f"printer: {_CONDITION_TEXT[name]}"))
    for name in sorted(before - after):
        events.append(StatusChange(f"printer_{name}", "cleared", f"printer: {_CONDITION_TEXT[name]} cleared"))
    return events
