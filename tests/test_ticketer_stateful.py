"""A hypothesis state machine drives the real engine (SQLite file and all) through random
operations, clock jumps, repeated request ids and crash-restarts, and checks after every
step: no number twice among live tickets or within a day, no ticket called twice (one call
per stay at a counter), counters and tickets agree, call numbers run 1, 2, 3 … without gaps,
and a restart recovers exactly the same queue."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter as Tally
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ticketer.model import TicketerError
from ticketer.routing import pick_next
from tests.ticketer_helpers import Hall, section

SERVICES = [{"code": c, "name": n, "name_en": e, "max_wait_s": 900}
            for c, n, e in (("A", "综合业务", "General"), ("B", "发票业务", "Invoices"), ("C", "申报纳税", "Tax filing"))]
COUNTERS = [{"id": "1", "services": ["A", "B"]}, {"id": "2", "services": ["B", "C"], "prefer": ["C"]},
            {"id": "3", "services": ["A", "C"]}]
COUNTER_IDS = st.sampled_from(["1", "2", "3"])


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ticketer-sm-"))
        self.hall = Hall(self.folder / "q.sqlite", section(services=SERVICES, counters=COUNTERS, recall_limit=2))
        self.last: tuple[str, str, tuple[Any, ...], Any] | None = None  # (op, request id, args, result)

    def teardown(self) -> None:
        self.hall.engine.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _do(self, op: str, *args: Any) -> None:
        request_id = self.hall.rid()
        try:
            result = getattr(self.hall.engine, op)(request_id, *args)
        except TicketerError as exc:
            assert exc.code not in ("storage_error", "bad_request", "request_id_reused"), exc
            return
        self.last = (op, request_id, args, result)

    @initialize()
    def open_the_hall(self) -> None:
        for counter in ("1", "2", "3"):
            self._do("login", counter, "S1")
        for service in "ABCAB":
            self._do("take_ticket", service, "dispenser-1", None)

    @rule(service=st.sampled_from(["A", "B", "C"]), priority=st.sampled_from([None, None, "elderly", "appointment"]),
          times=st.integers(1, 3))
    def take(self, service: str, priority: str | None, times: int) -> None:
        for _ in range(times):
            self._do("take_ticket", service, "dispenser-1", priority)

    @rule(counter=COUNTER_IDS, action=st.sampled_from(["login", "login", "logout", "pause", "resume", "resume"]),
          staff=st.sampled_from(["S1", "S2"]))
    def staff(self, counter: str, action: str, staff: str) -> None:
        if action == "login":
            self._do("login", counter, staff)
        elif action == "pause":
            self._do("pause", counter, "break")
        else:
            self._do(action, counter)

    @rule(counter=COUNTER_IDS, times=st.integers(1, 3))
    def call_next(self, counter: str, times: int) -> None:
        for _ in range(times):
            self._do("call_next", counter)

    @rule(counter=COUNTER_IDS, op=st.sampled_from(["recall", "start", "finish", "finish", "no_show"]))
    def counter_op(self, counter: str, op: str) -> None:
        self._do(op, counter)

    @rule(counter=COUNTER_IDS, to_service=st.sampled_from(["A", "B", "C"]))
    def transfer_service(self, counter: str, to_service: str) -> None:
        self._do("transfer", counter, to_service, None)

    @rule(counter=COUNTER_IDS, to_counter=COUNTER_IDS)
    def transfer_counter(self, counter: str, to_counter: str) -> None:
        self._do("transfer", counter, None, to_counter)

    @rule(seconds=st.sampled_from([1, 30, 300, 1000, 20_000]))
    def time_passes(self, seconds: int) -> None:
        self.hall.clock.advance(seconds)
        self.hall.engine.check_alarms()

    @rule()
    def repeat_last_request(self) -> None:
        if self.last is None:
            return
        op, request_id, args, result = self.last
        again = getattr(self.hall.engine, op)(request_id, *args)
        assert again.replayed and again.to_reply() == result.to_reply()

    @rule(handed=st.booleans())
    def crash_and_restart(self, handed: bool) -> None:
        if handed:
            self.hall.events()
        before = self.hall.engine.snapshot()
        waiting = dict(self.hall.engine.waiting.tickets)
        alarms = set(self.hall.engine.alarms)
        self.hall.engine.store.close()  # the process is gone; nothing was flushed on purpose
        self.hall.crash_reopen()
        assert self.hall.engine.snapshot() == before
        assert self.hall.engine.waiting.tickets == waiting
        assert set(self.hall.engine.alarms) == alarms

    @invariant()
    def live_numbers_are_unique(self) -> None:
        numbers = [t.number for t in self.hall.engine.tickets.values()]
        assert len(numbers) == len(set(numbers))

    @invariant()
    def counters_and_tickets_agree(self) -> None:
        engine = self.hall.engine
        held = {c.ticket_id: c.id for c in engine.counters.values() if c.ticket_id}
        for ticket in engine.tickets.values():
            if ticket.state in ("called", "serving"):
                assert held.get(ticket.id) == ticket.counter
            else:
                assert ticket.id not in held and ticket.id in engine.waiting
        for counter in engine.counters.values():
            assert (counter.ticket_id is not None) == (counter.state in ("calling", "serving"))

    @invariant()
    def routing_the_heads_equals_routing_all(self) -> None:
        engine = self.hall.engine
        for counter_id, skills in engine.skills.items():
            everything = pick_next(skills, list(engine.waiting), engine.clock(), engine.section.fairness_factor, engine.max_wait)
            heads = pick_next(skills, engine.waiting.heads(counter_id, skills.services), engine.clock(),
                              engine.section.fairness_factor, engine.max_wait)
            assert everything == heads

    @invariant()
    def one_call_per_stay_and_gapless_seq(self) -> None:
        db = sqlite3.connect(self.hall.path)
        try:
            calls = Tally(r[0] for r in db.execute("SELECT ticket_id FROM calls WHERE recall = 0"))
            for ticket_id, state, transfers in db.execute("SELECT id, state, transfers FROM tickets"):
                assert calls.get(ticket_id, 0) == transfers + (state != "waiting"), (ticket_id, state, transfers)
            seqs = [r[0] for r in db.execute("SELECT seq FROM calls ORDER BY seq")]
            assert seqs == list(range(1, len(seqs) + 1))
            assert self.hall.engine.seq == len(seqs)
            assert db.execute("SELECT COUNT(*) FROM (SELECT 1 FROM tickets GROUP BY day, number HAVING COUNT(*) > 1)").fetchone()[0] == 0
        finally:
            db.close()


TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.settings = settings(max_examples=60, stateful_step_count=50, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
