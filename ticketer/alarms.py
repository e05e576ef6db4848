"""Service-level alarms (超时预警), as a pure function of the queue at a moment.

`conditions()` says which alarm conditions hold now, each under a stable key. The engine
compares that with the alarms it has raised: a new key is raised once (an event on the bus),
a key that no longer holds is cleared once. The crowding alarm clears only below 80 % of its
thresholds so that a hall hovering at the limit does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ticketer.model import Counter, Service, Ticket

CLEAR_RATIO = 0.8  # hysteresis of hall_crowded


@dataclass(frozen=True)
class Alarm:
    key: str
    kind: str
    severity: str  # "warning" or "alarm"
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    pause_alarm_s: float
    crowd_waiting: int
    crowd_est_wait_s: float


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def conditions(
    now: float,
    services: Mapping[str, Service],
    waiting: Iterable[Ticket],
    counters: Iterable[Counter],
    active_tickets: Mapping[str, Ticket],
    open_counters: Mapping[str, int],
    est_wait_s: Mapping[str, int],
    limits: Limits,
    raised: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Alarm]:
    """Every alarm condition that holds at `now`, by key."""
    found: dict[str, Alarm] = {}
    waiting_per_service: dict[str, int] = {}
    total_waiting = 0

    for ticket in waiting:
        total_waiting += 1
        waiting_per_service[ticket.service] = waiting_per_service.get(ticket.service, 0) + 1
        service = services.get(ticket.service)
        waited = now - ticket.queued_at
        if service is not None and waited >= service.max_wait_s:
            key = f"ticket_overdue:{ticket.id}"
            found[key] = Alarm(key, "ticket_overdue", "warning",
                               f"{ticket.number} ({service.label}) has waited {_minutes(waited)} (limit {_minutes(service.max_wait_s)})",
                               {"ticket": ticket.number, "ticket_id": ticket.id, "service": ticket.service, "waited_s": int(waited)})

    for counter in counters:
        serving = active_tickets.get(counter.ticket_id) if counter.state == "serving" and counter.ticket_id else None
        if serving is not None:
            ticket = serving
            service = services.get(ticket.service)
            began = ticket.started_at or ticket.called_at or now
            if service is not None and now - began >= service.max_service_s:
                key = f"counter_overtime:{counter.id}:{ticket.id}"
                found[key] = Alarm(key, "counter_overtime", "warning",
                                   f"counter {counter.id} has served {ticket.number} for {_minutes(now - began)} (limit {_minutes(service.max_service_s)})",
                                   {"counter": counter.id, "ticket": ticket.number, "ticket_id": ticket.id, "service": ticket.service})
        if counter.state == "paused" and now - counter.since >= limits.pause_alarm_s:
            key = f"counter_paused_long:{counter.id}"
            found[key] = Alarm(key, "counter_paused_long", "warning",
                               f"counter {counter.id} has been paused for {_minutes(now - counter.since)} ({counter.pause_reason})",
                               {"counter": counter.id, "reason": counter.pause_reason, "staff": counter.staff})

    for code, count in waiting_per_service.items():
        if count and not open_counters.get(code, 0) and code in services:
            key = f"service_unstaffed:{code}"
            found[key] = Alarm(key, "service_unstaffed", "alarm",
                               f"{count} waiting for {services[code].label} and no counter open for it",
                               {"service": code, "waiting": count})

    longest = max(est_wait_s.values(), default=0)
    ratio = CLEAR_RATIO if "hall_crowded" in raised else 1.0
    if total_waiting >= limits.crowd_waiting * ratio or longest >= limits.crowd_est_wait_s * ratio:
        found["hall_crowded"] = Alarm("hall_crowded", "hall_crowded", "alarm",
                                      f"排队拥堵 hall crowded: {total_waiting} waiting, longest estimated wait {_minutes(longest)}; open more counters",
                                      {"waiting": total_waiting, "est_wait_s": longest})
    return found
