"""Taxpayer appeals on the real queue engine process parts and Mosquitto: an appeal's life over
the bus, first-contact ownership and logged reassignment, deadlines counted in working days
(holidays and 调休 make-up days) with warnings and alarms on a clock the test moves, and the
taxpayer's phone number never in the clear in the database, the logs or the ledger."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import pytest

from taxhall.bus import HallBus
from taxhall.config import ConfigError, load_config
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)
from tests.ticketer_helpers import Inbox, wait_for
from ticketer.appeals import SECTIONS, AppealsDesk, AppealsSection
from ticketer.appeals_book import AppealBook, mask_free_text, mask_phone, normalize_ref
from ticketer.counter_appeal import CounterAppeals
from ticketer.counter_desk import CounterDesk
from ticketer.service import TicketerService
from ticketer.workdays import CalendarSection

TZ = ZoneInfo("Asia/Shanghai")
PHONE = "13912345678"
# National Day 2026: 1–7 October off; Sunday 27 September and Saturday 10 October are worked (调休).
CALENDAR = CalendarSection(holidays=[f"2026-10-0{d}" for d in range(1, 8)], workdays=["2026-09-27", "2026-10-10"])


class Clock:
    """Wall-clock seconds the test moves."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@dataclass
class AppealsHall:
    engine: TicketerService
    desk: AppealsDesk
    clock: Clock
    path: Path
    kiosk: HallBus
    counter: HallBus
    web: HallBus
    events: Inbox

    def ask(self, bus: HallBus, op: str, **fields: Any) -> dict[str, Any]:
        return bus.request(f"appeals/req/{op}", fields, check=False)

    def tick(self) -> None:
        self.engine.tick()


@pytest.fixture
def appeals_hall(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus],  # noqa: F811
                 tmp_path: Path) -> Iterator[Callable[..., AppealsHall]]:
    def start(section: AppealsSection | None = None, now: str = "2026-09-30T15:00") -> AppealsHall:
        engine = ticketer()
        clock = Clock(at(now))
        path = tmp_path / "ticketer" / "appeals.sqlite"
        book = AppealBook(path, section or AppealsSection(), CALENDAR.calendar(), TZ)
        desk = AppealsDesk(book, engine.bus.publish_event, "device/ticketer/event", clock=clock)
        engine.add_desk(desk)
        events = Inbox()
        watcher = bus_factory("watcher")
        watcher.subscribe("device/+/event", events, dedupe=True)
        return AppealsHall(engine, desk, clock, path, bus_factory("kiosk-1", role="kiosk"),
                           bus_factory("counter-3", role="counter"), bus_factory("web", role="web"), events)

    yield start


def appeal_events(hall: AppealsHall) -> list[tuple[str, str, str]]:
    return [(m.kind, m.severity, m.data["ref"]) for m in hall.events.data()
            if m.kind.startswith("appeal_")]


# ---------------------------------------------------------------- config


def test_config_errors_name_the_option(tmp_path: Path) -> None:
    def load(text: str) -> Any:
        path = tmp_path / "t.toml"
        path.write_text(text, encoding="utf-8")
        return load_config(str(path), "ticketer", sections=SECTIONS).section("appeals")

    assert [c.tag for c in load("").categories][:3] == ["invoice", "refund", "waiting"]
    custom = load('[appeals]\nwarn_before_h = 2\n[[appeals.categories]]\ntag = "policy"\nname = "政策落实"\n'
                  'name_en = "Policy"\ndays = 2\nphrases = {late = ["优惠未落实", "Relief not applied"]}\n')
    assert custom.category("policy").days == 2 and custom.warn_before_h == 2
    with pytest.raises(ConfigError, match=r"categories.0.tag: expected lower-case letters"):
        load('[[appeals.categories]]\ntag = "Bad Tag"\nname = "x"\nname_en = "x"\n')
    with pytest.raises(ConfigError, match="appear twice"):
        load('[[appeals.categories]]\ntag = "a"\nname = "x"\nname_en = "x"\n[[appeals.categories]]\ntag = "a"\nname = "y"\nname_en = "y"\n')
    with pytest.raises(ConfigError, match="days"):
        load('[[appeals.categories]]\ntag = "a"\nname = "x"\nname_en = "x"\ndays = 0\n')
    with pytest.raises(ConfigError, match="phrase slow: two texts"):
        load('[[appeals.categories]]\ntag = "a"\nname = "x"\nname_en = "x"\nphrases = {slow = ["只有中文"]}\n')
    with pytest.raises(ConfigError, match="theme_min_weeks at most theme_weeks"):
        load("[appeals]\ntheme_weeks = 3\ntheme_min_weeks = 4\n")


