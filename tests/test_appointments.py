"""Appointments (预约办税) at the ticketer: booking against slot capacity and the per-taxpayer
limit, cancellation, check-in windows, no-shows, the checked-in ticket's place in routing, and
privacy — the appointment desk in the ticketer service on a real Mosquitto, real SQLite files,
and a clock the test moves."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from taxhall.bus import HallBus
from taxhall.config import ConfigError, DeviceConfig, Overrides, load_config
from ticketer.appointments import (AppointmentDesk, AppointmentsSection, check_against_ticketer, format_code, new_code,
                                   normalize_code, open_desk)
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.service import TicketerService
from ticketer.store import Store
from ticketer.workdays import WorkCalendar

ZONE = ZoneInfo("Asia/Shanghai")
PHONE = "13812345678"
TAXPAYER_ID = "91310115MA1K4FQX3N"


def at(text: str) -> float:
    """'2026-11-30 09:20' in the hall's zone → a timestamp."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE).timestamp()


class Clock:
    def __init__(self, start: str) -> None:
        self.now = at(start)

    def __call__(self) -> float:
        return self.now

    def set(self, text: str) -> None:
        self.now = at(text)


class Hall:
    """The ticketer with its appointment desk, and a web and a dispenser client on the bus."""

    def __init__(self, service: TicketerService, desk: AppointmentDesk, web: HallBus, dispenser: HallBus,
                 clock: Clock, data_dir: Path) -> None:
        self.service, self.desk, self.web, self.dispenser, self.clock, self.data_dir = service, desk, web, dispenser, clock, data_dir

    def ask(self, op: str, via: HallBus | None = None, **fields: Any) -> dict[str, Any]:
        return (via or self.web).request(f"appointments/req/{op}", fields, check=False)

    def book(self, slot: str = "10:00", day: str = "2026-11-30", service: str = "B", taxpayer: str = PHONE,
             **fields: Any) -> dict[str, Any]:
        return self.ask("book", service=service, day=day, slot=slot, taxpayer=taxpayer, source="web", **fields)

    def check_in(self, code: str) -> dict[str, Any]:
        return self.ask("check_in", via=self.dispenser, code=code, source="dispenser-1")

    def queue(self, op: str, **fields: Any) -> dict[str, Any]:
        return self.dispenser.request(f"queue/req/{op}", fields, check=False)


def error(reply: dict[str, Any]) -> str | None:
    return None if reply["ok"] else reply["error"]["code"]


@pytest.fixture
def hall(device_config: Callable[..., DeviceConfig], bus_factory: Callable[..., HallBus],
         tmp_path: Path) -> Iterator[Callable[..., Hall]]:
    started: list[TicketerService] = []

    def start(clock_at: str = "2026-11-30 08:00", **appointments: Any) -> Hall:
        clock = Clock(clock_at)
        section = TicketerSection.model_validate({"timezone": "Asia/Shanghai"})
        engine = Engine(section, Store(tmp_path / "ticketer" / "queue.sqlite"), clock=clock)
        settings = AppointmentsSection.model_validate({"capacity": 2, **appointments})
        # Monday 2026-11-30 works; Tuesday 1 December is a holiday; Saturday 5 December a 调休 working day.
        calendar = WorkCalendar(frozenset({5, 6}), frozenset({at_day("2026-12-01")}), frozenset({at_day("2026-12-05")}))
        desk = open_desk(settings, engine, tmp_path, calendar, clock=clock)
        service = TicketerService(engine, HallBus(device_config("ticketer", "ticketer")))
        service.add_desk(desk)
        service.start()
        started.append(service)
        return Hall(service, desk, bus_factory("web", role="web"), bus_factory("dispenser-1", role="dispenser"), clock, tmp_path)

    yield start
    for service in started:
        service.close()


def at_day(text: str) -> Any:
    return datetime.strptime(text, "%Y-%m-%d").date()


# ---------------------------------------------------------------- config


