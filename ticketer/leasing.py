"""Offline dispensing, the engine's side, as pure functions: the band of numbers that only
dispensers issue (from leases, while the engine is away), where normal numbering goes round
it, which band numbers a new lease gets, and the tickets a dispenser hands in.

The band is `offline_band_start`…the width's last number (A901–A999 by default). take_ticket
never issues a number of the band; `lease` reserves band numbers of today's business day to
one dispenser; `hand_in` turns each issued one into a ticket placed by its take time.
docs/queue.md ("Offline dispensing") states the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Callable, Iterable

from ticketer.model import PRIORITIES, TicketerError

MAX_LEASE_SIZE = 100
MAX_HAND_IN = 200


@dataclass(frozen=True)
class OfflineEntry:
    """One ticket a dispenser issued from its lease, as handed in."""

    number: str
    service: str
    taken_at: float
    priority: str


def next_normal_number(num: int, band: range, in_use: Callable[[int], bool]) -> int:
    """The first number from `num` on that take_ticket may issue: past the offline band (it
    jumps to the first number above it, A1000) and past numbers still in use."""
    while True:
        if num in band:
            num = band.stop
        elif in_use(num):
            num += 1
        else:
            return num


def free_band_numbers(band: range, in_use: Iterable[int], size: int) -> list[int]:
    """The lowest `size` numbers of the band not in use (fewer when the band runs out)."""
    taken = set(in_use)
    out: list[int] = []
    for num in band:
        if len(out) == size:
            break
        if num not in taken:
            out.append(num)
    return out


def lease_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LEASE_SIZE:
        raise TicketerError("bad_request", f"size: numbers per service, 1–{MAX_LEASE_SIZE}, got {value!r}")
    return value


def lease_services(value: Any, known: Iterable[str]) -> list[str]:
    """The services a lease asks for, in the hall's order, each once; None means all. An
    unknown code is left for the engine to refuse with unknown_service."""
    hall = list(known)
    if value is None:
        return hall
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise TicketerError("bad_request", f"services: a non-empty list of service codes, got {value!r}")
    return sorted(set(value), key=lambda code: hall.index(code) if code in hall else len(hall))


def parse_moment(text: Any, tz: tzinfo | None, what: str) -> float:
    """An ISO 8601 time → epoch seconds; a time without offset is the hall's local time."""
    if not isinstance(text, str):
        raise TicketerError("bad_request", f"{what}: an ISO 8601 time, got {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TicketerError("bad_request", f"{what}: an ISO 8601 time like 2026-11-27T09:12:03+08:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return moment.timestamp()


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def offline_entries(raw: Any, tz: tzinfo | None) -> list[OfflineEntry]:
    """The tickets of a hand_in request, checked field by field (bad_request names the field)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_HAND_IN:
        raise TicketerError("bad_request", f"tickets: a list of 1–{MAX_HAND_IN} tickets, got {type(raw).__name__}")
    entries = []
    for i, item in enumerate(raw):
        number, service, priority = _field(item, "number"), _field(item, "service"), _field(item, "priority")
        if not isinstance(number, str) or not number or not isinstance(service, str) or not service:
            raise TicketerError("bad_request", f"tickets[{i}]: number and service are required strings")
        if priority is not None and priority not in PRIORITIES:
            raise TicketerError("bad_request", f"tickets[{i}].priority: one of {', '.join(PRIORITIES)}, got {priority!r}")
        taken_at = parse_moment(_field(item, "taken_at"), tz, f"tickets[{i}].taken_at")
        entries.append(OfflineEntry(number, service, taken_at, priority or "normal"))
    return entries


def iso_day(day: str) -> str:
    """'20261127' (the engine's business day) → '2026-11-27' (the bus's form)."""
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"