def test_masking_and_references() -> None:
    assert mask_phone(PHONE) == "139****5678"
    assert mask_phone("02787654321") == "027****4321"
    assert mask_phone("7654321") == "***4321"
    said = mask_free_text(f"请回电 {PHONE}，身份证 420602199001011234")
    assert PHONE not in said and "420602199001011234" not in said and "139****5678" in said
    assert normalize_ref("7k3m-9tqx-4p2a") == "7K3M9TQX4P2A"
    assert normalize_ref("7K3M 9TQX 4P2O") == "7K3M9TQX4P20"  # O read as 0
    assert normalize_ref("7K3M") is None and normalize_ref("7K3M-9TQX-4P2U") is None


# ---------------------------------------------------------------- an appeal's life


def test_an_appeal_filed_at_the_kiosk_is_owned_reassigned_answered_and_followed_up(
        appeals_hall: Callable[..., AppealsHall]) -> None:
    hall = appeals_hall()
    catalog = hall.ask(hall.kiosk, "catalog")
    invoice = next(c for c in catalog["categories"] if c["tag"] == "invoice")
    assert invoice["name"] == "发票" and {p["tag"] for p in invoice["phrases"]} >= {"slow"}

    filed = hall.ask(hall.kiosk, "file", request_id="k-1", category="invoice", channel="kiosk", source="kiosk-1",
                     phrases=["slow"], description="B window printer jammed", phone=PHONE)
    assert filed["ok"], filed
    appeal = filed["appeal"]
    ref = appeal["ref"]
    assert len(ref) == 14 and appeal["state"] == "open" and appeal["deadline"].startswith("2026-10-08T15:00")
    # The kiosk's retry after a lost answer repeats the first one: still one appeal.
    assert hall.ask(hall.kiosk, "file", request_id="k-1", category="invoice", channel="kiosk", source="kiosk-1",
                    phrases=["slow"], phone=PHONE)["appeal"]["ref"] == ref
    assert len(hall.ask(hall.web, "list", state="all")["appeals"]) == 1

    # The taxpayer looks it up: no contact, no staff names.
    public = hall.ask(hall.web, "lookup", ref=ref.lower())["appeal"]
    assert public["category_name"] == "发票" and "phone" not in public and "owner" not in public
    assert hall.ask(hall.web, "lookup", ref="0000-0000-0000")["error"]["code"] == "not_found"

    # 首问负责制: the service team received it and owns it; a reassignment says who and why.
    got = hall.ask(hall.web, "get", ref=ref)["appeal"]
    assert got["owner"] == got["received_by"] == "纳税服务组" and got["phone"] == "139****5678"
    moved = hall.ask(hall.web, "assign", request_id="w-1", ref=ref, owner="发票组", by="zhang", reason="invoice printer at window B")
    assert moved["ok"] and moved["appeal"]["owner"] == "发票组"
    # The dashboard's retry after a lost answer gets the same answer, and the history one line.
    assert hall.ask(hall.web, "assign", request_id="w-1", ref=ref, owner="发票组", by="zhang", reason="invoice printer at window B") == moved
    assert hall.ask(hall.web, "assign", ref=ref, owner="发票组", by="zhang", reason="again")["error"]["code"] == "same_owner"
    assert hall.ask(hall.web, "follow_up", ref=ref, kind="feedback", by="li")["error"]["code"] == "not_answered"

    hall.clock.set(at("2026-09-30T17:30"))
    answered = hall.ask(hall.web, "answer", ref=ref, answer="打印机已更换 / printer replaced", by="wang", tags=["invoice.printer"])
    assert answered["ok"] and answered["appeal"]["state"] == "answered" and not answered["appeal"]["answered_late"]
    assert hall.ask(hall.web, "answer", ref=ref, answer="again", by="wang")["error"]["code"] == "already_answered"
    assert hall.ask(hall.web, "lookup", ref=ref)["appeal"]["answer"] == "打印机已更换 / printer replaced"

    assert hall.ask(hall.web, "follow_up", ref=ref, kind="feedback", by="wang", satisfaction=4)["ok"]
    closed = hall.ask(hall.web, "follow_up", ref=ref, kind="return_visit", by="li", satisfaction=5, note="回访：问题已解决")
    assert closed["appeal"]["state"] == "closed" and closed["appeal"]["satisfaction"] == 5
    history = hall.ask(hall.web, "get", ref=ref)["appeal"]["history"]
    assert [h["action"] for h in history] == ["filed", "reassigned", "answered", "feedback", "return_visit"]
    assert history[1]["by"] == "zhang" and history[1]["detail"] == {"from": "纳税服务组", "to": "发票组",
                                                                     "reason": "invoice printer at window B"}
    assert "invoice.printer" in hall.ask(hall.web, "get", ref=ref)["appeal"]["tags"]