def test_config_errors_name_the_option(tmp_path: Path) -> None:
    from ticketer.appointments import SECTIONS

    def load(body: str) -> DeviceConfig:
        path = tmp_path / "device.toml"
        path.write_text(body, encoding="utf-8")
        return load_config(str(path), "ticketer", Overrides(), sections=SECTIONS)

    with pytest.raises(ConfigError, match=r"appointments\.windows: expected a time like 08:30"):
        load('[appointments]\nwindows = ["9-12"]\n')
    with pytest.raises(ConfigError, match=r"appointments\.windows: expected booking windows that do not overlap"):
        load('[appointments]\nwindows = ["09:00-12:00", "11:00-13:00"]\n')
    with pytest.raises(ConfigError, match=r"appointments\.slot_minutes: .*greater than or equal to 5"):
        load("[appointments]\nslot_minutes = 1\n")
    with pytest.raises(ConfigError, match=r"capacity_by_service only for bookable services \(\['X'\] are not"):
        load('[appointments]\ncapacity_by_service = {X = 3}\n')
    with pytest.raises(ConfigError, match=r"appointments\.max_opne: unknown key; expected one of: .*max_open"):
        load("[appointments]\nmax_opne = 3\n")
    lunch = load('[appointments]\nwindows = ["09:00-11:00", "13:30-14:30"]\nslot_minutes = 30\n').section("appointments")
    assert [f"{m // 60:02d}:{m % 60:02d}" for m in lunch.slot_starts()] == ["09:00", "09:30", "10:00", "10:30", "13:30", "14:00"]
    # Services must be the queue's own.
    services = Engine(TicketerSection.model_validate({}), Store(tmp_path / "q.sqlite")).services
    with pytest.raises(ConfigError, match=r"appointments\.services: \['Z'\] are not services of \[ticketer\]"):
        check_against_ticketer(AppointmentsSection.model_validate({"services": ["A", "Z"]}), services)
    with pytest.raises(ValidationError):
        AppointmentsSection.model_validate({"checkin_priority": "vip"})


def test_codes_catch_typing_mistakes() -> None:
    code = new_code()
    assert len(code) == 9 and normalize_code(code) == code
    assert normalize_code(format_code(code)) == code  # as printed, with dashes
    assert normalize_code(f"https://hall.example/book/{code}?lang=en") == code  # its QR code
    wrong_digit = code[:4] + str((int(code[4]) + 1) % 10) + code[5:]
    assert normalize_code(wrong_digit) is None
    swapped = next((code[:i] + code[i + 1] + code[i] + code[i + 2:] for i in range(8) if code[i] != code[i + 1]), None)
    assert swapped is None or normalize_code(swapped) is None
    assert normalize_code("12345") is None


# ---------------------------------------------------------------- booking


def test_slots_follow_windows_calendar_and_capacity(hall: Callable[..., Hall]) -> None:
    h = hall("2026-11-30 09:10")
    listing = h.ask("slots")
    assert [s["code"] for s in listing["services"]] == ["A", "B", "C"]
    days = {d["day"]: d for d in h.ask("slots", service="B")["days"]}
    assert len(days) == 8  # today and the next 7
    monday = {s["slot"]: s for s in days["2026-11-30"]["slots"]}
    assert "12:00" not in monday and "13:30" in monday  # the lunch break
    assert not monday["09:00"]["bookable"]  # begun already
    assert monday["09:30"]["bookable"] and monday["09:30"]["remaining"] == 2
    assert days["2026-12-01"]["slots"] == [] and not days["2026-12-01"]["open"]  # the holiday
    assert days["2026-12-06"]["slots"] == []  # Sunday
    assert days["2026-12-05"]["open"]  # the make-up Saturday works

    assert error(h.book("09:00")) == "slot_past"
    assert error(h.book("10:00", day="2026-12-01")) == "day_not_bookable"
    assert error(h.book("10:00", day="2026-12-09")) == "day_not_bookable"  # beyond days_ahead
    assert error(h.book("12:00")) == "unknown_slot"
    assert error(h.book(service="V")) == "unknown_service"
    assert error(h.book(taxpayer="12345")) == "bad_taxpayer"


def test_a_full_slot_cannot_be_booked(hall: Callable[..., Hall]) -> None:
    h = hall()
    first, second = h.book(taxpayer="13800000001"), h.book(taxpayer="13800000002")
    assert first["ok"] and second["ok"] and first["appointment"]["code"] != second["appointment"]["code"]
    full = h.book(taxpayer="13800000003")
    assert error(full) == "slot_full"
    slot = next(s for s in h.ask("slots", service="B")["days"][0]["slots"] if s["slot"] == "10:00")
    assert (slot["booked"], slot["remaining"], slot["bookable"]) == (2, 0, False)
    assert h.book(service="C", taxpayer="13800000003")["ok"]  # capacity is per service
    assert h.book("10:30", taxpayer="13800000003")["ok"]


