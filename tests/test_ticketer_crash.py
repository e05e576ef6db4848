"""The crash test: a dispenser and three counters run thousands of random operations against
the `taxhall ticketer` process while it is killed with SIGKILL at random moments and
restarted. Clients retry unanswered requests with the same request id, as real devices do.
Afterwards: no ticket lost, no number issued twice, no ticket called twice, every
acknowledged operation present in the database, and the display saw every call once, in
order."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter as Tally
from pathlib import Path
from typing import Any, Callable

import pytest

from taxhall.broker import BrokerProcess
from taxhall.bus import BusUnavailable, HallBus, RequestTimeout
from tests.conftest import HALL
from tests.ticketer_helpers import Inbox, wait_for

CHAOS_S = 25.0  # how long the engine is being killed
TARGET_OPS = 4000
MIN_KILLS = 15
SEED = int(os.environ.get("TICKETER_CRASH_SEED", "20261127"))


class Engine:
    """The ticketer process, killed and restarted at will."""

    def __init__(self, broker: BrokerProcess, data: Path) -> None:
        self.broker, self.data = broker, data
        data.mkdir(parents=True, exist_ok=True)
        self.log = (data / "engine.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taxhall.cli", "ticketer", "--broker", self.broker.url, "--hall", HALL,
             "--device", "ticketer", "--data-dir", str(self.data)],
            stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.log.close()


class Client:
    """A device that retries each request with the same id until it is answered."""

    def __init__(self, bus: HallBus, acked: list[tuple[str, dict[str, Any], dict[str, Any]]], lock: threading.Lock) -> None:
        self.bus, self.acked, self.lock = bus, acked, lock

    def __call__(self, op: str, **fields: Any) -> dict[str, Any]:
        fields["request_id"] = uuid.uuid4().hex
        while True:
            try:
                reply = self.bus.request(f"queue/req/{op}", fields, timeout_s=1.0, check=False)
            except (RequestTimeout, BusUnavailable):
                continue  # the engine is down or restarting: ask again, same id
            if reply.get("ok"):
                with self.lock:
                    self.acked.append((op, fields, reply))
            return reply


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(broker: BrokerProcess, tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    rng = random.Random(SEED)
    engine = Engine(broker, tmp_path / "engine")
    display = Inbox()
    bus_factory("display-hall", role="display-hall").subscribe("queue/calls", display, dedupe=True)
    engine.start()

    acked: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    lock = threading.Lock()
    stop = threading.Event()
    sent = Tally[str]()
    failures: list[BaseException] = []

    def dispenser(seed: int) -> None:
        local = random.Random(seed)
        ask = Client(bus_factory("dispenser-1", role="dispenser"), acked, lock)
        while not stop.is_set():
            with lock:
                waiting = sent["take_ticket"] - sent["call_next"]
            if waiting > 40:  # people stop coming when the hall is full
                time.sleep(0.005)
                continue
            priority = local.choice([None, None, None, "elderly", "appointment"])
            reply = ask("take_ticket", service=local.choice("ABCV"), source="dispenser-1", **({"priority": priority} if priority else {}))
            with lock:
                sent["take_ticket"] += 1
            assert reply["ok"], reply

    def counter(counter_id: str, seed: int) -> None:
        local = random.Random(seed)
        ask = Client(bus_factory(f"counter-{counter_id}", role="counter"), acked, lock)
        assert ask("login", counter=counter_id, staff=f"S{counter_id}")["ok"]
        holding = False
        while not stop.is_set() or holding:
            if not holding:
                reply = ask("call_next", counter=counter_id)
                if reply["ok"]:
                    with lock:
                        sent["call_next"] += 1
                else:
                    assert reply["error"]["code"] == "queue_empty", reply
                    time.sleep(0.002)
                    continue
                holding = True
                continue
            choice = local.random()
            if choice < 0.6:
                assert ask("start", counter=counter_id)["ok"]
                assert ask("finish", counter=counter_id)["ok"]
            elif choice < 0.75:
                assert ask("recall", counter=counter_id)["ok"]
                assert ask("no_show", counter=counter_id)["ok"]
            elif choice < 0.85:
                assert ask("recall", counter=counter_id)["ok"]
                assert ask("finish", counter=counter_id)["ok"]
            else:
                target = local.choice("ABCV")
                reply = ask("transfer", counter=counter_id, to_service=target)
                if not reply["ok"]:  # already in that service
                    assert reply["error"]["code"] == "bad_transfer", reply
                    assert ask("finish", counter=counter_id)["ok"]
            holding = False

    def guarded(target: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)
                stop.set()
        return run

    threads = [threading.Thread(target=guarded(dispenser, rng.random()))] + [
        threading.Thread(target=guarded(counter, str(n), rng.random())) for n in (1, 2, 3)]
    for t in threads:
        t.start()

    started = time.monotonic()
    while time.monotonic() - started < CHAOS_S and (len(acked) < TARGET_OPS or engine.kills < MIN_KILLS) and not failures:
        time.sleep(rng.uniform(0.2, 1.2))
        engine.kill()
        engine.start()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures[0]
    assert not any(t.is_alive() for t in threads)
    assert engine.stop() == 0

    # ---- what the clients were told, against what the database holds
    db = sqlite3.connect(tmp_path / "engine" / "ticketer" / "queue.sqlite")
    tickets = {r[0]: r for r in db.execute("SELECT id, number, day, state, transfers FROM tickets")}
    ops = Tally(op for op, _, _ in acked)
    assert len(acked) >= 2000 and engine.kills >= MIN_KILLS, (len(acked), engine.kills)

    takes = [(f["request_id"], r["ticket"]) for op, f, r in acked if op == "take_ticket"]
    assert len(takes) == sent["take_ticket"]  # every take was answered in the end
    assert len({t["id"] for _, t in takes}) == len(takes)  # one ticket per request id …
    assert len(tickets) == len(takes)  # … and no ticket nobody asked for: none lost, none extra
    for _, ticket in takes:
        assert tickets[ticket["id"]][1] == ticket["number"]
    numbers = Tally((r[2], r[1]) for r in tickets.values())
    assert max(numbers.values()) == 1  # no number issued twice in a day

    calls = Tally(r[0] for r in db.execute("SELECT ticket_id FROM calls WHERE recall = 0"))
    for ticket_id, _, _, state, transfers in tickets.values():
        # One call per stay at a counter: never called twice.
        assert calls.get(ticket_id, 0) == transfers + (state != "waiting"), (ticket_id, state, transfers)
    for op, fields, reply in acked:
        ticket_id = reply.get("ticket", {}).get("id")
        if op == "call_next":
            assert db.execute("SELECT COUNT(*) FROM calls WHERE ticket_id = ? AND counter = ? AND recall = 0 AND seq = ?",
                              (ticket_id, fields["counter"], reply["seq"])).fetchone()[0] == 1
        elif op == "recall":
            assert db.execute("SELECT recall FROM calls WHERE seq = ?", (reply["seq"],)).fetchone() == (1,)
        elif op in ("finish", "no_show", "transfer"):
            outcome = {"finish": "finished", "no_show": "no_show", "transfer": "transferred"}[op]
            assert db.execute("SELECT COUNT(*) FROM serves WHERE ticket_id = ? AND counter = ? AND outcome = ?",
                              (ticket_id, fields["counter"], outcome)).fetchone()[0] >= 1
        if op in ("finish", "no_show"):
            assert tickets[ticket_id][3] == {"finish": "done", "no_show": "no_show"}[op]
    for counter_id, state in db.execute("SELECT id, state FROM counters"):
        assert state == "idle", (counter_id, state)

    # ---- the display: every call once, in order, nothing missing
    last_seq = db.execute("SELECT MAX(seq) FROM calls").fetchone()[0]
    assert wait_for(lambda: len(display.items) >= last_seq, timeout=20), (len(display.items), last_seq)
    time.sleep(0.5)
    assert [e.seq for e in display.data()] == list(range(1, last_seq + 1))
    print(f"\n{len(acked)} acknowledged operations {dict(ops)}, {engine.kills} SIGKILLs, {last_seq} calls, "
          f"{len(tickets)} tickets")
