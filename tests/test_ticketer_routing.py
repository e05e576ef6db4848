"""The routing policy of call_next (ticketer/routing.py), as a pure function: examples of
each rule, and hypothesis properties — the fairness bound holds, overdue tickets go first,
no ticket starves, no ticket is called twice, the answer does not depend on input order."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from ticketer.routing import Skills, is_candidate, pick_next, preference_rank

SERVICES = ("A", "B", "C")
MAX_WAIT = {"A": 1800.0, "B": 1200.0, "C": 2400.0}
F = 3.0


@dataclass(frozen=True)
class T:
    id: str
    service: str
    priority: str
    queued_at: float
    target_counter: str | None = None


ALL = Skills("1", frozenset(SERVICES))


def pick(skills: Skills, tickets: list[T], now: float, factor: float = F) -> T | None:
    return pick_next(skills, tickets, now, factor, MAX_WAIT)


# ---------------------------------------------------------------- examples of each rule


def test_longest_wait_first_by_default() -> None:
    tickets = [T("b", "B", "normal", 200), T("a", "A", "normal", 100), T("c", "C", "normal", 300)]
    assert pick(ALL, tickets, 400).id == "a"


def test_only_candidates_of_the_counter() -> None:
    only_b = Skills("2", frozenset({"B"}))
    tickets = [T("a", "A", "normal", 0), T("b", "B", "normal", 100)]
    assert pick(only_b, tickets, 200).id == "b"
    assert pick(only_b, [T("a", "A", "normal", 0)], 200) is None
    assert pick(ALL, [], 0) is None


def test_ticket_transferred_to_a_counter_waits_for_that_counter_only() -> None:
    moved = T("x", "C", "normal", 0, target_counter="2")
    assert pick(ALL, [moved], 10) is None
    assert pick(Skills("2", frozenset({"A"})), [moved, T("a", "A", "normal", 5)], 10).id == "x"


def test_priority_first_while_within_the_fairness_bound() -> None:
    normal = T("n", "A", "normal", 0)
    elderly = T("e", "A", "elderly", 500)
    # At 600 s the normal ticket has waited 600, the elderly 100: 3 × 100 < 600, normal first.
    assert pick(ALL, [normal, elderly], 600).id == "n"
    # At 800 s: 3 × 300 ≥ 800, the elderly ticket goes first.
    assert pick(ALL, [normal, elderly], 800).id == "e"


def test_every_priority_class_counts_the_same() -> None:
    tickets = [T("d", "A", "disabled", 100), T("p", "A", "appointment", 50), T("e", "A", "elderly", 75)]
    assert pick(ALL, tickets, 110).id == "p"


def test_counter_preferences_order_the_services() -> None:
    invoices_first = Skills("3", frozenset(SERVICES), prefer=("B",))
    tickets = [T("a", "A", "normal", 0), T("b", "B", "normal", 100)]
    assert pick(invoices_first, tickets, 200).id == "b"
    assert preference_rank("B", ("B",)) == 0 and preference_rank("A", ("B",)) == preference_rank("C", ("B",)) == 1


def test_overdue_ticket_goes_before_priority_and_preference() -> None:
    invoices_first = Skills("3", frozenset(SERVICES), prefer=("B",))
    late = T("late", "A", "normal", 0)  # A's limit is 1800 s
    tickets = [late, T("b", "B", "normal", 1000), T("e", "B", "elderly", 1500)]
    # Not overdue yet: the preferred B goes first (the elderly B ticket, at 3 × 200 s, is not
    # within the bound of the oldest normal ticket's 1700 s).
    assert pick(invoices_first, tickets, 1700).id == "b"
    assert pick(invoices_first, tickets, 1800).id == "late"


def test_oldest_overdue_first() -> None:
    tickets = [T("a", "A", "normal", 100), T("b", "B", "elderly", 0)]
    assert pick(ALL, tickets, 5000).id == "b"


def test_a_larger_factor_favours_priority_longer() -> None:
    tickets = [T("n", "A", "normal", 0), T("e", "A", "elderly", 500)]
    assert pick(ALL, tickets, 600, factor=3).id == "n"
    assert pick(ALL, tickets, 600, factor=6).id == "e"
    assert pick(ALL, tickets, 600, factor=1).id == "n"


# ---------------------------------------------------------------- properties

ticket_lists = st.lists(
    st.builds(
        T,
        id=st.uuids().map(lambda u: u.hex[:8]),
        service=st.sampled_from(SERVICES),
        priority=st.sampled_from(["normal", "normal", "normal", "elderly", "disabled", "appointment"]),
        queued_at=st.floats(min_value=0, max_value=4000, allow_nan=False),
        target_counter=st.sampled_from([None, None, None, None, "1", "2"]),
    ),
    max_size=30,
    unique_by=lambda t: t.id,
)


@st.composite
def skills(draw: st.DrawFn) -> Skills:
    served = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True))
    prefer = draw(st.lists(st.sampled_from(served), max_size=len(served), unique=True))
    return Skills(draw(st.sampled_from(["1", "2", "3"])), frozenset(served), tuple(prefer))


def wait(t: T, now: float) -> float:
    return now - t.queued_at


@settings(max_examples=400, deadline=None)
@given(skills(), ticket_lists, st.floats(min_value=4000, max_value=7000), st.floats(min_value=1, max_value=10))
def test_properties_of_one_pick(counter: Skills, tickets: list[T], now: float, factor: float) -> None:
    chosen = pick(counter, tickets, now, factor)
    candidates = [t for t in tickets if is_candidate(t, counter)]
    if not candidates:
        assert chosen is None
        return
    assert chosen in candidates

    overdue = [t for t in candidates if wait(t, now) >= MAX_WAIT[t.service]]
    if overdue:
        # Starvation guard: an overdue ticket is passed only by older overdue ones.
        assert chosen in overdue and chosen.queued_at == min(t.queued_at for t in overdue)
        return

    rank = lambda t: preference_rank(t.service, counter.prefer)  # noqa: E731
    normals = [t for t in candidates if t.priority == "normal"]
    if chosen.priority != "normal":
        # The fairness bound: priority never passes a normal ticket of the same or a more
        # preferred service that has waited more than `factor` times as long.
        for n in normals:
            if rank(n) <= rank(chosen):
                assert wait(n, now) <= factor * wait(chosen, now) + 1e-6
    else:
        # A normal ticket goes first only when no priority ticket is within the bound.
        oldest_normal = max(wait(n, now) for n in normals)
        for p in candidates:
            if p.priority != "normal":
                assert factor * wait(p, now) < oldest_normal

    # Among tickets of the same class and preference rank, the longest wait goes first.
    same = [t for t in candidates if rank(t) == rank(chosen) and (t.priority == "normal") == (chosen.priority == "normal")]
    assert chosen.queued_at == min(t.queued_at for t in same)


@settings(max_examples=200, deadline=None)
@given(skills(), ticket_lists, st.floats(min_value=0, max_value=7000), st.randoms(use_true_random=False))
def test_the_pick_does_not_depend_on_input_order(counter: Skills, tickets: list[T], now: float, rnd: object) -> None:
    shuffled = list(tickets)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert pick(counter, tickets, now) == pick(counter, shuffled, now)


@st.composite
def hall_runs(draw: st.DrawFn) -> tuple[list[Skills], list[tuple[str, float, str, str, int]]]:
    """Counters covering every service, and a timeline of arrivals and calls."""
    counters = [draw(skills()) for _ in range(draw(st.integers(1, 4)))]
    counters = [Skills(str(i + 1), c.services, c.prefer) for i, c in enumerate(counters)]
    covered = set().union(*(c.services for c in counters))
    if covered != set(SERVICES):  # someone serves what nobody else does
        counters.append(Skills(str(len(counters) + 1), frozenset(set(SERVICES) - covered)))
    events = draw(st.lists(
        st.tuples(
            st.sampled_from(["take", "take", "call"]),
            st.floats(min_value=1, max_value=400),  # seconds since the previous event
            st.sampled_from(SERVICES),
            st.sampled_from(["normal", "normal", "elderly", "appointment"]),
            st.integers(0, 10),
        ),
        min_size=1, max_size=120,
    ))
    return counters, events


@settings(max_examples=150, deadline=None)
@given(hall_runs())
def test_no_ticket_starves_and_none_is_called_twice(run: tuple[list[Skills], list[tuple[str, float, str, str, int]]]) -> None:
    counters, events = run
    now = 0.0
    waiting: list[T] = []
    called: set[str] = set()
    taken = 0
    # For each ticket that became overdue: how many tickets were older when it did.
    older_when_overdue: dict[str, int] = {}
    passed_since_overdue: dict[str, int] = {}

    def note_overdue() -> None:
        for t in waiting:
            if t.id not in older_when_overdue and wait(t, now) >= MAX_WAIT[t.service]:
                older_when_overdue[t.id] = sum(1 for o in waiting if o.queued_at < t.queued_at)
                passed_since_overdue[t.id] = 0

    def call(counter: Skills) -> T | None:
        note_overdue()
        chosen = pick(counter, waiting, now)
        if chosen is None:
            return None
        assert chosen.id not in called, "called twice"
        for t in waiting:
            if t.id in passed_since_overdue and t is not chosen and is_candidate(t, counter):
                # Once overdue, a ticket is passed only by tickets older than itself …
                assert chosen.queued_at <= t.queued_at
                passed_since_overdue[t.id] += 1
                # … of which there are finitely many: its wait is bounded.
                assert passed_since_overdue[t.id] <= older_when_overdue[t.id]
        waiting.remove(chosen)
        called.add(chosen.id)
        return chosen

    for kind, gap, service, priority, which in events:
        now += gap
        if kind == "take":
            taken += 1
            waiting.append(T(f"t{taken}", service, priority, now))
        else:
            call(counters[which % len(counters)])

    # Arrivals stop, the counters keep calling: everyone is called, exactly once.
    while waiting:
        now += 60
        assert any(call(c) for c in counters) or not waiting
    assert len(called) == taken


# ---------------------------------------------------------------- the engine's index


@settings(max_examples=300, deadline=None)
@given(skills(), ticket_lists, st.floats(min_value=0, max_value=7000), st.lists(st.integers(0, 29), max_size=10))
def test_routing_the_group_heads_picks_what_routing_all_would(counter: Skills, tickets: list[T], now: float, gone: list[int]) -> None:
    """The engine hands routing only the oldest ticket of each (service, priority, target)
    group; that must never change the answer — also after tickets left the index."""
    from ticketer.model import Ticket
    from ticketer.waiting import WaitingIndex

    def real(t: T) -> Ticket:
        return Ticket(id=t.id, day="20261127", service=t.service, number=t.id, num=1, priority=t.priority, source="s",
                      token="x", appointment=None, taken_at=t.queued_at, queued_at=t.queued_at, waiting_since=t.queued_at,
                      target_counter=t.target_counter)

    index = WaitingIndex([real(t) for t in tickets])
    for i in gone:
        if i < len(tickets):
            index.discard(tickets[i].id)
    remaining = list(index)
    full = pick_next(counter, remaining, now, F, MAX_WAIT)
    heads = pick_next(counter, index.heads(counter.counter, counter.services), now, F, MAX_WAIT)
    assert full == heads
    for service in SERVICES:
        assert index.count(service, include_targeted=True) == sum(1 for t in remaining if t.service == service)
        assert index.count(service) == sum(1 for t in remaining if t.service == service and t.target_counter is None)
