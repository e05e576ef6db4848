"""`taxhall monitor` over a real broker: statuses of a fleet, printer paper, alarms, queues,
silent and dead devices; JSON and Prometheus output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from taxhall.broker import BrokerProcess, free_port
from taxhall.bus import HallBus
from taxhall.bus.schemas import ComponentHealth
from taxhall.config import Overrides, load_config
from taxhall.monitor import FleetModel, follow, serve_prometheus
from tests.test_bus import start_device_process
from tests.ticketer_helpers import wait_for


def other_hall_bus(broker: BrokerProcess, tmp_path: Path, hall: str, device: str) -> HallBus:
    return HallBus(load_config(None, "kiosk", Overrides(broker=broker.url, hall=hall, device=device,
                                                        data_dir=str(tmp_path / device)))).start()


def test_fleet_view_of_two_halls(broker: BrokerProcess, tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    model = FleetModel(silent_after_s=60)
    monitor = bus_factory("monitor", role="monitor")
    follow(monitor, model, fleet=True)
    kiosk = bus_factory("kiosk-1", role="kiosk")
    kiosk._components = lambda: {"printer": ComponentHealth(state="degraded", detail="paper low")}
    kiosk.set_status("degraded")
    kiosk.publish_event("device/kiosk-1/event", {"at": "x", "kind": "printer_paper_low", "severity": "alarm",
                                                 "message": "paper low"})
    kiosk.publish("queue/state", {"seq": 3, "services": {"A": {"name": "综合业务", "waiting": 4, "est_wait_s": 300,
                                                              "open": True}}, "counters": {}}, qos=1, retain=True)
    far = other_hall_bus(broker, tmp_path, "north", "dispenser-9")
    proc = start_device_process(broker, tmp_path, "counter-4")
    try:
        rows = lambda: {(r.hall, r.device): r for r in model.rows()}  # noqa: E731
        assert wait_for(lambda: {("north", "dispenser-9"), ("test-hall", "kiosk-1"), ("test-hall", "counter-4")} <= set(rows()))
        assert wait_for(lambda: rows()[("test-hall", "kiosk-1")].alarms.get("printer_paper_low") == "paper low")
        kiosk_row = rows()[("test-hall", "kiosk-1")]
        assert kiosk_row.state == "degraded" and kiosk_row.paper() == "paper low" and kiosk_row.role == "kiosk"
        assert model.waiting["test-hall"] == {"A": 4}

        os.kill(proc.pid, signal.SIGKILL)  # the counter dies: its will says offline
        assert wait_for(lambda: rows()[("test-hall", "counter-4")].state == "offline")
        kiosk.publish_event("device/kiosk-1/event", {"at": "x", "kind": "printer_paper_low", "severity": "cleared",
                                                     "message": "paper refilled"})
        assert wait_for(lambda: not rows()[("test-hall", "kiosk-1")].alarms)

        # A device that stops talking while its status still says online is flagged silent.
        model.silent_after_s = 0.5
        time.sleep(0.8)
        assert model.snapshot()["devices"][0]["state"] in ("silent", "offline")
        assert any(d["device"] == "dispenser-9" and d["state"] == "silent" for d in model.snapshot()["devices"])
    finally:
        proc.kill()
        far.close()


def test_json_and_prometheus(broker: BrokerProcess, tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    bus_factory("kiosk-2", role="kiosk")
    result = subprocess.run([sys.executable, "-m", "taxhall.cli", "monitor", "--json", "--wait", "1.5",
                             "--broker", broker.url, "--hall", "test-hall", "--device", "mon-1",
                             "--data-dir", str(tmp_path / "mon")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    devices = {d["device"]: d for d in json.loads(result.stdout)["devices"]}
    assert devices["kiosk-2"]["state"] == "online" and devices["kiosk-2"]["role"] == "kiosk"

    model = FleetModel()
    monitor = bus_factory("monitor-2", role="monitor")
    follow(monitor, model, fleet=False)
    assert wait_for(lambda: any(r.device == "kiosk-2" for r in model.rows()))
    port = free_port()
    serve_prometheus(model, f"127.0.0.1:{port}")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'taxhall_device_up{device="kiosk-2",hall="test-hall",role="kiosk"} 1.0' in body


def test_terminal_view_puts_trouble_first() -> None:
    from rich.console import Console

    from taxhall.monitor import DeviceRow, render

    model = FleetModel(silent_after_s=60)
    now = time.monotonic()
    for n in range(5):
        model.devices[("h1", f"kiosk-{n}")] = DeviceRow("h1", f"kiosk-{n}", "kiosk", "online", "0.1.0", last_seen=now)
    model.devices[("h1", "dispenser-1")] = DeviceRow("h1", "dispenser-1", "dispenser", "degraded", "0.1.0",
                                                     {"printer": ("fault", "paper out")}, {"printer_paper_out": "paper out"},
                                                     last_seen=now)
    model.devices[("h1", "counter-3")] = DeviceRow("h1", "counter-3", "counter", "online", "0.1.0", last_seen=now - 600)
    console = Console(record=True, width=160)
    console.print(render(model, "hall h1", limit=3))
    text = console.export_text()
    assert text.index("dispenser-1") < text.index("counter-3") or text.index("counter-3") < text.index("kiosk")
    assert "silent" in text and "paper out" in text
    assert "online: 5" in text and "and 4 more" in text
