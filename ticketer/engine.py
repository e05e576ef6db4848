"""The queue engine: every queue operation, its rules and its error codes.

An operation validates against the in-memory queue, builds the new versions of what it
changes (tickets, counters, the call, the events) and hands them to the store, which writes
them with the answer under the request id in one transaction; only after the commit does the
engine swap them into memory. A repeated request id gets the stored answer and changes
nothing. On start the engine reads the live queue back from the store.

The duty supervisor may close a service (`close_service`): it takes no new tickets, while
those already waiting are still called and served, until `open_service` gives it back its
configured hours. The closure is kept in the store, so it survives a restart.

Offline dispensing (`lease`, `hand_in`): dispensers issue numbers of a band take_ticket never
uses while the engine is away, and hand the tickets in afterwards; ticketer/leasing.py has
the rules as pure functions.

Not thread-safe: one caller at a time (the bus service holds a lock around it).
"""

from __future__ import annotations

import collections
import json
import logging
import math
import secrets
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from taxhall.privacy import mask_text
from ticketer import alarms as alarm_rules
from ticketer import leasing
from ticketer.calendar import business_day, day_minus, format_windows, is_open, resolve_tz
from ticketer.config import TicketerSection
from ticketer.model import (
    ACTIVE_STATES,
    PRIORITIES,
    Call,
    Counter,
    CounterView,
    Leased,
    OpResult,
    PendingEvent,
    Serve,
    Service,
    Ticket,
    TicketerError,
    TicketView,
    iso,
)
from ticketer.routing import Skills, pick_next
from ticketer.store import Change, Closure, RaisedAlarm, Store
from ticketer.waiting import WaitingIndex

log = logging.getLogger("ticketer.engine")

OPEN_STATES = frozenset({"idle", "calling", "serving"})
_MAX_TEXT = 64
_HOUSEKEEPING_EVERY_S = 3600.0


