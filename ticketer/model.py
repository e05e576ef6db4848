"""The queue engine's vocabulary: services, counters, tickets, calls, results and errors.

Plain frozen dataclasses, no I/O. The engine never mutates one in place: an operation builds
new versions, the store writes them in one transaction, and only then does the engine swap
them into memory — so a failed commit leaves memory exactly as the database is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal, NamedTuple

Priority = Literal["normal", "elderly", "disabled", "appointment"]
PRIORITIES: tuple[str, ...] = ("normal", "elderly", "disabled", "appointment")

TicketState = Literal["waiting", "called", "serving", "done", "no_show"]
# Tickets in these states are the live queue; the engine keeps them in memory.
ACTIVE_STATES: frozenset[str] = frozenset({"waiting", "called", "serving"})

CounterState = Literal["closed", "idle", "calling", "serving", "paused"]

Outcome = Literal["finished", "no_show", "transferred"]

RATING_WORDS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class TicketerError(Exception):
    """A refused operation: `code` is machine-readable (docs/queue.md lists them all)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Service:
    """A business type (业务类型); its code is also the ticket prefix."""

    code: str
    name: str
    name_en: str
    target_service_s: int
    max_wait_s: int
    max_service_s: int
    daily_limit: int  # 0: none
    hours: tuple[tuple[int, int], ...]  # opening windows in minutes of the local day

    @property
    def label(self) -> str:
        return f"{self.code} {self.name} ({self.name_en})"


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """What a counter (窗口) can do: the services it serves and, in order, those it prefers."""

    id: str
    services: frozenset[str]
    prefer: tuple[str, ...]


class Ticket(NamedTuple):
    """A ticket. A NamedTuple rather than a dataclass: `_replace` is several times faster
    than dataclasses.replace, and every operation makes new versions."""

    id: str  # "<business day>-<number>", e.g. 20261127-A001
    day: str  # business day it was issued on, YYYYMMDD
    service: str  # the service it waits for now (a transfer changes it)
    number: str  # what the taxpayer sees, e.g. A001
    num: int
    priority: str
    source: str
    token: str  # secret for the phone view
    appointment: str | None
    taken_at: float
    queued_at: float  # place in the queue: the original take time, kept across transfers
    waiting_since: float  # start of the current wait (take or last transfer), for statistics
    state: str = "waiting"
    target_counter: str | None = None  # set by a transfer to one counter
    counter: str | None = None
    staff: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    recalls: int = 0
    transfers: int = 0
    rating: int | None = None
    rated_at: float | None = None


class Leased(NamedTuple):
    """A number of the offline band leased to a dispenser for one business day; `ticket_id`
    is set once the dispenser has handed in the ticket it issued with it."""

    day: str  # YYYYMMDD
    number: str  # A941
    service: str
    num: int
    source: str  # the dispenser's device id
    lease_id: str
    leased_at: float
    ticket_id: str | None = None


class Counter(NamedTuple):
    id: str
    state: str = "closed"
    staff: str | None = None
    ticket_id: str | None = None
    since: float = 0.0  # when the counter entered its state (the pause alarm needs it)
    pause_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    seq: int
    ticket_id: str
    number: str
    service: str
    counter: str
    staff: str | None
    recall: bool
    at: float
    day: str


@dataclass(frozen=True, slots=True)
class Serve:
    """One stay of a ticket at a counter, from call to its end: the fact row of statistics."""

    ticket_id: str
    day: str
    service: str
    priority: str
    counter: str
    staff: str | None
    waited_from: float
    called_at: float
    started_at: float | None
    ended_at: float
    outcome: str
    recalls: int


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event committed with its state change and not yet handed to the bus."""

    row: int
    topic: str
    payload: dict[str, Any]


def iso(ts: float, tz: tzinfo | None) -> str:
    """ISO 8601 with offset, milliseconds — the `at` of every message."""
    return datetime.fromtimestamp(ts, tz).astimezone(tz).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as answered on the bus (fields that are None are left out)."""

    id: str
    number: str
    service: str
    state: str
    priority: str | None = None
    ahead: int | None = None
    est_wait_s: int | None = None
    token: str | None = None
    counter: str | None = None
    recalls: int | None = None
    rating: int | None = None
    offline: bool | None = None  # true for a ticket a dispenser issued from its lease and handed in

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TicketView":
        return cls(**{k: data.get(k) for k in cls.__slots__})  # type: ignore[attr-defined,arg-type]


@dataclass(frozen=True, slots=True)
class CounterView:
    id: str
    state: str
    staff: str | None = None
    ticket: str | None = None  # number of its current ticket
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "staff": self.staff, "ticket": self.ticket,
                **({"reason": self.reason} if self.reason else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CounterView":
        return cls(**{k: data.get(k) for k in cls.__slots__})  # type: ignore[attr-defined,arg-type]


@dataclass(frozen=True, slots=True)
class OpResult:
    """What an operation answers. `replayed` is true when the request id was seen before and
    this is the stored answer of the first time."""

    ticket: TicketView | None = None
    counter: CounterView | None = None
    seq: int | None = None  # call sequence number, for call_next and recall
    level: int | None = None  # for rate
    data: dict[str, Any] | None = None  # the other fields of an answer (lease: day, leases; hand_in: tickets)
    replayed: bool = field(default=False, compare=False)

    def to_reply(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.data or {})
        if self.ticket is not None:
            body["ticket"] = self.ticket.to_json()
        if self.counter is not None:
            body["counter"] = self.counter.to_json()
        if self.seq is not None:
            body["seq"] = self.seq
        if self.level is not None:
            body["level"] = self.level
        return body

    @classmethod
    def from_reply(cls, body: dict[str, Any], replayed: bool = True) -> "OpResult":
        return cls(
            ticket=TicketView.from_json(body["ticket"]) if "ticket" in body else None,
            counter=CounterView.from_json(body["counter"]) if "counter" in body else None,
            seq=body.get("seq"),
            level=body.get("level"),
            data={k: v for k, v in body.items() if k not in _TYPED_REPLY_FIELDS} or None,
            replayed=replayed,
        )


_TYPED_REPLY_FIELDS = frozenset({"ticket", "counter", "seq", "level"})
