"""The hall bus against a real Mosquitto: birth and will, outages, request/response, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from taxhall import __version__
from taxhall.broker import BrokerProcess
from taxhall.bus import BusError, BusMessage, HallBus, RequestFailed, RequestRejected, RequestTimeout
from taxhall.bus.schemas import ComponentHealth
from tests.conftest import HALL
from tests.ticketer_helpers import Inbox, wait_for

ROOT = f"taxhall/v1/{HALL}"


def call_event(seq: int, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "ticket": f"A{seq:03d}", "ticket_id": f"t{seq}", "service": "A", "counter": "1",
            "recall": False, "at": "2026-11-27T09:00:00+08:00", **extra}


class Collector(Inbox):
    def seqs(self) -> list[int]:
        return [d.seq for d in self.data()]


def raw_client(broker: BrokerProcess) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", broker.settings.port)
    client.loop_start()
    assert connected.wait(5)
    return client


def start_device_process(broker: BrokerProcess, tmp_path: Path, device: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bus_device", "--broker", broker.url, "--hall", HALL, "--device", device,
         "--data-dir", str(tmp_path / device)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "READY" in line:
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"device process did not come up: {proc.stdout.read()}")


# ---------------------------------------------------------------- birth and will


def test_birth_is_retained_online_with_role_version_and_components(bus_factory: Callable[..., HallBus]) -> None:
    health = {"printer": ComponentHealth(state="degraded", detail="paper low")}
    device = bus_factory("kiosk-7", role="kiosk")
    device._components = lambda: health  # the application supplies its component health
    device.set_status("degraded")

    late = Collector()
    watcher = bus_factory("watcher")
    watcher.subscribe("device/kiosk-7/status", late)
    assert wait_for(lambda: any(m.data.state == "degraded" for m in late.items))
    status = [m for m in late.items if m.data.state == "degraded"][-1]
    assert status.retained
    assert status.data.role == "kiosk"
    assert status.data.version == __version__
    assert status.data.components["printer"].detail == "paper low"
    assert status.data.at


def test_kill_9_turns_retained_status_offline(broker: BrokerProcess, tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    proc = start_device_process(broker, tmp_path, "dispenser-1")
    statuses = Collector()
    watcher = bus_factory("watcher")
    watcher.subscribe("device/dispenser-1/status", statuses)
    assert wait_for(lambda: any(m.data.state == "online" for m in statuses.items))

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_for(lambda: statuses.items[-1].data.state == "offline", timeout=10)

    # A monitor that starts afterwards still learns the device is offline: it is retained.
    late = Collector()
    bus_factory("late-watcher").subscribe("device/dispenser-1/status", late)
    assert wait_for(lambda: bool(late.items))
    assert late.items[-1].data.state == "offline" and late.items[-1].retained


def test_clean_close_says_offline(bus_factory: Callable[..., HallBus]) -> None:
    device = bus_factory("counter-3", role="counter")
    statuses = Collector()
    bus_factory("watcher").subscribe("device/counter-3/status", statuses)
    assert wait_for(lambda: any(m.data.state == "online" for m in statuses.items))
    device.close()
    assert wait_for(lambda: statuses.items[-1].data.state == "offline")


# ---------------------------------------------------------------- outages and the outbox


@pytest.mark.slow
def test_events_during_broker_outage_arrive_exactly_once_in_order(broker: BrokerProcess, bus_factory: Callable[..., HallBus]) -> None:
    publisher = bus_factory("ticketer", role="ticketer")
    received = Collector()
    display = bus_factory("display", role="display-hall")
    display.subscribe("queue/calls", received, dedupe=True)
    time.sleep(0.2)

    for seq in range(1, 6):
        publisher.publish_event("queue/calls", call_event(seq))
    assert wait_for(lambda: len(received.items) == 5)

    broker.stop()
    assert wait_for(lambda: not publisher.connected and not display.connected)
    # More than the outbox window, to catch publishes stuck at the in-flight limit (paho #24).
    for seq in range(6, 1207):
        publisher.publish_event("queue/calls", call_event(seq))
    assert publisher.outbox_pending() == 1201
    time.sleep(3.0)  # several back-off rounds against a dead port
    broker.start()

    assert wait_for(lambda: len(received.items) >= 1206, timeout=30)
    time.sleep(0.5)  # anything duplicated would arrive now
    assert received.seqs() == list(range(1, 1207))
    assert wait_for(lambda: publisher.outbox_pending() == 0)


def test_outbox_survives_a_restart_of_the_device(broker: BrokerProcess, device_config: Callable[..., Any], bus_factory: Callable[..., HallBus]) -> None:
    received = Collector()
    bus_factory("display").subscribe("queue/calls", received, dedupe=True)
    broker.stop()
    first = HallBus(device_config("ticketer", "ticketer")).start(wait_s=None)
    for seq in range(1, 51):
        first.publish_event("queue/calls", call_event(seq))
    first.close(drain_s=0)  # the process ends with the broker still away

    broker.start()
    second = HallBus(device_config("ticketer", "ticketer")).start()
    try:
        assert wait_for(lambda: len(received.items) >= 50, timeout=20)
        time.sleep(0.3)
        assert received.seqs() == list(range(1, 51))
        assert second.outbox_pending() == 0
    finally:
        second.close()


def test_receiver_drops_repeated_event_ids(bus_factory: Callable[..., HallBus]) -> None:
    received = Collector()
    bus_factory("display").subscribe("queue/calls", received, dedupe=True)
    publisher = bus_factory("ticketer")
    time.sleep(0.2)
    publisher.publish_event("queue/calls", call_event(1, id="same"))
    publisher.publish_event("queue/calls", call_event(2, id="same"))
    publisher.publish_event("queue/calls", call_event(3, id="other"))
    assert wait_for(lambda: len(received.items) == 2)
    time.sleep(0.3)
    assert received.seqs() == [1, 3]


def test_many_threads_publishing_at_once_lose_nothing(bus_factory: Callable[..., HallBus]) -> None:
    # paho-mqtt has deadlocked with several publishing threads (#354, #177) and silently
    # dropped messages when its queue filled (#856).
    received = Collector()
    bus_factory("display").subscribe("queue/calls", received, dedupe=True)
    publisher = bus_factory("ticketer")
    time.sleep(0.2)

    def burst(offset: int) -> None:
        for i in range(500):
            publisher.publish_event("queue/calls", call_event(offset + i + 1))

    threads = [threading.Thread(target=burst, args=(n * 1000,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert wait_for(lambda: len(received.items) >= 4000, timeout=60)
    time.sleep(0.3)
    seqs = received.seqs()
    assert len(seqs) == 4000 and len(set(seqs)) == 4000
    for n in range(8):  # each thread's events keep their order
        mine = [s for s in seqs if n * 1000 < s <= n * 1000 + 500]
        assert mine == sorted(mine)


# ---------------------------------------------------------------- request/response


def test_request_gets_its_answer_and_typed_errors(bus_factory: Callable[..., HallBus]) -> None:
    server = bus_factory("ticketer", role="ticketer")

    def take(message: BusMessage) -> dict[str, Any]:
        if message.data.service not in ("A", "B"):
            raise RequestRejected("unknown_service", f"no service {message.data.service}")
        return {"ticket": {"id": "t1", "number": f"{message.data.service}001", "service": message.data.service}}

    server.serve("queue/req/take_ticket", take)
    client = bus_factory("dispenser", role="dispenser")
    reply = client.request("queue/req/take_ticket", {"request_id": "r-1", "service": "B", "source": "dispenser"})
    assert reply["ok"] is True and reply["request_id"] == "r-1" and reply["ticket"]["number"] == "B001"

    with pytest.raises(RequestFailed) as failed:
        client.request("queue/req/take_ticket", {"service": "Q", "source": "dispenser"})
    assert failed.value.code == "unknown_service"

    with pytest.raises(RequestFailed) as bad:
        client.request("queue/req/take_ticket", {"source": "dispenser"})
    assert bad.value.code == "bad_request" and "service" in bad.value.message


def test_a_retried_request_asks_again_with_the_same_request_id(bus_factory: Callable[..., HallBus]) -> None:
    server = bus_factory("ticketer", role="ticketer")
    seen: list[str] = []

    def rate(message: BusMessage) -> dict[str, Any]:
        seen.append(message.data.request_id)
        if len(seen) == 1:
            time.sleep(1.2)  # the first answer comes after the asker gave up: it is lost
        return {"level": message.data.level}

    server.serve("queue/req/rate", rate, blocking=True)
    pad = bus_factory("rater-1", role="rater")
    reply = pad.request_retried("queue/req/rate", {"ticket": "t1", "level": 5}, timeout_s=0.8)
    assert reply["ok"] is True and reply["level"] == 5
    # Asked twice, as one request: the engine's request-id memory makes it one rating.
    assert len(seen) == 2 and seen[0] == seen[1] == reply["request_id"]
    with pytest.raises(RequestTimeout):
        pad.request_retried("queue/req/call_next", {"counter": "1"}, timeout_s=0.3)


def test_request_times_out_cleanly_when_nobody_answers(bus_factory: Callable[..., HallBus]) -> None:
    client = bus_factory("counter-1", role="counter")
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as timeout:
        client.request("queue/req/call_next", {"counter": "1"}, timeout_s=0.8)
    elapsed = time.monotonic() - started
    assert 0.7 <= elapsed < 3.0
    assert "queue/req/call_next" in str(timeout.value)
    # The client is still usable afterwards.
    server = bus_factory("ticketer")
    server.serve("queue/req/call_next", lambda m: {"ticket": None})
    assert client.request("queue/req/call_next", {"counter": "1"})["ok"] is True


def test_request_from_a_bus_callback_is_refused_not_deadlocked(bus_factory: Callable[..., HallBus]) -> None:
    bus = bus_factory("kiosk")
    errors: list[Exception] = []

    def on_state(message: BusMessage) -> None:
        try:
            bus.request("queue/req/call_next", {"counter": "1"}, timeout_s=1)
        except BusError as exc:
            errors.append(exc)

    bus.subscribe("queue/state", on_state)
    bus.publish("queue/state", {"seq": 0, "services": {}, "counters": {}}, qos=1)
    assert wait_for(lambda: bool(errors), timeout=5)
    assert "callback" in str(errors[0])


# ---------------------------------------------------------------- bad input


MALFORMED: list[bytes] = [
    b"", b"not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"42", b'"text"', b"{", b"null",
    b'{"seq": "one"}', b'{"request_id": 5}', b'{"service": ["A"]}', b'{"state": "sideways"}',
]


@pytest.mark.slow
def test_a_thousand_malformed_payloads_per_topic_do_not_stop_the_process(broker: BrokerProcess, tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    proc = start_device_process(broker, tmp_path, "probe-1")
    try:
        raw = raw_client(broker)
        replies: dict[str, list[dict[str, Any]]] = {"take_ticket": [], "call_next": []}
        lock = threading.Lock()

        def on_reply(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            with lock:
                replies[msg.topic.rsplit("/", 1)[-1]].append(json.loads(msg.payload))

        raw.on_message = on_reply
        raw.subscribe("test/replies/+", qos=1)
        time.sleep(0.2)
        event_topics = [f"{ROOT}/queue/calls", f"{ROOT}/queue/state", f"{ROOT}/device/other/status",
                        f"{ROOT}/device/probe-1/reply"]
        for topic in event_topics:
            for i in range(1000):
                raw.publish(topic, MALFORMED[i % len(MALFORMED)], qos=1)
        for op in replies:
            for i in range(1000):
                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = f"test/replies/{op}"
                props.CorrelationData = str(i).encode()
                raw.publish(f"{ROOT}/queue/req/{op}", MALFORMED[i % len(MALFORMED)], qos=1, properties=props)

        assert wait_for(lambda: all(len(r) == 1000 for r in replies.values()), timeout=60), {k: len(v) for k, v in replies.items()}
        for answers in replies.values():
            assert all(a["ok"] is False for a in answers)
            assert {a["error"]["code"] for a in answers} <= {"bad_json", "bad_request"}
        assert proc.poll() is None, "the device process died"

        # Still answering real requests.
        client = bus_factory("dispenser")
        reply = client.request("queue/req/take_ticket", {"service": "A", "source": "dispenser"})
        assert reply["ticket"]["number"] == "A001"
        with pytest.raises(RequestFailed) as rejected:
            client.request("queue/req/take_ticket", {"service": "Z", "source": "dispenser"})
        assert rejected.value.code == "unknown_service"
        raw.loop_stop()
        raw.disconnect()
    finally:
        proc.kill()
        output = proc.communicate()[0]
    # Every event topic got its bad messages logged by name (rate-limited, never a traceback).
    for topic in event_topics[:3]:
        assert f"bad message on {topic}" in output
    assert "Traceback" not in output


def test_telemetry_reports_bus_and_application_figures(broker: BrokerProcess, device_config: Callable[..., Any], bus_factory: Callable[..., HallBus]) -> None:
    import dataclasses

    config = device_config("kiosk-5", "kiosk")
    config = dataclasses.replace(config, bus=config.bus.model_copy(update={"telemetry_interval_s": 0.2}))
    seen = Collector()
    bus_factory("monitor").subscribe("device/kiosk-5/telemetry", seen)
    device = HallBus(config, figures=lambda: {"prints_today": 12}).start()
    try:
        assert wait_for(lambda: bool(seen.items), timeout=5)
        figures = seen.items[-1].data.figures
        assert figures["prints_today"] == 12 and figures["outbox_pending"] == 0 and "uptime_s" in figures
    finally:
        device.close()


def test_a_blocking_responder_may_ask_the_bus_itself(bus_factory: Callable[..., HallBus]) -> None:
    engine = bus_factory("ticketer")
    engine.serve("queue/req/take_ticket", lambda m: {"ticket": {"id": "t1", "number": "A001", "service": "A"}})
    dispenser = bus_factory("dispenser-1")
    # A remote "issue" command whose handler takes a ticket over the bus before it answers.
    dispenser.serve("device/dispenser-1/cmd/issue",
                    lambda m: dispenser.request("queue/req/take_ticket", {"service": "A", "source": "dispenser-1"}),
                    blocking=True)
    operator = bus_factory("operator")
    reply = operator.request("device/dispenser-1/cmd/issue", {"args": {"service": "A"}})
    assert reply["ticket"]["number"] == "A001"


def test_messages_queued_for_a_restarted_device_reach_handlers_subscribed_after_start(
        broker: BrokerProcess, device_config: Callable[..., Any], bus_factory: Callable[..., HallBus]) -> None:
    received = Collector()
    display = HallBus(device_config("display", "display-hall")).start()
    display.subscribe("queue/calls", received, dedupe=True)
    display.close()
    publisher = bus_factory("ticketer", role="ticketer")
    for seq in range(1, 2001):
        publisher.publish_event("queue/calls", call_event(seq))
    assert wait_for(lambda: publisher.outbox_pending() == 0, timeout=30)
    again = HallBus(device_config("display", "display-hall")).start()  # the queued calls pour in now …
    try:
        time.sleep(0.2)
        again.subscribe("queue/calls", received, dedupe=True)  # … before this handler exists
        assert wait_for(lambda: len(received.items) >= 2000, timeout=30)
        time.sleep(0.3)
        assert received.seqs() == list(range(1, 2001))
    finally:
        again.close()


def test_a_request_that_waited_past_its_deadline_is_not_acted_on(broker: BrokerProcess, device_config: Callable[..., Any],
                                                                 bus_factory: Callable[..., HallBus]) -> None:
    # The engine's session keeps the request while it is down; it comes back just after the
    # requester gave up: issuing the ticket then would print nothing for anyone.
    acted: list[str] = []
    engine = HallBus(device_config("ticketer", "ticketer"))
    engine.serve("queue/req/take_ticket", lambda m: acted.append(m.data.service) or {"ticket": None})
    engine.start()
    engine._client.disconnect()  # gone without closing its session
    engine._stopping.set()
    dispenser = bus_factory("dispenser-1")
    with pytest.raises(RequestTimeout):
        dispenser.request("queue/req/take_ticket", {"service": "A", "source": "dispenser-1"}, timeout_s=1.1)
    restarted = HallBus(device_config("ticketer", "ticketer"))
    restarted.serve("queue/req/take_ticket", lambda m: acted.append(m.data.service) or {"ticket": None})
    time.sleep(0.7)  # past the deadline, inside the broker's whole-second expiry
    restarted.start()
    try:
        time.sleep(1.0)
        assert acted == []
        assert dispenser.request("queue/req/take_ticket", {"service": "B", "source": "dispenser-1"})["ok"]
        assert acted == ["B"]
    finally:
        restarted.close()