def test_counter_staff_log_a_phone_call_and_own_it(appeals_hall: Callable[..., AppealsHall]) -> None:
    hall = appeals_hall()
    reply = hall.ask(hall.counter, "file", category="conduct", channel="phone", source="counter-3", counter="3",
                     staff="S3", description="caller says she waited at counter 5")
    assert reply["ok"]
    got = hall.ask(hall.web, "get", ref=reply["appeal"]["ref"])["appeal"]
    assert got["owner"] == "S3" and got["counter"] == "3" and got["channel"] == "phone" and not got["has_phone"]
    # Who received it must be said; a counter complaint says which counter.
    assert hall.ask(hall.counter, "file", category="conduct", channel="counter", source="counter-3", staff="S3",
                    description="x")["error"]["code"] == "bad_request"
    assert hall.ask(hall.counter, "file", category="conduct", channel="phone", source="counter-3",
                    description="x")["error"]["code"] == "bad_request"
    assert hall.ask(hall.counter, "file", category="parking", channel="phone", source="counter-3", staff="S3",
                    description="x")["error"]["code"] == "unknown_category"
    assert hall.ask(hall.counter, "file", category="invoice", channel="phone", source="counter-3", staff="S3",
                    description="x", phone="12ab")["error"]["code"] == "bad_phone"
    assert hall.ask(hall.counter, "file", category="invoice", channel="kiosk", source="k")["error"]["code"] == "empty_appeal"


# ---------------------------------------------------------------- deadlines


def test_warning_before_and_alarm_after_the_deadline_across_national_day(appeals_hall: Callable[..., AppealsHall]) -> None:
    hall = appeals_hall(now="2026-09-30T15:00")  # Wednesday before the holiday week
    ref = hall.ask(hall.kiosk, "file", category="invoice", channel="kiosk", source="kiosk-1", phrases=["slow"])["appeal"]["ref"]
    # One working day: the holiday week does not count; due Thursday 8 October 15:00, warned 4 h before.
    for moment in ("2026-10-01T15:00", "2026-10-07T23:59", "2026-10-08T10:59"):
        hall.clock.set(at(moment))
        hall.tick()
    hall.clock.set(at("2026-10-08T11:00"))
    hall.tick()
    assert wait_for(lambda: appeal_events(hall) == [("appeal_due_soon", "warning", ref)])
    hall.tick()  # raised once, not every tick
    hall.clock.set(at("2026-10-08T14:59"))
    hall.tick()
    hall.clock.set(at("2026-10-08T15:00"))
    hall.tick()
    assert wait_for(lambda: appeal_events(hall)[1:] == [("appeal_overdue", "alarm", ref)])
    assert hall.ask(hall.web, "list")["appeals"][0]["overdue"]
    assert hall.ask(hall.web, "analysis")["analysis"]["overdue_open"] == 1
    hall.clock.set(at("2026-10-08T16:00"))
    late = hall.ask(hall.web, "answer", ref=ref, answer="已处理", by="wang")["appeal"]
    assert late["answered_late"]
    assert wait_for(lambda: appeal_events(hall)[2:] == [("appeal_overdue", "cleared", ref)])
    assert len(appeal_events(hall)) == 3


