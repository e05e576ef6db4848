"""Printer status polled in the background and reported on the hall bus: the `printer`
component of `device/{id}/status` and a `device/{id}/event` each time a condition (paper low,
paper out, cover open, ...) appears or clears.

    monitor = StatusMonitor(printer, interval_s=5.0)
    bus = HallBus(config, components=monitor.components)
    monitor.on_change = bus_reporter(bus)
    monitor.start()
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

from drivers.printer.driver import ReceiptPrinter
from drivers.printer.errors import PrinterError
from drivers.printer.status import PrinterStatus, changes, conditions, health
from taxhall.bus.schemas import ComponentHealth, DeviceEvent, now_iso

if TYPE_CHECKING:
    from taxhall.bus import HallBus

log = logging.getLogger("drivers.printer")


@dataclass(frozen=True)
class Poll:
    """One look at the printer: its status, or why it could not be asked."""

    status: PrinterStatus | None
    error: str | None = None

    @property
    def conditions(self) -> frozenset[str]:
        return conditions(self.status, self.error)

    @property
    def health(self) -> ComponentHealth:
        return health(self.status, self.error)


ChangeHandler = Callable[[Poll, Poll | None], None]


class StatusMonitor:
    """Polls a ReceiptPrinter every `interval_s` from a thread of its own; `poll_now()` asks at
    once (after a failed job, or on a remote command). `on_change(new, old)` runs when the set
    of conditions changes (and once at the first poll)."""

    def __init__(self, printer: ReceiptPrinter, interval_s: float = 5.0, on_change: ChangeHandler | None = None) -> None:
        self.printer = printer
        self.interval_s = interval_s
        self.on_change = on_change
        self._last: Poll | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def last(self) -> Poll | None:
        return self._last

    def health(self) -> ComponentHealth:
        last = self._last
        return last.health if last else ComponentHealth(state="absent", detail="not polled yet")

    def components(self) -> dict[str, ComponentHealth]:
        """For HallBus(components=...)."""
        return {"printer": self.health()}

    def poll_now(self) -> Poll:
        try:
            poll = Poll(self.printer.status())
        except PrinterError as exc:
            poll = Poll(None, str(exc))
        with self._lock:
            old, self._last = self._last, poll
        if self.on_change and (old is None or old.conditions != poll.conditions):
            try:
                self.on_change(poll, old)
            except Exception:  # a reporting problem must not stop the polling
                log.exception("printer status change handler failed")
        return poll

    def start(self) -> "StatusMonitor":
        self._thread = threading.Thread(target=self._run, name="printer-status", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.printer.timeout_s + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_now()
            self._stop.wait(self.interval_s)


def bus_reporter(bus: "HallBus", fault_state: Literal["degraded", "out_of_service"] = "degraded") -> ChangeHandler:
    """An on_change handler that publishes one event per condition change and the device
    status with the new printer health. `fault_state` is the device state while the printer
    cannot print: a kiosk can do other things (degraded), a ticket dispenser cannot
    (out_of_service)."""

    def report(new: Poll, old: Poll | None) -> None:
        before = old.conditions if old else frozenset()
        for change in changes(before, new.conditions):
            event = DeviceEvent(
                id=uuid.uuid4().hex, at=now_iso(), kind=change.kind, severity=change.severity,
                message=change.message, data={"component": "printer", "detail": new.health.detail},
            )
            bus.publish_event(f"device/{bus.device}/event", event)
        state = new.health.state
        bus.set_status("online" if state == "ok" else "degraded" if state == "degraded" else fault_state)

    return report
