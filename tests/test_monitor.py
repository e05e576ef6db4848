"""`taxhall monitor` over a real broker: statuses of a fleet, printer paper, alarms, queues,
silent and dead devices; the queue engine's alarms raised before the monitor started (retained
`queue/alarms`, also under the hall's generated ACL); JSON and Prometheus output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typing import Any, Callable, Iterator

from taxhall.broker import BrokerProcess, free_port
from taxhall.bus import HallBus
from taxhall.bus.schemas import ComponentHealth
from taxhall.config import DeviceConfig, Overrides, load_config
from provisioning.acl import Account
from provisioning.credentials import Plan, make_credentials
from taxhall.monitor import FleetCollector, FleetModel, follow, serve_prometheus
from tests.test_bus import start_device_process
from tests.ticketer_helpers import Inbox, section, wait_for
from ticketer.engine import Engine
from ticketer.service import TicketerService
from ticketer.store import Store


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


# ---------------------------------------------------------------- the engine's alarms (queue/alarms)

TWO_COUNTERS = [{"id": "1", "services": ["A"]}, {"id": "2", "services": ["B", "C", "V"]}]


def start_engine(config: DeviceConfig, tmp_path: Path) -> TicketerService:
    """A real queue engine in this process: two counters, none logged in."""
    engine = Engine(section(counters=TWO_COUNTERS), Store(tmp_path / "ticketer" / "queue.sqlite"),
                    event_topic=f"device/{config.device_id}/event")
    service = TicketerService(engine, HallBus(config))
    service.start()
    assert service.bus.connected
    return service


def metrics_text(model: FleetModel) -> str:
    """What a Prometheus scrape of this model reads (a registry of its own, not the process's)."""
    registry = CollectorRegistry()
    registry.register(FleetCollector(model))
    return generate_latest(registry).decode()


def snapshot_alarms(model: FleetModel, hall: str, device: str) -> dict[str, str] | None:
    for row in model.rows():
        if (row.hall, row.device) == (hall, device):
            return dict(row.alarms)
    return None


def test_queue_alarms_raised_before_the_monitor_started(broker: BrokerProcess, tmp_path: Path,
                                                        device_config: Callable[..., DeviceConfig],
                                                        bus_factory: Callable[..., HallBus]) -> None:
    from rich.console import Console

    from taxhall.monitor import render

    service = start_engine(device_config("ticketer", "ticketer"), tmp_path)
    far = other_hall_bus(broker, tmp_path, "north", "ticketer-n")
    try:
        # A ticket for C while no counter serving C is open: the engine raises service_unstaffed:C.
        bus_factory("kiosk-3", role="kiosk").request("queue/req/take_ticket", {"service": "C", "source": "kiosk"})
        service.tick()
        probe = Inbox()
        bus_factory("probe").subscribe("queue/alarms", probe)
        assert wait_for(lambda: bool(probe.last() and probe.last().alarms))
        raised = probe.last().alarms[0]
        assert raised.key == "service_unstaffed:C"
        # The north hall's engine has an alarm of its own, as its engine would publish it.
        north_alarm = {"key": "ticket_overdue:9", "id": "e9", "kind": "ticket_overdue", "severity": "warning",
                       "message": "A009 等候超过 30 分钟", "raised_at": "2026-11-28T09:00:00+08:00", "data": {}}
        far.publish("queue/alarms", {"device": "ticketer-n", "alarms": [north_alarm], "at": "2026-11-28T09:00:00+08:00"},
                    qos=1, retain=True)

        # Only now does a monitor start: the alarm's event is long gone, the retained set is not.
        result = subprocess.run([sys.executable, "-m", "taxhall.cli", "monitor", "--json", "--wait", "1.5",
                                 "--broker", broker.url, "--hall", "test-hall", "--device", "mon-3",
                                 "--data-dir", str(tmp_path / "mon-3")], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        devices = {(d["hall"], d["device"]): d for d in json.loads(result.stdout)["devices"]}
        assert devices[("test-hall", "ticketer")]["alarms"] == {"service_unstaffed:C": raised.message}
        assert not any(hall == "north" for hall, _ in devices)  # one hall: the other hall's alarms are not its

        model = FleetModel()
        follow(bus_factory("monitor-3", role="monitor"), model, fleet=True)
        assert wait_for(lambda: snapshot_alarms(model, "test-hall", "ticketer") == {"service_unstaffed:C": raised.message})
        assert wait_for(lambda: snapshot_alarms(model, "north", "ticketer-n") == {"ticket_overdue:9": "A009 等候超过 30 分钟"})
        text = metrics_text(model)
        assert 'taxhall_device_alarms{device="ticketer",hall="test-hall"} 1.0' in text
        assert 'taxhall_device_alarms{device="ticketer-n",hall="north"} 1.0' in text
        console = Console(record=True, width=200)
        console.print(render(model, "all halls"))
        assert raised.message in console.export_text()

        # An appeal's alarm comes by event on the engine's device and is not in the engine's set.
        service.bus.publish_event("device/ticketer/event", {
            "at": "2026-11-28T10:00:00+08:00", "kind": "appeal_due_soon", "severity": "warning",
            "message": "诉求 2026-0007 即将到期", "data": {"key": "appeal:7"}})
        assert wait_for(lambda: len(snapshot_alarms(model, "test-hall", "ticketer") or {}) == 2)

        # Counter 2 opens: the engine clears its alarm; the appeal's stays.
        service.bus.request("queue/req/login", {"counter": "2", "staff": "S2"})
        service.tick()
        assert wait_for(lambda: snapshot_alarms(model, "test-hall", "ticketer") == {"appeal:7": "诉求 2026-0007 即将到期"})
        # The north engine's set empties with no event at all: the snapshot alone clears it.
        far.publish("queue/alarms", {"device": "ticketer-n", "alarms": [], "at": "2026-11-28T10:05:00+08:00"},
                    qos=1, retain=True)
        assert wait_for(lambda: snapshot_alarms(model, "north", "ticketer-n") == {})
        text = metrics_text(model)
        assert 'taxhall_device_alarms{device="ticketer",hall="test-hall"} 1.0' in text
        assert 'taxhall_device_alarms{device="ticketer-n",hall="north"} 0.0' in text
        assert model.snapshot()["devices"] and all(
            d["alarms"] == {} for d in model.snapshot()["devices"] if d["device"] == "ticketer-n")
    finally:
        service.close()
        far.close()


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerProcess, Path]]:
    """A broker with the hall's generated passwords and ACL: an engine and a monitor."""
    from taxhall.broker import BrokerSettings

    creds = tmp_path_factory.mktemp("creds")
    make_credentials(Plan("test-hall", creds, (Account("ticketer", "ticketer"), Account("kiosk-9", "kiosk"),
                                                      Account("mon-9", "monitor")), tls=False))
    settings = BrokerSettings(port=free_port(), data_dir=tmp_path_factory.mktemp("broker"), persistence=False,
                              password_file=str(creds / "broker" / "passwd"), acl_file=str(creds / "broker" / "acl"))
    process = BrokerProcess(settings).start()
    yield process, creds
    process.stop()