def test_double_booking_and_the_per_taxpayer_limit(hall: Callable[..., Hall]) -> None:
    h = hall(max_open=2, capacity=5)
    first = h.book("10:00", request_id="web-book-1")
    assert first["ok"] and first["appointment"]["taxpayer"] == "138****5678"
    again = h.book("10:00", request_id="web-book-1")  # the same form sent twice: the same answer
    assert again["appointment"]["code"] == first["appointment"]["code"]
    assert error(h.book("10:00", taxpayer="138 1234 5678")) == "already_booked"  # spaces do not make another person
    assert h.book("10:30", taxpayer="+8613812345678")["ok"]
    assert error(h.book("11:00")) == "too_many_open"
    assert h.book("11:00", taxpayer=TAXPAYER_ID.lower())["ok"]  # a taxpayer id is another taxpayer
    assert h.ask("cancel", code=first["appointment"]["code"], source="web")["ok"]
    assert h.book("11:00")["ok"]  # a cancelled one no longer counts
    day = h.ask("list", day="2026-11-30")
    assert sum(s["booked"] for s in day["slots"]) == 3 and sum(s["cancelled"] for s in day["slots"]) == 1


def test_cancellation_frees_the_slot(hall: Callable[..., Hall]) -> None:
    h = hall(capacity=1)
    booked = h.book(taxpayer="13800000001")["appointment"]
    assert error(h.book(taxpayer="13800000002")) == "slot_full"
    assert error(h.ask("cancel", code=booked["code"][:-1] + "0" if booked["code"][-1] != "0" else booked["code"][:-1] + "1",
                       source="web")) == "unknown_appointment"
    cancelled = h.ask("cancel", code=format_code(booked["code"]), source="web")
    assert cancelled["ok"] and cancelled["appointment"]["state"] == "cancelled"
    assert h.ask("lookup", code=booked["code"])["appointment"]["state"] == "cancelled"
    assert error(h.ask("cancel", code=booked["code"], source="web")) == "not_cancellable"
    assert h.book(taxpayer="13800000002")["ok"]
    assert error(h.check_in(booked["code"])) == "appointment_cancelled"


# ---------------------------------------------------------------- at the hall


def test_check_in_only_inside_its_window(hall: Callable[..., Hall]) -> None:
    h = hall(checkin_before_min=30, checkin_after_min=15)
    early_bird = h.book("10:00")["appointment"]
    latecomer = h.book("10:00", taxpayer="13800000009")["appointment"]
    assert early_bird["checkin_from"] == "2026-11-30T09:30+08:00" and early_bird["checkin_until"] == "2026-11-30T10:15+08:00"

    h.clock.set("2026-11-30 09:29")
    too_early = h.check_in(early_bird["code"])
    assert error(too_early) == "too_early" and "09:30" in too_early["error"]["message"]
    h.clock.set("2026-11-30 09:30")
    done = h.check_in(format_code(early_bird["code"]))
    assert done["ok"] and done["appointment"]["state"] == "checked_in"
    ticket = done["ticket"]
    assert ticket["service"] == "V" and ticket["number"] == "V001"
    assert error(h.check_in(early_bird["code"])) == "already_checked_in"
    assert h.ask("lookup", via=h.dispenser, code=early_bird["code"])["appointment"]["ticket"] == "V001"
    assert error(h.ask("cancel", code=early_bird["code"], source="web")) == "not_cancellable"

    h.clock.set("2026-11-30 10:15")
    too_late = h.check_in(latecomer["code"])
    assert error(too_late) == "too_late" and "10:15" in too_late["error"]["message"]
    assert h.ask("lookup", code=latecomer["code"])["appointment"]["state"] == "booked"  # kept; tick decides no-show

    # The engine knows the ticket as an appointment ticket of that code.
    row = sqlite3.connect(h.data_dir / "ticketer" / "queue.sqlite").execute(
        "SELECT priority, appointment FROM tickets WHERE number = 'V001'").fetchone()
    assert row == ("appointment", early_bird["code"])


