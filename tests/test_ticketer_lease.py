"""Offline dispensing in the queue engine, on a real SQLite file: the band take_ticket never
issues, leases (sizes, per dispenser, idempotent, running out, per business day), hand-in
(placed by take time, never twice, all or nothing, refused for numbers not leased or of an
ended day) and both kept across a crash."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ticketer.model import OpResult, TicketerError
from ticketer.stats import day_stats
from tests.ticketer_helpers import TZ, Hall, at, section


@pytest.fixture
def hall(tmp_path: Path) -> Hall:
    return Hall(tmp_path / "queue.sqlite")


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> TicketerError:
    with pytest.raises(TicketerError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def iso(text: str) -> str:
    """'2026-11-27 09:10' → the ISO time a dispenser sends, with the hall's offset."""
    return datetime.fromtimestamp(at(text), TZ).isoformat(timespec="milliseconds")


def lease(hall: Hall, source: str = "dispenser-1", services: list[str] | None = None, size: int = 3,
          request_id: str | None = None) -> dict[str, Any]:
    result = hall.engine.lease(request_id or hall.rid(), source, services, size)
    assert result.data is not None
    return result.data


def numbers(answer: dict[str, Any], service: str = "A") -> list[str]:
    return list(answer["leases"][service]["numbers"])


def offline(number: str, taken: str, service: str = "A", **extra: Any) -> dict[str, Any]:
    return {"number": number, "service": service, "taken_at": iso(taken), **extra}


def hand_in(hall: Hall, *tickets: dict[str, Any], source: str = "dispenser-1", request_id: str | None = None) -> OpResult:
    return hall.engine.hand_in(request_id or hall.rid(), source, list(tickets))


def handed(result: OpResult) -> list[dict[str, Any]]:
    assert result.data is not None
    return list(result.data["tickets"])


def waiting_numbers(hall: Hall) -> list[str]:
    return sorted(t.number for t in hall.engine.waiting)


# ---------------------------------------------------------------- the band


def test_the_band_is_the_top_tenth_by_default_and_configurable() -> None:
    assert section().offline_band == range(901, 1000)
    assert section(number_digits=2).offline_band == range(91, 100)
    assert section(offline_band_start=951).offline_band == range(951, 1000)
    assert not section(offline_band_start=1000).offline_band  # no band
    for bad in (1, 1001):
        with pytest.raises(ValueError, match="offline_band_start"):
            section(offline_band_start=bad)


def test_take_ticket_never_issues_the_band_and_widens_past_it(tmp_path: Path) -> None:
    wide = Hall(tmp_path / "w.sqlite", section(number_digits=2))  # band C91–C99
    issued = [wide.take("C").number for _ in range(95)]
    assert issued[89] == "C90" and issued[90:] == ["C100", "C101", "C102", "C103", "C104"]
    assert not any(91 <= int(n[1:]) <= 99 for n in issued)
    strict = Hall(tmp_path / "s.sqlite", section(number_digits=2, on_number_overflow="refuse"))
    for _ in range(90):
        strict.take("C")
    refused("numbers_exhausted", strict.take, "C")  # after C90: the band is not for take_ticket


def test_handed_in_band_numbers_do_not_move_the_normal_numbering(hall: Hall) -> None:
    assert numbers(lease(hall, services=["A"], size=2)) == ["A901", "A902"]
    hand_in(hall, offline("A901", "2026-11-27 08:59"))
    assert hall.take("A").number == "A001"
    hall.reopen()  # the numbering read back from the database skips the band as well
    assert hall.take("A").number == "A002"


# ---------------------------------------------------------------- leases


