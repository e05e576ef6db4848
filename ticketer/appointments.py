"""Appointments (预约办税): the `[appointments]` section, the day's slots, appointment codes,
the taxpayer's identifier as it may be kept, and the desk that books, cancels and checks in.

The desk lives in the ticketer process beside the queue (ticketer/service.py `Desk`): its bus
requests are served under the engine's lock, so a check-in takes its priority ticket
(`engine.take_ticket(..., priority="appointment")`) atomically, and its `tick` marks the
appointments nobody came for as no-shows once their check-in window has closed.

Privacy: a taxpayer is known by a mobile number or a taxpayer id. The desk keeps only a keyed
hash of it (HMAC-SHA256 with a key of its own, in a file beside the database — so a stolen
database alone cannot be searched for a number) to count open appointments and no-shows, and a
masked form (`138****5678`, `913***********123X`) to show. The clear value is never stored or
logged. docs/appointments.md has the keys, the bus ops and the flows.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from pydantic import Field, field_validator, model_validator

from taxhall.bus import BusMessage
from taxhall.config import ConfigError, ConfigSection, DeviceConfig
from taxhall.privacy import mask_id_number
from ticketer.appointment_codes import format_code, new_code, normalize_code
from ticketer.appointment_store import Appointment, AppointmentStore
from ticketer.calendar import parse_window
from ticketer.engine import Engine
from ticketer.model import Service, TicketerError
from ticketer.workdays import CalendarSection, WorkCalendar

log = logging.getLogger("ticketer.appointments")


class AppointmentsSection(ConfigSection):
    """`[appointments]`: what can be booked, when, and how a booking turns into a ticket."""

    enabled: bool = Field(True, description="serve appointments at all")
    services: list[str] = Field(["A", "B", "C"], min_length=1,
                                description="ticket services of [ticketer] that can be booked")
    slot_minutes: int = Field(30, ge=5, le=240, description="length of one slot")
    capacity: int = Field(4, ge=1, le=500, description="appointments per slot and service")
    capacity_by_service: dict[str, int] = Field({}, description="per-service capacity instead of `capacity`, e.g. {B = 6}")
    windows: list[str] = Field(["09:00-12:00", "13:30-17:00"], min_length=1,
                               description="booking windows of a working day, local time; a lunch break is two windows")
    days_ahead: int = Field(7, ge=0, le=90, description="days after today that can be booked (0: today only)")
    max_open: int = Field(2, ge=1, le=20, description="open (not yet due) appointments one taxpayer may hold")
    checkin_before_min: int = Field(30, ge=0, le=600, description="check-in opens this many minutes before the slot starts")
    checkin_after_min: int = Field(15, ge=1, le=600, description="... and closes this many minutes after it starts; later is a no-show")
    checkin_service: str = Field("V", description="ticket service a check-in takes a ticket of; empty: the booked service")
    checkin_priority: Literal["appointment", "normal"] = Field("appointment", description="class of that ticket")
    key_file: str = Field("", description="secret key of the taxpayer hashes; empty: <data_dir>/ticketer/appointments.key "
                                          "(made on first start)")
    retention_days: int = Field(400, ge=30, description="days past appointments are kept (statistics)")

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        spans = []
        for window in value:
            first, last = parse_window(window)
            if last < first:
                raise ValueError(f"booking windows within one day ({window!r} crosses midnight)")
            spans.append((first, last))
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if start < end:
                raise ValueError("booking windows that do not overlap")
        return value

    @field_validator("services")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each service once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "AppointmentsSection":
        stray = [code for code in self.capacity_by_service if code not in self.services]
        if stray:
            raise ValueError(f"capacity_by_service only for bookable services ({stray} are not in services = {self.services})")
        bad = {code: n for code, n in self.capacity_by_service.items() if not 1 <= n <= 500}
        if bad:
            raise ValueError(f"capacity_by_service: 1–500 per slot ({bad})")
        if not any(parse_window(w)[1] - parse_window(w)[0] >= self.slot_minutes for w in self.windows):
            raise ValueError(f"windows long enough for one slot of slot_minutes = {self.slot_minutes}")
        return self

    def capacity_of(self, service: str) -> int:
        return self.capacity_by_service.get(service, self.capacity)

    def slot_starts(self) -> list[int]:
        """Minutes of the day each slot starts at, in order (a window's remainder shorter than a
        slot is not offered)."""
        starts = []
        for window in self.windows:
            first, last = parse_window(window)
            minute = first
            while minute + self.slot_minutes <= last:
                starts.append(minute)
                minute += self.slot_minutes
        return sorted(starts)


SECTIONS = {"appointments": AppointmentsSection}


def check_against_ticketer(section: AppointmentsSection, services: Mapping[str, Service]) -> None:
    """The booked and check-in services must be services of the queue; ConfigError if not."""
    unknown = [code for code in section.services if code not in services]
    if unknown:
        raise ConfigError(f"config error: appointments.services: {unknown} are not services of [ticketer] "
                          f"(known: {', '.join(services)})")
    if section.checkin_service and section.checkin_service not in services:
        raise ConfigError(f"config error: appointments.checkin_service: {section.checkin_service!r} is not a service "
                          f"of [ticketer] (known: {', '.join(services)}); empty takes the booked service")


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# ---------------------------------------------------------------- the taxpayer's identifier


@dataclass(frozen=True)
class Taxpayer:
    """A taxpayer as the desk keeps one: a keyed hash and a masked form, never the value."""

    key_hash: str
    masked: str
    kind: Literal["phone", "taxpayer_id"]


_PHONE = re.compile(r"1\d{10}")
_TAXPAYER_ID = re.compile(r"[0-9A-Z]{15,20}")


def parse_taxpayer(text: str, key: bytes) -> Taxpayer:
    """A mobile number (11 digits from 1, `+86` allowed) or a taxpayer id (统一社会信用代码 or an
    ID number: 15–20 letters and digits), as hash and mask; bad_taxpayer otherwise."""
    value = re.sub(r"[\s-]", "", text or "").upper()
    if value.startswith("+86"):
        value = value[3:]
    kind: Literal["phone", "taxpayer_id"]
    if _PHONE.fullmatch(value):
        kind, masked = "phone", value[:3] + "****" + value[-4:]
    elif _TAXPAYER_ID.fullmatch(value):
        kind, masked = "taxpayer_id", mask_id_number(value)
    else:
        raise TicketerError("bad_taxpayer", "taxpayer: a mobile number (11 digits starting with 1) or a taxpayer id "
                                            "(15–20 letters and digits)")
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return Taxpayer(digest, masked, kind)


def load_key(path: Path) -> bytes:
    """The hashing key, made (random, 32 bytes, readable by this user only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
    key = path.read_bytes()
    if len(key) < 16:
        raise ConfigError(f"config error: appointments.key_file {path}: too short to be a key (at least 16 bytes)")
    return key


# ---------------------------------------------------------------- the desk


def short_code(code: str) -> str:
    """`123-***-***`: enough to tell appointments apart in a log or on the dashboard, not enough
    to look one up or cancel it (the whole code is its holder's key)."""
    return format_code(code)[:4] + "***-***"


def _day(text: Any) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise TicketerError("bad_request", f"day: YYYY-MM-DD, got {text!r}") from None


class AppointmentDesk:
    """Books, looks up, cancels and checks in appointments; a `Desk` of the ticketer service.
    `clock` is the time source (tests move it); the engine's time zone is the hall's."""

    def __init__(self, section: AppointmentsSection, engine: Engine, store: AppointmentStore, key: bytes,
                 calendar: WorkCalendar, *, clock: Callable[[], float] | None = None, source: str = "ticketer") -> None:
        check_against_ticketer(section, engine.services)
        self.section = section
        self.engine = engine
        self.store = store
        self.key = key
        self.calendar = calendar
        self.clock = clock or engine.clock
        self.tz: tzinfo | None = engine.tz
        self.source = source
        self._starts = section.slot_starts()
        self._last_purge = ""

    # ------------------------------------------------------------------ the Desk protocol

    def requests(self) -> dict[str, Callable[[BusMessage], dict[str, Any]]]:
        return {
            "appointments/req/slots": lambda m: self.slots(getattr(m.data, "service", None), self.clock()),
            "appointments/req/book": lambda m: self.book(m.data.request_id, m.data.service, m.data.day, m.data.slot,
                                                         m.data.taxpayer, m.data.source),
            "appointments/req/lookup": lambda m: self.lookup(m.data.code),
            "appointments/req/cancel": lambda m: self.cancel(m.data.request_id, m.data.code, m.data.source),
            "appointments/req/check_in": lambda m: self.check_in(m.data.request_id, m.data.code, m.data.source),
            "appointments/req/list": lambda m: self.day_list(m.data.day),
            "appointments/req/stats": lambda m: self.stats(m.data.first, m.data.last),
        }

    def tick(self) -> None:
        """Marks as no-shows the booked appointments whose check-in window has closed, and
        forgets appointments older than the retention once a day."""
        now = self.clock()
        missed = self.store.mark_no_shows(now - self.section.checkin_after_min * 60, now)
        if missed:
            log.info("%d appointment(s) marked no-show: %s", len(missed), ", ".join(map(short_code, missed)))
        today = self._today(now).isoformat()
        if today != self._last_purge:
            self._last_purge = today
            self.store.purge_before((self._today(now) - timedelta(days=self.section.retention_days)).isoformat(), now)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ time

    def _today(self, now: float) -> date:
        return datetime.fromtimestamp(now, self.tz).date()

    def slot_start(self, day: date, minute: int) -> float:
        moment = datetime.combine(day, dtime(minute // 60, minute % 60))
        return (moment.replace(tzinfo=self.tz) if self.tz is not None else moment).timestamp()

    def _window(self, starts_at: float) -> tuple[float, float]:
        return (starts_at - self.section.checkin_before_min * 60, starts_at + self.section.checkin_after_min * 60)

    def _iso(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="minutes")

    # ------------------------------------------------------------------ reading

    def _service(self, code: Any) -> Service:
        if not isinstance(code, str) or code not in self.section.services:
            raise TicketerError("unknown_service", f"service {code!r} cannot be booked; bookable: {', '.join(self.section.services)}")
        return self.engine.services[code]

    def _services_view(self) -> list[dict[str, Any]]:
        return [{"code": code, "name": self.engine.services[code].name, "name_en": self.engine.services[code].name_en}
                for code in self.section.services]

    def slots(self, service: str | None, now: float) -> dict[str, Any]:
        """The bookable days from today with each slot's capacity and what is left; days off
        are listed closed, slots that have started are not bookable."""
        reply: dict[str, Any] = {"services": self._services_view(), "slot_minutes": self.section.slot_minutes,
                                 "days_ahead": self.section.days_ahead}
        if service is None:
            return reply
        svc = self._service(service)
        today = self._today(now)
        last = today + timedelta(days=self.section.days_ahead)
        taken = self.store.taken(svc.code, today.isoformat(), last.isoformat())
        capacity = self.section.capacity_of(svc.code)
        days = []
        for offset in range(self.section.days_ahead + 1):
            day = today + timedelta(days=offset)
            working = self.calendar.is_working_day(day)
            slots = []
            for minute in self._starts if working else []:
                booked = taken.get((day.isoformat(), hhmm(minute)), 0)
                starts_at = self.slot_start(day, minute)
                slots.append({"slot": hhmm(minute), "end": hhmm(minute + self.section.slot_minutes), "capacity": capacity,
                              "booked": booked, "remaining": max(0, capacity - booked),
                              "bookable": starts_at > now and booked < capacity})
            days.append({"day": day.isoformat(), "weekday": day.weekday(), "open": working and any(s["bookable"] for s in slots),
                         "working": working, "slots": slots})
        reply.update(service=svc.code, days=days)
        return reply

    def view(self, appointment: Appointment) -> dict[str, Any]:
        """What the taxpayer and the dispenser may see of an appointment (nothing in clear)."""
        svc = self.engine.services.get(appointment.service)
        opens, closes = self._window(appointment.starts_at)
        return {
            "code": appointment.code, "service": appointment.service,
            "service_name": svc.name if svc else appointment.service, "service_name_en": svc.name_en if svc else appointment.service,
            "day": appointment.day, "slot": appointment.slot,
            "end": hhmm(int(appointment.slot[:2]) * 60 + int(appointment.slot[3:]) + self.section.slot_minutes),
            "state": appointment.state, "taxpayer": appointment.taxpayer_masked,
            "checkin_from": self._iso(opens), "checkin_until": self._iso(closes),
            "ticket": appointment.ticket, "cancellable": appointment.state == "booked" and self.clock() < closes,
        }

    def lookup(self, code: Any) -> dict[str, Any]:
        return {"appointment": self.view(self._find(code))}

    def _find(self, code: Any) -> Appointment:
        clean = normalize_code(code) if isinstance(code, str) else None
        found = self.store.get(clean) if clean else None
        if found is None:
            # The same refusal for a mistyped and an unknown code: it tells a guesser nothing.
            raise TicketerError("unknown_appointment", "no appointment with this code")
        return found

    # ------------------------------------------------------------------ changes

    def _replayed(self, request_id: str, op: str) -> dict[str, Any] | None:
        stored = self.store.reply_for(request_id)
        if stored is None:
            return None
        prior_op, reply = stored
        if prior_op != op:
            raise TicketerError("request_id_reused", f"request id {request_id!r} was already used for {prior_op}")
        return reply

    def book(self, request_id: str, service: Any, day: Any, slot: Any, taxpayer: Any, source: Any) -> dict[str, Any]:
        replay = self._replayed(request_id, "book")
        if replay is not None:
            return replay
        now = self.clock()
        svc = self._service(service)
        wanted = _day(day)
        today = self._today(now)
        if not today <= wanted <= today + timedelta(days=self.section.days_ahead):
            raise TicketerError("day_not_bookable", f"{wanted.isoformat()}: appointments can be made for today and the next "
                                                    f"{self.section.days_ahead} days")
        if not self.calendar.is_working_day(wanted):
            raise TicketerError("day_not_bookable", f"{wanted.isoformat()} is not a working day of the hall")
        minute = next((m for m in self._starts if hhmm(m) == slot), None)
        if minute is None:
            raise TicketerError("unknown_slot", f"slot {slot!r} is not one of the day's slots "
                                                f"({', '.join(hhmm(m) for m in self._starts)})")
        starts_at = self.slot_start(wanted, minute)
        if starts_at <= now:
            raise TicketerError("slot_past", f"the slot {wanted.isoformat()} {slot} has begun or is over")
        who = parse_taxpayer(str(taxpayer or ""), self.key)
        if self.store.holds(who.key_hash, svc.code, wanted.isoformat(), hhmm(minute)):
            raise TicketerError("already_booked", "this taxpayer already has this slot booked")
        if self.store.open_count(who.key_hash) >= self.section.max_open:
            raise TicketerError("too_many_open", f"a taxpayer may hold at most {self.section.max_open} open appointments; "
                                                 "cancel one first")
        capacity = self.section.capacity_of(svc.code)
        for _ in range(5):  # a fresh code on the (one in millions) clash with a live one
            appointment = Appointment(code=new_code(), service=svc.code, day=wanted.isoformat(), slot=hhmm(minute),
                                      starts_at=starts_at, taxpayer_hash=who.key_hash, taxpayer_masked=who.masked,
                                      taxpayer_kind=who.kind, state="booked", booked_at=now, source=str(source)[:64])
            reply = {"appointment": self.view(appointment)}
            outcome = self.store.book(appointment, capacity, request_id, reply, now)
            if outcome == "booked":
                log.info("appointment %s booked: %s %s %s for %s", short_code(appointment.code), svc.code, appointment.day,
                         appointment.slot, who.masked)
                return reply
            if outcome == "full":
                raise TicketerError("slot_full", f"the slot {wanted.isoformat()} {slot} of {svc.label} is fully booked")
        raise TicketerError("storage_error", "no free appointment code found; try again")

    def cancel(self, request_id: str, code: Any, source: Any) -> dict[str, Any]:
        replay = self._replayed(request_id, "cancel")
        if replay is not None:
            return replay
        found = self._find(code)
        now = self.clock()
        if found.state != "booked":
            raise TicketerError("not_cancellable", f"the appointment is {found.state.replace('_', ' ')}; only a booked one can be cancelled")
        if now >= self._window(found.starts_at)[1]:
            raise TicketerError("not_cancellable", "the appointment's time is over")
        cancelled = found.with_state("cancelled", now)
        reply = {"appointment": self.view(cancelled)}
        self.store.change(cancelled, request_id, "cancel", reply, now)
        log.info("appointment %s cancelled (from %s)", short_code(found.code), str(source)[:64])
        return reply

    def check_in(self, request_id: str, code: Any, source: Any) -> dict[str, Any]:
        """Inside its window: a ticket of the check-in service in the appointment class.
        Refused as too_early / too_late outside it (the appointment itself is kept)."""
        replay = self._replayed(request_id, "check_in")
        if replay is not None:
            return replay
        found = self._find(code)
        now = self.clock()
        opens, closes = self._window(found.starts_at)
        if found.state == "checked_in":
            raise TicketerError("already_checked_in", f"this appointment was checked in already: ticket {found.ticket}")
        if found.state == "cancelled":
            raise TicketerError("appointment_cancelled", "this appointment was cancelled")
        if found.state == "no_show" or now >= closes:
            raise TicketerError("too_late", f"check-in for the {found.day} {found.slot} appointment closed at {self._iso(closes)}")
        if now < opens:
            raise TicketerError("too_early", f"check-in for the {found.day} {found.slot} appointment opens at {self._iso(opens)}")
        service = self.section.checkin_service or found.service
        # The engine remembers this id too: a retry after a crash between its commit and ours
        # gets the same ticket back, never a second one.
        engine_request = "appt-" + hashlib.sha256(request_id.encode()).hexdigest()[:40]
        result = self.engine.take_ticket(engine_request, service, str(source)[:64] or self.source,
                                         self.section.checkin_priority, found.code)
        ticket = result.to_reply()["ticket"]
        checked = found.with_state("checked_in", now, ticket=ticket["number"])
        reply = {"appointment": self.view(checked), "ticket": ticket}
        self.store.change(checked, request_id, "check_in", reply, now)
        log.info("appointment %s checked in: ticket %s", short_code(found.code), ticket["number"])
        return reply

    # ------------------------------------------------------------------ the dashboard

    def day_list(self, day: Any) -> dict[str, Any]:
        """A day's slots with booked / checked-in / no-show / cancelled counts, and its
        appointments (masked), with each taxpayer's no-shows so far."""
        wanted_day = _day(day)
        wanted = wanted_day.isoformat()
        rows = self.store.on_day(wanted)
        no_shows = self.store.no_shows({a.taxpayer_hash for a in rows})
        counts: dict[tuple[str, str], dict[str, int]] = {}
        if self.calendar.is_working_day(wanted_day):  # every slot of the day, empty ones too
            for minute in self._starts:
                for service in self.section.services:
                    counts[(hhmm(minute), service)] = {"booked": 0, "checked_in": 0, "no_show": 0, "cancelled": 0}
        for a in rows:
            slot = counts.setdefault((a.slot, a.service), {"booked": 0, "checked_in": 0, "no_show": 0, "cancelled": 0})
            slot[a.state] += 1
        slots = [{"slot": slot, "service": service, **c, "capacity": self.section.capacity_of(service)}
                 for (slot, service), c in sorted(counts.items())]
        listed = [{**self.view(a), "code": short_code(a.code), "no_shows": no_shows.get(a.taxpayer_hash, 0)}
                  for a in rows]
        return {"day": wanted, "services": self._services_view(), "slots": slots, "appointments": listed}

    def stats(self, first: Any, last: Any) -> dict[str, Any]:
        start, end = _day(first), _day(last)
        if end < start or (end - start).days > 366:
            raise TicketerError("bad_request", "first ≤ last, at most a year apart")
        return {"first": start.isoformat(), "last": end.isoformat(), "days": self.store.day_stats(start.isoformat(), end.isoformat())}


def open_desk(section: AppointmentsSection, engine: Engine, data_dir: Path, calendar: WorkCalendar,
              *, clock: Callable[[], float] | None = None) -> AppointmentDesk:
    """The desk with its database and key under the ticketer's data dir."""
    folder = data_dir / "ticketer"
    key = load_key(Path(section.key_file) if section.key_file else folder / "appointments.key")
    return AppointmentDesk(section, engine, AppointmentStore(folder / "appointments.sqlite"), key, calendar, clock=clock)


def appointment_desks(config: DeviceConfig, engine: Engine) -> list[AppointmentDesk]:
    """The ticketer's appointment desk from `[appointments]` and `[calendar]` (defaults when
    the file has neither), or none when `enabled = false`."""
    section = config.sections.get("appointments")
    if not isinstance(section, AppointmentsSection):
        section = AppointmentsSection.model_validate({})
    if not section.enabled:
        return []
    if not section.model_fields_set:
        # No [appointments] in the file: the defaults fit the example hall; a hall with other
        # services runs without appointments rather than not at all.
        try:
            check_against_ticketer(section, engine.services)
        except ConfigError as exc:
            log.warning("appointments off (no [appointments] section and the defaults do not fit): %s", exc)
            return []
    calendar = config.sections.get("calendar")
    if not isinstance(calendar, CalendarSection):
        calendar = CalendarSection.model_validate({})
    return [open_desk(section, engine, config.data_dir, calendar.calendar())]