def test_a_make_up_working_day_counts(appeals_hall: Callable[..., AppealsHall]) -> None:
    section = AppealsSection.model_validate({"categories": [
        {"tag": "invoice", "name": "发票", "name_en": "Invoices", "days": 1},
        {"tag": "policy", "name": "政策落实", "name_en": "Policy", "days": 2}]})
    hall = appeals_hall(section, now="2026-10-09T16:00")  # Friday after the holiday
    one = hall.ask(hall.kiosk, "file", category="invoice", channel="kiosk", source="k", description="a")["appeal"]
    two = hall.ask(hall.kiosk, "file", category="policy", channel="kiosk", source="k", description="b")["appeal"]
    assert one["deadline"] == "2026-10-10T16:00:00+08:00"  # Saturday, a 调休 working day
    assert two["deadline"] == "2026-10-12T16:00:00+08:00"  # Sunday is off
    hall.clock.set(at("2026-10-10T12:00"))
    hall.tick()
    assert wait_for(lambda: appeal_events(hall) == [("appeal_due_soon", "warning", one["ref"])])
    # Filed on the holiday itself: due at the end of the first working day after it.
    hall.clock.set(at("2026-10-03T10:00"))
    holiday = hall.ask(hall.kiosk, "file", category="invoice", channel="kiosk", source="k", description="c")["appeal"]
    assert holiday["deadline"] == "2026-10-09T00:00:00+08:00"


def test_events_a_crash_left_unsent_go_out_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "appeals.sqlite"
    book = AppealBook(path, AppealsSection(), CALENDAR.calendar(), TZ)
    filed = book.handle("file", {"request_id": "r1", "category": "invoice", "channel": "kiosk", "source": "k",
                                 "phrases": ["slow"]}, at("2026-09-30T15:00").timestamp())
    book.check_deadlines(at("2026-10-08T15:00").timestamp())  # the alarm is committed ...
    book.close()  # ... and the process dies before handing it to the bus
    sent: list[tuple[str, dict[str, Any]]] = []
    desk = AppealsDesk(AppealBook(path, AppealsSection(), CALENDAR.calendar(), TZ), lambda topic, payload: sent.append((topic, payload)),
                       "device/ticketer/event", clock=lambda: at("2026-10-08T15:01").timestamp())
    assert [(t, p["kind"], p["data"]["ref"]) for t, p in sent] == [("device/ticketer/event", "appeal_overdue", filed["appeal"]["ref"])]
    desk.tick()  # raised once: not again
    assert len(sent) == 1
    desk.close()


# ---------------------------------------------------------------- privacy