def test_a_repeated_check_in_request_gives_the_same_ticket(hall: Callable[..., Hall]) -> None:
    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    h.clock.set("2026-11-30 09:50")
    first = h.ask("check_in", via=h.dispenser, code=code, source="dispenser-1", request_id="disp-1-abc")
    second = h.ask("check_in", via=h.dispenser, code=code, source="dispenser-1", request_id="disp-1-abc")
    assert first["ok"] and second["ticket"] == first["ticket"]
    assert h.queue("take_ticket", service="A", source="dispenser-1")["ticket"]["number"] == "A001"
    assert h.service.engine.waiting.count("V", priority_only=False) == 1


def test_no_shows_are_marked_after_the_window_and_counted_per_taxpayer(hall: Callable[..., Hall]) -> None:
    h = hall(checkin_after_min=15, capacity=4)
    missed = h.book("09:00")["appointment"]
    kept = h.book("09:00", taxpayer="13800000001")["appointment"]
    later = h.book("10:00")["appointment"]
    h.clock.set("2026-11-30 09:05")
    assert h.check_in(kept["code"])["ok"]
    h.clock.set("2026-11-30 09:14")
    h.service.tick()
    assert h.ask("lookup", code=missed["code"])["appointment"]["state"] == "booked"  # still inside its window
    h.clock.set("2026-11-30 09:15")
    h.service.tick()
    assert h.ask("lookup", code=missed["code"])["appointment"]["state"] == "no_show"
    assert h.ask("lookup", code=later["code"])["appointment"]["state"] == "booked"
    assert h.ask("lookup", code=kept["code"])["appointment"]["state"] == "checked_in"
    assert error(h.check_in(missed["code"])) == "too_late"

    day = h.ask("list", day="2026-11-30")
    by_code = {a["code"]: a for a in day["appointments"]}
    assert all(code.endswith("**-***") for code in by_code)  # the dashboard does not show whole codes
    nine = next(s for s in day["slots"] if s["slot"] == "09:00" and s["service"] == "B")
    assert (nine["booked"], nine["checked_in"], nine["no_show"]) == (0, 1, 1)
    empty = next(s for s in day["slots"] if s["slot"] == "16:30" and s["service"] == "A")  # every slot, empty ones too
    assert (empty["booked"], empty["capacity"]) == (0, 4)
    assert h.ask("list", day="2026-12-01")["slots"] == []  # the holiday has none
    mine = [a for a in day["appointments"] if a["taxpayer"] == "138****5678"]
    assert {a["no_shows"] for a in mine} == {1}
    stats = h.ask("stats", first="2026-11-30", last="2026-11-30")["days"]
    assert stats == [{"day": "2026-11-30", "bookings": 3, "checked_in": 1, "no_show": 1, "cancelled": 0, "open": 1}]


def test_the_checked_in_ticket_goes_before_older_normal_tickets_within_the_fairness_rule(hall: Callable[..., Hall]) -> None:
    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    assert h.queue("login", counter="1", staff="S1")["ok"]
    h.clock.set("2026-11-30 09:37")
    normal = h.queue("take_ticket", service="V", source="dispenser-1")["ticket"]
    h.clock.set("2026-11-30 09:40")
    booked = h.check_in(code)["ticket"]
    h.clock.set("2026-11-30 09:42")
    # The normal ticket waited 5 minutes, the appointment 2: 3 × 2 ≥ 5, so the appointment first.
    assert h.queue("call_next", counter="1")["ticket"]["number"] == booked["number"]
    assert h.queue("finish", counter="1")["ok"]
    assert h.queue("call_next", counter="1")["ticket"]["number"] == normal["number"]
    assert h.queue("finish", counter="1")["ok"]

    # The fairness bound: a normal ticket that has waited more than 3× as long goes first.
    second = h.book("10:30", taxpayer="13800000001")["appointment"]["code"]
    h.clock.set("2026-11-30 09:50")
    old_normal = h.queue("take_ticket", service="V", source="dispenser-1")["ticket"]
    h.clock.set("2026-11-30 10:05")
    late_booked = h.check_in(second)["ticket"]
    h.clock.set("2026-11-30 10:08")  # normal waited 18 min, appointment 3: 3 × 3 < 18
    assert h.queue("call_next", counter="1")["ticket"]["number"] == old_normal["number"]
    assert h.queue("finish", counter="1")["ok"]
    assert h.queue("call_next", counter="1")["ticket"]["number"] == late_booked["number"]


# ---------------------------------------------------------------- privacy