def test_leases_by_size_per_dispenser_and_a_repeat_is_the_same_lease(hall: Hall) -> None:
    first = lease(hall, "dispenser-1", ["A", "B"], 3, request_id="d1-lease-1")
    assert first["day"] == "2026-11-27"
    assert first["leases"] == {"A": {"lease_id": "L-A-20261127-1", "numbers": ["A901", "A902", "A903"]},
                               "B": {"lease_id": "L-B-20261127-1", "numbers": ["B901", "B902", "B903"]}}
    other = lease(hall, "dispenser-2", ["A"], 2)
    assert numbers(other) == ["A904", "A905"] and other["leases"]["A"]["lease_id"] == "L-A-20261127-2"
    again = hall.engine.lease("d1-lease-1", "dispenser-1", ["A", "B"], 3)
    assert again.replayed and again.data == first  # the same numbers, none newly reserved
    assert numbers(lease(hall, "dispenser-1", ["A"], 1)) == ["A906"]  # asking anew: new numbers
    everything = lease(hall, "dispenser-3", size=1)
    assert sorted(everything["leases"]) == ["A", "B", "C", "V"] and numbers(everything, "V") == ["V901"]


def test_lease_requests_are_checked(hall: Hall) -> None:
    refused("unknown_service", lease, hall, services=["Q"])
    for size in (0, 101, "3", True):
        refused("bad_request", lease, hall, size=size)  # type: ignore[arg-type]
    refused("bad_request", lease, hall, services=[])
    refused("bad_request", lease, hall, source="")
    assert numbers(lease(hall, services=["A"], size=1)) == ["A901"]  # refusals reserved nothing


def test_when_the_band_runs_out_a_lease_gets_what_is_left(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(number_digits=2))  # 9 numbers: C91–C99
    assert numbers(lease(hall, services=["C"], size=5), "C") == ["C91", "C92", "C93", "C94", "C95"]
    assert numbers(lease(hall, services=["C"], size=5), "C") == ["C96", "C97", "C98", "C99"]
    empty = lease(hall, services=["C"], size=5)
    assert empty["leases"]["C"] == {"lease_id": None, "numbers": []}


# ---------------------------------------------------------------- hand-in


def test_an_offline_ticket_taken_before_an_online_one_is_called_first(hall: Hall) -> None:
    lease(hall, services=["A"], size=3)  # 09:00, online
    hall.clock.now = at("2026-11-27 09:20")
    online = hall.take("A")  # taken while the dispenser was cut off from the engine
    hall.clock.now = at("2026-11-27 09:30")  # back: the dispenser hands in what it issued at 09:10
    ticket = handed(hand_in(hall, offline("A901", "2026-11-27 09:10")))[0]
    assert ticket["id"] == "20261127-A901" and ticket["number"] == "A901" and ticket["service"] == "A"
    assert ticket["offline"] is True and ticket["state"] == "waiting" and len(ticket["token"]) == 16
    assert ticket["ahead"] == 0 and ticket["est_wait_s"] == 0  # A001 came after it
    stored = hall.engine.store.ticket(ticket["id"])
    assert stored is not None and stored.taken_at == stored.queued_at == stored.waiting_since == at("2026-11-27 09:10")
    assert stored.source == "dispenser-1"
    hall.login("1")
    assert [hall.serve("1").number, hall.serve("1").number] == ["A901", online.number]


def test_an_offline_ticket_taken_after_an_online_one_waits_behind_it(hall: Hall) -> None:
    lease(hall, services=["A"], size=3)
    hall.clock.now = at("2026-11-27 09:05")
    online = hall.take("A")
    hall.clock.now = at("2026-11-27 09:30")
    batch = handed(hand_in(hall, offline("A902", "2026-11-27 09:15"), offline("A901", "2026-11-27 09:10")))
    assert [t["number"] for t in batch] == ["A902", "A901"]  # answered in the order sent
    assert [t["ahead"] for t in batch] == [2, 1]  # behind A001, and A902 behind A901
    hall.login("1")
    assert [hall.serve("1").number for _ in range(3)] == [online.number, "A901", "A902"]


def test_a_ticket_taken_on_a_clock_ahead_of_the_engine_is_queued_now(hall: Hall) -> None:
    lease(hall, services=["A"], size=1)
    ticket = handed(hand_in(hall, offline("A901", "2026-11-27 09:30")))[0]  # engine's clock: 09:00
    stored = hall.engine.store.ticket(ticket["id"])
    assert stored is not None and stored.queued_at == at("2026-11-27 09:00")


