"""Request/response round trip and QoS 1 event throughput through HallBus, next to raw
paho-mqtt on the same broker in the same run, so the ratio shows what the wrapper costs.

    .venv/bin/python bench/bus_latency.py [--requests 2000] [--events 5000]

Starts its own Mosquitto (generated config) on a free loopback port. Targets: wrapper within
1.5x of raw paho; wrapper round trip p50 under 2 ms.
"""

from __future__ import annotations

import argparse
import statistics
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import Overrides, load_config

CALL = {"seq": 1, "ticket": "A001", "ticket_id": "t1", "service": "A", "counter": "1", "recall": False, "at": "2026-11-27T09:00:00+08:00"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- raw paho, tuned the same way

def raw_client(name: str, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{name}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    client.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(5)
    return client


def raw_round_trips(port: int, n: int) -> list[float]:
    server, requester = raw_client("srv", port), raw_client("req", port)

    def answer(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        client.publish(msg.properties.ResponseTopic, b'{"ok": true}', qos=1, properties=props)

    server.on_message = answer
    server.subscribe("raw/req", qos=1)
    got = threading.Event()
    requester.on_message = lambda c, u, m: got.set()
    requester.subscribe("raw/reply", qos=1)
    time.sleep(0.3)
    samples = []
    for _ in range(n):
        got.clear()
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "raw/reply"
        props.CorrelationData = uuid.uuid4().bytes
        t0 = time.perf_counter()
        requester.publish("raw/req", b'{"request_id": "x", "counter": "1"}', qos=1, properties=props)
        got.wait(5)
        samples.append(time.perf_counter() - t0)
    for c in (server, requester):
        c.loop_stop()
        c.disconnect()
    return samples


def raw_events(port: int, n: int) -> float:
    sender, receiver = raw_client("pub", port), raw_client("sub", port)
    count = [0]
    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        count[0] += 1
        if count[0] == n:
            done.set()

    receiver.on_message = on_message
    receiver.subscribe("raw/calls", qos=1)
    time.sleep(0.3)
    import json
    t0 = time.perf_counter()
    for i in range(n):
        sender.publish("raw/calls", json.dumps({**CALL, "seq": i + 1, "id": uuid.uuid4().hex}).encode(), qos=1)
    done.wait(60)
    elapsed = time.perf_counter() - t0
    for c in (sender, receiver):
        c.loop_stop()
        c.disconnect()
    return count[0] / elapsed


# ---------------------------------------------------------------- through HallBus

def bus(url: str, data: Path, device: str, role: str) -> HallBus:
    config = load_config(None, role, Overrides(broker=url, hall="bench", device=device, data_dir=str(data)))
    return HallBus(config).start()


def wrapper_round_trips(url: str, data: Path, n: int) -> list[float]:
    server, requester = bus(url, data, "srv", "ticketer"), bus(url, data, "req", "counter")
    server.serve("queue/req/call_next", lambda m: {"ticket": None})
    time.sleep(0.3)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        requester.request("queue/req/call_next", {"counter": "1"})
        samples.append(time.perf_counter() - t0)
    requester.close()
    server.close()
    return samples


def wrapper_events(url: str, data: Path, n: int) -> float:
    sender, receiver = bus(url, data, "pub", "ticketer"), bus(url, data, "sub", "display")
    count = [0]
    done = threading.Event()

    def on_call(message: object) -> None:
        count[0] += 1
        if count[0] == n:
            done.set()

    receiver.subscribe("queue/calls", on_call, dedupe=True)
    time.sleep(0.3)
    t0 = time.perf_counter()
    for i in range(n):
        sender.publish_event("queue/calls", {**CALL, "seq": i + 1})
    done.wait(60)
    elapsed = time.perf_counter() - t0
    receiver.close()
    sender.close()
    return count[0] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=data / "broker", persistence=False)).start()
        try:
            raw_rtt = raw_round_trips(broker.settings.port, args.requests)
            bus_rtt = wrapper_round_trips(broker.url, data, args.requests)
            raw_rate = raw_events(broker.settings.port, args.events)
            bus_rate = wrapper_events(broker.url, data, args.events)
        finally:
            broker.stop()
    ms = 1000.0
    rows = [
        ("round trip p50 (ms)", statistics.median(raw_rtt) * ms, statistics.median(bus_rtt) * ms),
        ("round trip p99 (ms)", percentile(raw_rtt, 0.99) * ms, percentile(bus_rtt, 0.99) * ms),
    ]
    print(f"{'':24}{'raw paho':>12}{'HallBus':>12}{'ratio':>8}")
    for name, raw, wrapped in rows:
        print(f"{name:24}{raw:12.3f}{wrapped:12.3f}{wrapped / raw:8.2f}x")
    print(f"{'QoS 1 events/s':24}{raw_rate:12.0f}{bus_rate:12.0f}{raw_rate / bus_rate:8.2f}x  (raw/wrapper: cost of the disk outbox)")
    p50 = statistics.median(bus_rtt) * ms
    print(f"targets: wrapper within 1.5x of raw -> {'met' if rows[0][2] <= 1.5 * rows[0][1] else 'MISSED'}; "
          f"p50 under 2 ms -> {'met' if p50 < 2 else 'MISSED'} ({p50:.2f} ms)")


if __name__ == "__main__":
    main()
