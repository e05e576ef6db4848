"""The queue engine on a real Mosquitto: a dispenser takes tickets, three counters call and
finish them, a display receives every call once and in order; the retained state; alarms
as device events; bad input answered with clear codes and no change; the `taxhall
ticketer` process itself, stopped with SIGTERM."""

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
from typing import Any, Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from taxhall.broker import BrokerProcess
from taxhall.bus import HallBus, RequestFailed
from taxhall.bus.schemas import DeviceEvent, QueueState
from taxhall.config import DeviceConfig
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.service import TicketerService
from ticketer.store import Store
from tests.conftest import HALL
from tests.ticketer_helpers import Inbox, section, wait_for

ROOT = f"taxhall/v1/{HALL}"


@pytest.fixture
def ticketer(device_config: Callable[..., DeviceConfig], tmp_path: Path) -> Iterator[Callable[..., TicketerService]]:
    """Starts the queue engine in this process on the test broker (closed at the end)."""
    started: list[TicketerService] = []

    def start(config: TicketerSection | None = None) -> TicketerService:
        device = device_config("ticketer", "ticketer")
        engine = Engine(config or section(), Store(tmp_path / "ticketer" / "queue.sqlite"), event_topic="device/ticketer/event")
        service = TicketerService(engine, HallBus(device))
        service.start()
        assert service.bus.connected
        started.append(service)
        return service

    yield start
    for service in started:
        if service.bus.connected:
            service.close()


def ask(bus: HallBus, op: str, **fields: Any) -> dict[str, Any]:
    return bus.request(f"queue/req/{op}", fields, check=False)


def code(reply: dict[str, Any]) -> str | None:
    return None if reply["ok"] else reply["error"]["code"]


# ---------------------------------------------------------------- the hall at work


