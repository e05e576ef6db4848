"""How `taxhall monitor --fleet` copes with a fleet: 10,000 simulated devices (100 halls × 100)
publish their status (retained, QoS 1) and telemetry (QoS 0) through a real Mosquitto; the
monitor's model counts how long it takes to see every device and how many messages a second it
takes in — live, and again when a monitor starts against the 10,000 retained statuses.

    .venv/bin/python bench/fleet_monitor.py [--halls 100] [--per-hall 100] [--rounds 3]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import Overrides, load_config
from taxhall.monitor import FleetModel, follow


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def monitor(url: str, folder: Path, name: str) -> tuple[HallBus, FleetModel]:
    model = FleetModel()
    bus = HallBus(load_config(None, "monitor", Overrides(broker=url, hall="central", device=name, data_dir=str(folder / name))))
    follow(bus, model, fleet=True)
    bus.start()
    return bus, model


def simulated(model: FleetModel) -> int:
    """Devices of the simulated halls (the monitors count themselves too)."""
    return sum(1 for hall, _ in list(model.devices) if hall.startswith("hall"))


def wait_all(model: FleetModel, count: int, timeout: float) -> float:
    started = time.perf_counter()
    while simulated(model) < count and time.perf_counter() - started < timeout:
        time.sleep(0.005)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halls", type=int, default=100)
    parser.add_argument("--per-hall", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="telemetry rounds after the statuses")
    args = parser.parse_args()
    total = args.halls * args.per_hall
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=folder / "broker", persistence=False)).start()
        live_bus, live = monitor(broker.url, folder, "monitor-live")
        pubs = [publisher(broker.settings.port) for _ in range(4)]
        status = {"state": "online", "role": "kiosk", "version": "0.1.0", "components": {"printer": {"state": "ok", "detail": ""}},
                  "at": "2026-11-27T08:00:00+08:00"}
        started = time.perf_counter()
        n = 0
        for h in range(args.halls):
            for d in range(args.per_hall):
                topic = f"taxhall/v1/hall{h:03d}/device/dev{d:03d}/status"
                pubs[n % len(pubs)].publish(topic, json.dumps(status), qos=1, retain=True)
                n += 1
        seen_s = wait_all(live, total, 120)
        print(f"live: {simulated(live)}/{total} devices seen {seen_s + (time.perf_counter() - started - seen_s):.2f} s "
              f"after the first status was sent")
        before, t0 = live.messages, time.perf_counter()
        for round_ in range(args.rounds):
            figures = json.dumps({"at": "2026-11-27T08:00:30+08:00", "figures": {"uptime_s": 30.0 * round_, "outbox_pending": 0}})
            for h in range(args.halls):
                for d in range(args.per_hall):
                    pubs[(h + d) % len(pubs)].publish(f"taxhall/v1/hall{h:03d}/device/dev{d:03d}/telemetry", figures, qos=0)
        expected = before + total * args.rounds
        while live.messages < expected and time.perf_counter() - t0 < 120:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        print(f"live: {live.messages - before} telemetry messages in {elapsed:.2f} s = {(live.messages - before) / elapsed:,.0f} msg/s "
              f"({expected - live.messages} not seen: QoS 0)")

        cold_bus, cold = monitor(broker.url, folder, "monitor-cold")
        cold_s = wait_all(cold, total, 120)
        print(f"cold start: {simulated(cold)}/{total} retained statuses taken in {cold_s:.2f} s "
              f"= {simulated(cold) / cold_s:,.0f} devices/s")
        for closer in (cold_bus.close, live_bus.close, *(p.disconnect for p in pubs), broker.stop):
            closer()


if __name__ == "__main__":
    main()