def test_no_clear_phone_or_taxpayer_id_in_the_database_or_logs(hall: Callable[..., Hall],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = hall()
    by_phone = h.book("10:00")["appointment"]
    by_id = h.book("10:00", taxpayer=TAXPAYER_ID)["appointment"]
    assert by_id["taxpayer"] == "913***********QX3N"
    h.clock.set("2026-11-30 09:45")
    assert h.check_in(by_phone["code"])["ok"]
    assert h.book("11:00", taxpayer=PHONE)["ok"]
    assert error(h.book("11:00", taxpayer=PHONE)) == "already_booked"
    assert error(h.book("11:30", taxpayer=PHONE + "9")) == "bad_taxpayer"
    h.clock.set("2026-11-30 11:00")
    h.service.tick()
    h.service.engine.store.checkpoint()
    files = sorted((h.data_dir / "ticketer").glob("*.sqlite*"))
    assert any(f.name == "appointments.sqlite" for f in files)
    for path in files:
        raw = path.read_bytes()
        for secret in (PHONE, TAXPAYER_ID, TAXPAYER_ID.encode().hex()):
            assert secret.encode() not in raw, f"{secret} in {path.name}"
    assert b"138****5678" in (h.data_dir / "ticketer" / "appointments.sqlite").read_bytes() + \
        b"".join(p.read_bytes() for p in files if p.name.startswith("appointments.sqlite-"))
    logged = caplog.text
    assert PHONE not in logged and TAXPAYER_ID not in logged
    assert "138****5678" in logged  # what the log does say
    assert by_phone["code"] not in logged and f"{by_phone['code'][:3]}-***-***" in logged  # a code is its holder's key
    journal = sqlite3.connect(h.data_dir / "ticketer" / "appointments.sqlite").execute(
        "SELECT journal_mode FROM pragma_journal_mode").fetchone()
    assert journal == ("wal",)
    assert (h.data_dir / "ticketer" / "appointments.key").stat().st_mode & 0o077 == 0


def test_old_appointments_are_forgotten_after_the_retention(hall: Callable[..., Hall]) -> None:
    h = hall(retention_days=30)
    code = h.book("10:00", request_id="web-book-old")["appointment"]["code"]
    h.clock.set("2026-12-30 09:00")  # 30 days on: still kept, a no-show now
    h.service.tick()
    assert h.ask("lookup", code=code)["appointment"]["state"] == "no_show"
    h.clock.set("2026-12-31 09:00")
    h.service.tick()
    assert error(h.ask("lookup", code=code)) == "unknown_appointment"
    assert h.ask("stats", first="2026-11-01", last="2026-12-31")["days"] == []
    # Its request id is forgotten too: the same id now books anew.
    h.clock.set("2026-12-31 09:05")
    assert h.book("10:00", day="2026-12-31", request_id="web-book-old")["appointment"]["code"] != code


def test_the_ticketer_opens_the_desk_from_its_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from taxhall.cli import _ticketer_sections
    from ticketer.appointments import appointment_desks

    def desks(body: str, services: str = "") -> list[AppointmentDesk]:
        path = tmp_path / "device.toml"
        path.write_text(services + body, encoding="utf-8")
        config = load_config(str(path), "ticketer", Overrides(data_dir=str(tmp_path / "data")), sections=_ticketer_sections())
        engine = Engine(config.section("ticketer"), Store(tmp_path / f"q{len(list(tmp_path.iterdir()))}.sqlite"))
        return appointment_desks(config, engine)

    example = desks("")  # no section: the example hall's defaults
    assert len(example) == 1 and (tmp_path / "data" / "ticketer" / "appointments.sqlite").exists()
    example[0].close()
    assert desks("[appointments]\nenabled = false\n") == []
    other_hall = '[ticketer]\nservices = [{code = "K", name = "咨询", name_en = "Advice"}]\ncounters = [{id = "1", services = ["K"]}]\n'
    assert desks("", other_hall) == []  # defaults that do not fit: the queue runs without appointments
    assert "appointments off" in caplog.text
    with pytest.raises(ConfigError, match=r"appointments\.checkin_service: 'V' is not a service of \[ticketer\]"):
        desks('[appointments]\nservices = ["K"]\n', other_hall)  # said explicitly: refuse to start
    fitting = desks('[appointments]\nservices = ["K"]\ncheckin_service = ""\n', other_hall)
    assert [s["code"] for s in fitting[0].slots(None, 0.0)["services"]] == ["K"]
    fitting[0].close()