def test_a_repeated_hand_in_never_makes_a_second_ticket(hall: Hall) -> None:
    lease(hall, services=["A", "B"], size=3)
    hall.clock.now = at("2026-11-27 09:30")
    first = hand_in(hall, offline("A901", "2026-11-27 09:10"), offline("B901", "2026-11-27 09:11", "B"),
                    request_id="d1-handin-1")
    again = hand_in(hall, offline("A901", "2026-11-27 09:10"), offline("B901", "2026-11-27 09:11", "B"),
                    request_id="d1-handin-1")
    assert again.replayed and again.data == first.data
    # A new request id (the dispenser's answer was lost and its batch grew meanwhile).
    grown = handed(hand_in(hall, offline("A901", "2026-11-27 09:10"), offline("B901", "2026-11-27 09:11", "B"),
                           offline("A902", "2026-11-27 09:20"), offline("A902", "2026-11-27 09:20")))
    assert [t["id"] for t in grown] == ["20261127-A901", "20261127-B901", "20261127-A902", "20261127-A902"]
    assert [t["token"] for t in grown[:2]] == [t["token"] for t in handed(first)]
    assert waiting_numbers(hall) == ["A901", "A902", "B901"]
    hall.login("1")
    hall.serve("1")  # A901 is served and done
    later = handed(hand_in(hall, offline("A901", "2026-11-27 09:10")))[0]
    assert later["id"] == "20261127-A901" and later["state"] == "done" and "ahead" not in later
    assert waiting_numbers(hall) == ["A902", "B901"]


def test_numbers_not_leased_to_the_dispenser_refuse_the_whole_batch(hall: Hall) -> None:
    lease(hall, "dispenser-1", ["A"], 2)  # A901, A902
    lease(hall, "dispenser-2", ["A"], 1)  # A903
    hall.clock.now = at("2026-11-27 09:30")
    error = refused("not_leased", hand_in, hall, offline("A901", "2026-11-27 09:10"), offline("A950", "2026-11-27 09:11"))
    assert "A950" in error.message
    error = refused("not_leased", hand_in, hall, offline("A903", "2026-11-27 09:12"))  # dispenser-2's
    assert "A903" in error.message and "dispenser-1" in error.message
    refused("not_leased", hand_in, hall, offline("A902", "2026-11-27 09:12", "B"))  # not a B number
    refused("not_leased", hand_in, hall, offline("A001", "2026-11-27 09:12"))
    refused("unknown_service", hand_in, hall, offline("Q901", "2026-11-27 09:12", "Q"))
    refused("bad_request", hand_in, hall, {"number": "A901", "service": "A", "taken_at": "soon"})
    refused("bad_request", hand_in, hall, offline("A901", "2026-11-27 09:10", priority="vip"))
    refused("bad_request", hall.engine.hand_in, hall.rid(), "dispenser-1", [])
    assert len(hall.engine.waiting) == 0  # nothing of any refused batch was applied
    lease_row = hall.engine.store.lease("20261127", "A901")
    assert lease_row is not None and lease_row.ticket_id is None
    assert handed(hand_in(hall, offline("A901", "2026-11-27 09:10")))[0]["number"] == "A901"


def test_leases_end_with_the_business_day(hall: Hall) -> None:
    hall.clock.now = at("2026-11-27 23:00")
    lease(hall, services=["A"], size=3)
    hall.clock.now = at("2026-11-27 23:40")
    hand_in(hall, offline("A901", "2026-11-27 23:10"))  # handed in before midnight, still waiting at it
    hall.clock.now = at("2026-11-28 00:10")  # the engine was away over midnight
    error = refused("lease_expired", hand_in, hall, offline("A902", "2026-11-27 23:30"))
    assert "A902" in error.message and "2026-11-27" in error.message
    # A repeat of what was handed in yesterday still answers with its ticket.
    assert handed(hand_in(hall, offline("A901", "2026-11-27 23:10")))[0]["id"] == "20261127-A901"
    # Today's lease starts the band again, round A901 which is still waiting from yesterday.
    today = lease(hall, services=["A"], size=2)
    assert today["day"] == "2026-11-28" and numbers(today) == ["A902", "A903"]
    refused("lease_expired", hand_in, hall, offline("A902", "2026-11-27 23:30"))  # yesterday's A902 stays void
    assert handed(hand_in(hall, offline("A902", "2026-11-28 00:05")))[0]["id"] == "20261128-A902"