def test_the_monitor_role_may_read_the_engine_alarms(acl_broker: tuple[BrokerProcess, Path], tmp_path: Path) -> None:
    broker, creds = acl_broker

    def config(device: str, role: str) -> DeviceConfig:
        config_file = tmp_path / f"{device}.toml"
        config_file.write_text(f'[bus]\nusername = "{device}"\n'
                               f'password_file = "{creds / "devices" / device / "mqtt-password"}"\n')
        return load_config(config_file, role, Overrides(broker=broker.url, hall="test-hall", device=device,
                                                        data_dir=str(tmp_path / device)))

    service = start_engine(config("ticketer", "ticketer"), tmp_path)
    kiosk = HallBus(config("kiosk-9", "kiosk")).start(wait_s=5)
    monitor: HallBus | None = None
    try:
        kiosk.request("queue/req/take_ticket", {"service": "C", "source": "kiosk"})
        service.tick()  # service_unstaffed:C, in the retained set before the monitor connects
        assert wait_for(lambda: bool(service.engine.alarm_snapshot()["alarms"]))
        monitor = HallBus(config("mon-9", "monitor")).start(wait_s=5)
        assert monitor.connected
        model = FleetModel()
        follow(monitor, model, fleet=False)
        # The engine's status alone would make an alarm-free row: the alarm proves queue/alarms is granted.
        assert wait_for(lambda: set(snapshot_alarms(model, "test-hall", "ticketer") or {}) == {"service_unstaffed:C"})
    finally:
        if monitor is not None:
            monitor.close()
        kiosk.close()
        service.close()
