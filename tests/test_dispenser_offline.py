"""Offline dispensing end to end, on a real Mosquitto, the real queue engine on its SQLite file
and the ESC/POS printer simulator: the dispenser leases numbers while the engine is up, prints
tickets from its lease while the engine is stopped (also across a restart of the dispenser
itself), and hands them in when the engine is back — every ticket is then in the queue once,
in the order it was taken, and no number is used twice."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.simulator import SimulatorServer
from taxhall.bus import HallBus
from ticketer.dispensing import Dispensing, Issued
from ticketer.offline_book import OfflineBook
from ticketer.service import TicketerService
from tests.test_ticketer_bus import ask, code, ticketer  # noqa: F401  (the engine fixture)
from tests.ticketer_helpers import section, wait_for

OFFLINE_NOTE = "网络中断时所取号票，请留意叫号屏"
LEASE_SIZE = 4


def dispenser(bus: HallBus, server: SimulatorServer, book_path: Path) -> Dispensing:
    """A dispenser as `taxhall dispenser` builds it, with short time-outs for the outage."""
    printer = ReceiptPrinter(server.url, BUILTIN_PROFILES["generic-80"], timeout_s=2.0, job_timeout_s=5.0)
    desk = Dispensing(bus, "dispenser-1", OfflineBook(book_path), printer, lease_size=LEASE_SIZE, timeout_s=0.3)
    bus.subscribe("queue/state", desk.on_state)
    assert wait_for(lambda: {"A", "B"} <= set(desk.tiles)), "no queue/state (retained) for the tiles"
    return desk


def engine_up(ticketer: Callable[..., TicketerService]) -> TicketerService:  # noqa: F811
    # The hall's time zone is the machine's, as for the dispenser: both must agree on the day.
    return ticketer(section(timezone=""))


def outlast_dropped_requests() -> None:
    """A take_ticket the dispenser gave up on waits in the stopped engine's broker session
    until its message expiry — the request's time-out rounded up to whole seconds (1 s here),
    which Mosquitto counts in whole seconds of its clock, so up to 2 s: an engine back sooner
    would still issue it. Let it expire, as a real restart takes longer."""
    time.sleep(2.2)


def call_everything(counter: HallBus) -> list[dict[str, Any]]:
    """Counter 1 (serving every service) calls and finishes until nobody waits."""
    assert ask(counter, "login", counter="1", staff="S1")["ok"]
    called = []
    while True:
        reply = ask(counter, "call_next", counter="1")
        if code(reply) == "queue_empty":
            return called
        assert reply["ok"], reply
        called.append(reply["ticket"])
        assert ask(counter, "finish", counter="1")["ok"]


def test_tickets_issued_while_the_engine_is_stopped_are_all_in_the_queue_once(
        ticketer: Callable[..., TicketerService], printer_sim: SimulatorServer,  # noqa: F811
        bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:
    engine = engine_up(ticketer)
    book_path = tmp_path / "dispenser-1" / "dispenser-offline.sqlite"
    bus = bus_factory("dispenser-1", role="dispenser")
    desk = dispenser(bus, printer_sim, book_path)
    desk.keep_lease()
    today = datetime.now().strftime("%Y-%m-%d")
    assert desk.book.remaining(today, "A") == LEASE_SIZE and desk.book.remaining(today, "B") == LEASE_SIZE
    before = desk.take("A")
    assert before.ok and not before.offline and before.number == "A001"

    engine.close()  # the queue engine stops
    issued: list[Issued] = [desk.take(s) for s in "AABAB"]
    assert all(i.ok and i.offline and i.printed for i in issued), issued
    assert [i.number for i in issued] == ["A901", "A902", "B901", "A903", "B902"]

    # The dispenser restarts during the outage: a new process on the same book.
    desk.book.close()
    desk.printer.close()  # type: ignore[union-attr]
    bus.close(drain_s=0.2)
    desk = dispenser(bus_factory("dispenser-1", role="dispenser"), printer_sim, book_path)
    after_restart = [desk.take("A"), desk.take("B")]
    assert [i.number for i in after_restart] == ["A904", "B903"]
    assert all(i.offline and i.printed for i in after_restart), after_restart
    issued += after_restart
    paused = desk.take("A")  # A's lease is used up: tickets pause rather than invent a number
    assert not paused.ok and "暂停取号" in paused.message

    pages = printer_sim.printer.wait_for_pages(1 + len(issued), timeout=10)
    assert len(pages) == 1 + len(issued)
    for page, ticket in zip(pages[1:], issued):
        text = "".join(page.text_lines())
        assert ticket.number in text and OFFLINE_NOTE in page.text_lines(), page.text_lines()
    assert OFFLINE_NOTE not in pages[0].text_lines()

    outlast_dropped_requests()
    engine_up(ticketer)  # the engine is back, on the same database
    counter = bus_factory("counter-1", role="counter")
    later = desk.take("A")  # online again: normal numbering goes on below the band
    assert later.ok and not later.offline and later.number == "A002"
    assert desk.hand_in() == len(issued)
    assert desk.book.pending() == [] and desk.hand_in() == 0

    # Had the dispenser lost the answer, handing a ticket in again (a new request id) changes nothing.
    again = ask(counter, "hand_in", request_id="lost-answer-1", source="dispenser-1",
                tickets=[{"number": "A901", "service": "A", "taken_at": datetime.now().astimezone().isoformat()}])
    assert again["ok"] and again["tickets"][0]["id"].endswith("-A901") and again["tickets"][0]["offline"]

    called = call_everything(counter)
    numbers = [t["number"] for t in called]
    expected = [before.number] + [i.number for i in issued] + [later.number]
    assert sorted(numbers) == sorted(expected) and len(set(numbers)) == len(numbers)  # each once
    # One counter for everything calls by take time: the offline tickets in their places.
    assert numbers == expected


def test_an_old_days_tickets_are_given_up_and_do_not_block_the_hand_in(
        ticketer: Callable[..., TicketerService], printer_sim: SimulatorServer,  # noqa: F811
        bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:
    engine = engine_up(ticketer)
    desk = dispenser(bus_factory("dispenser-1", role="dispenser"), printer_sim, tmp_path / "book.sqlite")
    desk.keep_lease()
    engine.close()
    assert [desk.take("A").number, desk.take("B").number] == ["A901", "B901"]
    outlast_dropped_requests()
    back = engine_up(ticketer)
    back.engine.clock = lambda: time.time() + 86400  # the engine returns the next day
    assert desk.hand_in() == 0  # refused with lease_expired: no queue can take them any more
    assert desk.book.pending() == []  # given up, so later tickets are not held behind them
    assert [v.number for v in desk.book.given_up()] == ["A901", "B901"]
    assert back.engine.snapshot()["services"]["A"]["waiting"] == 0