def test_the_business_day_of_an_offline_ticket_follows_the_reset_time(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(reset_at="04:00"), start="2026-11-28 02:00")
    assert lease(hall, services=["A"], size=1)["day"] == "2026-11-27"  # before 04:00: still the 27th
    hall.clock.now = at("2026-11-28 03:50")
    assert handed(hand_in(hall, offline("A901", "2026-11-28 03:00")))[0]["id"] == "20261127-A901"


def test_offline_tickets_count_towards_the_daily_limit(tmp_path: Path) -> None:
    services = [{"code": "A", "name": "综合业务", "name_en": "General", "daily_limit": 2}]
    hall = Hall(tmp_path / "q.sqlite", section(services=services, counters=[{"id": "1", "services": ["A"]}]))
    hall.take("A")
    lease(hall, services=["A"], size=2)
    hand_in(hall, offline("A901", "2026-11-27 08:55"))
    refused("daily_limit", hall.take, "A")


def test_leases_and_handed_in_tickets_survive_a_crash(hall: Hall) -> None:
    first = lease(hall, services=["A"], size=2, request_id="d1-lease-1")
    hall.crash_reopen()
    assert hall.engine.lease("d1-lease-1", "dispenser-1", ["A"], 2).data == first
    assert numbers(lease(hall, services=["A"], size=2)) == ["A903", "A904"]  # never A901 again
    hall.clock.now = at("2026-11-27 09:30")
    hand_in(hall, offline("A902", "2026-11-27 09:12"), offline("A901", "2026-11-27 09:10"))
    hall.crash_reopen()
    assert waiting_numbers(hall) == ["A901", "A902"]
    assert [t["id"] for t in handed(hand_in(hall, offline("A901", "2026-11-27 09:10")))] == ["20261127-A901"]
    assert len(hall.engine.waiting) == 2
    hall.reopen()
    hall.login("1")
    assert [hall.serve("1").number, hall.serve("1").number] == ["A901", "A902"]


def test_statistics_count_the_tickets_taken_offline(hall: Hall) -> None:
    hall.take("A")
    lease(hall, services=["A"], size=2)
    hand_in(hall, offline("A901", "2026-11-27 08:50"), offline("A902", "2026-11-27 08:55"))
    rows = {(r.group, r.key): r for r in day_stats(hall.path, "20261127", TZ)}
    assert rows[("hall", "all")].taken == 3 and rows[("hall", "all")].offline == 2
    assert rows[("hour", "08")].offline == 2 and rows[("hour", "09")].offline == 0
    assert rows[("service", "A")].offline == 2


def test_a_ticket_given_up_at_hand_in_is_an_alarm_for_the_rest_of_the_day(hall: Hall) -> None:
    hall.clock.now = at("2026-11-27 23:00")
    lease(hall, services=["A"], size=3)
    hall.events()
    hall.clock.now = at("2026-11-28 00:10")  # the engine was away over midnight
    refused("lease_expired", hand_in, hall, offline("A902", "2026-11-27 23:30"))
    refused("lease_expired", hand_in, hall, offline("A902", "2026-11-27 23:30"))  # the dispenser tries again: said once
    events = [e for _, e in hall.events()]
    assert [(e["kind"], e["severity"]) for e in events] == [("offline_ticket_void", "alarm")]
    data = events[0]["data"]
    assert (data["number"], data["day"], data["source"], data["key"]) == \
        ("A902", "2026-11-27", "dispenser-1", "offline_ticket_void:20261127-A902")
    assert "A902" in events[0]["message"] and "will not be called" in events[0]["message"]
    assert hall.engine.check_alarms() == []  # no condition ends it during the day
    snapshot = hall.engine.alarm_snapshot()["alarms"]
    assert [(a["kind"], a["data"]["number"]) for a in snapshot] == [("offline_ticket_void", "A902")]
    hall.reopen()
    assert hall.engine.check_alarms() == []  # kept across a restart
    hall.clock.now = at("2026-11-29 00:01")  # the next business day
    assert hall.engine.check_alarms() == [("offline_ticket_void:20261127-A902", "cleared")]
    assert hall.engine.alarm_snapshot()["alarms"] == []