@dataclass
class _Effect:
    """What an operation's build step returns: the answer, the write set, and for a new
    ticket the (day, prefix, number) to note in the numbering cache after the commit."""

    result: OpResult
    change: Change
    issued: tuple[str, str, int] | None = None


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    """A short string field from a request, or bad_request."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise TicketerError("bad_request", f"{what}: expected a non-empty string of at most {_MAX_TEXT} characters, got {value!r}")
    return value


class Engine:
    """The hall's queue: services and counters from the config, live state from the store.
    Operations return an OpResult or raise TicketerError; `clock` is the time source (tests
    move it), `event_topic` where alarms go (`device/<id>/event`)."""

    def __init__(
        self,
        section: TicketerSection,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        event_topic: str = "device/ticketer/event",
    ) -> None:
        self.section = section
        self.store = store
        self.clock = clock
        self.event_topic = event_topic
        self.tz = resolve_tz(section.timezone)
        self.reset_minute = section.reset_minute
        self.services: dict[str, Service] = {s.code: s.to_service() for s in section.services}
        self.skills: dict[str, Skills] = {
            c.id: Skills(c.id, frozenset(c.services), tuple(c.prefer)) for c in section.counters
        }
        self.max_wait = {code: float(s.max_wait_s) for code, s in self.services.items()}
        self.limits = alarm_rules.Limits(section.pause_alarm_s, section.crowd_waiting, section.crowd_est_wait_s)
        self._digits = section.number_digits
        self.band = section.offline_band  # numbers only dispensers issue, from leases
        # The last number of the width below the band: what "refuse" refuses after.
        self._last_normal = (self.band.start if self.band else 10**self._digits) - 1
        self._day_span: tuple[float, float, str] = (0.0, 0.0, "")
        self._issued: dict[tuple[str, str], list[int]] = {}  # (day, prefix) → [count, highest number]
        self._housekept: tuple[str, float] = ("", 0.0)
        self.handed_upto = 0
        self._recover()

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        state = self.store.load()
        self.epoch = state.epoch
        self.seq = state.seq
        self.tickets: dict[str, Ticket] = {t.id: t for t in state.tickets}
        self.waiting = WaitingIndex([t for t in state.tickets if t.state == "waiting"])
        self.live_numbers: set[str] = {t.number for t in state.tickets}
        self.counters: dict[str, Counter] = {cid: Counter(cid) for cid in self.skills}
        for counter in state.counters:
            if counter.id in self.skills:
                self.counters[counter.id] = counter
            else:
                log.warning("counter %s is in the database but no longer in the config; ignored", counter.id)
        stray = {t.service for t in state.tickets} - set(self.services)
        if stray:
            log.warning("live tickets wait for services no longer configured: %s", ", ".join(sorted(stray)))
        self.pending: collections.deque[PendingEvent] = collections.deque(state.events)
        self.alarms: dict[str, RaisedAlarm] = dict(state.alarms)
        self.closures: dict[str, Closure] = {code: c for code, c in state.closures.items() if code in self.services}
        window = self.section.service_time_window
        self.durations: dict[str, collections.deque[float]] = {
            code: collections.deque(self.store.recent_durations(code, window), maxlen=window) for code in self.services
        }
        self._requeue_orphans()
        log.info("queue recovered: %d waiting, %d at counters, call seq %d, %d events to send",
                 len(self.waiting), len(self.tickets) - len(self.waiting), self.seq, len(self.pending))

    def _requeue_orphans(self) -> None:
        """Tickets held by a counter that the config no longer has go back to the queue,
        with their place: otherwise nobody could ever finish them."""
        orphans = [t for t in self.tickets.values()
                   if t.state in ("called", "serving") and (t.counter not in self.counters
                                                            or self.counters[t.counter].ticket_id != t.id)]
        if not orphans:
            return
        now = self.clock()
        requeued = [t._replace(state="waiting", counter=None, staff=None, called_at=None, started_at=None, recalls=0,
                               waiting_since=now) for t in orphans]
        self._commit(Change(tickets=requeued))
        log.warning("requeued %s: their counters are no longer configured", ", ".join(t.number for t in orphans))

    # ------------------------------------------------------------------ time

    def business_day(self, now: float) -> str:
        start, end, day = self._day_span
        if start <= now < end:
            return day
        day = business_day(now, self.tz, self.reset_minute)
        first = datetime.strptime(day, "%Y%m%d") + timedelta(minutes=self.reset_minute)
        if self.tz is not None:
            first = first.replace(tzinfo=self.tz)
        begin = first.timestamp()
        self._day_span = (begin, (first + timedelta(days=1)).timestamp(), day)
        return day

    # ------------------------------------------------------------------ the operation frame

    def _run(self, op: str, request_id: Any, build: Callable[[float], _Effect]) -> OpResult:
        if not isinstance(request_id, str) or not request_id or len(request_id) > 128:
            raise TicketerError("bad_request", f"request_id: expected a string of 1–128 characters, got {request_id!r}")
        stored = self.store.reply_for(request_id)
        if stored is not None:
            prior_op, reply = stored
            if prior_op != op:
                raise TicketerError("request_id_reused", f"request id {request_id!r} was already used for {prior_op}")
            return OpResult.from_reply(json.loads(reply))
        now = self.clock()
        effect = build(now)
        effect.change.request = (request_id, op, json.dumps(effect.result.to_reply(), ensure_ascii=False), now)
        self._commit(effect.change)
        if effect.issued is not None:
            day, prefix, num = effect.issued
            noted = self._issued[(day, prefix)]
            noted[0] += 1
            noted[1] = max(noted[1], num)
        return effect.result

    def _commit(self, change: Change) -> None:
        try:
            committed = self.store.commit(change, self.handed_upto)
        except sqlite3.Error as exc:
            log.exception("the queue database refused a write")
            raise TicketerError("storage_error", f"the queue database refused the change: {exc}") from None
        for ticket in change.tickets:
            if ticket.state in ACTIVE_STATES:
                self.tickets[ticket.id] = ticket
                self.live_numbers.add(ticket.number)
            else:
                self.tickets.pop(ticket.id, None)
                self.live_numbers.discard(ticket.number)
            if ticket.state == "waiting":
                self.waiting.put(ticket)
            else:
                self.waiting.discard(ticket.id)
        for counter in change.counters:
            self.counters[counter.id] = counter
        if change.calls:
            self.seq = change.calls[-1].seq
        for serve in change.serves:
            if serve.outcome == "finished" and serve.service in self.durations:
                self.durations[serve.service].append(max(0.0, serve.ended_at - (serve.started_at or serve.called_at)))
        for key, alarm in change.alarms_raised:
            self.alarms[key] = alarm
        for key in change.alarms_cleared:
            self.alarms.pop(key, None)
        for closure in change.closures:
            self.closures[closure.service] = closure
        for code in change.reopened:
            self.closures.pop(code, None)
        self.pending.extend(committed)

    # ------------------------------------------------------------------ lookups and views

    def _service(self, code: Any) -> Service:
        service = self.services.get(code) if isinstance(code, str) else None
        if service is None:
            raise TicketerError("unknown_service", f"no service {code!r} in this hall ({', '.join(self.services)})")
        return service

    def _counter(self, counter_id: Any) -> Counter:
        counter = self.counters.get(counter_id) if isinstance(counter_id, str) else None
        if counter is None:
            raise TicketerError("unknown_counter", f"no counter {counter_id!r} in this hall ({', '.join(self.counters)})")
        return counter

    def _staffed(self, counter_id: Any) -> Counter:
        """A counter that is logged in and not paused."""
        counter = self._counter(counter_id)
        if counter.state == "closed":
            raise TicketerError("counter_closed", f"counter {counter.id} is not logged in")
        if counter.state == "paused":
            raise TicketerError("counter_paused", f"counter {counter.id} is paused ({counter.pause_reason}); resume first")
        return counter

    def _current(self, counter: Counter, ticket_ref: Any) -> Ticket:
        """The counter's current ticket; `ticket_ref` (id or number), if given, must be it."""
        if ticket_ref is not None and not isinstance(ticket_ref, str):
            raise TicketerError("bad_request", f"ticket: expected a ticket id or number, got {ticket_ref!r}")
        if counter.ticket_id is None or counter.ticket_id not in self.tickets:
            if ticket_ref is not None:
                raise TicketerError("not_your_ticket", f"{ticket_ref} is not at counter {counter.id}, which has no ticket")
            raise TicketerError("no_current_ticket", f"counter {counter.id} has no current ticket")
        ticket = self.tickets[counter.ticket_id]
        if ticket_ref is not None and ticket_ref not in (ticket.id, ticket.number):
            raise TicketerError("not_your_ticket", f"{ticket_ref} is not the ticket of counter {counter.id} (it has {ticket.number})")
        return ticket

    def _counter_view(self, counter: Counter) -> CounterView:
        ticket = self.tickets.get(counter.ticket_id) if counter.ticket_id else None
        return CounterView(counter.id, counter.state, counter.staff, ticket.number if ticket else None,
                           counter.pause_reason if counter.state == "paused" else None)

    @staticmethod
    def _ticket_view(ticket: Ticket, **extra: Any) -> TicketView:
        return TicketView(id=ticket.id, number=ticket.number, service=ticket.service, state=ticket.state,
                          priority=ticket.priority, counter=ticket.counter, **extra)

    def open_counters(self, service: str) -> int:
        return sum(1 for c in self.counters.values()
                   if c.state in OPEN_STATES and service in self.skills[c.id].services)

    def mean_service_s(self, service: str) -> float:
        recent = self.durations.get(service)
        if recent:
            return sum(recent) / len(recent)
        return float(self.services[service].target_service_s)

    def estimate_wait_s(self, service: str, ahead: int) -> int:
        """People ahead × the recent mean service time ÷ the counters open for the service
        (as if one were open when none is)."""
        if ahead <= 0:
            return 0
        return math.ceil(ahead * self.mean_service_s(service) / max(1, self.open_counters(service)))

    def _ahead(self, service: str, priority: str) -> int:
        """Tickets of the service a new ticket would wait behind: all of them for a normal
        ticket, the other priority tickets for a priority one."""
        return self.waiting.count(service, priority_only=priority != "normal")

    # ------------------------------------------------------------------ taking a ticket

    def take_ticket(self, request_id: str, service: Any, source: Any, priority: Any = None, appointment: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            svc = self._service(service)
            src = _text(source, "source")
            if priority is not None and priority not in PRIORITIES:
                raise TicketerError("bad_request", f"priority: one of {', '.join(PRIORITIES)}, got {priority!r}")
            code = _text(appointment, "appointment", optional=True)
            closure = self.closures.get(svc.code)
            if closure is not None:
                raise TicketerError("service_closed", f"{svc.label} was closed by the duty supervisor at "
                                                      f"{iso(closure.closed_at, self.tz)[11:16]}; it takes no new tickets now")
            if not is_open(now, self.tz, svc.hours):
                raise TicketerError("service_closed", f"{svc.label} takes tickets {format_windows(svc.hours)}; it is closed now")
            day = self.business_day(now)
            noted = self._issued_so_far(day, svc.code)
            if svc.daily_limit and noted[0] >= svc.daily_limit:
                raise TicketerError("daily_limit", f"{svc.label} has given out its {svc.daily_limit} tickets for today")
            # Round the offline band (only leased) and numbers carried over from yesterday.
            num = leasing.next_normal_number(noted[1] + 1, self.band,
                                             lambda n: self._number(svc.code, n) in self.live_numbers)
            if num > self._last_normal and self.section.on_number_overflow == "refuse":
                raise TicketerError("numbers_exhausted", f"{svc.label} has used all its numbers for today")
            number = self._number(svc.code, num)
            klass = priority or ("appointment" if code else "normal")
            ticket = Ticket(
                id=f"{day}-{number}", day=day, service=svc.code, number=number, num=num, priority=klass, source=src or "",
                # An appointment code is not personal data, but a confused front end might
                # send an ID number in it: store it masked like any log line.
                token=secrets.token_urlsafe(12), appointment=mask_text(code) if code else None,
                taken_at=now, queued_at=now, waiting_since=now,
            )
            ahead = self._ahead(svc.code, klass)
            view = self._ticket_view(ticket, ahead=ahead, est_wait_s=self.estimate_wait_s(svc.code, ahead), token=ticket.token)
            return _Effect(OpResult(ticket=view), Change(tickets=[ticket]), issued=(day, svc.code, num))

        return self._run("take_ticket", request_id, build)

    # ------------------------------------------------------------------ the supervisor: services

    def _service_view(self, code: str, now: float, closure: Closure | None) -> dict[str, Any]:
        """A service's open/closed as the answers and `queue/state` give it, under `closure`
        (the supervisor's, or None): `closed` is `supervisor` (with who, when and why) or
        `hours` (outside its opening windows)."""
        svc = self.services[code]
        view: dict[str, Any] = {"code": code, "open": False}
        if closure is not None:
            view.update(closed="supervisor", closed_by=closure.closed_by, closed_at=iso(closure.closed_at, self.tz),
                        closed_reason=closure.reason)
        elif not is_open(now, self.tz, svc.hours):
            view.update(closed="hours", hours=format_windows(svc.hours))
        else:
            view["open"] = True
        return view

    def _service_event(self, kind: str, message: str, data: dict[str, Any], now: float) -> tuple[str, dict[str, Any]]:
        return (self.event_topic, {"id": uuid.uuid4().hex, "at": iso(now, self.tz), "kind": kind, "severity": "info",
                                   "message": message, "data": data})

    def close_service(self, request_id: str, service: Any, by: Any = None, reason: Any = None) -> OpResult:
        """The duty supervisor stops new tickets for a service; tickets already waiting are
        still called. Closing a closed service changes nothing (its first closure stays)."""
        def build(now: float) -> _Effect:
            svc = self._service(service)
            who = _text(by, "by", optional=True)
            why = _text(reason, "reason", optional=True)
            if svc.code in self.closures:
                return _Effect(OpResult(data={"service": self._service_view(svc.code, now, self.closures[svc.code])}), Change())
            closure = Closure(svc.code, who, now, why)
            waiting = self.waiting.count(svc.code, include_targeted=True)
            event = self._service_event(
                "service_closed", f"{svc.label} closed by {who or 'the duty supervisor'}"
                f"{f' ({why})' if why else ''}: no new tickets; {waiting} waiting are still called",
                {"service": svc.code, "by": who, "reason": why, "waiting": waiting}, now)
            view = self._service_view(svc.code, now, closure)
            return _Effect(OpResult(data={"service": view}), Change(closures=[closure], events=[event]))

        return self._run("close_service", request_id, build)

    def open_service(self, request_id: str, service: Any, by: Any = None) -> OpResult:
        """Ends the supervisor's closure: the service follows its configured hours again.
        Opening a service that was not closed changes nothing."""
        def build(now: float) -> _Effect:
            svc = self._service(service)
            who = _text(by, "by", optional=True)
            closure = self.closures.get(svc.code)
            if closure is None:
                return _Effect(OpResult(data={"service": self._service_view(svc.code, now, None)}), Change())
            event = self._service_event(
                "service_opened", f"{svc.label} opened again by {who or 'the duty supervisor'}; "
                f"it follows its hours ({format_windows(svc.hours)})",
                {"service": svc.code, "by": who, "closed_by": closure.closed_by}, now)
            view = self._service_view(svc.code, now, None)
            return _Effect(OpResult(data={"service": view}), Change(reopened=[svc.code], events=[event]))

        return self._run("open_service", request_id, build)

    def _issued_so_far(self, day: str, prefix: str) -> list[int]:
        key = (day, prefix)
        if key not in self._issued:
            if len(self._issued) > 64:  # old days
                self._issued = {k: v for k, v in self._issued.items() if k[0] == day}
            self._issued[key] = list(self.store.issued(day, prefix, self.band))
        return self._issued[key]

    def _number(self, code: str, num: int) -> str:
        return f"{code}{num:0{self._digits}d}"

    # ------------------------------------------------------------------ offline dispensing

    def lease(self, request_id: str, source: Any, services: Any = None, size: Any = 20) -> OpResult:
        """Reserves to dispenser `source`, per service, the next `size` free numbers of the
        offline band for today's business day — fewer, or none, once the band runs out."""
        def build(now: float) -> _Effect:
            src = _text(source, "source") or ""
            count = leasing.lease_size(size)
            codes = [self._service(code).code for code in leasing.lease_services(services, self.services)]
            day = self.business_day(now)
            rows: list[Leased] = []
            leases: dict[str, Any] = {}
            for code in codes:
                nums = leasing.free_band_numbers(self.band, self._band_in_use(day, code), count)
                lease_id = f"L-{code}-{day}-{self.store.lease_count(day, code) + 1}" if nums else None
                rows += [Leased(day, self._number(code, n), code, n, src, lease_id or "", now) for n in nums]
                leases[code] = {"lease_id": lease_id, "numbers": [self._number(code, n) for n in nums]}
            return _Effect(OpResult(data={"day": leasing.iso_day(day), "leases": leases}), Change(leases=rows))

        return self._run("lease", request_id, build)

    def _band_in_use(self, day: str, code: str) -> set[int]:
        """Band numbers a lease of `day` must not give out: leased or used that day, or held by
        a ticket still live from an earlier day (two live tickets never share a number)."""
        carried = {n for n in self.band if self._number(code, n) in self.live_numbers}
        return self.store.band_in_use(day, code, self.band) | carried

    def hand_in(self, request_id: str, source: Any, tickets: Any) -> OpResult:
        """Turns the tickets dispenser `source` issued from its lease into queue tickets, each
        placed by its take time. A number handed in before gives the same ticket again. All or
        nothing: a number not leased to this dispenser (`not_leased`) or of a business day that
        has ended (`lease_expired`) refuses the whole batch."""
        touched: set[tuple[str, str]] = set()
        void: list[tuple[leasing.OfflineEntry, str, str]] = []  # (entry, its business day, source) refused for good

        def build(now: float) -> _Effect:
            src = _text(source, "source") or ""
            entries = leasing.offline_entries(tickets, self.tz)
            today = self.business_day(now)
            placed: dict[str, Ticket] = {}  # this batch's new tickets
            answer: list[Ticket] = []
            handed: list[Leased] = []
            for entry in entries:
                service = self._service(entry.service)
                # A dispenser clock ahead of ours must not queue anybody in the future.
                taken = min(entry.taken_at, now)
                day = business_day(taken, self.tz, self.reset_minute)
                lease = self.store.lease(day, entry.number)
                if lease is None or lease.source != src or lease.service != service.code:
                    raise TicketerError("not_leased", f"{entry.number} of {leasing.iso_day(day)} was not leased to {src}; "
                                                      "nothing of this hand-in was taken")
                known = placed.get(f"{day}-{entry.number}") or self._handed(lease)
                if known is not None:  # handed in before, or twice in this batch: the same ticket
                    answer.append(known)
                    continue
                if day != today:
                    void.append((entry, day, src))
                    raise TicketerError("lease_expired", f"{entry.number} was leased for {leasing.iso_day(day)}, a business "
                                                         f"day that has ended; nothing of this hand-in was taken")
                ticket = Ticket(id=f"{day}-{entry.number}", day=day, service=service.code, number=entry.number,
                                num=lease.num, priority=entry.priority, source=src, token=secrets.token_urlsafe(12),
                                appointment=None, taken_at=taken, queued_at=taken, waiting_since=taken)
                placed[ticket.id] = ticket
                answer.append(ticket)
                handed.append(lease._replace(ticket_id=ticket.id))
                touched.add((day, service.code))
            views = [self._offline_view(t, placed.values()).to_json() for t in answer]
            return _Effect(OpResult(data={"tickets": views}), Change(tickets=list(placed.values()), leases=handed))

        try:
            result = self._run("hand_in", request_id, build)
        except TicketerError as exc:
            if exc.code == "lease_expired" and void:
                self._raise_void(*void[0])
            raise
        for key in touched:  # the day's count of issued tickets (daily_limit) is read again
            self._issued.pop(key, None)
        return result

    def _raise_void(self, entry: leasing.OfflineEntry, day: str, source: str) -> None:
        """A ticket a dispenser issued offline that no queue can take any more (its business day
        ended before it was handed in): its holder will never be called, so staff must know.
        Raised once as an alarm (kind `offline_ticket_void`), kept on the board and in
        `queue/alarms` for the rest of the business day; committed on its own, since the
        refused hand-in itself changes nothing."""
        key = f"offline_ticket_void:{day}-{entry.number}"
        if key in self.alarms:
            return  # the dispenser retries ticket by ticket: say it once
        now = self.clock()
        taken = iso(entry.taken_at, self.tz)
        message = (f"作废号 {entry.number}: issued offline by {source} at {taken[:16].replace('T', ' ')} and handed in after its "
                   f"business day ended — it will not be called; look after its holder")
        data = {"key": key, "number": entry.number, "service": entry.service, "day": leasing.iso_day(day), "source": source,
                "taken_at": taken, "raised_day": self.business_day(now)}
        event_id = uuid.uuid4().hex
        change = Change(events=[(self.event_topic, {"id": event_id, "at": iso(now, self.tz), "kind": "offline_ticket_void",
                                                    "severity": "alarm", "message": message, "data": data})],
                        alarms_raised=[(key, RaisedAlarm("offline_ticket_void", event_id, data, "alarm", message, now))])
        self._commit(change)
        log.error("offline ticket %s of %s from %s will not be called: its business day ended before the hand-in",
                  entry.number, day, source)

    def _handed(self, lease: Leased) -> Ticket | None:
        """The ticket a leased number became, if it was handed in."""
        if lease.ticket_id is None:
            return None
        return self.tickets.get(lease.ticket_id) or self.store.ticket(lease.ticket_id)

    def _offline_view(self, ticket: Ticket, batch: Iterable[Ticket]) -> TicketView:
        if ticket.state != "waiting":
            return self._ticket_view(ticket, token=ticket.token, offline=True)
        ahead = self._ahead_by_time(ticket, batch)
        return self._ticket_view(ticket, ahead=ahead, est_wait_s=self.estimate_wait_s(ticket.service, ahead),
                                 token=ticket.token, offline=True)

    def _ahead_by_time(self, ticket: Ticket, batch: Iterable[Ticket]) -> int:
        """Tickets of its service a ticket placed by its take time waits behind: those queued
        before it (only priority ones for a priority ticket) and, for a normal ticket, every
        priority ticket too — as take_ticket counts them."""
        mine = (ticket.queued_at, ticket.id)
        ahead = 0
        for other in {t.id: t for t in (*self.waiting, *batch)}.values():
            if other.id == ticket.id or other.service != ticket.service or other.target_counter is not None:
                continue
            earlier = (other.queued_at, other.id) < mine
            ahead += (earlier or other.priority != "normal") if ticket.priority == "normal" else \
                (earlier and other.priority != "normal")
        return ahead

    # ------------------------------------------------------------------ counters: staff

    def login(self, request_id: str, counter: Any, staff: Any) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._counter(counter)
            who = _text(staff, "staff")
            if current.state != "closed" and current.staff != who and current.ticket_id is not None:
                raise TicketerError("counter_busy", f"counter {current.id} is serving for {current.staff}; finish first")
            if current.state == "closed":
                updated = current._replace(state="idle", staff=who, since=now, pause_reason=None)
            else:
                updated = current._replace(staff=who)  # a change of shift keeps a pause
            return _Effect(OpResult(counter=self._counter_view(updated)), Change(counters=[updated]))

        return self._run("login", request_id, build)

    def logout(self, request_id: str, counter: Any) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._counter(counter)
            if current.ticket_id is not None:
                raise TicketerError("counter_busy", f"counter {current.id} still has a ticket; finish, no_show or transfer it first")
            updated = current._replace(state="closed", staff=None, since=now, pause_reason=None)
            change = Change(counters=[updated] if current.state != "closed" else [])
            return _Effect(OpResult(counter=self._counter_view(updated)), change)

        return self._run("logout", request_id, build)

    def pause(self, request_id: str, counter: Any, reason: Any) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._counter(counter)
            why = _text(reason, "reason")
            if current.state == "closed":
                raise TicketerError("counter_closed", f"counter {current.id} is not logged in")
            if current.ticket_id is not None:
                raise TicketerError("counter_busy", f"counter {current.id} still has a ticket; finish, no_show or transfer it first")
            if current.state == "paused":
                updated = current._replace(pause_reason=why)  # the pause goes on: its start stays
            else:
                updated = current._replace(state="paused", since=now, pause_reason=why)
            return _Effect(OpResult(counter=self._counter_view(updated)), Change(counters=[updated]))

        return self._run("pause", request_id, build)

    def resume(self, request_id: str, counter: Any) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._counter(counter)
            if current.state == "closed":
                raise TicketerError("counter_closed", f"counter {current.id} is not logged in")
            if current.state != "paused":
                return _Effect(OpResult(counter=self._counter_view(current)), Change())
            updated = current._replace(state="idle", since=now, pause_reason=None)
            return _Effect(OpResult(counter=self._counter_view(updated)), Change(counters=[updated]))

        return self._run("resume", request_id, build)

    # ------------------------------------------------------------------ counters: tickets

    def _call_event(self, call: Call) -> tuple[str, dict[str, Any]]:
        service = self.services.get(call.service)
        return ("queue/calls", {
            "id": f"call-{self.epoch}-{call.seq}", "seq": call.seq, "ticket": call.number, "ticket_id": call.ticket_id,
            "service": call.service, "counter": call.counter, "recall": call.recall, "at": iso(call.at, self.tz),
            **({"service_name": service.name, "service_name_en": service.name_en} if service else {}),
        })

    def call_next(self, request_id: str, counter: Any) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._staffed(counter)
            if current.ticket_id is not None:
                held = self.tickets.get(current.ticket_id)
                raise TicketerError("counter_busy", f"counter {current.id} still has {held.number if held else current.ticket_id}; "
                                                    "finish, no_show or transfer it first")
            skills = self.skills[current.id]
            # Only group heads: routing never picks anything but the oldest of a group.
            chosen = pick_next(skills, self.waiting.heads(current.id, skills.services), now,
                               self.section.fairness_factor, self.max_wait)
            if chosen is None:
                raise TicketerError("queue_empty", f"nobody is waiting for counter {current.id}")
            ticket = chosen._replace(state="called", counter=current.id, staff=current.staff, called_at=now,
                             started_at=None, recalls=0, target_counter=None)
            updated = current._replace(state="calling", ticket_id=ticket.id, since=now)
            call = Call(self.seq + 1, ticket.id, ticket.number, ticket.service, current.id, current.staff, False, now,
                        self.business_day(now))
            change = Change(tickets=[ticket], counters=[updated], calls=[call], events=[self._call_event(call)])
            view = self._ticket_view(ticket, recalls=0)
            return _Effect(OpResult(ticket=view, counter=CounterView(updated.id, updated.state, updated.staff, ticket.number),
                                    seq=call.seq), change)

        return self._run("call_next", request_id, build)

    def recall(self, request_id: str, counter: Any, ticket: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._staffed(counter)
            held = self._current(current, ticket)
            if held.state == "serving":
                raise TicketerError("ticket_started", f"{held.number} is already being served; no recall needed")
            if held.recalls >= self.section.recall_limit:
                raise TicketerError("recall_limit", f"{held.number} was recalled {held.recalls} times (limit {self.section.recall_limit}); mark it no_show")
            updated = held._replace(recalls=held.recalls + 1)
            call = Call(self.seq + 1, held.id, held.number, held.service, current.id, current.staff, True, now,
                        self.business_day(now))
            change = Change(tickets=[updated], calls=[call], events=[self._call_event(call)])
            return _Effect(OpResult(ticket=self._ticket_view(updated, recalls=updated.recalls),
                                    counter=self._counter_view(current), seq=call.seq), change)

        return self._run("recall", request_id, build)

    def start(self, request_id: str, counter: Any, ticket: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._staffed(counter)
            held = self._current(current, ticket)
            if held.state == "serving":  # already started: nothing to do
                return _Effect(OpResult(ticket=self._ticket_view(held), counter=self._counter_view(current)), Change())
            updated = held._replace(state="serving", started_at=now)
            moved = current._replace(state="serving", since=now)
            return _Effect(OpResult(ticket=self._ticket_view(updated), counter=CounterView(moved.id, moved.state, moved.staff, held.number)),
                           Change(tickets=[updated], counters=[moved]))

        return self._run("start", request_id, build)

    def _leave(self, current: Counter, held: Ticket, now: float, outcome: str, ticket: Ticket) -> Change:
        """The counter lets go of its ticket: the ticket's new version, the idle counter and
        the statistics row of the stay."""
        serve = Serve(held.id, held.day, held.service, held.priority, current.id, current.staff, held.waiting_since,
                      held.called_at or now, held.started_at, now, outcome, held.recalls)
        idle = current._replace(state="idle", ticket_id=None, since=now)
        return Change(tickets=[ticket], counters=[idle], serves=[serve])

    def finish(self, request_id: str, counter: Any, ticket: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._staffed(counter)
            held = self._current(current, ticket)
            # Finishing straight from `called` is allowed: a counter without a start button
            # serves from the call on.
            done = held._replace(state="done", started_at=held.started_at or held.called_at, ended_at=now)
            change = self._leave(current, held._replace(started_at=done.started_at), now, "finished", done)
            return _Effect(OpResult(ticket=self._ticket_view(done), counter=CounterView(current.id, "idle", current.staff)), change)

        return self._run("finish", request_id, build)

    def no_show(self, request_id: str, counter: Any, ticket: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._staffed(counter)
            held = self._current(current, ticket)
            if held.state == "serving":
                raise TicketerError("ticket_started", f"{held.number} is being served; finish or transfer it")
            needed = self.section.no_show_after_recalls
            if held.recalls < needed:
                raise TicketerError("recall_first", f"recall {held.number} {needed - held.recalls} more time(s) before marking it no-show")
            gone = held._replace(state="no_show", ended_at=now)
            change = self._leave(current, held, now, "no_show", gone)
            return _Effect(OpResult(ticket=self._ticket_view(gone), counter=CounterView(current.id, "idle", current.staff)), change)

        return self._run("no_show", request_id, build)

    def transfer(self, request_id: str, counter: Any, to_service: Any = None, to_counter: Any = None, ticket: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            current = self._staffed(counter)
            held = self._current(current, ticket)
            if (to_service is None) == (to_counter is None):
                raise TicketerError("bad_request", "give exactly one of to_service or to_counter")
            if to_service is not None:
                target = self._service(to_service)
                if target.code == held.service:
                    raise TicketerError("bad_transfer", f"{held.number} already waits for {target.label}")
                moved = held._replace(service=target.code, target_counter=None)
            else:
                other = self._counter(to_counter)
                if other.id == current.id:
                    raise TicketerError("bad_transfer", f"{held.number} is already at counter {current.id}")
                moved = held._replace(target_counter=other.id)
            # Back in the queue with its original take time (queued_at), so it keeps its place.
            requeued = moved._replace(state="waiting", counter=None, staff=None, called_at=None, started_at=None,
                               recalls=0, transfers=held.transfers + 1, waiting_since=now)
            change = self._leave(current, held, now, "transferred", requeued)
            return _Effect(OpResult(ticket=self._ticket_view(requeued), counter=CounterView(current.id, "idle", current.staff)), change)

        return self._run("transfer", request_id, build)

    # ------------------------------------------------------------------ ratings

    def _find_ticket(self, ref: str, now: float) -> Ticket | None:
        """A ticket by id, or by today's number (a rating pad may only know `A042`)."""
        for ticket_id in (ref, f"{self.business_day(now)}-{ref}"):
            found = self.tickets.get(ticket_id) or self.store.ticket(ticket_id)
            if found is not None:
                return found
        return None

    def rate(self, request_id: str, ticket: Any, level: Any, counter: Any = None) -> OpResult:
        def build(now: float) -> _Effect:
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
                raise TicketerError("bad_level", f"level: 1 (非常不满意) to 5 (非常满意), got {level!r}")
            ref = _text(ticket, "ticket")
            found = self._find_ticket(ref or "", now)
            if found is None:
                raise TicketerError("unknown_ticket", f"no ticket {ref!r}")
            if found.state not in ("serving", "done"):
                raise TicketerError("not_served", f"{found.number} has not been served yet")
            if found.rating is not None:
                raise TicketerError("already_rated", f"{found.number} was rated already")
            if counter is not None and counter != found.counter:
                raise TicketerError("not_your_ticket", f"{found.number} was served at counter {found.counter}, not {counter}")
            rated = found._replace(rating=level, rated_at=now)
            change = Change(tickets=[rated]) if found.id in self.tickets else Change(rating=(found.id, level, now))
            view = TicketView(id=rated.id, number=rated.number, service=rated.service, state=rated.state,
                              counter=rated.counter, rating=level)
            return _Effect(OpResult(ticket=view, level=level), change)

        return self._run("rate", request_id, build)

    # ------------------------------------------------------------------ read-only

    def ticket_status(self, token: Any) -> OpResult:
        """A live ticket by its token, for the taxpayer's phone: read-only, so no request id
        is stored and nothing is committed. A served or unknown token is `unknown_ticket`
        alike: the answer must not tell a guesser which tokens once existed."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TEXT:
            raise TicketerError("unknown_ticket", "no such ticket in the queue")
        # A scan with compare_digest over the live tickets (hundreds): no index to keep, and
        # no early exit that would time how much of a token was right.
        found, wanted = None, token.encode()
        for ticket in self.tickets.values():
            if secrets.compare_digest(ticket.token.encode(), wanted):
                found = ticket
        if found is None:
            raise TicketerError("unknown_ticket", "no such ticket in the queue")
        if found.state != "waiting":
            return OpResult(ticket=self._ticket_view(found, ahead=0, est_wait_s=0), replayed=True)
        ahead = self._ahead_by_time(found, ())
        return OpResult(ticket=self._ticket_view(found, ahead=ahead, est_wait_s=self.estimate_wait_s(found.service, ahead)),
                        replayed=True)  # replayed: tells the bus service there is nothing new to publish

    # ------------------------------------------------------------------ alarms, housekeeping

    def alarm_conditions(self, now: float) -> dict[str, alarm_rules.Alarm]:
        estimates = {code: self.estimate_wait_s(code, self._ahead(code, "normal")) for code in self.services}
        open_counts = {code: self.open_counters(code) for code in self.services}
        return alarm_rules.conditions(now, self.services, self.waiting, self.counters.values(), self.tickets,
                                      open_counts, estimates, self.limits, set(self.alarms))

    def check_alarms(self) -> list[tuple[str, str]]:
        """Raises alarms whose condition now holds and clears those that no longer do, each
        once, in one transaction. Returns (key, severity) of what changed."""
        now = self.clock()
        found = self.alarm_conditions(now)
        today = self.business_day(now)
        for key, kept in self.alarms.items():  # a void offline ticket is no condition: it stays for its day
            if kept.kind == "offline_ticket_void" and kept.data.get("raised_day") == today:
                found[key] = alarm_rules.Alarm(key, kept.kind, kept.severity, kept.message, kept.data)
        raised = sorted(found.keys() - self.alarms.keys())
        cleared = sorted(self.alarms.keys() - found.keys())
        if not raised and not cleared:
            return []
        change = Change()
        at = iso(now, self.tz)
        for key in raised:
            alarm = found[key]
            event_id = uuid.uuid4().hex
            data = {**alarm.data, "key": key}
            change.events.append((self.event_topic, {"id": event_id, "at": at, "kind": alarm.kind, "severity": alarm.severity,
                                                     "message": alarm.message, "data": data}))
            change.alarms_raised.append((key, RaisedAlarm(alarm.kind, event_id, data, alarm.severity, alarm.message, now)))
        for key in cleared:
            kind, raised_id, data = self.alarms[key][:3]
            change.events.append((self.event_topic, {"id": uuid.uuid4().hex, "at": at, "kind": kind, "severity": "cleared",
                                                     "message": f"cleared: {kind} ({key.partition(':')[2] or 'hall'})",
                                                     "data": {**data, "raised_id": raised_id}}))
            change.alarms_cleared.append(key)
        self._commit(change)
        return [(k, found[k].severity) for k in raised] + [(k, "cleared") for k in cleared]

    def housekeeping(self) -> dict[str, int] | None:
        """Once per business day and hour: deletes data past `retention_days` and request ids
        past `request_memory_h`."""
        now = self.clock()
        day = self.business_day(now)
        last_day, last_at = self._housekept
        if day == last_day and now - last_at < _HOUSEKEEPING_EVERY_S:
            return None
        self._housekept = (day, now)
        self.waiting.compact()
        counts = self.store.prune(day_minus(day, self.section.retention_days), now - self.section.request_memory_h * 3600)
        if any(counts.values()):
            log.info("housekeeping deleted %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))
        return counts

    # ------------------------------------------------------------------ events and state

    def hand_events(self, publish: Callable[[str, dict[str, Any]], Any]) -> int:
        """Gives committed events to `publish` (the bus outbox) in order. Their rows are
        deleted with the next transaction; after a crash before that they are given again."""
        handed = 0
        while self.pending:
            event = self.pending[0]
            publish(event.topic, event.payload)
            self.pending.popleft()
            self.handed_upto = event.row
            handed += 1
        return handed

    def close(self) -> None:
        """Forgets the events handed to the bus, folds the WAL in and closes the database."""
        try:
            self.store.forget_events(self.handed_upto)
            self.store.checkpoint("TRUNCATE")
        finally:
            self.store.close()

    def snapshot(self) -> dict[str, Any]:
        """The retained `queue/state`: waiting and estimate per service, what each counter does."""
        now = self.clock()
        services: dict[str, Any] = {}
        for code, svc in self.services.items():
            ahead = self._ahead(code, "normal")
            waiting = self.waiting.count(code, include_targeted=True)
            view = self._service_view(code, now, self.closures.get(code))
            del view["code"]
            services[code] = {"name": svc.name, "name_en": svc.name_en, "waiting": waiting,
                              "est_wait_s": self.estimate_wait_s(code, ahead), **view,
                              "open_counters": self.open_counters(code)}
        counters: dict[str, Any] = {}
        for cid, counter in self.counters.items():
            ticket = self.tickets.get(counter.ticket_id) if counter.ticket_id else None
            entry: dict[str, Any] = {"state": counter.state, "staff": counter.staff, "ticket": ticket.number if ticket else None}
            if ticket:
                entry["ticket_id"] = ticket.id
                entry["service"] = ticket.service
            if counter.state == "paused":
                entry["reason"] = counter.pause_reason
            counters[cid] = entry
        return {"seq": self.seq, "day": self.business_day(now), "services": services, "counters": counters}

    def alarm_snapshot(self) -> dict[str, Any]:
        """The retained `queue/alarms`: every alarm raised and not cleared, oldest first, so
        that a dashboard or monitor started later sees them without waiting for a repeat."""
        device = self.event_topic.split("/")[1] if self.event_topic.count("/") == 2 else self.event_topic
        alarms = [{"key": key, "id": a.event_id, "kind": a.kind, "severity": a.severity, "message": a.message,
                   "raised_at": iso(a.raised_at, self.tz), "data": a.data}
                  for key, a in sorted(self.alarms.items(), key=lambda item: (item[1].raised_at, item[0]))]
        return {"device": device, "alarms": alarms}

    def figures(self) -> dict[str, float | int | str]:
        """Health figures for telemetry."""
        return {"waiting": len(self.waiting), "at_counters": len(self.tickets) - len(self.waiting),
                "call_seq": self.seq, "alarms": len(self.alarms), "events_unsent": len(self.pending)}
