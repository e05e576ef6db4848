"""The queue engine on a real SQLite file: numbering and the business day, limits and
opening hours, counters (call, recall, start, finish, no-show, transfer, pause), ratings,
idempotent request ids, error codes that leave the state unchanged, and recovery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ticketer.model import TicketerError
from ticketer.store import FORGET_BATCH
from tests.ticketer_helpers import Hall, at, section


@pytest.fixture
def hall(tmp_path: Path) -> Hall:
    return Hall(tmp_path / "queue.sqlite")


def refused(code: str, call: object, *args: object, **kwargs: object) -> TicketerError:
    with pytest.raises(TicketerError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value
    return caught.value


# ---------------------------------------------------------------- numbering and the day


def test_numbers_per_service_with_the_day_in_the_id(hall: Hall) -> None:
    assert [hall.take("A").number, hall.take("A").number, hall.take("B").number, hall.take("A").number] == \
        ["A001", "A002", "B001", "A003"]
    ticket = hall.take("V")
    assert ticket.id == "20261127-V001" and ticket.service == "V" and ticket.state == "waiting"


def test_numbers_continue_after_a_restart(hall: Hall) -> None:
    hall.take("A")
    hall.take("A")
    hall.reopen()
    assert hall.take("A").number == "A003"


def test_numbers_restart_at_the_reset_time_and_live_numbers_are_skipped(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(reset_at="04:00"), start="2026-11-27 22:00")
    served = hall.take("A")
    left_over = hall.take("A")  # still waiting at the reset
    hall.login("1")
    assert hall.call("1").id == served.id
    hall.op("finish", "1")
    hall.clock.now = at("2026-11-28 03:59")
    assert hall.take("A").id == "20261127-A003"  # before 04:00: still the 27th
    hall.clock.now = at("2026-11-28 04:00")
    assert hall.take("A").id == "20261128-A001"  # A001 of the 27th is done: free again
    # A002 and A003 of the 27th still wait: today's numbering goes round them.
    assert left_over.number == "A002"
    assert hall.take("A").id == "20261128-A004"
    assert hall.engine.snapshot()["day"] == "20261128"


def test_default_reset_is_midnight(hall: Hall) -> None:
    hall.clock.now = at("2026-11-27 23:59")
    assert hall.take("B").id == "20261127-B001"
    hall.login("1")
    hall.serve("1")
    hall.clock.now = at("2026-11-28 00:00")
    assert hall.take("B").id == "20261128-B001"


def test_number_overflow_widens_or_refuses(tmp_path: Path) -> None:
    # Without an offline band (its start at 10^digits); with one: tests/test_ticketer_lease.py.
    wide = Hall(tmp_path / "w.sqlite", section(number_digits=2, offline_band_start=100))
    numbers = [wide.take("C").number for _ in range(100)]
    assert numbers[0] == "C01" and numbers[98] == "C99" and numbers[99] == "C100"
    strict = Hall(tmp_path / "s.sqlite", section(number_digits=2, on_number_overflow="refuse", offline_band_start=100))
    for _ in range(99):
        strict.take("C")
    refused("numbers_exhausted", strict.take, "C")


def test_daily_limit_per_service_and_next_day(tmp_path: Path) -> None:
    services = [{"code": "A", "name": "综合业务", "name_en": "General", "daily_limit": 2},
                {"code": "B", "name": "发票业务", "name_en": "Invoices"}]
    hall = Hall(tmp_path / "q.sqlite", section(services=services, counters=[{"id": "1", "services": ["A", "B"]}]))
    hall.take("A")
    hall.take("A")
    error = refused("daily_limit", hall.take, "A")
    assert "2" in error.message and "综合业务" in error.message
    assert hall.take("B").number == "B001"
    hall.reopen()
    refused("daily_limit", hall.take, "A")
    hall.clock.now = at("2026-11-28 09:00")
    # A new day, a new allowance (numbered round yesterday's A001 and A002, still waiting).
    assert hall.take("A").id == "20261128-A003"
    hall.take("A")
    refused("daily_limit", hall.take, "A")


def test_opening_hours_refuse_with_the_reason(tmp_path: Path) -> None:
    services = [{"code": "A", "name": "综合业务", "name_en": "General", "hours": ["08:30-12:00", "13:30-17:30"]},
                {"code": "N", "name": "夜间", "name_en": "Night", "hours": ["22:00-06:00"]}]
    hall = Hall(tmp_path / "q.sqlite", section(services=services, counters=[{"id": "1", "services": ["A", "N"]}]))
    hall.clock.now = at("2026-11-27 12:30")
    error = refused("service_closed", hall.take, "A")
    assert "08:30–12:00, 13:30–17:30" in error.message
    refused("service_closed", hall.take, "N")
    hall.clock.now = at("2026-11-27 13:30")
    assert hall.take("A").number == "A001"
    hall.clock.now = at("2026-11-28 02:00")
    assert hall.take("N").number == "N001"
    assert hall.engine.snapshot()["services"]["A"]["open"] is False


def test_token_is_a_random_secret(hall: Hall) -> None:
    tokens = {hall.take("A").token for _ in range(50)}
    assert len(tokens) == 50
    assert all(t and len(t) >= 16 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_appointment_codes_are_stored_masked(hall: Hall) -> None:
    ticket = hall.take("V", appointment="110101199003071234")
    assert ticket.priority == "appointment"
    stored = sqlite3.connect(hall.path).execute("SELECT appointment FROM tickets WHERE id = ?", (ticket.id,)).fetchone()[0]
    assert stored == "110***********1234"


# ---------------------------------------------------------------- position and estimated wait


def test_ahead_and_estimate_follow_live_service_times(hall: Hall) -> None:
    first = hall.take("A")
    assert first.ahead == 0 and first.est_wait_s == 0
    for _ in range(3):
        hall.take("A")
    # Nobody open yet: as if one counter were; no history yet: the target time (300 s).
    fifth = hall.take("A")
    assert fifth.ahead == 4 and fifth.est_wait_s == 4 * 300
    hall.login("1", "2")
    assert hall.take("A").est_wait_s == 5 * 300 // 2
    for _ in range(3):  # three services of one minute each
        hall.serve("1", seconds=60)
    sixth = hall.take("A")
    assert sixth.ahead == 3 and sixth.est_wait_s == 3 * 60 // 2
    # The estimate is live: it survives a restart.
    hall.reopen()
    hall.login("1", "2")
    assert hall.take("A").est_wait_s == 4 * 60 // 2


def test_priority_ticket_counts_only_priority_tickets_ahead(hall: Hall) -> None:
    hall.take("A")
    hall.take("A", priority="elderly")
    hall.take("A")
    ticket = hall.take("A", priority="disabled")
    assert ticket.ahead == 1


# ---------------------------------------------------------------- counters


def test_call_start_finish_and_the_call_events(hall: Hall) -> None:
    a1 = hall.take("A")
    hall.login("3", staff="S1024")
    result = hall.op("call_next", "3")
    assert result.ticket.id == a1.id and result.ticket.state == "called" and result.ticket.counter == "3"
    assert result.seq == 1 and result.counter.state == "calling"
    assert hall.op("start", "3").ticket.state == "serving"
    assert hall.op("finish", "3").ticket.state == "done"
    (topic, event), = hall.events()
    assert topic == "queue/calls"
    assert {k: event[k] for k in ("seq", "ticket", "ticket_id", "service", "counter", "recall")} == \
        {"seq": 1, "ticket": "A001", "ticket_id": a1.id, "service": "A", "counter": "3", "recall": False}
    assert event["at"].startswith("2026-11-27T09:00:00.000+08:00")
    state = hall.engine.snapshot()
    assert state["counters"]["3"] == {"state": "idle", "staff": "S1024", "ticket": None}


def test_call_next_errors(hall: Hall) -> None:
    refused("unknown_counter", hall.op, "call_next", "99")
    refused("counter_closed", hall.op, "call_next", "1")
    hall.login("1")
    refused("queue_empty", hall.op, "call_next", "1")
    hall.op("pause", "1", "break")
    hall.take("A")
    error = refused("counter_paused", hall.op, "call_next", "1")
    assert "break" in error.message
    hall.op("resume", "1")
    hall.call("1")
    hall.take("A")
    refused("counter_busy", hall.op, "call_next", "1")


def test_recalls_are_counted_and_limited(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(recall_limit=2))
    hall.take("B")
    hall.login("2")
    hall.call("2")
    assert hall.op("recall", "2").ticket.recalls == 1
    second = hall.op("recall", "2")
    assert second.ticket.recalls == 2 and second.seq == 3
    refused("recall_limit", hall.op, "recall", "2")
    events = [e for _, e in hall.events()]
    assert [(e["seq"], e["recall"]) for e in events] == [(1, False), (2, True), (3, True)]
    hall.op("start", "2")
    refused("ticket_started", hall.op, "recall", "2")


def test_no_show_needs_the_configured_recalls(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(no_show_after_recalls=2))
    hall.take("A")
    hall.login("1")
    hall.call("1")
    refused("recall_first", hall.op, "no_show", "1")
    hall.op("recall", "1")
    refused("recall_first", hall.op, "no_show", "1")
    hall.op("recall", "1")
    assert hall.op("no_show", "1").ticket.state == "no_show"
    assert hall.engine.counters["1"].state == "idle" and not hall.engine.tickets


def test_no_show_is_refused_once_service_started(hall: Hall) -> None:
    hall.take("A")
    hall.login("1")
    hall.call("1")
    hall.op("recall", "1")
    hall.op("start", "1")
    refused("ticket_started", hall.op, "no_show", "1")


def test_finishing_someone_elses_ticket(hall: Hall) -> None:
    a1, a2 = hall.take("A"), hall.take("A")
    hall.login("1", "2")
    hall.call("1")
    hall.call("2")
    refused("not_your_ticket", hall.op, "finish", "1", ticket=a2.id)
    refused("not_your_ticket", hall.op, "finish", "1", ticket="A002")
    assert hall.op("finish", "1", ticket="A001").ticket.id == a1.id
    refused("no_current_ticket", hall.op, "finish", "1")
    refused("not_your_ticket", hall.op, "finish", "1", ticket=a2.id)


def test_transfer_to_a_service_keeps_the_place_by_take_time(hall: Hall) -> None:
    a1 = hall.take("A")
    hall.clock.advance(60)
    b1 = hall.take("B")
    hall.login("1")
    assert hall.call("1").id == a1.id
    hall.clock.advance(120)
    moved = hall.op("transfer", "1", to_service="B").ticket
    assert moved.number == "A001" and moved.service == "B" and moved.state == "waiting"
    assert hall.engine.counters["1"].state == "idle"
    only_b = section(counters=[{"id": "1", "services": ["A"]}, {"id": "2", "services": ["B"]}])
    hall.reopen(only_b)
    hall.login("2")
    # A001 was taken before B001: it goes first at the invoices counter.
    assert hall.call("2").id == a1.id
    hall.op("finish", "2")
    assert hall.call("2").id == b1.id
    assert hall.engine.store.ticket(a1.id).transfers == 1


def test_transfer_to_a_counter(hall: Hall) -> None:
    a1 = hall.take("A")
    a2 = hall.take("A")
    hall.login("1", "2", "3")
    hall.call("1")
    hall.op("transfer", "1", to_counter="3")
    assert hall.call("2").id == a2.id  # counter 2 may not take it
    assert hall.call("3").id == a1.id


def test_transfer_errors(hall: Hall) -> None:
    hall.take("A")
    hall.login("1")
    refused("no_current_ticket", hall.op, "transfer", "1", to_service="B")
    hall.call("1")
    refused("bad_transfer", hall.op, "transfer", "1", to_service="A")
    refused("bad_transfer", hall.op, "transfer", "1", to_counter="1")
    refused("unknown_service", hall.op, "transfer", "1", to_service="Q")
    refused("unknown_counter", hall.op, "transfer", "1", to_counter="42")
    refused("bad_request", hall.op, "transfer", "1")
    refused("bad_request", hall.op, "transfer", "1", to_service="B", to_counter="2")


def test_login_logout_pause_resume(hall: Hall) -> None:
    refused("counter_closed", hall.op, "pause", "4", "break")
    counter = hall.op("login", "4", "S7").counter
    assert (counter.state, counter.staff) == ("idle", "S7")
    paused = hall.op("pause", "4", "system_fault").counter
    assert (paused.state, paused.reason) == ("paused", "system_fault")
    assert hall.engine.snapshot()["counters"]["4"]["reason"] == "system_fault"
    assert hall.op("resume", "4").counter.state == "idle"
    hall.take("C")
    hall.call("4")
    refused("counter_busy", hall.op, "logout", "4")
    refused("counter_busy", hall.op, "pause", "4", "break")
    refused("counter_busy", hall.op, "login", "4", "S8")
    hall.op("finish", "4")
    assert hall.op("logout", "4").counter.state == "closed"
    refused("counter_closed", hall.op, "finish", "4")


# ---------------------------------------------------------------- ratings


def test_rating_once_per_ticket(hall: Hall) -> None:
    ticket = hall.take("A")
    hall.login("1")
    refused("not_served", hall.op, "rate", ticket.id, 5)
    hall.call("1")
    refused("not_served", hall.op, "rate", ticket.id, 5)
    hall.op("finish", "1")
    refused("bad_level", hall.op, "rate", ticket.id, 6)
    refused("bad_level", hall.op, "rate", ticket.id, 0)
    refused("bad_level", hall.op, "rate", ticket.id, True)
    refused("not_your_ticket", hall.op, "rate", ticket.id, 4, counter="2")
    assert hall.op("rate", "A001", 4, counter="1").level == 4  # by today's number
    refused("already_rated", hall.op, "rate", ticket.id, 5)
    refused("unknown_ticket", hall.op, "rate", "20261127-Z999", 5)
    hall.reopen()
    refused("already_rated", hall.op, "rate", ticket.id, 1)


def test_rating_while_being_served_is_kept_by_the_finish(hall: Hall) -> None:
    ticket = hall.take("A")
    hall.login("1")
    hall.call("1")
    hall.op("start", "1")
    hall.op("rate", ticket.id, 5)
    hall.op("finish", "1")
    assert hall.engine.store.ticket(ticket.id).rating == 5


# ---------------------------------------------------------------- request ids


def test_a_repeated_request_id_repeats_the_answer_never_the_action(hall: Hall) -> None:
    first = hall.engine.take_ticket("same", "A", "kiosk-1")
    again = hall.engine.take_ticket("same", "A", "kiosk-1")
    assert again.replayed and not first.replayed
    assert again.ticket == first.ticket
    hall.login("1")
    hall.take("A")
    call = hall.engine.call_next("call-1", "1")
    assert hall.engine.call_next("call-1", "1").ticket == call.ticket
    assert len(hall.events()) == 1  # one call, one event
    hall.crash_reopen()
    assert hall.engine.take_ticket("same", "A", "kiosk-1").ticket == first.ticket
    assert hall.engine.call_next("call-1", "1").seq == 1
    refused("request_id_reused", hall.engine.finish, "same", "1")
    refused("bad_request", hall.engine.take_ticket, "", "A", "kiosk-1")
    refused("bad_request", hall.engine.take_ticket, "x" * 129, "A", "kiosk-1")


def test_refused_operations_change_nothing(hall: Hall) -> None:
    hall.take("A")
    hall.login("1", "2")
    hall.call("1")
    before = hall.engine.snapshot()
    db = sqlite3.connect(hall.path)
    rows_before = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("tickets", "calls", "requests", "events")]
    attempts = [
        ("take_ticket", ("Q", "d1")), ("call_next", ("77",)), ("call_next", ("2",)), ("finish", ("2",)),
        ("finish", ("2",), {"ticket": "A001"}), ("transfer", ("1",), {"to_service": "A"}), ("rate", ("A001", 9)),
        ("pause", ("1", "break")), ("no_show", ("1",)), ("take_ticket", ("A", "")), ("login", ("1", "")),
    ]
    for name, args, *kwargs in attempts:
        with pytest.raises(TicketerError):
            hall.op(name, *args, **(kwargs[0] if kwargs else {}))
    assert hall.engine.snapshot() == before
    assert [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("tickets", "calls", "requests", "events")] == rows_before


# ---------------------------------------------------------------- recovery


def test_restart_recovers_the_whole_queue(hall: Hall) -> None:
    for service in "AABCV":
        hall.take(service)
    hall.take("A", priority="elderly")
    hall.login("1", "2", "3")
    hall.call("1")
    hall.call("2")
    hall.op("start", "2")
    hall.op("pause", "3", "meeting")
    before = hall.engine.snapshot()
    waiting = dict(hall.engine.waiting.tickets)
    hall.crash_reopen()  # as after SIGKILL: the old engine never closed
    assert hall.engine.snapshot() == before
    assert hall.engine.waiting.tickets == waiting
    assert hall.engine.seq == 2
    hall.op("finish", "2")
    assert hall.call("2").number == "A002"


def test_events_not_handed_before_a_crash_are_handed_again(hall: Hall) -> None:
    for _ in range(3):
        hall.take("A")
    hall.login("1", "2", "3")
    hall.call("1")
    assert [e["seq"] for _, e in hall.events()] == [1]
    hall.call("2")
    hall.call("3")
    hall.crash_reopen()
    # seq 1 was handed (its row goes with the next commit), 2 and 3 were not: all may come
    # again, with the same ids, which receivers drop.
    again = hall.events()
    assert [e["seq"] for _, e in again][-2:] == [2, 3]
    assert len({e["id"] for _, e in again}) == len(again)
    # Handed rows are forgotten in batches with later commits: after a crash at most a
    # batch comes again.
    for _ in range(5):
        for _ in range(hall.engine.section.recall_limit):
            hall.op("recall", "1")
        hall.op("no_show", "1")
        hall.take("A")
        hall.call("1")
    assert len(hall.events()) > FORGET_BATCH
    hall.take("A")
    hall.crash_reopen()
    assert len(hall.events()) < FORGET_BATCH


def test_a_full_disk_refuses_the_operation_and_changes_nothing(hall: Hall) -> None:
    hall.login("1")
    db = hall.engine.store._db  # noqa: SLF001 — SQLite's own size cap stands in for a full disk
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    taken = []
    with pytest.raises(TicketerError) as caught:
        for _ in range(10_000):
            taken.append(hall.take("A"))
    assert caught.value.code == "storage_error"
    before = hall.engine.snapshot()
    assert before["services"]["A"]["waiting"] == len(taken)
    db.execute("PRAGMA max_page_count = 1073741823")
    # Nothing half-done: the next operations work and the numbering has no gap.
    assert hall.take("A").number == f"A{len(taken) + 1:03d}"
    hall.crash_reopen()
    assert hall.engine.snapshot()["services"]["A"]["waiting"] == len(taken) + 1


def test_tickets_of_a_counter_removed_from_the_config_go_back_to_the_queue(hall: Hall) -> None:
    a1 = hall.take("A")
    hall.login("8")
    hall.call("8")
    fewer = section(counters=[{"id": str(n), "services": ["A", "B", "C", "V"]} for n in range(1, 8)])
    hall.reopen(fewer)
    assert a1.id in hall.engine.waiting and "8" not in hall.engine.counters
    hall.login("1")
    assert hall.call("1").id == a1.id
