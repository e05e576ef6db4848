"""The waiting tickets, indexed so that no operation has to look at all of them.

Routing only ever needs, per (service, priority or not, counter it was transferred to), the
ticket that has waited longest: every rule of the policy (overdue, fairness bound,
preference, longest wait) picks the oldest of such a group or nothing from it. So the index
keeps one heap per group (with lazy deletion) and hands routing the group heads; counts per
group give "people ahead" and the waiting figures of `queue/state` without a scan.
tests/test_ticketer_routing.py checks that routing the heads picks what routing all would.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import Iterator

from ticketer.model import Ticket

GroupKey = tuple[str, bool, "str | None"]  # (service, priority, target counter)


def group_of(ticket: Ticket) -> GroupKey:
    return (ticket.service, ticket.priority != "normal", ticket.target_counter)


class WaitingIndex:
    def __init__(self, tickets: list[Ticket] | None = None) -> None:
        self.tickets: dict[str, Ticket] = {}
        self._heaps: dict[GroupKey, list[tuple[float, str]]] = {}
        self._counts: Counter[GroupKey] = Counter()
        for ticket in tickets or []:
            self.put(ticket)

    def __len__(self) -> int:
        return len(self.tickets)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self.tickets

    def __iter__(self) -> Iterator[Ticket]:
        return iter(self.tickets.values())

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def put(self, ticket: Ticket) -> None:
        """Adds a waiting ticket or replaces its earlier version."""
        old = self.tickets.get(ticket.id)
        if old is not None:
            self._counts[group_of(old)] -= 1
        self.tickets[ticket.id] = ticket
        key = group_of(ticket)
        self._counts[key] += 1
        if old is None or group_of(old) != key or old.queued_at != ticket.queued_at:
            heapq.heappush(self._heaps.setdefault(key, []), (ticket.queued_at, ticket.id))

    def discard(self, ticket_id: str) -> None:
        """Removes a ticket (its heap entry goes when it reaches the top)."""
        old = self.tickets.pop(ticket_id, None)
        if old is not None:
            self._counts[group_of(old)] -= 1

    def _head(self, key: GroupKey) -> Ticket | None:
        heap = self._heaps.get(key)
        while heap:
            queued_at, ticket_id = heap[0]
            ticket = self.tickets.get(ticket_id)
            if ticket is not None and ticket.queued_at == queued_at and group_of(ticket) == key:
                return ticket
            heapq.heappop(heap)  # called, transferred or re-queued since
        return None

    def heads(self, counter: str, services: frozenset[str]) -> list[Ticket]:
        """The longest-waiting ticket of every group a counter may call from."""
        out = []
        for key in list(self._heaps):
            service, _, target = key
            if (target == counter) if target is not None else (service in services):
                head = self._head(key)
                if head is not None:
                    out.append(head)
        return out

    def count(self, service: str, *, priority_only: bool = False, include_targeted: bool = False) -> int:
        return sum(n for (svc, prio, target), n in self._counts.items()
                   if svc == service and (prio or not priority_only) and (include_targeted or target is None))

    def compact(self) -> None:
        """Rebuilds the heaps without their stale entries (housekeeping)."""
        self._heaps = {}
        self._counts = Counter()
        tickets, self.tickets = list(self.tickets.values()), {}
        for ticket in tickets:
            self.put(ticket)
