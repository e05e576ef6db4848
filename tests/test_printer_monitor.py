"""Printer status polled in the background and reported on the hall bus (real Mosquitto):
component health in the retained device status and one event per change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.monitor import Poll, StatusMonitor, bus_reporter
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig

GEN80 = BUILTIN_PROFILES["generic-80"]


def wait_for(condition: Callable[[], bool], timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    server = SimulatorServer(SimulatedPrinter(GEN80)).listen_tcp().start()
    yield server
    server.stop()


def test_monitor_reports_changes_and_unreachable(sim: SimulatorServer) -> None:
    seen: list[tuple[Poll, Poll | None]] = []
    printer = ReceiptPrinter(sim.url, GEN80, timeout_s=1.0)
    monitor = StatusMonitor(printer, interval_s=60, on_change=lambda new, old: seen.append((new, old)))
    assert monitor.health().state == "absent"
    assert monitor.poll_now().health.state == "ok" and len(seen) == 1
    monitor.poll_now()
    assert len(seen) == 1  # no change, no report
    sim.printer.set_fault("paper_near_end", True)
    assert monitor.poll_now().health.detail == "paper low"
    assert monitor.components()["printer"].state == "degraded"
    sim.stop()
    printer.close()
    poll = monitor.poll_now()
    assert poll.conditions == {"unreachable"} and "connection refused" in poll.health.detail
    assert [new.health.state for new, _ in seen] == ["ok", "degraded", "fault"]


def test_status_and_events_on_the_bus(sim: SimulatorServer, device_config: Callable[..., DeviceConfig],
                                      bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:
    printer = ReceiptPrinter(sim.url, GEN80, timeout_s=1.0)
    monitor = StatusMonitor(printer, interval_s=0.1)
    device = HallBus(device_config("dispenser-1", role="dispenser"), components=monitor.components)
    monitor.on_change = bus_reporter(device, fault_state="out_of_service")
    events: list[Any] = []
    statuses: list[Any] = []
    watcher = bus_factory("watcher")
    watcher.subscribe("device/dispenser-1/event", lambda m: events.append(m.data))
    watcher.subscribe("device/dispenser-1/status", lambda m: statuses.append(m.data))
    device.start()
    monitor.start()
    try:
        assert wait_for(lambda: any(s.components.get("printer") and s.components["printer"].state == "ok" for s in statuses))
        sim.printer.set_fault("paper_out", True)
        assert wait_for(lambda: any(e.kind == "printer_paper_out" and e.severity == "alarm" for e in events))
        assert wait_for(lambda: statuses[-1].state == "out_of_service")
        assert statuses[-1].components["printer"].state == "fault"
        assert statuses[-1].components["printer"].detail == "paper out"
        sim.printer.set_fault("paper_out", False)
        assert wait_for(lambda: any(e.kind == "printer_paper_out" and e.severity == "cleared" for e in events))
        assert wait_for(lambda: statuses[-1].state == "online" and statuses[-1].components["printer"].state == "ok")
    finally:
        monitor.stop()
        device.close(drain_s=0.5)
        printer.close()