def test_the_phone_is_never_in_the_clear_in_the_database_logs_or_ledger(
        appeals_hall: Callable[..., AppealsHall], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hall = appeals_hall()
    ref = hall.ask(hall.kiosk, "file", category="waiting", channel="kiosk", source="kiosk-1", phrases=["long_wait"],
                   description=f"call me on {PHONE}", phone=PHONE, name="王秀英")["appeal"]["ref"]
    ledger = hall.ask(hall.web, "export")["csv"]
    # Staff opening the number to call back get it — and the history says who did.
    opened = hall.ask(hall.web, "contact", request_id="c-1", ref=ref, by="li", reason="回访")
    assert opened["phone"] == PHONE
    assert hall.ask(hall.web, "contact", request_id="c-1", ref=ref, by="li")["phone"] == PHONE  # a repeat, same answer
    assert [h["action"] for h in hall.ask(hall.web, "get", ref=ref)["appeal"]["history"]].count("contact_opened") == 1

    rows = list(csv.DictReader(io.StringIO(ledger)))
    assert rows[0]["phone"] == "139****5678" and rows[0]["name"] == "王**" and "139****5678" in rows[0]["description"]
    hall.engine.close()
    stored = b"".join(p.read_bytes() for p in hall.path.parent.glob("appeals.sqlite*"))
    assert PHONE.encode() not in stored and "王秀英".encode() not in stored
    assert b"139****5678" in stored  # the masked copy is what the book shows
    assert PHONE not in caplog.text and PHONE not in ledger
    assert (hall.path.parent / "appeals.key").stat().st_mode & 0o077 == 0


def test_the_sealed_phone_is_erased_after_the_return_visit(appeals_hall: Callable[..., AppealsHall]) -> None:
    hall = appeals_hall(AppealsSection(contact_keep_days=30))
    ref = hall.ask(hall.kiosk, "file", category="refund", channel="kiosk", source="k", phrases=["late"], phone=PHONE)["appeal"]["ref"]
    hall.ask(hall.web, "answer", ref=ref, answer="已到账", by="wang")
    hall.ask(hall.web, "follow_up", ref=ref, kind="return_visit", by="li", satisfaction=5)
    hall.clock.set(at("2026-10-29T15:00"))  # 29 days later: still there for a question about the visit
    hall.tick()
    assert hall.ask(hall.web, "contact", ref=ref, by="li")["phone"] == PHONE
    hall.clock.set(at("2026-11-01T15:00"))
    hall.tick()
    assert hall.ask(hall.web, "contact", ref=ref, by="li")["error"]["code"] == "no_contact"
    got = hall.ask(hall.web, "get", ref=ref)["appeal"]
    assert not got["has_phone"] and got["phone"] == "139****5678"  # the masked form stays in the ledger


def test_analysis_counts_and_recurring_themes(appeals_hall: Callable[..., AppealsHall]) -> None:
    hall = appeals_hall(now="2026-11-02T10:00")  # a Monday
    # Waiting time comes back four weeks running; a staff-conduct complaint only once.
    for week in range(4):
        hall.clock.set(at(f"2026-11-{2 + 7 * week:02d}T10:00"))
        ref = hall.ask(hall.kiosk, "file", category="waiting", channel="kiosk", source="kiosk-1",
                       phrases=["long_wait"])["appeal"]["ref"]
        hall.clock.set(at(f"2026-11-{2 + 7 * week:02d}T12:00"))
        assert hall.ask(hall.web, "answer", ref=ref, answer="已增开窗口", by="wang")["ok"]
    hall.ask(hall.counter, "file", category="conduct", channel="counter", counter="3", staff="S3", source="counter-3",
             description="rude")
    found = hall.ask(hall.web, "analysis", weeks=8)["analysis"]
    assert found["per_category"] == {"waiting": 4, "conduct": 1}
    assert found["per_channel"] == {"kiosk": 4, "counter": 1}
    assert found["per_counter"] == {"3": 1}
    assert list(found["per_week"].values()) == [1, 1, 1, 2]
    assert found["median_answer_h"] == 2.0 and found["answered"] == 4
    themes = {t["tag"]: t for t in found["themes"]}
    assert themes["waiting.long_wait"]["weeks"] == 4 and "conduct" not in themes


def test_counter_staff_log_a_spoken_complaint_on_the_caller(appeals_hall: Callable[..., AppealsHall]) -> None:
    hall = appeals_hall()
    desk = CounterDesk(hall.counter, "3")
    appeals = CounterAppeals(desk)
    assert [c["tag"] for c in appeals.categories()][:2] == ["invoice", "refund"]
    refused = appeals.log("waiting", "counter", "waited two hours")
    assert not refused.ok and desk.screen.message == "请先登录"
    assert desk.login("S3").staff == "S3"
    assert not appeals.log("waiting", "counter", "  ").ok
    logged = appeals.log("waiting", "counter", f"等了两个小时，回电 {PHONE}", phone=PHONE)
    assert logged.ok and logged.ref in desk.screen.message and "由您负责答复" in desk.screen.message
    got = hall.ask(hall.web, "get", ref=logged.ref)["appeal"]
    assert (got["owner"], got["received_by"], got["counter"], got["channel"]) == ("S3", "S3", "3", "counter")
    assert got["phone"] == "139****5678" and PHONE not in got["description"]
    call = appeals.log("policy", "phone", "asks about the small-business relief")
    assert call.ok and hall.ask(hall.web, "get", ref=call.ref)["appeal"]["channel"] == "phone"
