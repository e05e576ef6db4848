"""What one hall-to-central bridge carries: a hall broker (passwords, ACL, the generated bridge
over MQTT 5) and a central Mosquitto, both real, on loopback. A publisher in the hall sends
telemetry (QoS 0) and events (QoS 1) from many simulated devices as fast as it can; a
subscriber on the central broker counts what arrives and how long a message takes end to end.
Then a central operator sends commands through the bridge to a hall device and back.

    .venv/bin/python bench/bridge.py [--devices 100] [--messages 20000] [--commands 200]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from provisioning.acl import Account
from provisioning.credentials import Plan, make_credentials
from taxhall.broker import BridgeSettings, BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.commands import send_command, serve_command
from taxhall.config import Overrides, load_config

HALL = "bench-hall"
ROOT = f"taxhall/v1/{HALL}"


def client(port: int, user: str | None = None, password: str | None = None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_socket_open = lambda cl, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    if user:
        c.username_pw_set(user, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def flow(hall_port: int, central_port: int, creds: Path, qos: int, kind: str, devices: int, count: int) -> None:
    arrived: list[float] = []
    latencies: list[float] = []
    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        arrived.append(now)
        latencies.append(now - json.loads(msg.payload)["t"])
        if len(arrived) >= count:
            done.set()

    sub = client(central_port)
    sub.on_message = on_message
    sub.subscribe(f"{ROOT}/device/+/{kind}", qos=qos)
    time.sleep(0.5)
    # One publisher plays every device: the "sim" account, which the bench's ACL lets write
    # every device's telemetry and events (a real device may write only its own).
    pub = client(hall_port, "sim", (creds / "devices" / "sim" / "mqtt-password").read_text().strip())
    time.sleep(0.5)
    start = time.perf_counter()
    for i in range(count):
        pub.publish(f"{ROOT}/device/d{i % devices}/{kind}", json.dumps({"t": time.perf_counter(), "n": i}), qos=qos)
    sent = time.perf_counter()
    done.wait(60)
    end = arrived[-1] if arrived else time.perf_counter()
    lat = sorted(latencies) or [0.0]
    print(f"{kind:9} QoS {qos}: {count} messages from {devices} devices; published at {count / (sent - start):,.0f}/s; "
          f"{len(arrived)} arrived centrally at {len(arrived) / (end - start):,.0f}/s; "
          f"latency p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
    pub.loop_stop()
    pub.disconnect()
    sub.loop_stop()
    sub.disconnect()


def commands(hall: BrokerProcess, central: BrokerProcess, creds: Path, folder: Path, count: int) -> None:
    def bus(url: str, device: str, secret: bool) -> HallBus:
        cfg = folder / f"{device}.toml"
        cfg.write_text(f'[bus]\nusername = "{device}"\npassword_file = "{creds / "devices" / device / "mqtt-password"}"\n'
                       if secret else "")
        return HallBus(load_config(cfg, "bench", Overrides(broker=url, hall=HALL, device=device,
                                                           data_dir=str(folder / device)))).start(wait_s=5)

    kiosk = bus(hall.url, "kiosk-1", True)
    ops = bus(central.url, "central-ops", False)
    serve_command(kiosk, "ping", lambda m: {"pong": True})
    send_command(ops, "kiosk-1", "ping", timeout_s=10)  # the bridge's subscriptions are in place
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        send_command(ops, "kiosk-1", "ping", timeout_s=10)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"commands: {count} central operator → bridge → hall device → back, round trip p50 "
          f"{statistics.median(times) * 1000:.1f} ms, p99 {times[int(len(times) * 0.99)] * 1000:.1f} ms")
    ops.close(drain_s=0.2)
    kiosk.close(drain_s=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    import logging

    logging.getLogger("taxhall.commands").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        creds = folder / "creds"
        make_credentials(Plan(HALL, creds, (Account("kiosk-1", "kiosk"), Account("bridge", "bridge"),
                                            Account("sim", "operator"))))
        # The bench's publisher plays every device: let it write their topics (the lines land
        # in the ACL's last user block, which is sim's).
        acl = creds / "broker" / "acl"
        acl.write_text(acl.read_text() + f"topic write {ROOT}/device/+/telemetry\ntopic write {ROOT}/device/+/event\n")
        central = BrokerProcess(BrokerSettings(port=free_port(), data_dir=folder / "central", persistence=False)).start()
        hall = BrokerProcess(BrokerSettings(
            port=free_port(), data_dir=folder / "hall", persistence=False, password_file=str(creds / "broker" / "passwd"),
            acl_file=str(acl), bridge=BridgeSettings(
                hall=HALL, address=f"127.0.0.1:{central.settings.port}", local_username="bridge",
                local_password=(creds / "devices" / "bridge" / "mqtt-password").read_text().strip()))).start()
        try:
            time.sleep(1.0)
            flow(hall.settings.port, central.settings.port, creds, 0, "telemetry", args.devices, args.messages)
            flow(hall.settings.port, central.settings.port, creds, 1, "event", args.devices, args.messages)
            commands(hall, central, creds, folder, args.commands)
        finally:
            hall.stop()
            central.stop()


if __name__ == "__main__":
    main()
