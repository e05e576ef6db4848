"""Helpers for the ticketer tests: a hall on a real SQLite file with a clock the test moves."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from taxhall.bus import BusMessage
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.model import OpResult, TicketView
from ticketer.store import Store

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    """'2026-11-27 09:00' in the hall's zone → epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=TZ).timestamp()


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def section(**overrides: Any) -> TicketerSection:
    return TicketerSection.model_validate({"timezone": "Asia/Shanghai", **overrides})


class Hall:
    """An engine on a database file, with shorthand for operations."""

    def __init__(self, path: Path, config: TicketerSection | None = None, start: str = "2026-11-27 09:00") -> None:
        self.path = path
        self.config = config or section()
        self.clock = Clock(at(start))
        self.ids = itertools.count(1)
        self.engine = Engine(self.config, Store(path), clock=self.clock)

    def rid(self) -> str:
        return f"r{next(self.ids)}"

    def take(self, service: str = "A", **extra: Any) -> TicketView:
        result = self.engine.take_ticket(self.rid(), service, "dispenser-1", **extra)
        assert result.ticket is not None
        return result.ticket

    def login(self, *counters: str, staff: str = "S1") -> None:
        for counter in counters:
            self.engine.login(self.rid(), counter, staff)

    def op(self, name: str, *args: Any, **kwargs: Any) -> OpResult:
        return getattr(self.engine, name)(self.rid(), *args, **kwargs)

    def call(self, counter: str) -> TicketView:
        ticket = self.op("call_next", counter).ticket
        assert ticket is not None
        return ticket

    def serve(self, counter: str, seconds: float = 0) -> TicketView:
        """Call, start, and after `seconds` finish; returns the called ticket."""
        ticket = self.call(counter)
        self.op("start", counter)
        self.clock.advance(seconds)
        self.op("finish", counter)
        return ticket

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """Hands the committed events over, as the bus service would."""
        out: list[tuple[str, dict[str, Any]]] = []
        self.engine.hand_events(lambda topic, payload: out.append((topic, payload)))
        return out

    def reopen(self, config: TicketerSection | None = None) -> Engine:
        """Closes the engine and starts a new one on the same file (a restart)."""
        self.engine.close()
        self.config = config or self.config
        self.engine = Engine(self.config, Store(self.path), clock=self.clock)
        return self.engine

    def crash_reopen(self) -> Engine:
        """A new engine on the same file without closing the old one (as after a kill)."""
        self.engine = Engine(self.config, Store(self.path), clock=self.clock)
        return self.engine


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Inbox:
    """Collects bus messages from the network thread."""

    def __init__(self) -> None:
        self.items: list[BusMessage] = []
        self.lock = threading.Lock()

    def __call__(self, message: BusMessage) -> None:
        with self.lock:
            self.items.append(message)

    def data(self) -> list[Any]:
        with self.lock:
            return [m.data for m in self.items]

    def last(self) -> Any:
        with self.lock:
            return self.items[-1].data if self.items else None
