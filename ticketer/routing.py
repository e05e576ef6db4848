"""The routing policy of `call_next`, as one pure function (docs/queue.md explains it).

Which waiting ticket does a counter get?
1. Only its candidates: tickets of services it serves, plus tickets transferred to it by name.
2. Overdue first: a candidate that has waited at least its service's `max_wait_s` goes before
   everything else, the longest-waiting overdue one first. This is the starvation guard: no
   preference or priority can hold back a ticket that is late.
3. Priority classes within the fairness bound: a priority ticket (elderly, disabled,
   appointment) goes before normal tickets only while `fairness_factor` × its wait is at
   least the wait of the oldest normal candidate. So a normal ticket is never passed, because
   of priority, by one that has waited less than 1/factor of its own wait.
4. Then the counter's service preferences, then the longest wait (the original take time;
   a transfer keeps it), then the ticket id to make the choice deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, TypeVar


class Waiting(Protocol):
    """What routing needs to know about a waiting ticket (the engine's Ticket has it)."""

    @property
    def id(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def queued_at(self) -> float: ...
    @property
    def target_counter(self) -> str | None: ...


W = TypeVar("W", bound=Waiting)


@dataclass(frozen=True)
class Skills:
    """The counter as routing sees it."""

    counter: str
    services: frozenset[str]
    prefer: tuple[str, ...] = ()


def is_candidate(ticket: Waiting, skills: Skills) -> bool:
    if ticket.target_counter is not None:
        return ticket.target_counter == skills.counter
    return ticket.service in skills.services


def preference_rank(service: str, prefer: tuple[str, ...]) -> int:
    """0 for the most preferred service; every service not listed shares the last rank."""
    try:
        return prefer.index(service)
    except ValueError:
        return len(prefer)


def pick_next(
    skills: Skills,
    waiting: Iterable[W],
    now: float,
    fairness_factor: float,
    max_wait_s: Mapping[str, float],
) -> W | None:
    """The ticket the counter should call now, or None when it has no candidate."""
    candidates = [t for t in waiting if is_candidate(t, skills)]
    if not candidates:
        return None

    overdue = [t for t in candidates if now - t.queued_at >= max_wait_s.get(t.service, float("inf"))]
    if overdue:
        return min(overdue, key=lambda t: (t.queued_at, t.id))

    oldest_normal_wait = max((now - t.queued_at for t in candidates if t.priority == "normal"), default=0.0)
    boosted = [
        t for t in candidates
        if t.priority != "normal" and fairness_factor * (now - t.queued_at) >= oldest_normal_wait
    ]
    pool = boosted or candidates
    prefer = skills.prefer
    return min(pool, key=lambda t: (preference_rank(t.service, prefer), t.queued_at, t.id))
