"""The duty supervisor's side of the queue engine, on a real SQLite file: closing a service
stops new tickets while those waiting are still served, opening it gives back its hours,
both kept across a restart, idempotent by request id, each an event; the alarms still
raised as one snapshot (what `queue/alarms` carries), kept across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from taxhall.bus import HallBus
from taxhall.bus.schemas import ActiveAlarms
from ticketer.dispensing import Dispensing
from ticketer.model import TicketerError
from ticketer.offline_book import OfflineBook
from ticketer.service import TicketerService
from ticketer.store import Store
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)
from tests.ticketer_helpers import Hall, Inbox, at, section, wait_for


@pytest.fixture
def hall(tmp_path: Path) -> Hall:
    return Hall(tmp_path / "queue.sqlite")


def refused(code: str, call: object, *args: object, **kwargs: object) -> TicketerError:
    with pytest.raises(TicketerError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value
    return caught.value


def test_a_closed_service_takes_no_tickets_but_serves_those_waiting(hall: Hall) -> None:
    first, second = hall.take("C"), hall.take("C")
    answer = hall.op("close_service", "C", by="zhang", reason="系统维护").data
    assert answer is not None and answer["service"]["open"] is False
    assert answer["service"]["closed"] == "supervisor" and answer["service"]["closed_by"] == "zhang"
    error = refused("service_closed", hall.take, "C")
    assert "duty supervisor" in error.message and "09:00" in error.message
    hall.clock.advance(60)
    assert hall.take("A").number == "A001"  # the other services go on
    hall.login("1")
    assert [hall.serve("1").id, hall.serve("1").id, hall.serve("1").id] == [first.id, second.id, "20261127-A001"]
    state = hall.engine.snapshot()["services"]["C"]
    assert state["open"] is False and state["closed"] == "supervisor"
    assert state["closed_by"] == "zhang" and state["closed_reason"] == "系统维护"
    assert state["closed_at"].startswith("2026-11-27T09:00")
    assert hall.engine.snapshot()["services"]["A"] == {**hall.engine.snapshot()["services"]["A"], "open": True}
    assert "closed" not in hall.engine.snapshot()["services"]["A"]


def test_opening_again_restores_the_configured_hours(tmp_path: Path) -> None:
    config = section(services=[{"code": "B", "name": "发票业务", "name_en": "Invoices", "hours": ["08:30-17:00"]}],
                     counters=[{"id": "1", "services": ["B"]}])
    hall = Hall(tmp_path / "q.sqlite", config, start="2026-11-27 16:00")
    hall.op("close_service", "B", by="zhang")
    refused("service_closed", hall.take, "B")
    hall.op("open_service", "B", by="li")
    assert hall.take("B").number == "B001"
    assert hall.engine.snapshot()["services"]["B"]["open"] is True
    hall.clock.now = at("2026-11-27 17:30")
    error = refused("service_closed", hall.take, "B")  # its hours, not the supervisor
    assert "08:30–17:00" in error.message
    state = hall.engine.snapshot()["services"]["B"]
    assert state["open"] is False and state["closed"] == "hours" and "closed_by" not in state


def test_a_closure_survives_a_restart_and_a_crash(hall: Hall) -> None:
    hall.op("close_service", "B", by="zhang", reason="打印机故障")
    hall.reopen()
    refused("service_closed", hall.take, "B")
    assert hall.engine.snapshot()["services"]["B"]["closed_by"] == "zhang"
    hall.op("open_service", "B")
    hall.crash_reopen()
    assert hall.take("B").number == "B001"


def test_close_and_open_are_idempotent_and_each_change_is_one_event(hall: Hall) -> None:
    hall.events()
    first = hall.engine.close_service("sup-1", "C", "zhang", None)
    again = hall.engine.close_service("sup-1", "C", "zhang", None)
    assert again.replayed and again.to_reply() == first.to_reply()
    later = hall.engine.close_service("sup-2", "C", "li", "again")  # already closed: nothing changes
    assert later.data is not None and later.data["service"]["closed_by"] == "zhang"
    events = hall.events()
    assert [(topic, e["kind"], e["severity"]) for topic, e in events] == [("device/ticketer/event", "service_closed", "info")]
    assert events[0][1]["data"]["service"] == "C" and events[0][1]["data"]["by"] == "zhang"
    assert "C 申报纳税" in events[0][1]["message"]

    opened = hall.engine.open_service("sup-3", "C", "li")
    assert opened.data is not None and opened.data["service"] == {"code": "C", "open": True}
    assert hall.engine.open_service("sup-3", "C", "li").replayed
    hall.engine.open_service("sup-4", "C", "li")  # not closed any more: nothing to do
    assert [e["kind"] for _, e in hall.events()] == ["service_opened"]
    refused("request_id_reused", hall.engine.open_service, "sup-1", "C")


def test_bad_service_requests_are_refused_and_change_nothing(hall: Hall) -> None:
    refused("unknown_service", hall.op, "close_service", "Q")
    refused("bad_request", hall.op, "close_service", "A", by="x" * 65)
    refused("bad_request", hall.op, "open_service", "A", by=7)
    assert hall.take("A").number == "A001"
    assert hall.events() == []


def test_the_alarm_snapshot_lists_raised_alarms_until_cleared_across_a_restart(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(crowd_waiting=1000, crowd_est_wait_s=10**6))
    assert hall.engine.alarm_snapshot() == {"device": "ticketer", "alarms": []}
    hall.take("B")
    hall.take("B")
    assert hall.engine.check_alarms() == [("service_unstaffed:B", "alarm")]
    alarms = hall.engine.alarm_snapshot()["alarms"]
    assert [(a["key"], a["kind"], a["severity"]) for a in alarms] == [("service_unstaffed:B", "service_unstaffed", "alarm")]
    raised = [e for _, e in hall.events() if e["kind"] == "service_unstaffed"]
    assert alarms[0]["id"] == raised[0]["id"] and alarms[0]["message"] == raised[0]["message"]
    assert "2 waiting" in alarms[0]["message"] and alarms[0]["raised_at"].startswith("2026-11-27T09:00")

    hall.reopen()  # the snapshot comes back from the database as it was raised
    assert hall.engine.alarm_snapshot()["alarms"] == alarms
    hall.login("1")
    assert hall.engine.check_alarms() == [("service_unstaffed:B", "cleared")]
    assert hall.engine.alarm_snapshot()["alarms"] == []


def test_a_database_from_before_alarm_messages_were_kept_is_brought_up_to_date(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE alarms (key TEXT PRIMARY KEY, kind TEXT NOT NULL, event_id TEXT NOT NULL, "
               "raised_at REAL NOT NULL, data TEXT NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO alarms VALUES ('hall_crowded', 'hall_crowded', 'e1', ?, '{\"key\": \"hall_crowded\"}')",
               (at("2026-11-27 08:00"),))
    db.commit()
    db.close()
    store = Store(path)
    recovered = store.load().alarms["hall_crowded"]
    assert recovered.kind == "hall_crowded" and recovered.severity == "warning" and recovered.message == ""
    store.close()


# ---------------------------------------------------------------- on the bus


def test_close_and_open_a_service_over_the_bus_as_a_dispenser_sees_it(
        ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:  # noqa: F811
    ticketer()
    events = Inbox()
    bus_factory("monitor").subscribe("device/ticketer/event", events, dedupe=True)
    dispenser_bus = bus_factory("dispenser-1", role="dispenser")
    desk = Dispensing(dispenser_bus, "dispenser-1", OfflineBook(tmp_path / "book.sqlite"))
    dispenser_bus.subscribe("queue/state", desk.on_state)
    waiting = desk.take("C")
    assert waiting.ok and wait_for(lambda: "C" in desk.tiles and desk.tiles["C"].open)

    web = bus_factory("web", role="web")
    close = {"request_id": "web-close-1", "service": "C", "by": "zhang", "reason": "系统维护"}
    answer = web.request("queue/req/close_service", close)
    assert answer["service"]["closed"] == "supervisor" and answer["service"]["closed_by"] == "zhang"
    assert web.request("queue/req/close_service", close) == answer  # the same request id: the same answer
    assert wait_for(lambda: not desk.tiles["C"].open) and desk.tiles["A"].open
    refused = desk.take("C")
    assert not refused.ok and refused.message  # said in words on the screen, nothing issued
    reply = dispenser_bus.request("queue/req/take_ticket", {"service": "C", "source": "dispenser-1"}, check=False)
    assert reply["error"]["code"] == "service_closed" and "duty supervisor" in reply["error"]["message"]
    states = Inbox()
    bus_factory("dashboard").subscribe("queue/state", states)
    assert wait_for(lambda: states.last() is not None)
    state = states.last().services["C"]
    assert (state.open, state.closed, state.closed_by, state.closed_reason) == (False, "supervisor", "zhang", "系统维护")

    counter = bus_factory("counter-1", role="counter")
    assert counter.request("queue/req/login", {"counter": "1", "staff": "S1"})["ok"]
    assert counter.request("queue/req/call_next", {"counter": "1"})["ticket"]["number"] == waiting.number  # still served

    assert web.request("queue/req/open_service", {"request_id": "web-open-1", "service": "C", "by": "zhang"})["service"]["open"]
    assert wait_for(lambda: desk.tiles["C"].open)
    assert desk.take("C").ok
    assert wait_for(lambda: len(events.items) == 2)
    assert [(e.kind, e.severity, e.data["by"]) for e in events.data()] == \
        [("service_closed", "info", "zhang"), ("service_opened", "info", "zhang")]


def test_the_alarms_still_raised_are_retained_for_whoever_comes_later(
        ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    service = ticketer(section(counters=[{"id": "1", "services": ["A"]}, {"id": "2", "services": ["B", "C", "V"]}]))
    client = bus_factory("kiosk")
    client.request("queue/req/take_ticket", {"service": "C", "source": "kiosk"})
    service.tick()
    late = Inbox()
    bus_factory("dashboard").subscribe("queue/alarms", late)  # subscribes after the alarm was raised
    assert wait_for(lambda: late.last() is not None and late.last().alarms)
    snapshot: ActiveAlarms = late.last()
    assert late.items[-1].retained and snapshot.device == "ticketer"
    assert [(a.kind, a.severity, a.data["service"]) for a in snapshot.alarms] == [("service_unstaffed", "alarm", "C")]
    assert "申报纳税" in snapshot.alarms[0].message
    client.request("queue/req/login", {"counter": "2", "staff": "S2"})
    service.tick()
    assert wait_for(lambda: late.last().alarms == [])
    again = Inbox()
    bus_factory("monitor").subscribe("queue/alarms", again)
    assert wait_for(lambda: again.last() is not None) and again.last().alarms == []