def test_dispenser_counters_and_display(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    display = bus_factory("display-hall", role="display-hall")
    calls = Inbox()
    display.subscribe("queue/calls", calls, dedupe=True)
    dispenser = bus_factory("dispenser-1", role="dispenser")
    counters = [bus_factory(f"counter-{n}", role="counter") for n in (1, 2, 3)]
    for n, bus in enumerate(counters, start=1):
        assert ask(bus, "login", counter=str(n), staff=f"S{n}")["ok"]

    total = 90
    taken: list[dict[str, Any]] = []
    served: dict[str, list[str]] = {}
    done = threading.Event()

    def dispense() -> None:
        for i in range(total):
            reply = dispenser.request("queue/req/take_ticket", {"service": "ABCV"[i % 4], "source": "dispenser-1"})
            taken.append(reply["ticket"])
        done.set()

    def work(bus: HallBus, counter: str) -> None:
        mine = served.setdefault(counter, [])
        while True:
            reply = ask(bus, "call_next", counter=counter)
            if code(reply) == "queue_empty":
                if done.is_set() and len(sum(served.values(), [])) >= total:
                    return
                time.sleep(0.01)
                continue
            assert reply["ok"], reply
            mine.append(reply["ticket"]["id"])
            assert ask(bus, "start", counter=counter)["ok"]
            assert ask(bus, "finish", counter=counter, ticket=reply["ticket"]["number"])["ok"]

    threads = [threading.Thread(target=dispense)] + [
        threading.Thread(target=work, args=(bus, str(n))) for n, bus in enumerate(counters, start=1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)

    called = sum(served.values(), [])
    assert sorted(called) == sorted(t["id"] for t in taken)  # every ticket called, none twice
    assert all(served.values()), "each counter served some"
    assert len({t["number"] for t in taken}) == total
    assert wait_for(lambda: len(calls.items) >= total)
    time.sleep(0.3)  # anything repeated would arrive now
    events = calls.data()
    assert [e.seq for e in events] == list(range(1, total + 1))  # once each, in order
    assert sorted(e.ticket_id for e in events) == sorted(called)

    late = Inbox()
    bus_factory("dashboard").subscribe("queue/state", late)
    assert wait_for(lambda: late.last() is not None)
    state: QueueState = late.last()
    assert late.items[-1].retained and state.seq == total
    assert all(s.waiting == 0 for s in state.services.values())
    assert {k: c.state for k, c in state.counters.items() if k in "123"} == {"1": "idle", "2": "idle", "3": "idle"}


def test_state_is_published_retained_after_each_change(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    states = Inbox()
    watcher = bus_factory("dashboard")
    watcher.subscribe("queue/state", states)
    assert wait_for(lambda: states.last() is not None)
    client = bus_factory("kiosk-1")
    ticket = client.request("queue/req/take_ticket", {"service": "B", "source": "kiosk-1", "priority": "elderly"})["ticket"]
    assert ticket["number"] == "B001" and ticket["token"] and ticket["ahead"] == 0 and ticket["est_wait_s"] == 0
    assert wait_for(lambda: states.last().services["B"].waiting == 1)
    assert states.last().services["B"].name == "发票业务"
    client.request("queue/req/login", {"counter": "5", "staff": "S5"})
    client.request("queue/req/call_next", {"counter": "5"})
    assert wait_for(lambda: states.last().counters["5"].ticket == "B001")
    assert states.last().counters["5"].state == "calling" and states.last().seq == 1


def test_a_repeated_request_id_gives_the_same_ticket(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    client = bus_factory("dispenser-1")
    first = client.request("queue/req/take_ticket", {"request_id": "d1-0001", "service": "A", "source": "dispenser-1"})
    again = client.request("queue/req/take_ticket", {"request_id": "d1-0001", "service": "A", "source": "dispenser-1"})
    assert first == again and first["request_id"] == "d1-0001"
    assert client.request("queue/req/take_ticket", {"service": "A", "source": "dispenser-1"})["ticket"]["number"] == "A002"


def test_restart_republishes_state_and_sends_calls_left_unsent(ticketer: Callable[..., TicketerService], device_config: Callable[..., DeviceConfig],
                                                               bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:
    # Calls committed by an engine that died before handing them to the bus …
    path = tmp_path / "ticketer" / "queue.sqlite"
    offline = Engine(section(), Store(path))
    offline.take_ticket("t1", "A", "d")
    offline.take_ticket("t2", "C", "d")
    offline.login("l1", "1", "S1")
    offline.call_next("c1", "1")
    offline.recall("c2", "1")
    offline.store.close()
    display = Inbox()
    bus_factory("display").subscribe("queue/calls", display, dedupe=True)
    ticketer()  # … are sent by the next one, and the recovered state is published.
    assert wait_for(lambda: len(display.items) == 2)
    assert [(e.seq, e.recall, e.ticket) for e in display.data()] == [(1, False, "A001"), (2, True, "A001")]
    state = Inbox()
    bus_factory("dashboard").subscribe("queue/state", state)
    assert wait_for(lambda: state.last() is not None)
    assert state.last().seq == 2 and state.last().services["C"].waiting == 1 and state.last().counters["1"].ticket == "A001"


def test_alarms_are_device_events_raised_and_cleared_once(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus]) -> None:
    service = ticketer(section(counters=[{"id": "1", "services": ["A"]}, {"id": "2", "services": ["B", "C", "V"]}]))
    events = Inbox()
    bus_factory("monitor").subscribe("device/ticketer/event", events, dedupe=True)
    client = bus_factory("kiosk")
    client.request("queue/req/take_ticket", {"service": "C", "source": "kiosk"})
    service.tick()
    service.tick()
    assert wait_for(lambda: len(events.items) == 1)
    raised: DeviceEvent = events.last()
    assert (raised.kind, raised.severity, raised.data["service"]) == ("service_unstaffed", "alarm", "C")
    assert "申报纳税" in raised.message
    client.request("queue/req/login", {"counter": "2", "staff": "S2"})
    service.tick()
    assert wait_for(lambda: len(events.items) == 2)
    cleared: DeviceEvent = events.last()
    assert (cleared.kind, cleared.severity, cleared.data["raised_id"]) == ("service_unstaffed", "cleared", raised.id)


# ---------------------------------------------------------------- bad input


def test_bad_requests_get_clear_codes_and_change_nothing(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus]) -> None:
    service = ticketer()
    client = bus_factory("counter-1")
    ask(client, "take_ticket", service="A", source="d1")
    ask(client, "take_ticket", service="B", source="d1")
    ask(client, "login", counter="1", staff="S1")
    ask(client, "login", counter="2", staff="S2")
    ask(client, "call_next", counter="1")
    ask(client, "pause", counter="2", reason="break")
    before = service.engine.snapshot()

    assert code(ask(client, "take_ticket", service="Q", source="d1")) == "unknown_service"
    assert code(ask(client, "call_next", counter="99")) == "unknown_counter"
    assert code(ask(client, "call_next", counter="2")) == "counter_paused"
    assert code(ask(client, "call_next", counter="3")) == "counter_closed"
    assert code(ask(client, "finish", counter="1", ticket="B001")) == "not_your_ticket"
    assert code(ask(client, "finish", counter="2")) == "counter_paused"
    assert code(ask(client, "recall", counter="1", ticket=42)) == "bad_request"
    assert code(ask(client, "rate", ticket="A001", level=4)) == "not_served"
    assert code(ask(client, "rate", ticket="A001", level=7)) == "bad_request"  # the schema says 1–5
    assert code(ask(client, "transfer", counter="1")) == "bad_request"
    assert code(ask(client, "take_ticket", source="d1")) == "bad_request"
    assert code(ask(client, "take_ticket", service="A", source="d1", priority="vip")) == "bad_request"
    assert code(ask(client, "login", counter=1, staff="S1")) == "bad_request"
    assert service.engine.snapshot() == before


def raw_request(broker: BrokerProcess, op: str, payloads: list[bytes]) -> list[dict[str, Any]]:
    """Sends raw payloads as requests with a response topic; returns the answers in order."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    answers: dict[int, dict[str, Any]] = {}
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.on_message = lambda c, u, msg: answers.__setitem__(int(msg.properties.CorrelationData), json.loads(msg.payload))
    client.connect("127.0.0.1", broker.settings.port)
    client.loop_start()
    try:
        assert connected.wait(5)
        client.subscribe("test/answers", qos=1)
        time.sleep(0.2)
        for i, payload in enumerate(payloads):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "test/answers"
            props.CorrelationData = str(i).encode()
            client.publish(f"{ROOT}/queue/req/{op}", payload, qos=1, properties=props)
        assert wait_for(lambda: len(answers) == len(payloads))
        return [answers[i] for i in range(len(payloads))]
    finally:
        client.loop_stop()
        client.disconnect()


def test_malformed_payloads_are_answered_and_the_engine_goes_on(ticketer: Callable[..., TicketerService], broker: BrokerProcess,
                                                                bus_factory: Callable[..., HallBus]) -> None:
    service = ticketer()
    before = service.engine.snapshot()
    payloads = [b"not json", b"\xff\xfe", b"[1, 2]", b"null", b'{"service": "A", "source": "d"}',
                b'{"request_id": 5, "service": "A", "source": "d"}', b'{"request_id": "x", "service": ["A"], "source": "d"}',
                b'{"request_id": "' + b"y" * 200 + b'", "service": "A", "source": "d"}']
    answers = raw_request(broker, "take_ticket", payloads)
    assert [a["error"]["code"] for a in answers] == ["bad_json", "bad_json", "bad_request", "bad_request", "bad_request",
                                                      "bad_request", "bad_request", "bad_request"]
    assert all(a["ok"] is False and a["error"]["message"] for a in answers)
    assert service.engine.snapshot() == before
    # Still serving.
    assert bus_factory("kiosk").request("queue/req/take_ticket", {"service": "A", "source": "k"})["ticket"]["number"] == "A001"


# ---------------------------------------------------------------- the process


def test_the_ticketer_process_answers_and_stops_cleanly_on_sigterm(broker: BrokerProcess, tmp_path: Path,
                                                                     bus_factory: Callable[..., HallBus]) -> None:
    statuses = Inbox()
    watcher = bus_factory("watcher")
    watcher.subscribe("device/ticketer-1/status", statuses)
    proc = subprocess.Popen(
        [sys.executable, "-m", "taxhall.cli", "ticketer", "--broker", broker.url, "--hall", HALL, "--device", "ticketer-1",
         "--data-dir", str(tmp_path / "ticketer-1")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: any(s.state == "online" for s in statuses.data()), timeout=20)
        client = bus_factory("dispenser-1")
        reply = client.request("queue/req/take_ticket", {"service": "C", "source": "dispenser-1"})
        assert reply["ticket"]["id"].endswith("-C001")
        with pytest.raises(RequestFailed) as failed:
            client.request("queue/req/call_next", {"counter": "1"})
        assert failed.value.code == "counter_closed"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert wait_for(lambda: statuses.last().state == "offline")
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=5)[0]
    assert "Traceback" not in output and "queue engine of hall" in output
    assert (tmp_path / "ticketer-1" / "ticketer" / "queue.sqlite").exists()


def test_ticket_status_finds_a_live_ticket_by_its_token_only(ticketer: Callable[..., TicketerService],
                                                             bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    web = bus_factory("web", role="web")
    first = ask(web, "take_ticket", service="A", source="web")["ticket"]
    second = ask(web, "take_ticket", service="A", source="web")["ticket"]
    status = ask(web, "ticket_status", token=second["token"])
    assert status["ok"] and status["ticket"]["number"] == second["number"] and status["ticket"]["ahead"] == 1
    assert "token" not in status["ticket"]
    for guess in (second["token"][:-1] + "x", "nope", "票" * 8):
        assert code(ask(web, "ticket_status", token=guess)) == "unknown_ticket"
    counter = bus_factory("counter-1", role="counter")
    assert ask(counter, "login", counter="1", staff="S1")["ok"]
    assert ask(counter, "call_next", counter="1")["ticket"]["id"] == first["id"]
    assert ask(web, "ticket_status", token=second["token"])["ticket"]["ahead"] == 0
    called = ask(web, "ticket_status", token=first["token"])["ticket"]
    assert called["state"] == "called" and called["counter"] == "1"
    assert ask(counter, "finish", counter="1")["ok"]
    assert code(ask(web, "ticket_status", token=first["token"])) == "unknown_ticket"  # served: gone like a guess
